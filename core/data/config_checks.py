"""Field checks shared by the image and sensor-series training configurations."""

from __future__ import annotations


def is_integer(value: object) -> bool:
    """Whether `value` is an int (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Whether `value` is an int or a float (a bool is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_field(condition: bool, expectation: str, config: object, name: str) -> None:
    """Raises the standard ValueError for field `name` of `config` unless `condition` holds."""
    if not condition:
        raise ValueError(
            f"Expected `{name}` {expectation}. Received: {name}={getattr(config, name)!r}"
        )


def require_integers(config: object, minimums: dict[str, int]) -> None:
    """Checks that each named field is an integer at least its minimum."""
    for name, minimum in minimums.items():
        value = getattr(config, name)
        require_field(
            is_integer(value) and value >= minimum, f"to be an integer >= {minimum}", config, name
        )


def require_learning_rate(config: object) -> None:
    """Checks that `config.learning_rate` is a number in (0, 1]."""
    rate = config.learning_rate
    require_field(
        is_number(rate) and 0 < rate <= 1, "to be a number in (0, 1]", config, "learning_rate"
    )


def require_split_fractions(config: object, *, allow_zero: bool = True) -> None:
    """Checks `config.validation_fraction` and `config.test_fraction`: each in [0, 1) (or (0, 1)
    when a run needs both parts), and together below 1 so training data remains."""
    for name in ("validation_fraction", "test_fraction"):
        value = getattr(config, name)
        if allow_zero:
            require_field(
                is_number(value) and 0 <= value < 1, "to be a number in [0, 1)", config, name
            )
        else:
            require_field(
                is_number(value) and 0 < value < 1,
                "to be a number in (0, 1): the threshold needs validation images and the "
                "metrics test images",
                config,
                name,
            )
    if config.validation_fraction + config.test_fraction >= 1:
        raise ValueError(
            "Expected `validation_fraction + test_fraction` below 1 so training data remains. "
            f"Received: validation_fraction={config.validation_fraction}, "
            f"test_fraction={config.test_fraction}"
        )

"""Field checks and the dict round trip shared by the training configurations.

`DictRoundTripMixin` gives a dataclass config `to_dict()` and `from_dict()` (unknown keys raise);
the `require_*` functions raise the standard "Expected ... Received: name=value" ValueError
(`require_choice` for a function's argument);
`page_changes` turns a page's choices into config field changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any, Self


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


def require_choices(config: object, choices: Mapping[str, Collection]) -> None:
    """Checks that each named field is one of its choices."""
    for name, allowed in choices.items():
        require_field(
            getattr(config, name) in allowed, f"to be one of {list(allowed)}", config, name
        )


def require_choice(value: object, choices: Collection, name: str) -> None:
    """Raises "Expected {name} to be one of [...]. Received: {name}=value" unless `value` is one
    of `choices`: the check of a function's choice argument (`require_choices` checks fields)."""
    if value not in choices:
        raise ValueError(
            f"Expected {name} to be one of {list(choices)}. Received: {name}={value!r}"
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


def dataclass_from_dict(cls, values: Mapping[str, Any]):
    """Builds dataclass `cls` from a mapping; unknown keys raise ValueError naming them."""
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"Expected keys among {sorted(known)}. Received unknown keys: {unknown}")
    return cls(**dict(values))


class DictRoundTripMixin:
    """`to_dict()` and `from_dict()` for a dataclass config (JSON-ready values, as stored)."""

    def to_dict(self) -> dict[str, Any]:
        """Returns plain JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """Builds a config from `to_dict()` output (missing keys take defaults).

        Raises:
            ValueError: Unknown keys (named in the message).
        """
        return dataclass_from_dict(cls, values)


def page_changes(choices: Mapping[str, Any], allowed: Collection[str]) -> dict[str, Any]:
    """The choices of a page that are not None, as config field changes.

    Raises:
        ValueError: If a choice is not in `allowed`.
    """
    changes = {key: value for key, value in choices.items() if value is not None}
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValueError(f"Expected choices among {list(allowed)}. Received: {unknown}")
    return changes

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

"""Maintenance planning from series predictions: units ranked by predicted remaining life.

Pure pandas and numpy. Every public function validates its input once, at the boundary, and raises
ValueError or TypeError saying what was expected and what was received.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.data.tables import check_frame, finite_column
from core.data.validation import describe_value

__all__ = ["maintenance_table"]


def _check_window(maintenance_window: object) -> int:
    """Returns the window as an int, or raises when it is not a positive integer."""
    if (
        isinstance(maintenance_window, bool)
        or not isinstance(maintenance_window, numbers.Integral)
        or maintenance_window < 1
    ):
        raise ValueError(
            "Expected `maintenance_window` to be a positive integer number of cycles. "
            f"Received: maintenance_window={describe_value(maintenance_window)}"
        )
    return int(maintenance_window)


def _true_by_unit(true: object, units: list) -> np.ndarray:
    """Aligns true RUL values with `units` (ascending unit order for a plain sequence)."""
    if isinstance(true, Mapping | pd.Series):
        lookup = dict(true.items())
        missing = [unit for unit in units if unit not in lookup]
        if missing:
            raise ValueError(
                "Expected a true RUL for every predicted unit. "
                f"Received: missing units={describe_value(missing)}"
            )
        values = [lookup[unit] for unit in units]
    elif isinstance(true, Sequence | np.ndarray) and not isinstance(true, str | bytes):
        values = list(true)
        if len(values) != len(units):
            raise ValueError(
                "Expected one true RUL per unit, in ascending unit order. "
                f"Received: {len(values)} value(s) for {len(units)} unit(s)"
            )
    else:
        raise TypeError(
            "Expected `true` as a mapping unit -> RUL, a pandas Series indexed by unit, or a "
            f"sequence in ascending unit order. Received: true={describe_value(true)}"
        )
    return finite_column(pd.Series(values, dtype=object), "true")


def maintenance_table(
    last_predictions: pd.DataFrame,
    maintenance_window: int,
    *,
    true: Mapping | pd.Series | Sequence[float] | None = None,
) -> pd.DataFrame:
    """Ranks units by predicted remaining useful life, most urgent first.

    Args:
        last_predictions: Columns `unit`, `cycle`, `predicted` (RUL). With several rows per unit,
            the row at the unit's last cycle is used.
        maintenance_window: Units with predicted RUL <= this many cycles are due.
        true: Optional true RUL at each unit's last cycle: a mapping unit -> RUL, a Series indexed
            by unit, or a sequence in ascending unit order (as `load_cmapss_test` returns).

    Returns:
        A DataFrame sorted by `predicted_rul` ascending (ties by unit) with columns `unit`,
        `last_cycle`, `predicted_rul`, `due` (bool), plus `true_rul` and `error`
        (predicted - true) when `true` is given.

    Raises:
        TypeError: If `last_predictions` is not a DataFrame or `true` has an unknown type.
        ValueError: If columns are missing, predictions are not finite, the window is not a
            positive integer, or `true` does not match the units.
    """
    window = _check_window(maintenance_window)
    check_frame(last_predictions, "last_predictions", ("unit", "cycle", "predicted"))
    predicted = finite_column(last_predictions["predicted"], "predicted")
    frame = pd.DataFrame(
        {
            "unit": last_predictions["unit"].to_numpy(),
            "last_cycle": last_predictions["cycle"].to_numpy(),
            "predicted_rul": predicted,
        }
    )
    frame = frame.sort_values(["unit", "last_cycle"], kind="stable")
    frame = frame.groupby("unit", sort=True, as_index=False).last()
    frame["due"] = frame["predicted_rul"].to_numpy() <= window
    if true is not None:
        frame["true_rul"] = _true_by_unit(true, frame["unit"].tolist())
        frame["error"] = frame["predicted_rul"] - frame["true_rul"]
    frame = frame.sort_values(["predicted_rul", "unit"], kind="stable").reset_index(drop=True)
    return frame

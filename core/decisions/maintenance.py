"""Maintenance planning from series predictions: unit ranking, safe CSV download, flagged stretches.

Pure pandas and numpy. Every public function validates its input once, at the boundary, and raises
ValueError or TypeError saying what was expected and what was received.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.data.validation import describe_value

__all__ = [
    "STRETCH_COLUMNS",
    "check_frame",
    "flagged_stretches",
    "maintenance_table",
    "predictions_csv",
]

STRETCH_COLUMNS = ("unit", "start_cycle", "end_cycle", "peak_score")

# A spreadsheet reads a text cell starting with one of these as a formula (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def check_frame(frame: object, name: str, required: Sequence[str]) -> pd.DataFrame:
    """Checks that `frame` is a DataFrame holding the `required` columns.

    Args:
        frame: The value to check.
        name: The argument's name, for the message.
        required: The columns that must be present.

    Returns:
        The frame, unchanged.

    Raises:
        TypeError: If `frame` is not a pandas DataFrame.
        ValueError: If a required column is missing (all missing ones are named).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"Expected `{name}` to be a pandas DataFrame. Received: {name}={describe_value(frame)}"
        )
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"Expected `{name}` with columns {list(required)}. "
            f"Received: missing={missing}, columns={list(frame.columns)}"
        )
    return frame


def _check_finite(values: pd.Series, name: str) -> np.ndarray:
    """Returns the values as floats, or raises when one is not a finite number."""
    as_floats = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(as_floats)
    if bad.any():
        examples = [describe_value(value) for value in values[bad].iloc[:3].tolist()]
        raise ValueError(
            f"Expected finite numbers in `{name}`. "
            f"Received: {int(bad.sum())} bad value(s) such as {', '.join(examples)}"
        )
    return as_floats


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
    return _check_finite(pd.Series(values, dtype=object), "true")


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
    predicted = _check_finite(last_predictions["predicted"], "predicted")
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


def neutralise_spreadsheet_text(value: object) -> object:
    """Prefixes an apostrophe to text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def predictions_csv(frame: pd.DataFrame) -> bytes:
    """Returns the frame as UTF-8 CSV bytes for download, safe to open in a spreadsheet.

    Text cells (and column names) starting with `=`, `+`, `-`, `@`, a tab or a carriage return
    get a leading apostrophe so the spreadsheet shows them instead of running them as formulas;
    numbers, booleans and dates are written unchanged. Rows end in CRLF; the index is not written.

    Raises:
        TypeError: If `frame` is not a pandas DataFrame.
    """
    check_frame(frame, "frame", ())
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if not (
            pd.api.types.is_numeric_dtype(values)
            or pd.api.types.is_bool_dtype(values)
            or pd.api.types.is_datetime64_any_dtype(values)
        ):
            safe[column] = values.astype(object).map(neutralise_spreadsheet_text)
    safe.columns = [neutralise_spreadsheet_text(str(column)) for column in safe.columns]
    # CRLF rows (RFC 4180) make the csv writer quote any cell holding a line break, CR included.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _flag_values(flagged: pd.Series) -> np.ndarray:
    """Returns the flags as booleans, or raises when one is not True/False/0/1."""
    if pd.api.types.is_bool_dtype(flagged):
        return flagged.to_numpy(dtype=bool)
    values = pd.to_numeric(flagged, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        examples = [describe_value(value) for value in flagged[bad].iloc[:3].tolist()]
        raise ValueError(
            "Expected `flagged` to hold True/False (or 1/0). "
            f"Received: {int(bad.sum())} bad value(s) such as {', '.join(examples)}"
        )
    return values == 1.0


def flagged_stretches(scores: pd.DataFrame) -> pd.DataFrame:
    """Maximal runs of consecutive flagged time steps, per unit.

    Rows are taken in cycle order within each unit; a run ends at the first unflagged row or at
    the unit's end (a missing cycle does not split a run).

    Args:
        scores: Columns `unit`, `cycle`, `score`, `flagged` (bool or 0/1).

    Returns:
        A DataFrame with columns `unit`, `start_cycle`, `end_cycle` (both inclusive) and
        `peak_score` (highest score in the run), ordered by unit then start cycle.

    Raises:
        TypeError: If `scores` is not a DataFrame.
        ValueError: If columns are missing, flags are not boolean or scores not finite.
    """
    check_frame(scores, "scores", ("unit", "cycle", "score", "flagged"))
    ordered = scores.sort_values(["unit", "cycle"], kind="stable")
    flags = _flag_values(ordered["flagged"])
    score_values = _check_finite(ordered["score"], "score")
    if not flags.any():
        return pd.DataFrame({column: [] for column in STRETCH_COLUMNS})
    units = ordered["unit"].to_numpy()
    new_unit = np.ones(len(units), dtype=bool)
    new_unit[1:] = units[1:] != units[:-1]
    previous_flag = np.zeros(len(flags), dtype=bool)
    previous_flag[1:] = flags[:-1]
    starts = flags & (new_unit | ~previous_flag)
    run_ids = np.cumsum(starts)[flags]
    runs = pd.DataFrame(
        {
            "run": run_ids,
            "unit": units[flags],
            "cycle": ordered["cycle"].to_numpy()[flags],
            "score": score_values[flags],
        }
    )
    grouped = runs.groupby("run", sort=True)
    return pd.DataFrame(
        {
            "unit": grouped["unit"].first().to_numpy(),
            "start_cycle": grouped["cycle"].first().to_numpy(),
            "end_cycle": grouped["cycle"].last().to_numpy(),
            "peak_score": grouped["score"].max().to_numpy(),
        }
    )

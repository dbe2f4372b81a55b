"""Checks behind `core.data.series.dataset_from_frame`: column roles, numbers, time order, windows.

Each check raises ValueError with what was expected and what was received; rows in messages are
numbered from 1 at the first data row (the header is not counted).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.data.validation import describe_value

if TYPE_CHECKING:  # Only a type hint: `core.data.series` imports this module.
    from core.data.series import ColumnMapping

__all__ = [
    "check_mapping",
    "check_order",
    "coerce_numbers",
    "describe_bad",
    "flagged_rows",
    "name_file_in_error",
    "natural_key",
    "require_columns",
    "time_values",
    "unit_values",
    "window_problem",
]


def _show(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return f"'{value}'"
    if isinstance(value, np.generic):
        value = value.item()
    return describe_value(value)


def flagged_rows(mask: pd.Series) -> np.ndarray:
    """Returns the 0-based positions where `mask` is True."""
    return np.flatnonzero(mask.to_numpy())


def coerce_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Returns the values as numbers and a mask of the entries that are not numbers."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float), pd.Series(False, index=values.index)
    if pd.api.types.is_numeric_dtype(values):
        return values, pd.Series(False, index=values.index)
    numbers = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return numbers, numbers.isna() & values.notna()


def describe_bad(column: str, values: pd.Series, bad: pd.Series) -> str:
    """Returns "'column': N value(s) such as ..." with up to three bad values and their rows."""
    rows = flagged_rows(bad)
    examples = ", ".join(f"{_show(values.iloc[row])} (row {row + 1})" for row in rows[:3])
    return f"'{column}': {len(rows)} value(s) such as {examples}"


def time_values(values: pd.Series, column: str) -> tuple[pd.Series, bool]:
    """Returns the time column as numbers or datetimes, and whether it holds datetimes."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values, True
    numbers, bad = coerce_numbers(values)
    if not bad.any():
        return numbers, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns when it parses dates one by one.
            stamps = pd.to_datetime(values, errors="coerce")
    except (ValueError, TypeError):
        stamps = pd.Series(pd.NaT, index=values.index)
    bad_stamps = stamps.isna() & values.notna()
    if not bad_stamps.any():
        return stamps, True
    raise ValueError(
        "Expected numbers or dates/times in the time column. "
        f"Received: {describe_bad(column, values, bad_stamps)}"
    )


def unit_values(values: pd.Series, column: str) -> pd.Series:
    """Returns the unit ids as int64 when they are whole numbers, else as stripped text."""
    missing = flagged_rows(values.isna())
    if len(missing):
        raise ValueError(
            f"Expected a unit id on every row. Received: column '{column}' is empty on "
            f"{len(missing)} row(s), first at row {missing[0] + 1}"
        )
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        if np.isfinite(numbers).all() and (numbers == numbers.round()).all():
            return numbers.astype("int64")
    return values.astype(str).str.strip()


def require_columns(
    frame: pd.DataFrame, columns: Sequence[str], *, description: str = "the columns"
) -> None:
    """Raises unless `frame` is a DataFrame holding `columns`, naming the missing and available
    ones (`core.data.scaling` and `core.data.windows` use it too)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame. Received: frame={describe_value(frame)}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"Expected {description} {list(columns)}. Received: missing={missing}, "
            f"available={[str(column) for column in frame.columns]}"
        )


def check_mapping(frame: pd.DataFrame, mapping: ColumnMapping) -> None:
    """Raises if a column has two roles, is missing, clashes with a canonical name, or no sensor."""
    columns = mapping.columns()
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise ValueError(f"Expected each column to have one role. Received: {repeated} repeated")
    require_columns(frame, columns, description="the mapped columns")
    if not mapping.sensors:
        raise ValueError(
            "Expected at least one numeric sensor column. "
            f"Received: columns={[str(column) for column in frame.columns]}"
        )
    clashes = [
        column
        for column in [*mapping.settings, *mapping.sensors]
        if column in ("unit", "cycle", "label", "rul", "timestamp")
    ]
    if clashes:
        raise ValueError(
            "Expected sensor and setting names other than unit, cycle, label, rul and timestamp. "
            f"Received: {clashes}"
        )


def check_order(units: pd.Series, times: pd.Series, column: str) -> None:
    """Raises if a unit repeats a time value or goes back in time, in file order."""
    keys = pd.DataFrame({"unit": units.to_numpy(), "time": times.to_numpy()})
    repeated = flagged_rows(keys.duplicated())
    if len(repeated):
        row = repeated[0]
        same = (keys["unit"] == keys["unit"].iloc[row]) & (keys["time"] == keys["time"].iloc[row])
        raise ValueError(
            f"Expected each time value at most once per unit. Received: unit="
            f"{_show(keys['unit'].iloc[row])} has {column}={_show(keys['time'].iloc[row])} on "
            f"rows {flagged_rows(same)[0] + 1} and {row + 1}"
        )
    step = keys.groupby("unit", sort=False)["time"].diff()
    zero = pd.Timedelta(0) if pd.api.types.is_timedelta64_dtype(step) else 0
    backwards = flagged_rows(step < zero)
    if len(backwards):
        row = backwards[0]
        previous = flagged_rows(keys["unit"].iloc[:row] == keys["unit"].iloc[row])[-1]
        raise ValueError(
            "Expected time to increase strictly within each unit (sort the rows by unit, then "
            f"time). Received: unit={_show(keys['unit'].iloc[row])}, row {row + 1} has {column}="
            f"{_show(keys['time'].iloc[row])} after {_show(keys['time'].iloc[previous])} at row "
            f"{previous + 1}"
        )


def natural_key(unit: object) -> list:
    """Returns a sort key that orders "M2" before "M10" (digit runs compare as numbers)."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", unit)]


def window_problem(lengths: pd.Series, window: int) -> str | None:
    """Returns a sentence listing the units shorter than `window`, or None if there are none.

    Raises:
        ValueError: If no unit reaches `window` rows.
    """
    short = lengths[lengths < window]
    if len(short) == len(lengths):
        raise ValueError(
            f"Expected at least one unit with at least window={window} rows. Received: the "
            f"longest unit ({_show(lengths.idxmax())}) has {int(lengths.max())} rows"
        )
    if short.empty:
        return None
    listed = ", ".join(f"unit {_show(unit)} ({length} rows)" for unit, length in short[:20].items())
    more = f" and {len(short) - 20} more" if len(short) > 20 else ""
    return (
        f"{len(short)} of {len(lengths)} units are shorter than the window of {window} rows and "
        f"give no full window: {listed}{more}."
    )


def name_file_in_error(error: ValueError, name: str | None) -> ValueError:
    """Returns the error with `name='file'` put first in what it says was received.

    The checks of `dataset_from_frame` see a table, not a file; a user who loads several files
    needs to know which one failed.

    Args:
        error: A ValueError raised by a check ("Expected ... Received: ...").
        name: The file name, or None to return `error` unchanged.

    Returns:
        A new ValueError reading "Expected ... Received: name='file': ...".
    """
    if name is None:
        return error
    message = str(error)
    head, marker, tail = message.partition("Received: ")
    if not marker:
        return ValueError(f"{message} Received: name={name!r}")
    return ValueError(f"{head}{marker}name={name!r}: {tail}")

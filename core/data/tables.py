"""Data frames at the boundary: column checks and CSV bytes that are safe to open in a spreadsheet.

- `check_frame`: a DataFrame holding the required columns, or a message naming what is missing.
- `finite_column`: a column as finite floats, or a message naming the first bad value.
- `neutralise_spreadsheet_text`, `predictions_csv`: text a spreadsheet would run as a formula
  (CSV injection) gets a leading apostrophe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.data.validation import describe_value

__all__ = ["check_frame", "finite_column", "neutralise_spreadsheet_text", "predictions_csv"]


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


def finite_column(values: pd.Series, name: str) -> np.ndarray:
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

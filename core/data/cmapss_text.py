"""NASA C-MAPSS text files: recognise one and read it into a raw table with named columns.

The text files are space separated, without a header, with 26 numbers per line (often with 2
trailing spaces): unit, cycle, 3 operating settings and 21 sensors, named here `setting_1..3` and
`sensor_01..21`. `core.data.series_io` uses this to read a C-MAPSS file like any other series
file; `core.data.cmapss` loads the training and test sets.
"""

from __future__ import annotations

import os
from typing import IO

import pandas as pd

__all__ = [
    "CMAPSS_COLUMNS",
    "SENSOR_COLUMNS",
    "SETTING_COLUMNS",
    "looks_like_cmapss",
    "read_cmapss_text",
]


SETTING_COLUMNS = [f"setting_{index}" for index in range(1, 4)]


SENSOR_COLUMNS = [f"sensor_{index:02d}" for index in range(1, 22)]


CMAPSS_COLUMNS = ["unit", "cycle", *SETTING_COLUMNS, *SENSOR_COLUMNS]


def looks_like_cmapss(sample: str) -> bool:
    """Returns whether text starts like a C-MAPSS file: a first line of 26 space-separated numbers.

    Only the first line decides, so that a damaged later line is reported by the C-MAPSS reader
    (naming the line or the sensor) instead of turning the file into a one-column CSV.

    Args:
        sample: The first kilobytes of the file, decoded.
    """
    first_line = next((line for line in sample.splitlines() if line.strip()), "")
    if any(separator in first_line for separator in ",;\t"):
        return False
    tokens = first_line.split()
    try:
        [float(token) for token in tokens]
    except ValueError:
        return False
    return len(tokens) == len(CMAPSS_COLUMNS)


def read_cmapss_text(
    source: str | os.PathLike | IO[bytes], *, name: str, max_rows: int
) -> pd.DataFrame:
    """Reads a C-MAPSS text file into a raw table with the `CMAPSS_COLUMNS` names.

    Args:
        source: A path or a binary file object.
        name: The file name shown in messages.
        max_rows: Read at most this many rows plus one, so the caller can refuse larger files.

    Returns:
        The raw table; `frame.attrs["notes"]` is an empty list.

    Raises:
        ValueError: If a line does not hold 26 values.
    """
    try:
        # latin-1 never fails to decode; any stray text is reported later as non-numeric.
        frame = pd.read_csv(source, sep=r"\s+", header=None, nrows=max_rows + 1, encoding="latin-1")
    except pd.errors.ParserError as error:
        raise ValueError(
            "Expected 26 space-separated numbers on every line of a C-MAPSS file. "
            f"Received: name='{name}': {str(error).strip()}"
        ) from error
    if frame.shape[1] != len(CMAPSS_COLUMNS):
        raise ValueError(
            "Expected 26 space-separated numbers on every line of a C-MAPSS file. "
            f"Received: name='{name}' with {frame.shape[1]} columns"
        )
    frame.columns = CMAPSS_COLUMNS
    frame.attrs["notes"] = []
    return frame

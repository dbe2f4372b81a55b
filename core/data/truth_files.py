"""Ground-truth files that come beside sensor data: true remaining life and known anomalies.

- `read_final_rul`: the true remaining life of each unit at its last row (`unit,rul` CSV or NASA's
  `RUL_FD00x.txt`).
- `load_anomaly_labels`: known anomalous stretches (`start_cycle`, `end_cycle`, `kind`, `sensors`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.series_io import read_series_file
from core.data.validation import describe_value

__all__ = ["LABEL_COLUMNS", "load_anomaly_labels", "read_final_rul"]


LABEL_COLUMNS = ("start_cycle", "end_cycle", "kind", "sensors")


def load_anomaly_labels(source: str | os.PathLike | bytes | pd.DataFrame) -> pd.DataFrame:
    """Reads known anomalous stretches (e.g. `sample_data/sensors/live_anomalies.csv`).

    Column names are matched ignoring case and surrounding spaces. `kind` and `sensors` are
    optional (filled with "unknown" and ""); an optional `unit` column is kept.

    Args:
        source: A CSV/Parquet path, the bytes of an uploaded file, or a DataFrame.

    Returns:
        A DataFrame with `start_cycle`, `end_cycle` (inclusive, numbers), `kind` and `sensors`
        (names joined by ";"), plus `unit` when present.

    Raises:
        ValueError: If the file cannot be read, `start_cycle` or `end_cycle` is missing or not a
            number, or a stretch ends before it starts.
        TypeError: If `source` is neither a path, bytes nor a DataFrame.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        frame, _ = read_series_file(source)
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    missing = [column for column in ("start_cycle", "end_cycle") if column not in frame.columns]
    if missing:
        raise ValueError(
            f"Expected anomaly label columns {list(LABEL_COLUMNS)} (kind and sensors optional). "
            f"Received: missing={missing}, columns={list(frame.columns)}"
        )
    for column in ("start_cycle", "end_cycle"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype="float64")))
        if len(bad):
            raise ValueError(
                f"Expected a number in `{column}` on every row. Received: "
                f"{column}={describe_value(frame[column].iat[bad[0]])} on row {bad[0] + 1}"
            )
        integral = (values == values.round()).all()
        frame[column] = values.astype("int64") if integral else values.astype("float64")
    reversed_rows = np.flatnonzero((frame["end_cycle"] < frame["start_cycle"]).to_numpy())
    if len(reversed_rows):
        row = reversed_rows[0]
        raise ValueError(
            "Expected end_cycle >= start_cycle on every row. Received: start_cycle="
            f"{frame['start_cycle'].iat[row]}, end_cycle={frame['end_cycle'].iat[row]} on row "
            f"{row + 1} ({len(reversed_rows)} such row(s))"
        )
    kind = frame["kind"] if "kind" in frame.columns else pd.Series("unknown", index=frame.index)
    sensors = frame["sensors"] if "sensors" in frame.columns else pd.Series("", index=frame.index)
    labels = pd.DataFrame(
        {
            "start_cycle": frame["start_cycle"],
            "end_cycle": frame["end_cycle"],
            "kind": kind.fillna("unknown").astype(str),
            "sensors": sensors.fillna("").astype(str),
        }
    )
    if "unit" in frame.columns:
        labels.insert(0, "unit", frame["unit"])
    return labels.reset_index(drop=True)


def read_final_rul(source, *, name: str | None = None, units: Sequence | None = None) -> pd.Series:
    """Reads the true remaining life of each unit at its last row.

    Two layouts are accepted: a CSV with columns `unit,rul` (like sample_data's test_rul.csv) and
    NASA's RUL_FD00x.txt (one number per line, units 1, 2, ... in order).

    Args:
        source: A path or the bytes of the file.
        name: File name for messages when `source` is bytes.
        units: The dataset's units, in order: a one-column file is matched to them by position.

    Returns:
        A float Series named 'rul', indexed by unit.

    Raises:
        ValueError: If the file is neither layout, holds a negative or non-numeric value, lists a
            unit twice, or its length does not match `units`.
    """
    if isinstance(source, bytes | bytearray):
        data, display = bytes(source), name or "upload"
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"Expected a true-RUL file. Received: rul='{source}' (no such file)")
        data, display = path.read_bytes(), path.name
    lines = [line.strip() for line in data.decode("latin-1").splitlines() if line.strip()]
    header = [part.strip().lower() for part in lines[0].split(",")] if lines else []
    if "rul" in header and "unit" in header:
        rows = [line.split(",") for line in lines[1:]]
        unit_index, rul_index = header.index("unit"), header.index("rul")
        keys = [row[unit_index].strip() if len(row) > unit_index else "" for row in rows]
        texts = [row[rul_index].strip() if len(row) > rul_index else "" for row in rows]
        keys = [int(key) if key.lstrip("-").isdigit() else key for key in keys]
        seen: dict = {}
        for row, key in enumerate(keys, start=2):
            if key in seen:
                raise ValueError(
                    f"Expected each unit at most once in '{display}' (one true RUL per unit). "
                    f"Received: unit={describe_value(key)} on lines {seen[key]} and {row}"
                )
            seen[key] = row
    else:
        texts = lines
        if units is not None and len(units) != len(texts):
            raise ValueError(
                f"Expected one true RUL per unit ({len(units)} units) in '{display}'. "
                f"Received: {len(texts)} values"
            )
        keys = list(units) if units is not None else list(range(1, len(texts) + 1))
    values = pd.to_numeric(pd.Series(texts, dtype="object"), errors="coerce")
    bad = values.isna() | (values < 0)
    if not len(values) or bad.any():
        shown = texts[int(np.argmax(bad.to_numpy()))] if len(values) else None
        raise ValueError(
            "Expected a CSV with columns unit,rul or one non-negative number per line (NASA "
            f"RUL_FD00x.txt). Received: name='{display}', value={describe_value(shown)}"
        )
    return pd.Series(values.to_numpy("float64"), index=pd.Index(keys, name="unit"), name="rul")

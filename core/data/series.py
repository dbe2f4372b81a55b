"""Sensor series: read CSV and Parquet files into one validated, canonical table.

A series file holds one or more machines ("units") observed over time. Long format has one row per
unit and time step: a unit column, a time column and one column per sensor (plus optional operating
settings, a categorical label and a remaining-useful-life column). A wide single-machine file has no
unit column: every row is one time step of the same machine. Files are read by
`core.data.series_io` (C-MAPSS text through `core.data.cmapss_text`), whose `read_series_file` and
`MAX_SERIES_ROWS` are re-exported here; the checks live in `core.data.series_validation`;
`core.data.series_loading.load_series` is the one entry for any series file.

Every series becomes a `SeriesDataset` whose frame has the canonical columns `unit`, `cycle`, the
settings, the sensors, then the optional `label`, `rul` and `timestamp`. When the time column holds
dates/times, `cycle` counts the steps 1, 2, 3, ... within each unit and the original times are kept
in `timestamp`. Rows in messages are numbered from 1 at the first data row (the header is not
counted).
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd

from core.data import series_validation
from core.data.series_io import (
    MAX_SERIES_ROWS,
    PARQUET_EXTENSIONS,
    TEXT_EXTENSIONS,
    read_series_file,
)
from core.data.validation import describe_value

__all__ = [
    "MAX_SERIES_ROWS",
    "PARQUET_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "ColumnMapping",
    "SeriesDataset",
    "dataset_from_frame",
    "detect_column_mapping",
    "read_series_file",
]

_UNIT_NAMES = ("unit", "unit_id", "unit_number", "unit_nr", "machine", "machine_id", "engine")
_UNIT_NAMES += ("engine_id", "asset", "asset_id", "equipment", "equipment_id", "device", "id")
_TIME_NAMES = ("cycle", "cycles", "time_cycles", "time_in_cycles", "time", "timestamp")
_TIME_NAMES += ("datetime", "date", "t", "step", "time_step", "timestep")
_SETTING_PREFIXES = ("setting", "op_setting", "opsetting", "operating", "operational_setting")
_LABEL_NAMES = ("label", "failure", "failure_mode", "failure_type", "fault", "fault_type")
_RUL_NAMES = ("rul", "remaining_useful_life", "remaining_life")


@dataclasses.dataclass
class ColumnMapping:
    """Which column of a series file plays which role, in the file's own column names.

    Attributes:
        unit: Column naming the machine, or None for a single-machine file (every row is unit 1).
        time: Column ordering the rows of a unit (cycle counter, seconds or dates/times), or None
            to use the row order.
        sensors: Numeric sensor columns.
        settings: Numeric operating-setting columns. Defaults to [].
        label: Categorical label column (failure mode, fault), or None.
        rul: Numeric remaining-useful-life column, or None.
    """

    unit: str | None
    time: str | None
    sensors: list[str]
    settings: list[str] = dataclasses.field(default_factory=list)
    label: str | None = None
    rul: str | None = None

    def columns(self) -> list[str]:
        """Returns every mapped column, in canonical order."""
        roles = [self.unit, self.time, *self.settings, *self.sensors, self.label, self.rul]
        return [column for column in roles if column is not None]


@dataclasses.dataclass
class SeriesDataset:
    """A validated sensor series with canonical columns, sorted by unit then cycle.

    Attributes:
        frame: Columns `unit` (int or str), `cycle`, settings and sensors (float64), then the
            optional `label`, `rul` and `timestamp`.
        mapping: The `ColumnMapping` used, in the file's original column names.
        sensor_columns: Sensor column names in `frame`.
        setting_columns: Setting column names in `frame`.
        source_format: 'csv', 'parquet', 'cmapss' or 'frame'.
        constant_sensors: Sensors whose standard deviation is ~0 over the whole data (kept here).
        problems: Non-fatal findings, one sentence each.
    """

    frame: pd.DataFrame
    mapping: ColumnMapping
    sensor_columns: list[str]
    setting_columns: list[str]
    source_format: str
    constant_sensors: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    def units(self) -> list:
        """Returns the unit ids in sorted order."""
        return self.frame["unit"].unique().tolist()

    def unit_lengths(self) -> dict:
        """Returns the number of rows of each unit, keyed by unit id."""
        sizes = self.frame.groupby("unit", sort=False).size()
        return dict(zip(sizes.index.tolist(), sizes.tolist(), strict=True))

    def summary(self) -> dict:
        """Returns a JSON-serialisable overview: counts, columns, unit lengths and problems."""
        lengths = np.array(list(self.unit_lengths().values()) or [0])
        return {
            "source_format": self.source_format,
            "units": int(self.frame["unit"].nunique()),
            "rows": len(self.frame),
            "sensors": list(self.sensor_columns),
            "settings": list(self.setting_columns),
            "constant_sensors": list(self.constant_sensors),
            "has_label": "label" in self.frame.columns,
            "has_rul": "rul" in self.frame.columns,
            "min_unit_length": int(lengths.min()),
            "median_unit_length": float(np.median(lengths)),
            "max_unit_length": int(lengths.max()),
            "problems": list(self.problems),
        }


def _normalise_name(name: object) -> str:
    # "Unit ID" -> "unit_id", "Time (s)" -> "time": units in brackets say nothing about the role.
    text = re.sub(r"[\(\[].*?[\)\]]", "", str(name)).strip().lower()
    return re.sub(r"[\s\-.]+", "_", text).strip("_")


def _looks_numeric(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return True
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return False
    present = values.dropna()
    # A mostly numeric column with a few bad entries is still a sensor: validation reports them.
    parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    return len(present) > 0 and parsed.notna().mean() >= 0.5


def _is_row_index(values: pd.Series) -> bool:
    if values.isna().all():
        return True
    if not pd.api.types.is_numeric_dtype(values):
        return False
    numbers = values.to_numpy()
    return bool(np.array_equal(numbers, np.arange(len(values)))) or bool(
        np.array_equal(numbers, np.arange(1, len(values) + 1))
    )


def detect_column_mapping(frame: pd.DataFrame) -> ColumnMapping:
    """Guesses the role of each column from its name and type.

    Names are compared case-insensitively, with spaces and hyphens read as underscores and bracketed
    units ignored ("Time (s)" is a time column). A unit candidate holding a different value on every
    row is a row id, not a unit, and is ignored. Every other numeric (or mostly numeric) column is a
    sensor; text columns and pandas' "Unnamed: 0" index columns are ignored.

    Args:
        frame: The raw table, as returned by `read_series_file`.

    Returns:
        A `ColumnMapping` in the frame's own column names.

    Raises:
        TypeError: If `frame` is not a pandas DataFrame.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame. Received: frame={describe_value(frame)}")
    names = {column: _normalise_name(column) for column in frame.columns}
    taken: set = set()

    def find(candidates: tuple[str, ...]) -> str | None:
        for candidate in candidates:
            for column, name in names.items():
                if name == candidate and column not in taken:
                    taken.add(column)
                    return column
        return None

    unit = find(_UNIT_NAMES)
    if unit is not None and len(frame) > 1 and frame[unit].nunique(dropna=False) == len(frame):
        unit = None  # A different value on every row: a row id. It stays in `taken`, unused.
    time, label, rul = find(_TIME_NAMES), find(_LABEL_NAMES), find(_RUL_NAMES)
    settings = [c for c, n in names.items() if c not in taken and n.startswith(_SETTING_PREFIXES)]
    taken.update(settings)
    sensors = [
        column
        for column in frame.columns
        if column not in taken
        and not (str(column).startswith("Unnamed:") and _is_row_index(frame[column]))
        and _looks_numeric(frame[column])
    ]
    return ColumnMapping(unit, time, sensors, settings, label, rul)


def dataset_from_frame(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    *,
    source_format: str = "frame",
    window: int | None = None,
    allow_missing: bool = False,
    notes: list[str] | tuple[str, ...] = (),
) -> SeriesDataset:
    """Validates a raw table and returns it as a canonical `SeriesDataset`.

    Args:
        frame: The raw table (from `read_series_file`, or built in memory).
        mapping: Column roles, in the frame's column names.
        source_format: Recorded in the dataset. Defaults to 'frame'.
        window: Minimum useful unit length, or None. Defaults to None.
        allow_missing: Keep rows with NaN/inf values (inf becomes NaN). Defaults to False.
        notes: Findings from reading, copied first into `problems`. Defaults to ().

    Returns:
        A `SeriesDataset` sorted by unit (digit runs compared as numbers), then cycle.

    Raises:
        ValueError: If mapped columns are missing, there is no sensor, a sensor/setting/RUL column
            holds text, values are NaN/inf (unless `allow_missing`), a unit or time is empty, time
            repeats or goes back within a unit, or no unit reaches `window` rows.
        TypeError: If `frame` or `mapping` has the wrong type.
    """
    if not isinstance(frame, pd.DataFrame) or not isinstance(mapping, ColumnMapping):
        raise TypeError(
            "Expected a pandas DataFrame and a ColumnMapping. Received: "
            f"frame={type(frame).__name__}, mapping={type(mapping).__name__}"
        )
    valid_window = isinstance(window, int) and not isinstance(window, bool) and window >= 1
    if window is not None and not valid_window:
        raise ValueError(f"Expected window to be a positive integer. Received: window={window!r}")
    series_validation.check_mapping(frame, mapping)
    frame = frame.reset_index(drop=True)
    problems = list(notes)
    numeric_columns = [*mapping.settings, *mapping.sensors, *([mapping.rul] if mapping.rul else [])]
    numbers, bad = {}, []
    for column in numeric_columns:
        numbers[column], mask = series_validation.coerce_numbers(frame[column])
        if mask.any():
            bad.append(series_validation.describe_bad(column, frame[column], mask))
    if bad:
        more = f"; and {len(bad) - 5} more column(s)" if len(bad) > 5 else ""
        raise ValueError(
            "Expected numbers in every sensor, setting and RUL column. "
            f"Received: {'; '.join(bad[:5])}{more}"
        )
    counts = []
    for column in numeric_columns:
        values = numbers[column].astype(float)
        missing, infinite = int(values.isna().sum()), int(np.isinf(values).sum())
        if missing or infinite:
            counts.append(f"{column}: {missing} missing, {infinite} inf")
            numbers[column] = values.replace([np.inf, -np.inf], np.nan)
    if counts and not allow_missing:
        raise ValueError(
            "Expected finite numbers (no empty, NaN or inf values) in sensor, setting and RUL "
            f"columns. Received: {'; '.join(counts)}. Fill or drop those rows, or pass "
            "allow_missing=True to keep them."
        )
    if counts:
        problems.append(f"Kept rows with missing values (inf read as NaN): {'; '.join(counts)}.")

    if mapping.unit is None:
        units = pd.Series(1, index=frame.index, dtype="int64")
        problems.append(f"No unit column: read as one machine (unit 1) with {len(frame)} rows.")
    else:
        units = series_validation.unit_values(frame[mapping.unit], mapping.unit)
    columns = {"unit": units}
    is_datetime = False
    if mapping.time is None:
        problems.append("No time column: the row order is used as the cycle (1, 2, 3, ...).")
    else:
        times, is_datetime = series_validation.time_values(frame[mapping.time], mapping.time)
        empty = times.isna() if is_datetime else ~np.isfinite(times.astype(float))
        empty = series_validation.flagged_rows(empty)
        if len(empty):
            raise ValueError(
                f"Expected a finite time value on every row. Received: column '{mapping.time}' "
                f"is empty or inf on {len(empty)} row(s), first at row {empty[0] + 1}"
            )
        series_validation.check_order(units, times, mapping.time)
        if is_datetime:
            problems.append(
                f"Time column '{mapping.time}' holds dates/times: cycle counts the steps 1, 2, "
                "3, ... within each unit; the times are kept in column 'timestamp'."
            )
        else:
            columns["cycle"] = times
    if "cycle" not in columns:
        columns["cycle"] = units.groupby(units, sort=False).cumcount() + 1
    columns |= {
        column: numbers[column].astype("float64")
        for column in [*mapping.settings, *mapping.sensors]
    }
    if mapping.label is not None:
        columns["label"] = frame[mapping.label]
    if mapping.rul is not None:
        columns["rul"] = numbers[mapping.rul]
    if is_datetime:
        columns["timestamp"] = times
    canonical = pd.DataFrame(columns)
    # Rows of a unit are already in increasing time, so a stable sort on the unit alone suffices.
    if pd.api.types.is_integer_dtype(units):
        order = units
    else:
        ranks = {
            unit: rank
            for rank, unit in enumerate(sorted(units.unique(), key=series_validation.natural_key))
        }
        order = units.map(ranks)
    canonical = canonical.iloc[np.argsort(order.to_numpy(), kind="stable")]
    canonical = canonical.reset_index(drop=True)

    sensors = canonical[mapping.sensors].to_numpy(dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # An all-NaN sensor is simply constant.
        spread = np.nanstd(sensors, axis=0)
        scale = np.maximum(np.nanmax(np.abs(sensors), axis=0), 1.0)
    flat = ~(spread > 1e-9 * scale)
    constant = [column for column, is_flat in zip(mapping.sensors, flat, strict=True) if is_flat]
    if window is not None:
        lengths = canonical.groupby("unit", sort=False).size()
        problem = series_validation.window_problem(lengths, window)
        if problem:
            problems.append(problem)
    return SeriesDataset(
        frame=canonical,
        mapping=mapping,
        sensor_columns=list(mapping.sensors),
        setting_columns=list(mapping.settings),
        source_format=source_format,
        constant_sensors=constant,
        problems=problems,
    )

"""Sensor files for the sensor monitor page: sources, column roles, validation, truth files.

A `SeriesSource` is a bundled sample file or an upload, held as bytes with a fingerprint.
`read_table` reads it once (raw columns and the detected `ColumnMapping`); the page lets the user
override the column roles and `load_dataset` validates them into a `SeriesDataset`.
`EvaluationData` pairs test (or live) data with its truth: the true RUL at each unit's last row,
or known anomalous stretches. Nothing here imports Streamlit or TensorFlow.

Example:
    >>> source = upload_source("pumps.csv", data)
    >>> table = read_table(source)
    >>> dataset = load_dataset(source, table.detected, table)
    >>> dataset_preview(dataset)["headline"]
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pandas as pd

from core.data import archive_checks, cmapss
from core.data.bundled import sample_data_directory
from core.data.series import ColumnMapping, dataset_from_frame, detect_column_mapping
from core.data.series_io import PARQUET_EXTENSIONS, TEXT_EXTENSIONS, read_series_file
from core.data.series_validation import name_file_in_error
from core.data.truth_files import load_anomaly_labels, read_final_rul
from core.data.validation import check_named_files, describe_value

SAMPLE, UPLOAD = "sample", "upload"
UPLOAD_TYPES = [extension.lstrip(".") for extension in (*TEXT_EXTENSIONS, *PARQUET_EXTENSIONS)]
SAMPLE_FILES = {
    "train.csv": "64 machines run to failure (the training fleet)",
    "test.csv": "16 machines still in service (true RUL in test_rul.csv)",
    "live.csv": "one machine in service, 400 cycles (6 injected anomalies)",
}
# The truth that goes with each bundled file, per task: true RUL or known anomalous stretches.
SAMPLE_TRUTH = {
    ("test.csv", "rul"): "test_rul.csv",
    ("test.csv", "failure"): "test_rul.csv",
    ("live.csv", "anomaly"): "live_anomalies.csv",
}
SAMPLE_EVALUATION = {"rul": "test.csv", "failure": "test.csv", "anomaly": "live.csv"}
HELD_OUT, BUNDLED_TEST, UPLOADED_TEST = "Held-out units", "Bundled test data", "Upload test data"
TEST_CHOICES = (HELD_OUT, BUNDLED_TEST, UPLOADED_TEST)
# Column roles the page lets the user override: (role, label, several columns?).
MAPPING_ROLES = (
    ("unit", "Unit (machine) column", False),
    ("time", "Time (cycle) column", False),
    ("sensors", "Sensor columns", True),
    ("label", "Label column", False),
    ("rul", "Remaining-life column", False),
    ("settings", "Setting columns", True),
)
PREVIEW_ROWS = 8
CURVE_SENSORS = 6


@dataclasses.dataclass(frozen=True)
class SeriesSource:
    """One sensor file: a bundled sample file or an upload, held as bytes.

    Attributes:
        kind: "sample" or "upload".
        name: The file name (its extension picks the format).
        description: What the user chose, e.g. "upload pumps.csv" (shown in job lists).
        fingerprint: A digest of name and content: equal fingerprints mean equal data.
        data: The file's bytes.
    """

    kind: str
    name: str
    description: str
    fingerprint: str
    data: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class RawTable:
    """A file read but not validated: its columns and the roles guessed for them."""

    frame: pd.DataFrame
    source_format: str
    detected: ColumnMapping
    notes: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [str(column) for column in self.frame.columns]


@dataclasses.dataclass(frozen=True)
class EvaluationData:
    """Data to evaluate or score on, with its optional truth file.

    Attributes:
        series: The sensor file.
        truth: True RUL at each unit's last row (tasks rul and failure) or known anomalous
            stretches (task anomaly), or None.
        description: E.g. "test.csv + test_rul.csv".
    """

    series: SeriesSource
    truth: SeriesSource | None
    description: str


def _digest(name: str, data: bytes) -> str:
    digest = hashlib.sha256(name.encode())
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)
    return digest.hexdigest()[:16]


def sample_source(file_name: str = "train.csv") -> SeriesSource:
    """A bundled file of sample_data/sensors (see `SAMPLE_FILES` and `SAMPLE_TRUTH`).

    Raises:
        ValueError: If `file_name` is not a bundled file, or the sample data is missing.
    """
    known = [*SAMPLE_FILES, *sorted(set(SAMPLE_TRUTH.values()))]
    if file_name not in known:
        raise ValueError(
            f"Expected a bundled sensor file among {known}. Received: file_name={file_name!r}"
        )
    path = sample_data_directory() / "sensors" / file_name
    if not path.is_file():
        raise ValueError(
            "Expected the bundled sensor sample (regenerate it with `python -m core "
            f"sample-data`). Received: missing file '{path}'"
        )
    data = path.read_bytes()
    description = f"sample {file_name}"
    return SeriesSource(SAMPLE, file_name, description, _digest(file_name, data), data)


def upload_source(name: str, data: bytes) -> SeriesSource:
    """An uploaded CSV, Parquet or C-MAPSS text file.

    Raises:
        TypeError: If `name` is not a string or `data` not bytes.
        ValueError: If the file is a model (.keras, .h5, ...: models are only trained here), the
            extension is not one of `UPLOAD_TYPES` or the file is empty.
    """
    ((name, data),) = check_named_files([(name, data)])
    model_reason = archive_checks.model_file_reason(name)
    if model_reason is not None:
        raise ValueError(model_reason)
    if Path(name).suffix.lower().lstrip(".") not in UPLOAD_TYPES:
        raise ValueError(
            f"Expected a sensor file ending in {', '.join('.' + kind for kind in UPLOAD_TYPES)}. "
            f"Received: name={name!r}"
        )
    if not data.strip():
        raise ValueError(f"Expected a non-empty file. Received: name={name!r} is empty")
    return SeriesSource(UPLOAD, name, f"upload {name}", _digest(name, data), data)


def read_table(source: SeriesSource) -> RawTable:
    """Reads the file and guesses the role of each column (C-MAPSS files get their layout).

    Raises:
        ValueError: If the file cannot be read (the message names it and says why).
    """
    frame, source_format = read_series_file(source.data, name=source.name)
    if source_format == "cmapss":
        detected = cmapss.cmapss_mapping()
    else:
        detected = detect_column_mapping(frame)
    return RawTable(frame, source_format, detected, tuple(frame.attrs.get("notes", [])))


def column_mapping(
    *,
    unit: str | None,
    time: str | None,
    sensors,
    settings=(),
    label: str | None = None,
    rul: str | None = None,
) -> ColumnMapping:
    """A `ColumnMapping` from the page's choices (None = no such column)."""
    return ColumnMapping(unit, time, list(sensors), list(settings), label, rul)


def mapping_for(table: RawTable, mapping: ColumnMapping | None) -> ColumnMapping:
    """`mapping` when the table holds all its columns, else the table's detected mapping.

    A test or live file often lacks a column of the training file (a single machine has no unit
    column), so such files fall back to detection rather than fail.
    """
    if mapping is not None and set(mapping.columns()) <= set(table.frame.columns):
        return mapping
    return table.detected


def load_dataset(source: SeriesSource, mapping: ColumnMapping | None = None, table=None):
    """Validates the source with `mapping` (None = the detected roles) into a `SeriesDataset`.

    Args:
        source: The file.
        mapping: Column roles; None uses the detected roles (see also `mapping_for`).
        table: The `RawTable` of `source` when already read (saves reading it again).

    Raises:
        ValueError: If the data fails a check (missing or repeated columns, text in a sensor,
            time going back, ...); the message names the file and says which.
    """
    table = table if table is not None else read_table(source)
    chosen = mapping if mapping is not None else table.detected
    notes = list(table.notes)
    ignored = [column for column in table.columns if column not in chosen.columns()]
    if ignored:
        notes.append(f"Ignored columns without a role: {ignored[:20]}")
    try:
        return dataset_from_frame(
            table.frame, chosen, source_format=table.source_format, notes=notes
        )
    except ValueError as error:
        raise name_file_in_error(error, source.name) from error


def dataset_preview(dataset, rows: int = PREVIEW_ROWS) -> dict:
    """What the page shows of a validated dataset.

    Returns:
        {"summary" (`SeriesDataset.summary()`), "headline" ({label: number} for metric tiles),
        "head" (first rows of the canonical frame), "units" (ids), "curve_sensors" (up to
        `CURVE_SENSORS` sensors that vary, for the default sensor curves)}.
    """
    moving = [name for name in dataset.sensor_columns if name not in dataset.constant_sensors]
    summary = dataset.summary()
    return {
        "summary": summary,
        "headline": {
            "Units": summary["units"],
            "Rows": summary["rows"],
            "Sensors": len(summary["sensors"]),
            "Constant sensors": len(summary["constant_sensors"]),
        },
        "head": dataset.frame.head(rows),
        "units": dataset.units(),
        "curve_sensors": (moving or list(dataset.sensor_columns))[:CURVE_SENSORS],
    }


def unit_rows(dataset, unit) -> pd.DataFrame:
    """The rows of one unit, in cycle order.

    Raises:
        ValueError: If the unit is not in the dataset.
    """
    rows = dataset.frame[dataset.frame["unit"] == unit]
    if rows.empty:
        raise ValueError(
            f"Expected a unit of the dataset. Received: unit={describe_value(unit)}, "
            f"units={describe_value(dataset.units()[:10])}"
        )
    return rows


def sample_truth(source: SeriesSource, task: str) -> SeriesSource | None:
    """The bundled truth file that goes with a bundled sample file for `task`, if any."""
    name = SAMPLE_TRUTH.get((source.name, task)) if source.kind == SAMPLE else None
    return sample_source(name) if name else None


def sample_evaluation_data(task: str) -> EvaluationData:
    """The bundled data to evaluate a `task` model on: test.csv + test_rul.csv, or live.csv +
    live_anomalies.csv for anomaly detection.

    Raises:
        ValueError: If `task` is unknown or the sample is missing.
    """
    if task not in SAMPLE_EVALUATION:
        raise ValueError(
            f"Expected a task among {list(SAMPLE_EVALUATION)}. Received: task={task!r}"
        )
    series = sample_source(SAMPLE_EVALUATION[task])
    truth = sample_truth(series, task)
    return EvaluationData(series, truth, f"{series.name} + {truth.name}")


def uploaded_evaluation_data(
    series: tuple[str, bytes], truth: tuple[str, bytes] | None = None
) -> EvaluationData:
    """Uploaded test (or live) data with an optional truth file.

    Raises:
        TypeError, ValueError: As `upload_source`, for either file.
    """
    series_source = upload_source(*series)
    truth_source = upload_source(*truth) if truth else None
    description = series_source.name + (f" + {truth_source.name}" if truth_source else "")
    return EvaluationData(series_source, truth_source, description)


def evaluation_data(
    choice: str,
    task: str,
    test_upload: tuple[str, bytes] | None = None,
    truth_upload: tuple[str, bytes] | None = None,
) -> EvaluationData | None:
    """The data a new model is evaluated on, from the page's choice (one of `TEST_CHOICES`).

    Returns:
        None for held-out units, the bundled test data, or the uploads.

    Raises:
        ValueError: If the choice is unknown, or "upload" comes without a test file.
    """
    if choice not in TEST_CHOICES:
        raise ValueError(f"Expected a choice among {list(TEST_CHOICES)}. Received: {choice!r}")
    if choice == HELD_OUT:
        return None
    if choice == BUNDLED_TEST:
        return sample_evaluation_data(task)
    if not test_upload:
        raise ValueError(
            "Expected a test (or live) sensor file to evaluate on. Received: no upload; upload "
            f"one or choose '{HELD_OUT}'"
        )
    return uploaded_evaluation_data(test_upload, truth_upload)


def truth_label(task: str) -> str:
    """The label of the truth-file uploader for `task`."""
    if task == "anomaly":
        return "Known anomalous stretches (CSV start_cycle,end_cycle[,kind,sensors])"
    return "True RUL at each unit's last cycle (CSV unit,rul or NASA RUL_FD00x.txt)"


def check_truth_file(truth: SeriesSource, task: str) -> None:
    """Checks a truth file on its own, before the data it belongs to is read.

    Raises:
        ValueError: If the file does not have the layout the task needs, holds a bad value or
            lists a unit twice.
    """
    if task == "anomaly":
        load_anomaly_labels(truth.data)
    else:
        read_final_rul(truth.data, name=truth.name)


def read_truth(truth: SeriesSource, task: str, dataset):
    """Reads a truth file: the true RUL per unit (a Series) or anomalous stretches (a frame).

    Raises:
        ValueError: If the file does not have the layout the task needs (the message says which).
    """
    if task == "anomaly":
        return load_anomaly_labels(truth.data)

    return read_final_rul(truth.data, name=truth.name, units=dataset.units())

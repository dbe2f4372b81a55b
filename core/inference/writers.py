"""Writers of prediction rows: CSV (safe to open in a spreadsheet) or Parquet, batch by batch.

Rows are written as they come and flushed per batch, so memory does not grow with the number of
images and another program can follow the file while it is written.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Self

import pyarrow as pa
import pyarrow.parquet as pq

from core.data.tables import neutralise_spreadsheet_text

OUTPUT_SUFFIXES = (".csv", ".parquet")
REJECTED_COLUMNS = ("source", "name", "reason")


def prediction_columns(class_names: Sequence[str]) -> list[str]:
    """The output columns: source, name, predicted, confidence, then `p_<class>` per class."""
    return ["source", "name", "predicted", "confidence"] + [f"p_{name}" for name in class_names]


def check_output_path(out: str | os.PathLike) -> Path:
    """Returns `out` as a Path after checking its suffix is .csv or .parquet.

    Raises:
        ValueError: If the suffix is anything else.
    """
    path = Path(out)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(
            f"Expected an output file ending in .csv or .parquet. Received: out={os.fspath(out)!r}"
        )
    return path


def rejected_path_for(path: str | os.PathLike) -> Path:
    """The sidecar of unreadable files: `<stem>.rejected.csv` beside `path`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.rejected.csv")


class _ClosedOnExit:
    """A `with` block for a writer: it yields the writer and calls its `close()` at the end."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exception) -> None:
        self.close()


class CsvRowWriter(_ClosedOnExit):
    """Writes rows to a CSV file as they come, safe to open in a spreadsheet, flushed per call.

    Text cells starting with `=`, `+`, `-`, `@`, a tab or a carriage return get a leading
    apostrophe (as `core.data.tables.predictions_csv`). The header is written once: when
    the file is new or empty; appending to a file keeps its rows.

    Args:
        path: The CSV file.
        columns: Column names, in order.
        append: Append to an existing file instead of replacing it. Defaults to False.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str], *, append: bool = False):
        self.path = Path(path)
        self.columns = list(columns)
        has_rows = append and self.path.is_file() and self.path.stat().st_size > 0
        self._handle = open(self.path, "a" if append else "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._handle)
        if not has_rows:
            self._writer.writerow([neutralise_spreadsheet_text(column) for column in self.columns])
            self._handle.flush()

    def write(self, records: Iterable[dict]) -> None:
        """Writes one row per record (a dict keyed by column name) and flushes."""
        self._writer.writerows(
            [neutralise_spreadsheet_text(record[column]) for column in self.columns]
            for record in records
        )
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class ParquetRowWriter(_ClosedOnExit):
    """Writes prediction rows to Parquet, one row group per call, with a fixed schema.

    Args:
        path: The Parquet file (replaced).
        columns: `prediction_columns(...)`: three text columns, then numbers.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        text_columns = {"source", "name", "predicted"}
        self._schema = pa.schema(
            [(name, pa.string() if name in text_columns else pa.float64()) for name in columns]
        )
        self._writer = pq.ParquetWriter(self.path, self._schema)

    def write(self, records: Sequence[dict]) -> None:
        """Writes the records as one row group (nothing for an empty list)."""
        if records:
            self._writer.write_table(pa.Table.from_pylist(list(records), schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def open_prediction_writer(path: str | os.PathLike, class_names: Sequence[str]):
    """Opens a CSV or Parquet writer for predictions, chosen by the suffix of `path`.

    Raises:
        ValueError: If the suffix is not .csv or .parquet.
    """
    path = check_output_path(path)
    columns = prediction_columns(class_names)
    if path.suffix.lower() == ".parquet":
        return ParquetRowWriter(path, columns)
    return CsvRowWriter(path, columns)

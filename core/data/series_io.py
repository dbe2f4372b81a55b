"""Sensor series files: read CSV, Parquet and C-MAPSS text into a raw table, without validating it.

The format comes from the file name's extension, or is sniffed from the first bytes when bytes
arrive without a name. CSV files may use commas, semicolons (with a decimal comma) or tabs, and be
UTF-8 or latin-1. What a file expands to in memory is bounded before it is materialised: at most
`MAX_SERIES_ROWS` rows, `MAX_SERIES_COLUMNS` columns and `MAX_SERIES_CELLS` cells (rows x columns),
checked from a Parquet file's metadata (with its uncompressed size against
`MAX_SERIES_DECODED_BYTES`, which bounds long strings too) and while a CSV file streams in. A small
compressed file can hold billions of zeros; the upload limit bounds the file, these bound the
table. Validation and the canonical table live in `core.data.series`, which re-exports
`read_series_file` and `MAX_SERIES_ROWS`.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.compute
from pyarrow import parquet

from core.data import archive_checks
from core.data.cmapss_text import CMAPSS_COLUMNS, looks_like_cmapss, read_cmapss_text
from core.data.validation import describe_value

MAX_SERIES_ROWS = 5_000_000
# 20 million cells are 160 MB as float64: pandas needs about twice that while converting, which a
# server shared by several users can afford; a 5-million-row, 40-sensor file cannot be.
MAX_SERIES_CELLS = 20_000_000
MAX_SERIES_COLUMNS = 2_000
# Parquet's own count of the column data once decompressed, strings included.
MAX_SERIES_DECODED_BYTES = 256 * 1024**2
TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
PARQUET_EXTENSIONS = (".parquet", ".pq")
_SNIFF_BYTES = 64 * 1024
# Compressed files renamed .csv are refused by their first bytes with a hint to unpack them.
_COMPRESSED_SIGNATURES = (
    (re.compile(rb"\x1f\x8b"), "gzip-compressed data"),
    (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2-compressed data"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz-compressed data"),
    (re.compile(rb"\(\xb5/\xfd"), "zstd-compressed data"),
    (re.compile(rb"PK\x03\x04"), "a ZIP archive (or an Excel workbook)"),
)


def _source_bytes(source: str | os.PathLike | bytes, name: str | None) -> tuple[str, str, bytes]:
    """Returns the display name, the extension ('' = sniff) and the first bytes of a source."""
    if isinstance(source, bytes | bytearray):
        display = name or "<bytes>"
        return display, Path(name).suffix.lower() if name else "", bytes(source[:_SNIFF_BYTES])
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            f"Expected a path or the bytes of a file. Received: source={describe_value(source)}"
        )
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"Expected an existing file. Received: path='{path}'")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    display = name or path.name
    return display, Path(display).suffix.lower(), head


def _open(source: str | os.PathLike | bytes) -> str | os.PathLike | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, bytes | bytearray) else source


def _too_many_rows(display: str) -> ValueError:
    return ValueError(
        f"Expected at most {MAX_SERIES_ROWS:,} rows. Received: name='{display}' has more than "
        f"{MAX_SERIES_ROWS:,} rows. Split the file or sample it before loading."
    )


def _too_large(display: str, rows: int, columns: int) -> ValueError:
    return ValueError(
        f"Expected at most {MAX_SERIES_CELLS:,} values (rows x columns) and at most "
        f"{MAX_SERIES_COLUMNS:,} columns, to keep the server's memory for everyone. Received: "
        f"name='{display}' has {rows:,} rows x {columns:,} columns = {rows * columns:,} values. "
        "Keep the sensors you need, or split the file by machine or by period."
    )


def _too_many_bytes(display: str, size: int) -> ValueError:
    return ValueError(
        f"Expected at most {MAX_SERIES_DECODED_BYTES // 1024**2:,} MB of column data once "
        f"decompressed. Received: name='{display}' expands to {size / 1024**2:,.0f} MB (long "
        "text columns?). Keep the sensors you need, or split the file."
    )


def _expanded_text_bytes(column) -> int:
    """Bytes of a dictionary-encoded text column once every row holds its own string."""
    total = 0
    for chunk in column.chunks:
        lengths = pyarrow.compute.binary_length(chunk.dictionary)
        total += pyarrow.compute.sum(pyarrow.compute.take(lengths, chunk.indices)).as_py() or 0
    return total


def _row_limit(display: str, columns: int) -> int:
    """The most rows a table of `columns` columns may have, or raises when it is too wide."""
    if columns > MAX_SERIES_COLUMNS:
        raise ValueError(
            f"Expected at most {MAX_SERIES_COLUMNS:,} columns. Received: name='{display}' has "
            f"{columns:,} columns. Keep the sensors you need."
        )
    return min(MAX_SERIES_ROWS, MAX_SERIES_CELLS // max(columns, 1))


def _sniff_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if len(lines) > 2:
        lines = lines[:-1]  # The last line of the sample may be cut short.
    best, best_score = ",", (0.0, 0)
    for delimiter in (",", ";", "\t"):
        widths = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not widths or widths[0] < 2:
            continue
        score = (sum(width == widths[0] for width in widths) / len(widths), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_delimited(source, display: str, sample: str, encoding: str) -> pd.DataFrame:
    notes = []
    delimiter = _sniff_delimiter(sample)
    # European exports pair ';' with a decimal comma ("1,5;2,25").
    decimal = "," if delimiter == ";" and re.search(r"\d,\d", sample) else "."
    first_line = next((line for line in sample.splitlines() if line.strip()), "")
    first_fields = next(csv.reader([first_line], delimiter=delimiter))
    headerless = all(_is_number(field.strip()) for field in first_fields)
    # The header's field count bounds the rows before pandas allocates anything for them.
    row_limit = _row_limit(display, len(first_fields))
    options = {"sep": delimiter, "decimal": decimal, "nrows": row_limit + 1}
    options |= {"header": None if headerless else 0, "skipinitialspace": True, "low_memory": False}
    try:
        try:
            frame = pd.read_csv(_open(source), encoding=encoding, **options)
        except UnicodeDecodeError:
            # The first bytes decoded as UTF-8 but a later byte did not.
            encoding = "latin-1"
            frame = pd.read_csv(_open(source), encoding=encoding, **options)
    except pd.errors.EmptyDataError as error:
        message = f"Expected a non-empty file. Received: name='{display}' is empty"
        raise ValueError(message) from error
    except pd.errors.ParserError as error:
        raise ValueError(
            "Expected a CSV file with the same number of fields on every line. "
            f"Received: name='{display}': {str(error).strip()}"
        ) from error
    if not isinstance(frame.index, pd.RangeIndex):
        # Data rows with more fields than the header: pandas would silently turn the first
        # column(s) into the index and shift every column name onto the wrong values.
        extra = frame.index.nlevels
        raise ValueError(
            "Expected a CSV file with the same number of fields on every line. Received: "
            f"name='{display}': the header names {frame.shape[1]} columns but the data rows have "
            f"{frame.shape[1] + extra} fields; name the extra column(s) in the header"
        )
    if len(frame) > row_limit:
        if row_limit == MAX_SERIES_ROWS:
            raise _too_many_rows(display)
        raise _too_large(display, len(frame), frame.shape[1])
    if encoding == "latin-1":
        notes.append(f"'{display}' is not valid UTF-8; it was decoded as latin-1.")
    if decimal == ",":
        notes.append("Read ';' as the field separator and ',' as the decimal separator.")
    if headerless:
        frame.columns = [f"column_{index + 1}" for index in range(frame.shape[1])]
        notes.append("The first line holds only numbers: read as data with columns column_1, ...")
    frame.columns = [str(column).strip() for column in frame.columns]
    frame.attrs["notes"] = notes
    return frame


def _read_parquet(source, display: str, head: bytes) -> pd.DataFrame:
    if not head.startswith(b"PAR1"):
        raise ValueError(
            "Expected a Parquet file (starting with the bytes b'PAR1'). "
            f"Received: name='{display}' starting with {describe_value(head[:8])}"
        )
    try:
        parquet_file = parquet.ParquetFile(_open(source))
        metadata = parquet_file.metadata
        row_count, column_count = metadata.num_rows, metadata.num_columns
        decoded_bytes = sum(
            metadata.row_group(group).column(column).total_uncompressed_size
            for group in range(metadata.num_row_groups)
            for column in range(metadata.num_columns)
        )
    except Exception as error:  # pyarrow raises several unrelated types for a damaged file.
        raise ValueError(
            f"Expected a readable Parquet file. Received: name='{display}': {error}"
        ) from error
    if row_count > MAX_SERIES_ROWS:
        raise _too_many_rows(display)
    if row_count > _row_limit(display, column_count):
        raise _too_large(display, row_count, column_count)
    if decoded_bytes > MAX_SERIES_DECODED_BYTES:
        raise _too_many_bytes(display, decoded_bytes)
    # Text columns are read as dictionaries: a long string repeated on every row is stored once
    # in the file, and its expanded size is counted before any copy of it is made.
    text_columns = [
        field.name
        for field in parquet_file.schema_arrow
        if pyarrow.types.is_string(field.type) or pyarrow.types.is_large_string(field.type)
    ]
    table = parquet.ParquetFile(_open(source), read_dictionary=text_columns).read()
    expanded_bytes = decoded_bytes + sum(
        _expanded_text_bytes(table.column(name)) for name in text_columns
    )
    if expanded_bytes > MAX_SERIES_DECODED_BYTES:
        raise _too_many_bytes(display, expanded_bytes)
    frame = table.to_pandas()
    del table
    for name in text_columns:
        if name in frame.columns and isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype(object)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # A frame saved with `unit` as its index keeps it as a column.
    frame.attrs["notes"] = []
    return frame


def read_series_file(
    source: str | os.PathLike | bytes, *, name: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Reads a CSV, Parquet or C-MAPSS text file into a raw table, without validating it.

    CSV files may be separated by commas, semicolons (with a decimal comma) or tabs, and encoded as
    UTF-8 or, failing that, latin-1. Text files of 26 space-separated numbers per line without a
    header are read as C-MAPSS, with columns unit, cycle, setting_1..3 and sensor_01..21. Notes on
    how the file was read (encoding fallback, ...) are in `frame.attrs["notes"]`.

    Args:
        source: A path, or the bytes of an uploaded file.
        name: The file name shown in messages; its extension picks the format. Defaults to the
            path's name; for bytes without a name the format is sniffed from the content.

    Returns:
        `(frame, source_format)` with `source_format` one of 'csv', 'parquet', 'cmapss'.

    Raises:
        ValueError: If the file is missing, empty, compressed, a model file, has an unknown
            extension, is not the format its extension says, has data rows longer than its
            header, or would take more memory than `MAX_SERIES_ROWS`, `MAX_SERIES_COLUMNS`,
            `MAX_SERIES_CELLS` or (Parquet) `MAX_SERIES_DECODED_BYTES` allow.
        TypeError: If `source` is neither a path nor bytes.
    """
    display, extension, head = _source_bytes(source, name)
    if not head.strip():
        raise ValueError(f"Expected a non-empty file. Received: name='{display}' is empty")
    compressed = next((kind for pattern, kind in _COMPRESSED_SIGNATURES if pattern.match(head)), "")
    model_reason = archive_checks.model_file_reason(display)
    if model_reason is not None:
        raise ValueError(model_reason)
    if extension in PARQUET_EXTENSIONS or (not extension and head.startswith(b"PAR1")):
        frame, source_format = _read_parquet(source, display, head), "parquet"
    elif compressed and extension not in (".xls", ".xlsx"):
        raise ValueError(
            "Expected a CSV text file (comma, semicolon or tab separated). "
            f"Received: name='{display}' holds {compressed}; extract the CSV file first."
        )
    elif extension and extension not in TEXT_EXTENSIONS:
        hint = " Export spreadsheets as CSV first." if extension in (".xls", ".xlsx") else ""
        raise ValueError(
            f"Expected a .csv, .tsv, .txt or .parquet file. Received: name='{display}'.{hint}"
        )
    elif b"\x00" in head:
        hint = " It looks like Parquet: name it .parquet." if head.startswith(b"PAR1") else ""
        raise ValueError(
            "Expected a CSV text file (comma, semicolon or tab separated). "
            f"Received: name='{display}' holds binary data.{hint}"
        )
    else:
        try:
            encoding = "utf-8-sig"
            sample = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            encoding, sample = "latin-1", head.decode("latin-1")
        if looks_like_cmapss(sample):
            row_limit = _row_limit(display, len(CMAPSS_COLUMNS))
            frame = read_cmapss_text(_open(source), name=display, max_rows=row_limit)
            source_format = "cmapss"
        else:
            frame, source_format = _read_delimited(source, display, sample, encoding), "csv"
    if len(frame) > MAX_SERIES_ROWS:
        raise _too_many_rows(display)
    if len(frame) > _row_limit(display, frame.shape[1]):
        raise _too_large(display, len(frame), frame.shape[1])
    if len(frame) == 0:
        raise ValueError(
            f"Expected at least one data row. Received: name='{display}' has columns "
            f"{list(frame.columns)[:10]} but no rows"
        )
    return frame, source_format

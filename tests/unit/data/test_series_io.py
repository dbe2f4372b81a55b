"""Tests for core/data/series_io.py: formats, sniffing, encodings and the row cap."""

import pandas as pd
import pytest

from core.data import series_io


def long_frame(units=(1, 2), length=5, sensors=2):
    """A long-format table: `length` cycles per unit, sensors varying with unit and cycle."""
    rows = []
    for unit in units:
        for cycle in range(1, length + 1):
            row = {"unit": unit, "cycle": cycle, "setting_1": 0.5}
            row |= {f"sensor_{index}": (index + 1) * cycle + unit for index in range(sensors)}
            rows.append(row)
    return pd.DataFrame(rows)


def write_csv(tmp_path, frame, name="series.csv", **options):
    path = tmp_path / name
    frame.to_csv(path, index=False, **options)
    return path


def test_read_comma_csv(tmp_path):
    frame, source_format = series_io.read_series_file(write_csv(tmp_path, long_frame()))
    assert source_format == "csv"
    assert list(frame.columns)[:3] == ["unit", "cycle", "setting_1"]
    assert len(frame) == 10
    assert frame.attrs["notes"] == []


def test_read_semicolon_csv_with_decimal_comma(tmp_path):
    path = tmp_path / "european.csv"
    path.write_text("unit;cycle;temperature\n1;1;20,5\n1;2;21,25\n")
    frame, _ = series_io.read_series_file(path)
    assert frame["temperature"].tolist() == [20.5, 21.25]
    assert any("decimal separator" in note for note in frame.attrs["notes"])


def test_read_tab_separated(tmp_path):
    path = tmp_path / "tabs.tsv"
    path.write_text("unit\tcycle\tpressure\n1\t1\t3.5\n1\t2\t3.75\n")
    frame, source_format = series_io.read_series_file(path)
    assert source_format == "csv"
    assert frame["pressure"].tolist() == [3.5, 3.75]


def test_read_latin1_csv_notes_the_fallback(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("unit,cycle,température\n1,1,20.0\n1,2,21.0\n".encode("latin-1"))
    frame, _ = series_io.read_series_file(path)
    assert "température" in frame.columns
    assert frame.attrs["notes"] == ["'latin.csv' is not valid UTF-8; it was decoded as latin-1."]


def test_read_utf8_bom_is_not_part_of_the_first_name(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("unit,cycle,s1\n1,1,2.0\n".encode("utf-8-sig"))
    frame, _ = series_io.read_series_file(path)
    assert list(frame.columns) == ["unit", "cycle", "s1"]


def test_read_headerless_csv_names_columns(tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("1.0,2.0\n1.5,2.5\n")
    frame, _ = series_io.read_series_file(path)
    assert list(frame.columns) == ["column_1", "column_2"]
    assert len(frame) == 2


def test_read_parquet_from_path_and_bytes(tmp_path):
    path = tmp_path / "series.parquet"
    long_frame().set_index("unit").to_parquet(path)
    frame, source_format = series_io.read_series_file(path)
    assert source_format == "parquet"
    assert "unit" in frame.columns  # The saved index comes back as a column.
    from_bytes, sniffed_format = series_io.read_series_file(path.read_bytes())
    assert sniffed_format == "parquet"
    assert len(from_bytes) == 10


def test_read_csv_bytes_with_name(tmp_path):
    data = long_frame().to_csv(index=False).encode()
    frame, source_format = series_io.read_series_file(data, name="upload.csv")
    assert (source_format, len(frame)) == ("csv", 10)


@pytest.mark.parametrize("content", [b"", b"  \n\n"])
def test_read_empty_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"Expected a non-empty file\. Received: name='empty.csv'"):
        series_io.read_series_file(path)


def test_read_header_only(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("unit,cycle,s1\n")
    with pytest.raises(ValueError) as error:
        series_io.read_series_file(path)
    assert str(error.value) == (
        "Expected at least one data row. Received: name='header.csv' has columns "
        "['unit', 'cycle', 's1'] but no rows"
    )


def test_read_unknown_extension(tmp_path):
    path = tmp_path / "book.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError) as error:
        series_io.read_series_file(path)
    assert str(error.value) == (
        "Expected a .csv, .tsv, .txt or .parquet file. Received: name='book.xlsx'. "
        "Export spreadsheets as CSV first."
    )


def test_read_parquet_extension_on_text(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("unit,cycle\n1,1\n")
    with pytest.raises(ValueError) as error:
        series_io.read_series_file(path)
    assert str(error.value) == (
        "Expected a Parquet file (starting with the bytes b'PAR1'). "
        "Received: name='fake.parquet' starting with b'unit,cyc'"
    )


def test_read_damaged_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x01" * 40)
    with pytest.raises(ValueError, match=r"Expected a readable Parquet file\. Received: name="):
        series_io.read_series_file(path)


def test_read_binary_content_with_csv_extension(tmp_path):
    path = tmp_path / "table.csv"
    long_frame().to_parquet(path)
    with pytest.raises(ValueError) as error:
        series_io.read_series_file(path)
    assert str(error.value) == (
        "Expected a CSV text file (comma, semicolon or tab separated). Received: "
        "name='table.csv' holds binary data. It looks like Parquet: name it .parquet."
    )


def test_read_missing_path_and_wrong_type(tmp_path):
    with pytest.raises(ValueError, match=r"Expected an existing file\. Received: path='.*nope"):
        series_io.read_series_file(tmp_path / "nope.csv")
    with pytest.raises(TypeError, match=r"Expected a path or the bytes of a file\. Received: "):
        series_io.read_series_file(42)


def test_read_ragged_csv(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("unit,cycle,s1\n1,1,2.0\n1,2,3.0,4.0,5.0\n")
    with pytest.raises(ValueError, match=r"same number of fields on every line\. Received: name="):
        series_io.read_series_file(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_refuses_too_many_rows(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(series_io, "MAX_SERIES_ROWS", 6)
    path = tmp_path / f"big{suffix}"
    if suffix == ".csv":
        long_frame().to_csv(path, index=False)
    else:
        long_frame().to_parquet(path)
    with pytest.raises(ValueError) as error:
        series_io.read_series_file(path)
    assert str(error.value) == (
        f"Expected at most 6 rows. Received: name='big{suffix}' has more than 6 rows. "
        "Split the file or sample it before loading."
    )

"""Hostile sensor CSV files, through the loaders of the data check and sensor monitor pages.

Each file is refused with a message naming it and the problem (or loaded, when it can be read
correctly); the other files of the same batch still load. Predictions exported as CSV never
carry a live spreadsheet formula.
"""

from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.data import sensor_sources, series_io
from core.data.images import load_uploaded_images
from core.data.inspection import inspect_uploads
from core.data.series_loading import load_series
from core.data.tables import predictions_csv
from core.inference.writers import CsvRowWriter

GOOD = b"unit,cycle,s1,s2\n1,1,0.5,10\n1,2,0.6,11\n2,1,0.4,12\n2,2,0.5,13\n"
LATIN_1 = "unit,cycle,température,état\n1,1,20.5,marche\n1,2,21.0,arrêt\n".encode("latin-1")
SAME_FIELDS = "Expected a CSV file with the same number of fields on every line. "

# name -> (bytes, the message refusing it).
HOSTILE = {
    "packed.csv": (
        gzip.compress(GOOD, mtime=0),
        "Expected a CSV text file (comma, semicolon or tab separated). Received: "
        "name='packed.csv' holds gzip-compressed data; extract the CSV file first.",
    ),
    "extra.csv": (
        b"unit,cycle,s1\n1,1,0.5\n1,2,0.6,7\n1,3,0.7\n",
        SAME_FIELDS + "Received: name='extra.csv': Error tokenizing data. C error: Expected 3 "
        "fields in line 3, saw 4",
    ),
    "shifted.csv": (
        # Every data row one field longer than the header: pandas would silently use the first
        # field as the row index and shift every column name onto its neighbour's values.
        b"unit,cycle,s1\n1,1,0.5,7\n1,2,0.6,7\n",
        SAME_FIELDS + "Received: name='shifted.csv': the header names 3 columns but the data "
        "rows have 4 fields; name the extra column(s) in the header",
    ),
    "nonfinite.csv": (
        b"unit,cycle,s1,s2\n1,1,NaN,1\n1,2,inf,1e309\n1,3,-inf,2\n1,4,0.5,-1e309\n",
        "Expected finite numbers (no empty, NaN or inf values) in sensor, setting and RUL "
        "columns. Received: name='nonfinite.csv': s1: 1 missing, 2 inf; s2: 0 missing, 2 inf. "
        "Fill or drop those rows, or pass allow_missing=True to keep them.",
    ),
    "text.csv": (
        b"unit,cycle,s1\n1,1,0.5\n1,2,abc\n1,3,0.7\n",
        "Expected numbers in every sensor, setting and RUL column. Received: name='text.csv': "
        "'s1': 1 value(s) such as 'abc' (row 2)",
    ),
    "stamps.csv": (
        b"machine,timestamp,s1\nM1,2024-05-01 08:00,0.5\nM1,2024-05-01 08:01,0.6\n"
        b"M1,2024-05-01 08:01,0.7\n",
        "Expected each time value at most once per unit. Received: name='stamps.csv': "
        "unit='M1' has timestamp='2024-05-01 08:01:00' on rows 2 and 3",
    ),
    "cycles.csv": (
        b"unit,cycle,s1\n1,1,0.5\n1,2,0.6\n1,2,0.7\n",
        "Expected each time value at most once per unit. Received: name='cycles.csv': unit=1 "
        "has cycle=2 on rows 2 and 3",
    ),
}


def load_on_sensor_page(name: str, data: bytes):
    """What the sensor monitor page does with an upload: source, raw table, validation."""
    source = sensor_sources.upload_source(name, data)
    return sensor_sources.load_dataset(source, table=sensor_sources.read_table(source))


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("loader", ["load_series", "sensor_page"])
def test_hostile_csv_is_refused_with_a_message_naming_it(loader, name):
    data, expected = HOSTILE[name]
    with pytest.raises(ValueError) as error:
        if loader == "load_series":
            load_series(data, name=name)
        else:
            load_on_sensor_page(name, data)
    assert str(error.value) == expected


def test_data_check_refuses_each_hostile_csv_and_loads_the_others():
    files = [("good.csv", GOOD), ("latin.csv", LATIN_1)]
    files += [(name, data) for name, (data, _) in HOSTILE.items()]
    report = inspect_uploads(files)
    assert [entry["name"] for entry in report["series"]] == ["good.csv", "latin.csv"]
    assert report["series"][0]["rows"] == 4
    assert {item["name"]: item["reason"] for item in report["rejected"]} == {
        name: reason for name, (_, reason) in HOSTILE.items()
    }


@pytest.mark.parametrize("loader", ["load_series", "sensor_page"])
def test_latin_1_file_is_decoded_with_a_note(loader):
    if loader == "load_series":
        dataset = load_series(LATIN_1, name="latin.csv")
    else:
        dataset = load_on_sensor_page("latin.csv", LATIN_1)
    assert dataset.sensor_columns == ["température"]
    assert dataset.frame["température"].tolist() == [20.5, 21.0]
    assert dataset.problems[0] == "'latin.csv' is not valid UTF-8; it was decoded as latin-1."


def test_nan_inf_and_overflowing_numbers_are_kept_as_missing_only_when_allowed():
    dataset = load_series(HOSTILE["nonfinite.csv"][0], name="nonfinite.csv", allow_missing=True)
    assert dataset.frame["s1"].isna().tolist() == [True, True, True, False]
    assert dataset.frame["s2"].isna().tolist() == [False, True, False, True]
    assert dataset.problems[-1] == (
        "Kept rows with missing values (inf read as NaN): s1: 1 missing, 2 inf; s2: 0 missing, "
        "2 inf."
    )


def test_ten_million_rows_are_capped_with_a_message(tmp_path):
    # 10,000,001 short data rows (60 MB): pandas stops after the cap's 5,000,001st row.
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(b"unit,cycle,s1\n")
        block = b"1,1,1\n" * 1_000_000
        for _ in range(10):
            handle.write(block)
        handle.write(b"1,1,1\n")
    expected = (
        "Expected at most 5,000,000 rows. Received: name='huge.csv' has more than 5,000,000 "
        "rows. Split the file or sample it before loading."
    )
    with pytest.raises(ValueError) as error:
        load_series(path)
    assert str(error.value) == expected


@pytest.mark.parametrize("layout", ["csv", "headerless", "cmapss"])
def test_row_cap_applies_to_every_text_layout(layout, monkeypatch):
    monkeypatch.setattr(series_io, "MAX_SERIES_ROWS", 100)
    if layout == "cmapss":
        lines = [" ".join(["1", str(cycle), *["0.5"] * 24]) for cycle in range(1, 102)]
    else:
        lines = [f"1,{cycle},{cycle % 7}" for cycle in range(1, 102)]
    header = "unit,cycle,s1\n" if layout == "csv" else ""
    data = (header + "\n".join(lines) + "\n").encode()
    with pytest.raises(ValueError) as error:
        load_series(data, name="rows.txt")
    assert str(error.value) == (
        "Expected at most 100 rows. Received: name='rows.txt' has more than 100 rows. Split the "
        "file or sample it before loading."
    )
    assert len(load_series(data[: data.rindex(b"\n1") + 1], name="rows.txt").frame) == 100


FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_exported_predictions_neutralise_spreadsheet_formulas(tmp_path):
    # Upload names become the `name` column of the predictions the pages let users download.
    png = io.BytesIO()
    Image.new("L", (4, 4)).save(png, "PNG")
    uploads = [(f"{formula}.png", png.getvalue()) for formula in FORMULAS] + [
        ("part.png", png.getvalue())
    ]
    _, names, rejected = load_uploaded_images(uploads, image_size=(4, 4))
    assert rejected == []
    frame = pd.DataFrame(
        {"name": names, "predicted": "=ok", "confidence": -0.5, "p_=ok": np.ones(len(names))}
    )
    rows = list(csv.reader(io.StringIO(predictions_csv(frame).decode("utf-8"), newline="")))
    assert rows[0] == ["name", "predicted", "confidence", "p_=ok"]
    assert [row[0] for row in rows[1:]] == [f"'{formula}.png" for formula in FORMULAS] + [
        "part.png"
    ]
    assert {row[1] for row in rows[1:]} == {"'=ok"}
    assert {row[2] for row in rows[1:]} == {"-0.5"}  # Numbers stay numbers.

    path = tmp_path / "predictions.csv"
    with CsvRowWriter(path, ["name", "predicted"]) as writer:
        writer.write({"name": name, "predicted": "=ok"} for name in names)
    written = list(csv.reader(path.open(newline="", encoding="utf-8")))
    assert [row[0] for row in written[1:]] == [f"'{formula}.png" for formula in FORMULAS] + [
        "part.png"
    ]
    assert {row[1] for row in written[1:]} == {"'=ok"}

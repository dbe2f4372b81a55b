"""Tests for core/data/series.py (with core/data/series_loading.py): column detection, validation,
the dataset and re-exports."""

import json

import numpy as np
import pandas as pd
import pytest

from core.data import series, series_io, series_loading


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


# Column detection.


@pytest.mark.parametrize(
    ("unit_name", "time_name"),
    [
        ("unit", "cycle"),
        ("Unit ID", "Time (s)"),
        ("machine", "timestamp"),
        ("engine_id", "t"),
        ("asset", "step"),
        ("id", "time"),
    ],
)
def test_detect_unit_and_time_names(unit_name, time_name):
    frame = pd.DataFrame({unit_name: [1, 1, 2], time_name: [1, 2, 1], "vibration": [0.1, 0.2, 0.3]})
    mapping = series.detect_column_mapping(frame)
    assert (mapping.unit, mapping.time, mapping.sensors) == (unit_name, time_name, ["vibration"])


def test_detect_settings_label_rul_and_ignored_columns():
    frame = pd.DataFrame(
        {
            "Unnamed: 0": [0, 1, 2],
            "machine_id": ["a", "a", "b"],
            "cycle": [1, 2, 1],
            "op_setting_1": [1.0, 1.0, 2.0],
            "operating mode": [0, 0, 1],
            "temp": [20.0, 21.0, 22.0],
            "pressure": ["1.0", "bad", "3.0"],  # Mostly numeric: a sensor with a bad value.
            "operator": ["ann", "bob", "cy"],
            "failure_mode": ["none", "none", "bearing"],
            "RUL": [3, 2, 1],
        }
    )
    mapping = series.detect_column_mapping(frame)
    assert mapping == series.ColumnMapping(
        unit="machine_id",
        time="cycle",
        sensors=["temp", "pressure"],
        settings=["op_setting_1", "operating mode"],
        label="failure_mode",
        rul="RUL",
    )


def test_detect_row_id_is_not_a_unit():
    frame = pd.DataFrame({"id": [1, 2, 3], "temp": [1.0, 2.0, 3.0]})
    mapping = series.detect_column_mapping(frame)
    assert (mapping.unit, mapping.time, mapping.sensors) == (None, None, ["temp"])


def test_detect_requires_a_frame():
    with pytest.raises(TypeError, match=r"Expected a pandas DataFrame\. Received: frame=\[1\]"):
        series.detect_column_mapping([1])


# Loading: every path.


def test_load_long_csv_is_canonical_and_sorted(tmp_path):
    frame = long_frame(units=(10, 2)).sample(frac=1.0, random_state=0)
    frame = frame.sort_values("cycle", kind="stable")  # Units interleaved, time increasing.
    frame["failure"] = "none"
    frame["rul"] = 5 - frame["cycle"]
    dataset = series_loading.load_series(write_csv(tmp_path, frame))
    assert list(dataset.frame.columns) == [
        "unit", "cycle", "setting_1", "sensor_0", "sensor_1", "label", "rul"
    ]  # fmt: skip
    assert dataset.units() == [2, 10]
    assert dataset.frame["cycle"].tolist() == [1, 2, 3, 4, 5] * 2
    assert dataset.unit_lengths() == {2: 5, 10: 5}
    assert dataset.sensor_columns == ["sensor_0", "sensor_1"]
    assert dataset.setting_columns == ["setting_1"]
    assert dataset.mapping.label == "failure"
    assert dataset.frame["sensor_0"].dtype == np.float64
    assert (dataset.source_format, dataset.problems) == ("csv", [])


def test_load_parquet_long(tmp_path):
    path = tmp_path / "series.parquet"
    long_frame().to_parquet(path)
    dataset = series_loading.load_series(path)
    assert dataset.source_format == "parquet"
    assert dataset.units() == [1, 2]


def test_load_bytes_semicolon_and_latin1():
    text = "Maschine;Zyklus;température\nM1;1;1,5\nM1;2;2,5\nM2;1;3,0\n"
    mapping = series.ColumnMapping(unit="Maschine", time="Zyklus", sensors=["température"])
    dataset = series_loading.load_series(text.encode("latin-1"), name="werk.csv", mapping=mapping)
    assert dataset.frame["température"].tolist() == [1.5, 2.5, 3.0]
    assert dataset.units() == ["M1", "M2"]
    assert dataset.problems[0] == "'werk.csv' is not valid UTF-8; it was decoded as latin-1."


def test_load_wide_single_machine_csv(tmp_path):
    frame = pd.DataFrame({"temp": [1.0, 2.0, 3.0], "vibration": [0.5, 0.4, 0.6]})
    dataset = series_loading.load_series(write_csv(tmp_path, frame, "machine.csv"))
    assert dataset.units() == [1]
    assert dataset.frame["cycle"].tolist() == [1, 2, 3]
    assert dataset.problems == [
        "No unit column: read as one machine (unit 1) with 3 rows.",
        "No time column: the row order is used as the cycle (1, 2, 3, ...).",
    ]


def test_load_datetime_time_column(tmp_path):
    frame = pd.DataFrame(
        {
            "timestamp": ["2024-01-01 00:00", "2024-01-01 00:10", "2024-01-01 01:00"],
            "temp": [1.0, 2.0, 4.0],
        }
    )
    dataset = series_loading.load_series(write_csv(tmp_path, frame))
    assert dataset.frame["cycle"].tolist() == [1, 2, 3]
    assert dataset.frame["timestamp"].iloc[2] == pd.Timestamp("2024-01-01 01:00")
    assert "holds dates/times" in dataset.problems[-1]


def test_load_natural_unit_order_and_ignored_note(tmp_path):
    frame = pd.DataFrame(
        {"asset": ["M10", "M2", "M10"], "cycle": [1, 1, 2], "temp": [1.0, 2.0, 3.0]}
    )
    frame["line"] = "north"
    dataset = series_loading.load_series(write_csv(tmp_path, frame))
    assert dataset.units() == ["M2", "M10"]
    assert dataset.problems == ["Ignored columns that are not numeric sensors: ['line']"]


def test_constant_sensors_are_reported_not_dropped():
    frame = long_frame()
    frame["flat"] = 518.67
    mapping = series.detect_column_mapping(frame)
    dataset = series.dataset_from_frame(frame, mapping)
    assert dataset.constant_sensors == ["flat"]
    assert "flat" in dataset.frame.columns


def test_summary_is_json_serialisable():
    dataset = series.dataset_from_frame(
        long_frame(length=4), series.detect_column_mapping(long_frame(length=4))
    )
    summary = json.loads(json.dumps(dataset.summary()))
    assert summary["units"] == 2
    assert summary["rows"] == 8
    assert summary["sensors"] == ["sensor_0", "sensor_1"]
    assert summary["settings"] == ["setting_1"]
    assert summary["constant_sensors"] == []
    assert (summary["min_unit_length"], summary["median_unit_length"]) == (4, 4.0)
    assert summary["max_unit_length"] == 4
    assert summary["source_format"] == "frame"


# Loading: every error.


def mapping_for(frame):
    return series.detect_column_mapping(frame)


def test_error_missing_mapped_columns():
    mapping = series.ColumnMapping(unit="unit", time="time", sensors=["sensor_0", "gone"])
    with pytest.raises(ValueError) as error:
        series.dataset_from_frame(long_frame(sensors=1), mapping)
    assert str(error.value) == (
        "Expected the mapped columns ['unit', 'time', 'sensor_0', 'gone']. Received: "
        "missing=['time', 'gone'], available=['unit', 'cycle', 'setting_1', 'sensor_0']"
    )


def test_error_repeated_role():
    mapping = series.ColumnMapping(unit="unit", time="cycle", sensors=["cycle"])
    with pytest.raises(ValueError, match=r"one role\. Received: \['cycle'\] repeated"):
        series.dataset_from_frame(long_frame(), mapping)


def test_error_no_sensor_columns(tmp_path):
    frame = pd.DataFrame({"unit": [1, 1], "cycle": [1, 2], "note": ["a", "b"]})
    with pytest.raises(ValueError) as error:
        series_loading.load_series(write_csv(tmp_path, frame))
    assert str(error.value) == (
        "Expected at least one numeric sensor column. Received: name='series.csv': "
        "columns=['unit', 'cycle', 'note']"
    )


def test_error_canonical_name_as_sensor():
    frame = pd.DataFrame({"machine": [1, 1], "t": [1, 2], "rul": [3.0, 2.0]})
    mapping = series.ColumnMapping(unit="machine", time="t", sensors=["rul"])
    with pytest.raises(ValueError, match=r"other than unit, cycle.*Received: \['rul'\]"):
        series.dataset_from_frame(frame, mapping)


def test_error_non_numeric_values(tmp_path):
    frame = long_frame(sensors=1).astype({"sensor_0": object})
    frame.loc[2, "sensor_0"] = "err"
    frame.loc[7, "sensor_0"] = "n/a?"
    with pytest.raises(ValueError) as error:
        series_loading.load_series(write_csv(tmp_path, frame))
    assert str(error.value) == (
        "Expected numbers in every sensor, setting and RUL column. Received: name='series.csv': "
        "'sensor_0': "
        "2 value(s) such as 'err' (row 3), 'n/a?' (row 8)"
    )


def test_error_nan_and_inf_counted_per_column():
    frame = long_frame()
    frame.loc[[1, 3], "sensor_0"] = np.nan
    frame.loc[4, "sensor_0"] = np.inf
    frame.loc[0, "setting_1"] = np.nan
    with pytest.raises(ValueError) as error:
        series.dataset_from_frame(frame, mapping_for(frame))
    assert str(error.value) == (
        "Expected finite numbers (no empty, NaN or inf values) in sensor, setting and RUL "
        "columns. Received: setting_1: 1 missing, 0 inf; sensor_0: 2 missing, 1 inf. Fill or "
        "drop those rows, or pass allow_missing=True to keep them."
    )


def test_allow_missing_keeps_rows_and_reports():
    frame = long_frame()
    frame.loc[1, "sensor_0"] = np.nan
    frame.loc[4, "sensor_0"] = -np.inf
    dataset = series.dataset_from_frame(frame, mapping_for(frame), allow_missing=True)
    assert len(dataset.frame) == 10
    assert dataset.frame["sensor_0"].isna().sum() == 2
    assert dataset.problems == [
        "Kept rows with missing values (inf read as NaN): sensor_0: 1 missing, 1 inf."
    ]


def test_error_time_not_increasing():
    frame = pd.DataFrame(
        {"unit": [1, 2, 2, 2], "cycle": [1, 1, 5, 3], "temp": [1.0, 2.0, 3.0, 4.0]}
    )
    with pytest.raises(ValueError) as error:
        series.dataset_from_frame(frame, mapping_for(frame))
    assert str(error.value) == (
        "Expected time to increase strictly within each unit (sort the rows by unit, then "
        "time). Received: unit=2, row 4 has cycle=3 after 5 at row 3"
    )


def test_error_duplicate_time():
    frame = pd.DataFrame({"unit": ["a", "a", "a"], "cycle": [1, 2, 2], "temp": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError) as error:
        series.dataset_from_frame(frame, mapping_for(frame))
    assert str(error.value) == (
        "Expected each time value at most once per unit. Received: unit='a' has cycle=2 on "
        "rows 2 and 3"
    )


def test_error_empty_unit_and_time():
    frame = pd.DataFrame({"unit": [1.0, 1.0, np.nan], "cycle": [1, 2, 3], "temp": [1.0, 2.0, 3]})
    with pytest.raises(ValueError) as error:
        series.dataset_from_frame(frame, mapping_for(frame))
    assert str(error.value) == (
        "Expected a unit id on every row. Received: column 'unit' is empty on 1 row(s), "
        "first at row 3"
    )
    frame = pd.DataFrame({"unit": [1, 1], "cycle": [1.0, np.nan], "temp": [1.0, 2.0]})
    with pytest.raises(ValueError) as error:
        series.dataset_from_frame(frame, mapping_for(frame))
    assert str(error.value) == (
        "Expected a finite time value on every row. Received: column 'cycle' is empty or inf "
        "on 1 row(s), first at row 2"
    )


def test_error_time_neither_number_nor_date():
    frame = pd.DataFrame({"unit": [1, 1], "time": ["2024-01-01", "later"], "temp": [1.0, 2.0]})
    with pytest.raises(ValueError) as error:
        series.dataset_from_frame(frame, mapping_for(frame))
    assert str(error.value) == (
        "Expected numbers or dates/times in the time column. Received: 'time': 1 value(s) such "
        "as 'later' (row 2)"
    )


def test_window_lists_short_units():
    frame = pd.concat([long_frame(units=(1,), length=6), long_frame(units=(2, 3), length=3)])
    dataset = series.dataset_from_frame(frame, mapping_for(frame), window=5)
    assert dataset.problems == [
        "2 of 3 units are shorter than the window of 5 rows and give no full window: "
        "unit 2 (3 rows), unit 3 (3 rows)."
    ]


def test_window_error_when_no_unit_is_long_enough():
    frame = long_frame(length=3)
    with pytest.raises(ValueError) as error:
        series.dataset_from_frame(frame, mapping_for(frame), window=4)
    assert str(error.value) == (
        "Expected at least one unit with at least window=4 rows. Received: the longest unit (1) "
        "has 3 rows"
    )


@pytest.mark.parametrize("window", [0, -3, 2.5, True])
def test_window_must_be_a_positive_integer(window):
    with pytest.raises(ValueError, match=r"positive integer\. Received: window="):
        series.dataset_from_frame(long_frame(), mapping_for(long_frame()), window=window)


def test_wrong_argument_types():
    with pytest.raises(TypeError) as error:
        series.dataset_from_frame(long_frame(), {"unit": "unit"})
    assert str(error.value) == (
        "Expected a pandas DataFrame and a ColumnMapping. Received: frame=DataFrame, mapping=dict"
    )


def test_load_directory_without_cmapss_files(tmp_path):
    with pytest.raises(ValueError, match=r"holding one train_FD00x\.txt.*Received: path="):
        series_loading.load_series(tmp_path)


def test_reading_names_are_re_exported():
    for name in ["read_series_file", "MAX_SERIES_ROWS", "TEXT_EXTENSIONS", "PARQUET_EXTENSIONS"]:
        assert getattr(series, name) is getattr(series_io, name)
        assert name in series.__all__

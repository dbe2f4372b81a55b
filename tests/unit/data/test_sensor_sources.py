"""Tests for core/data/sensor_sources.py: sample and uploaded files, roles, previews, truth
files."""

import io

import pandas as pd
import pytest

from core.data import sensor_sources as sources
from core.data.series import ColumnMapping


def fleet_csv(units: int = 3, cycles: int = 12) -> bytes:
    rows = []
    for unit in range(1, units + 1):
        for cycle in range(1, cycles + 1):
            rows.append(
                {
                    "machine": unit,
                    "time": cycle,
                    "op_setting_1": 0.5,
                    "temperature": 20.0 + cycle * unit * 0.1,
                    "pressure": 5.0 - cycle * 0.05,
                    "flat": 1.0,
                    "note": "ok",
                }
            )
    return pd.DataFrame(rows).to_csv(index=False).encode()


def test_sample_source_reads_the_bundled_file_with_a_content_fingerprint():
    train = sources.sample_source("train.csv")
    assert (train.kind, train.name, train.description) == (
        "sample",
        "train.csv",
        "sample train.csv",
    )
    assert train.data.startswith(b"unit,cycle,")
    assert sources.sample_source("train.csv").fingerprint == train.fingerprint
    assert sources.sample_source("test.csv").fingerprint != train.fingerprint
    assert "data" not in repr(train), "the bytes stay out of the repr"


def test_sample_source_refuses_an_unknown_file():
    with pytest.raises(ValueError, match=r"Expected a bundled sensor file among \['train.csv'"):
        sources.sample_source("secrets.csv")


def test_sample_source_missing_says_how_to_regenerate(tmp_path, monkeypatch):
    monkeypatch.setenv("LINESIGHT_SAMPLE_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="regenerate it with `python -m core sample-data`"):
        sources.sample_source("train.csv")


def test_upload_source_fingerprint_follows_name_and_content():
    first = sources.upload_source("pumps.csv", fleet_csv())
    assert (first.kind, first.description) == ("upload", "upload pumps.csv")
    assert sources.upload_source("pumps.csv", fleet_csv()).fingerprint == first.fingerprint
    assert sources.upload_source("pumps.csv", fleet_csv(units=2)).fingerprint != first.fingerprint
    assert sources.upload_source("other.csv", fleet_csv()).fingerprint != first.fingerprint


def test_upload_source_refuses_other_extensions_and_empty_files():
    with pytest.raises(ValueError, match=r"Expected a sensor file ending in \.csv.*'book.xlsx'"):
        sources.upload_source("book.xlsx", b"PK\x03\x04")
    with pytest.raises(
        ValueError, match=r"Expected a non-empty file\. Received: name='empty\.csv'"
    ):
        sources.upload_source("empty.csv", b"  \n")
    with pytest.raises(TypeError, match="Expected each upload as a"):
        sources.upload_source("pumps.csv", "text, not bytes")


def test_read_table_detects_the_column_roles():
    table = sources.read_table(sources.upload_source("pumps.csv", fleet_csv()))
    assert table.source_format == "csv"
    assert table.columns == [
        "machine", "time", "op_setting_1", "temperature", "pressure", "flat", "note"
    ]  # fmt: skip
    detected = table.detected
    assert (detected.unit, detected.time) == ("machine", "time")
    assert detected.settings == ["op_setting_1"]
    assert detected.sensors == ["temperature", "pressure", "flat"]


def test_read_table_gives_cmapss_text_its_layout():
    rows = [
        " ".join(["1", str(cycle), "0.1", "0.2", "100"] + [str(500 + cycle)] * 21)
        for cycle in range(1, 6)
    ]
    table = sources.read_table(sources.upload_source("train_FD001.txt", "\n".join(rows).encode()))
    assert table.source_format == "cmapss"
    assert (table.detected.unit, table.detected.time) == ("unit", "cycle")
    assert len(table.detected.sensors) == 21


def test_read_table_names_the_file_it_cannot_read():
    source = sources.upload_source("header.csv", b"a,b,c\n")
    with pytest.raises(
        ValueError, match=r"Expected at least one data row\. Received: name='header"
    ):
        sources.read_table(source)


def test_load_dataset_uses_the_chosen_roles_and_reports_ignored_columns():
    source = sources.upload_source("pumps.csv", fleet_csv())
    table = sources.read_table(source)
    mapping = sources.column_mapping(unit="machine", time="time", sensors=["pressure"])
    dataset = sources.load_dataset(source, mapping, table)
    assert dataset.sensor_columns == ["pressure"]
    assert dataset.setting_columns == []
    assert dataset.units() == [1, 2, 3]
    assert any("Ignored columns without a role" in problem for problem in dataset.problems)
    detected = sources.load_dataset(source)
    assert detected.sensor_columns == ["temperature", "pressure", "flat"]


def test_load_dataset_explains_a_bad_mapping():
    source = sources.upload_source("pumps.csv", fleet_csv())
    repeated = sources.column_mapping(unit="machine", time="time", sensors=["time"])
    with pytest.raises(ValueError, match=r"Expected each column to have one role.*\['time'\]"):
        sources.load_dataset(source, repeated)
    no_unit = sources.column_mapping(unit=None, time="time", sensors=["pressure"])
    with pytest.raises(ValueError, match="Expected each time value at most once per unit"):
        sources.load_dataset(source, no_unit)
    text_sensor = sources.column_mapping(unit="machine", time="time", sensors=["note"])
    with pytest.raises(ValueError, match="Expected numbers in every sensor"):
        sources.load_dataset(source, text_sensor)


def test_mapping_for_falls_back_to_detection_when_columns_are_missing():
    table = sources.read_table(sources.sample_source("live.csv"))
    training = ColumnMapping("unit", "cycle", ["sensor_02"], [], "failure_mode", None)
    assert sources.mapping_for(table, training) is table.detected
    assert table.detected.unit is None, "live.csv holds one machine"
    own = ColumnMapping(None, "cycle", ["sensor_02"])
    assert sources.mapping_for(table, own) is own
    assert sources.mapping_for(table, None) is table.detected


def test_dataset_preview_and_unit_rows():
    source = sources.upload_source("pumps.csv", fleet_csv(units=2, cycles=5))
    dataset = sources.load_dataset(source)
    preview = sources.dataset_preview(dataset, rows=3)
    assert preview["headline"] == {"Units": 2, "Rows": 10, "Sensors": 3, "Constant sensors": 1}
    assert preview["curve_sensors"] == ["temperature", "pressure"], "constant sensors left out"
    assert len(preview["head"]) == 3
    assert preview["units"] == [1, 2]
    assert list(sources.unit_rows(dataset, 2)["cycle"]) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match=r"Expected a unit of the dataset\. Received: unit=7"):
        sources.unit_rows(dataset, 7)


def test_sample_truth_pairs_bundled_files_with_their_truth():
    test = sources.sample_source("test.csv")
    assert sources.sample_truth(test, "rul").name == "test_rul.csv"
    assert sources.sample_truth(test, "failure").name == "test_rul.csv"
    assert sources.sample_truth(test, "anomaly") is None
    assert sources.sample_truth(sources.sample_source("live.csv"), "anomaly").name == (
        "live_anomalies.csv"
    )
    upload = sources.upload_source("test.csv", test.data)
    assert sources.sample_truth(upload, "rul") is None, "an upload has no bundled truth"


def test_evaluation_data_follows_the_choice():
    assert sources.evaluation_data(sources.HELD_OUT, "rul") is None
    bundled = sources.evaluation_data(sources.BUNDLED_TEST, "rul")
    assert bundled.description == "test.csv + test_rul.csv"
    live = sources.evaluation_data(sources.BUNDLED_TEST, "anomaly")
    assert live.description == "live.csv + live_anomalies.csv"
    uploaded = sources.evaluation_data(
        sources.UPLOADED_TEST, "rul", ("mine.csv", fleet_csv()), ("rul.csv", b"unit,rul\n1,5\n")
    )
    assert uploaded.description == "mine.csv + rul.csv"
    assert sources.evaluation_data(sources.UPLOADED_TEST, "rul", ("mine.csv", b"1")).truth is None


def test_evaluation_data_refuses_an_unknown_choice_or_a_missing_upload():
    with pytest.raises(ValueError, match=r"Expected a choice among \['Held-out units'"):
        sources.evaluation_data("everything", "rul")
    with pytest.raises(ValueError, match=r"Expected a test \(or live\) sensor file to evaluate on"):
        sources.evaluation_data(sources.UPLOADED_TEST, "rul", None)
    with pytest.raises(ValueError, match=r"Expected a task among \['rul'"):
        sources.sample_evaluation_data("forecast")


def test_truth_label_names_the_layout_of_each_task():
    assert "start_cycle,end_cycle" in sources.truth_label("anomaly")
    assert "unit,rul" in sources.truth_label("rul")


def test_read_truth_reads_true_rul_and_anomaly_stretches():
    test = sources.load_dataset(sources.sample_source("test.csv"))
    final = sources.read_truth(sources.sample_source("test_rul.csv"), "rul", test)
    assert list(final.index) == test.units()
    assert (final >= 0).all()
    live = sources.load_dataset(sources.sample_source("live.csv"))
    labels = sources.read_truth(sources.sample_source("live_anomalies.csv"), "anomaly", live)
    assert list(labels.columns) == ["start_cycle", "end_cycle", "kind", "sensors"]
    assert len(labels) == 6


def test_read_truth_explains_a_wrong_layout():
    test = sources.load_dataset(sources.sample_source("test.csv"))
    wrong = sources.upload_source("rul.txt", b"12\n")
    with pytest.raises(ValueError, match=r"Expected one true RUL per unit \(16 units\)"):
        sources.read_truth(wrong, "rul", test)
    labels = sources.upload_source("labels.csv", b"start,end\n1,2\n")
    with pytest.raises(ValueError, match="Expected anomaly label columns"):
        sources.read_truth(labels, "anomaly", test)


def test_upload_types_cover_csv_parquet_and_text():
    assert {"csv", "parquet", "txt"} <= set(sources.UPLOAD_TYPES)
    frame = pd.read_csv(io.BytesIO(fleet_csv()))
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    table = sources.read_table(sources.upload_source("pumps.parquet", buffer.getvalue()))
    assert table.source_format == "parquet"
    assert table.detected.unit == "machine"

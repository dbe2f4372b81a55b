"""Tests for core/data/cmapss.py (with core/data/cmapss_text.py): C-MAPSS detection, training
and test loading."""

import numpy as np
import pandas as pd
import pytest

from core.data import cmapss, series_io, series_loading
from core.data import cmapss_text as cmapss_format


def cmapss_text(lengths=(5, 3), seed=0):
    """C-MAPSS-like text: 26 space-separated numbers per line, with 2 trailing spaces."""
    generator = np.random.default_rng(seed)
    lines = []
    for unit, length in enumerate(lengths, start=1):
        for cycle in range(1, length + 1):
            settings = [f"{value:.4f}" for value in generator.normal(0, 0.002, 2)] + ["100.0"]
            sensors = ["518.67"] + [f"{value:.2f}" for value in generator.normal(600, 5, 20)]
            lines.append(" ".join([str(unit), str(cycle), *settings, *sensors]) + "  ")
    return "\n".join(lines) + "\n"


def write_subset(directory, subset="FD001", train=(5, 3), test=(4, 2), rul="7\n12\n"):
    directory.mkdir(exist_ok=True)
    (directory / f"train_{subset}.txt").write_text(cmapss_text(train))
    (directory / f"test_{subset}.txt").write_text(cmapss_text(test, seed=1))
    (directory / f"RUL_{subset}.txt").write_text(rul)
    return directory


def test_looks_like_cmapss():
    assert cmapss_format.looks_like_cmapss(cmapss_text())
    assert not cmapss_format.looks_like_cmapss("unit cycle " + "s " * 24 + "\n")  # A header.
    assert not cmapss_format.looks_like_cmapss(cmapss_text().replace(" ", ","))
    assert not cmapss_format.looks_like_cmapss("1 2 3\n4 5 6\n")
    assert not cmapss_format.looks_like_cmapss("")


def test_read_series_file_detects_cmapss(tmp_path):
    path = tmp_path / "train_FD001.txt"
    path.write_text(cmapss_text())
    frame, source_format = series_io.read_series_file(path)
    assert source_format == "cmapss"
    assert list(frame.columns) == cmapss_format.CMAPSS_COLUMNS
    assert frame.columns[-1] == "sensor_21"
    assert len(frame) == 8


def test_load_series_routes_a_cmapss_file_and_bytes(tmp_path):
    path = tmp_path / "train_FD001.txt"
    path.write_text(cmapss_text())
    dataset = series_loading.load_series(path)
    assert dataset.source_format == "cmapss"
    assert dataset.units() == [1, 2]
    assert dataset.unit_lengths() == {1: 5, 2: 3}
    assert dataset.setting_columns == ["setting_1", "setting_2", "setting_3"]
    assert dataset.sensor_columns == cmapss_format.SENSOR_COLUMNS
    assert dataset.constant_sensors == ["sensor_01"]
    assert dataset.problems == []
    from_bytes = series_loading.load_series(path.read_bytes())
    assert from_bytes.source_format == "cmapss"


def test_load_cmapss_file_and_directory(tmp_path):
    directory = write_subset(tmp_path / "cmapss")
    from_file = cmapss.load_cmapss(directory / "train_FD001.txt")
    from_directory = cmapss.load_cmapss(directory)
    routed = series_loading.load_series(directory, window=4)
    pd.testing.assert_frame_equal(from_file.frame, from_directory.frame)
    assert routed.units() == [1, 2]
    assert routed.problems == [
        "1 of 2 units are shorter than the window of 4 rows and give no full window: "
        "unit 2 (3 rows)."
    ]


def test_load_cmapss_directory_with_several_subsets(tmp_path):
    directory = write_subset(tmp_path / "cmapss")
    write_subset(directory, subset="FD002", train=(2, 2, 2))
    with pytest.raises(ValueError) as error:
        cmapss.load_cmapss(directory)
    assert str(error.value) == (
        "Expected a directory holding one train_FD00x.txt file (or pass subset=). Received: "
        f"path='{directory}', subset=None, training files ['train_FD001.txt', 'train_FD002.txt']"
    )
    assert cmapss.load_cmapss(directory, subset="fd002").units() == [1, 2, 3]


def test_load_cmapss_rejects_other_files(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("unit,cycle,s1\n1,1,2.0\n")
    with pytest.raises(ValueError) as error:
        cmapss.load_cmapss(path)
    assert str(error.value) == (
        "Expected a C-MAPSS text file: space separated, no header, 26 numbers per line. "
        "Received: name='table.csv' read as csv with columns ['unit', 'cycle', 's1']"
    )
    with pytest.raises(ValueError, match=r"Expected a C-MAPSS text file or a directory .*nope"):
        cmapss.load_cmapss(tmp_path / "nope")


def test_cmapss_line_with_wrong_field_count(tmp_path):
    path = tmp_path / "train_FD001.txt"
    lines = cmapss_text().splitlines()
    lines[2] += " 1.0 2.0"
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"26 space-separated numbers .* Received: name='train"):
        series_loading.load_series(path)


def test_cmapss_non_numeric_value_names_the_sensor(tmp_path):
    path = tmp_path / "train_FD001.txt"
    lines = cmapss_text().splitlines()
    tokens = lines[3].split()
    tokens[9] = "oops"
    lines[3] = " ".join(tokens)
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError) as error:
        series_loading.load_series(path)
    assert str(error.value) == (
        "Expected numbers in every sensor, setting and RUL column. Received: "
        "name='train_FD001.txt': 'sensor_05': "
        "1 value(s) such as 'oops' (row 4)"
    )


def test_load_cmapss_test_with_rul(tmp_path):
    directory = write_subset(tmp_path / "cmapss")
    dataset, rul = cmapss.load_cmapss_test(directory)
    assert dataset.unit_lengths() == {1: 4, 2: 2}
    assert rul.to_dict() == {1: 7, 2: 12}
    assert (rul.name, rul.index.name, rul.dtype) == ("rul", "unit", np.int64)


def test_load_cmapss_test_count_mismatch(tmp_path):
    directory = write_subset(tmp_path / "cmapss", rul="7\n12\n30\n")
    with pytest.raises(ValueError) as error:
        cmapss.load_cmapss_test(directory, "FD001")
    assert str(error.value) == (
        "Expected one RUL value per test unit (2 units in test_FD001.txt). Received: 3 values "
        "in RUL_FD001.txt"
    )


def test_load_cmapss_test_bad_rul_line(tmp_path):
    directory = write_subset(tmp_path / "cmapss", rul="7\n-1\n")
    with pytest.raises(ValueError) as error:
        cmapss.load_cmapss_test(directory)
    assert str(error.value) == (
        "Expected one non-negative whole number per line of a C-MAPSS RUL file. Received: "
        "name='RUL_FD001.txt', line 2='-1'"
    )


def test_load_cmapss_test_missing_files_and_bad_subset(tmp_path):
    directory = write_subset(tmp_path / "cmapss")
    (directory / "RUL_FD001.txt").unlink()
    with pytest.raises(ValueError) as error:
        cmapss.load_cmapss_test(directory)
    assert str(error.value) == (
        "Expected ['test_FD001.txt', 'RUL_FD001.txt'] in the directory. Received: "
        f"directory='{directory}' without ['RUL_FD001.txt']"
    )
    with pytest.raises(ValueError) as error:
        cmapss.load_cmapss_test(directory, subset="FD1")
    assert str(error.value) == ("Expected a C-MAPSS subset such as 'FD001'. Received: subset='FD1'")
    with pytest.raises(ValueError, match=r"Expected a C-MAPSS directory\. Received: directory="):
        cmapss.load_cmapss_test(directory / "train_FD001.txt")

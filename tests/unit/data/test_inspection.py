"""Tests for core/data/inspection.py and the `inspect` CLI command."""

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.cli.main import main
from core.data.inspection import detect_kind, inspect_path, inspect_uploads


def png_bytes(value: int, size: int = 24) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def image_folder(tmp_path):
    for class_name, count in (("ok", 4), ("scratch", 2)):
        directory = tmp_path / "images" / class_name
        directory.mkdir(parents=True)
        for index in range(count):
            (directory / f"{class_name}_{index}.png").write_bytes(png_bytes(10 * index))
    (tmp_path / "images" / "scratch" / "broken.png").write_bytes(b"not an image")
    return tmp_path / "images"


@pytest.fixture
def series_file(tmp_path):
    rows = []
    for unit in (1, 2, 3):
        for cycle in range(1, 31):
            rows.append(
                {"unit": unit, "cycle": cycle, "sensor_1": cycle * 0.5 + unit, "sensor_2": 1.0}
            )
    path = tmp_path / "machines.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_image_folder_report_counts_classes_and_lists_rejected_file(image_folder):
    report = inspect_path(image_folder)
    assert report["kind"] == "images"
    assert report["class_counts"] == {"ok": 4, "scratch": 2}
    assert report["images"] == 6
    assert report["image_sizes"] == {"24x24": 6}
    assert [rejected["name"] for rejected in report["rejected"]] == ["scratch/broken.png"]
    assert any("at least 20" in warning for warning in report["warnings"])


def test_series_file_report_counts_units_and_constant_sensor(series_file):
    report = inspect_path(series_file)
    assert report["kind"] == "series"
    assert report["units"] == 3
    assert report["rows"] == 90
    assert report["constant_sensors"] == ["sensor_2"]


def test_missing_path_says_what_was_received(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Received: path='.*nowhere'"):
        inspect_path(tmp_path / "nowhere")


def test_unknown_kind_is_refused(series_file):
    with pytest.raises(ValueError, match="Received: kind='video'"):
        inspect_path(series_file, kind="video")


def test_unsupported_file_suffix_is_refused(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF")
    with pytest.raises(ValueError, match=r"Received: path='.*report.pdf' \(suffix '.pdf'\)"):
        detect_kind(path)


def test_folder_without_data_is_refused(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(ValueError, match="with 1 entries and none of those"):
        detect_kind(tmp_path)


def test_uploads_report_each_kind_and_keep_going_past_bad_files(series_file):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writer:
        for class_name in ("ok", "pit"):
            for index in range(3):
                writer.writestr(f"set/{class_name}/{index}.png", png_bytes(index * 40))
    report = inspect_uploads(
        [
            ("set.zip", archive.getvalue()),
            ("part.png", png_bytes(100)),
            ("corrupt.jpg", b"\xff\xd8\xff garbage"),
            ("machines.csv", series_file.read_bytes()),
            ("notes.docx", b"PK"),
        ]
    )
    assert report["image_archives"][0]["class_counts"] == {"ok": 3, "pit": 3}
    assert report["images"]["accepted"] == ["part.png"]
    assert report["series"][0]["units"] == 3
    rejected = {item["name"]: item["reason"] for item in report["rejected"]}
    assert set(rejected) == {"corrupt.jpg", "notes.docx"}
    assert "Received: suffix '.docx'" in rejected["notes.docx"]


def test_cli_inspect_json_last_line_is_the_report(image_folder, capsys):
    assert main(["inspect", str(image_folder), "--json"]) == 0
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line)["class_counts"] == {"ok": 4, "scratch": 2}


def test_cli_reports_bad_input_as_one_line_and_exit_code_2(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: Expected an existing file or folder.")
    assert json.loads(captured.out.strip().splitlines()[-1])["error_type"] == "FileNotFoundError"

"""Tests for core/inference/line.py: streamed inputs, batched prediction and incremental writers."""

import csv
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.inference.line import (
    count_input_items,
    iter_input_items,
    predict_to_outputs,
    score_batches,
)
from core.inference.writers import CsvRowWriter, rejected_path_for


class FakePredictor:
    """Predicts 'bright' for images brighter than mid-grey; records each batch size."""

    image_size = (8, 8)
    channels = 1

    def __init__(self):
        self.class_names = ["bright", "dark"]
        self.batch_sizes = []

    def predict_arrays(self, images):
        self.batch_sizes.append(len(images))
        bright = images.reshape(len(images), -1).mean(axis=1) / 255.0
        return np.stack([bright, 1.0 - bright], axis=1).astype(np.float32)


def png_bytes(value: int, size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_folder(root, count: int, *, value: int = 200):
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (root / f"part_{index:03d}.png").write_bytes(png_bytes(value))
    return root


def read_csv_rows(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_images_stream_in_batches_of_at_most_batch_size(tmp_path):
    folder = make_folder(tmp_path / "line", 30)
    pulled = []

    def counted(items):
        for item in items:
            pulled.append(item.name)
            yield item

    predictor = FakePredictor()
    batches = score_batches(predictor, counted(iter_input_items([folder])), batch_size=7)
    first = next(batches)
    # Lazily read: the first batch is predicted after exactly 7 files were read, not 30.
    assert len(pulled) == 7
    assert first.names == [f"part_{index:03d}.png" for index in range(7)]
    rest = list(batches)
    assert [len(batch.names) for batch in [first, *rest]] == [7, 7, 7, 7, 2]
    assert predictor.batch_sizes == [7, 7, 7, 7, 2]

    predictor = FakePredictor()
    out = tmp_path / "results.csv"
    summary = predict_to_outputs(predictor, [folder], out=out, batch_size=7)
    assert max(predictor.batch_sizes) <= 7
    assert sum(predictor.batch_sizes) == 30
    assert summary.predicted == 30
    assert summary.predicted_counts == {"bright": 30}
    frame = pd.read_csv(out)
    assert len(frame) == 30
    assert list(frame.columns) == [
        "source",
        "name",
        "predicted",
        "confidence",
        "p_bright",
        "p_dark",
    ]
    assert frame["name"].tolist() == sorted(frame["name"])
    assert (frame["source"] == str(folder)).all()
    assert frame["confidence"].to_numpy() == pytest.approx(200 / 255, abs=1e-6)
    assert read_csv_rows(rejected_path_for(out)) == [["source", "name", "reason"]]


def test_zip_members_are_streamed_and_refusals_reported(tmp_path):
    archive = tmp_path / "shift2.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a/ok_1.png", png_bytes(220))
        handle.writestr("a/dark_2.png", png_bytes(10))
        handle.writestr("notes.txt", b"not an image, skipped like in a folder")
        handle.writestr("broken.png", b"not a png")
        handle.writestr("../escape.png", png_bytes(220))
    items = iter_input_items([archive])
    first = next(items)
    assert (first.source, first.name, first.data) == (str(archive), "a/ok_1.png", png_bytes(220))
    assert first.path is None

    summary = predict_to_outputs(FakePredictor(), [archive], batch_size=2)
    assert [row["name"] for row in summary.preview] == ["a/ok_1.png", "a/dark_2.png"]
    assert [row["predicted"] for row in summary.preview] == ["bright", "dark"]
    reasons = {item["name"]: item["reason"] for item in summary.rejected}
    assert set(reasons) == {"broken.png", "../escape.png"}
    assert "the file is not a readable image" in reasons["broken.png"]
    assert "'..' components are refused" in reasons["../escape.png"]
    assert count_input_items([archive]) == 4


def test_a_corrupt_zip_is_refused_and_the_other_inputs_go_on(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK not really a zip")
    folder = make_folder(tmp_path / "line", 2)
    summary = predict_to_outputs(FakePredictor(), [tmp_path / "bad.zip", folder])
    assert summary.predicted == 2
    assert summary.rejected_count == 1
    assert summary.rejected[0]["reason"].startswith("Expected a ZIP archive (.zip)")


def test_glob_patterns_are_expanded_recursively(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_folder(tmp_path / "line3" / "camera_a", 2)
    make_folder(tmp_path / "line3" / "camera_b" / "deep", 1)
    (tmp_path / "line3" / "readme.txt").write_text("ignored")
    names = [item.name for item in iter_input_items(["line3/**/*.png"])]
    assert names == [
        "line3/camera_a/part_000.png",
        "line3/camera_a/part_001.png",
        "line3/camera_b/deep/part_000.png",
    ]
    assert {item.source for item in iter_input_items(["line3/**/*.png"])} == {"line3/**/*.png"}
    assert count_input_items(["line3/**/*.png"]) == 3


def test_missing_paths_empty_globs_and_empty_folders_are_refused_with_reasons(tmp_path):
    (tmp_path / "empty").mkdir()
    folder = make_folder(tmp_path / "line", 1)
    inputs = [tmp_path / "missing.png", str(tmp_path / "nothing" / "*.png"), tmp_path / "empty"]
    summary = predict_to_outputs(FakePredictor(), [*inputs, folder])
    assert summary.predicted == 1
    assert [item["reason"] for item in summary.rejected] == [
        "Expected an existing file, folder, zip or glob pattern. "
        f"Received: path='{tmp_path / 'missing.png'}'",
        "Expected the glob pattern to match at least one image file or zip. "
        f"Received: pattern='{tmp_path / 'nothing' / '*.png'}'",
        "Expected the folder to hold at least one image file (PNG, JPEG, BMP or TIFF). "
        f"Received: path='{tmp_path / 'empty'}'",
    ]


def test_corrupt_files_are_reported_and_written_beside_the_results(tmp_path):
    folder = make_folder(tmp_path / "line", 4)
    (folder / "part_002.png").write_bytes(b"truncated")
    (folder / "empty.png").write_bytes(b"")
    named_text = tmp_path / "notes.txt"
    named_text.write_text("a file named on purpose is tried")
    refused = []
    out = tmp_path / "results.csv"
    summary = predict_to_outputs(
        FakePredictor(),
        [folder, named_text],
        out=out,
        on_rejected=lambda source, refusal: refused.append((source, refusal.name)),
    )
    assert summary.predicted == 3
    assert summary.rejected_count == 3
    assert refused == [
        (str(folder), "empty.png"),
        (str(folder), "part_002.png"),
        (str(named_text), "notes.txt"),
    ]
    sidecar = pd.read_csv(tmp_path / "results.rejected.csv")
    assert sidecar["name"].tolist() == ["empty.png", "part_002.png", "notes.txt"]
    assert sidecar["reason"].iloc[0] == (
        "Expected a non-empty image file. Received: name='empty.png' with 0 bytes"
    )
    assert sidecar["reason"].iloc[2] == (
        "Expected an image file (PNG, JPEG, BMP or TIFF). Received: name='notes.txt'"
    )
    assert "part_002.png" not in pd.read_csv(out)["name"].tolist(), "no NaN rows for bad files"


def test_csv_and_parquet_hold_the_same_rows(tmp_path):
    folder = make_folder(tmp_path / "line", 5, value=40)
    make_folder(tmp_path / "line" / "sub", 4, value=230)
    predict_to_outputs(FakePredictor(), [folder], out=tmp_path / "r.csv", batch_size=3)
    summary = predict_to_outputs(
        FakePredictor(), [folder], out=tmp_path / "r.parquet", batch_size=3
    )
    from_csv = pd.read_csv(tmp_path / "r.csv")
    from_parquet = pd.read_parquet(tmp_path / "r.parquet")
    assert len(from_parquet) == 9
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_dtype=False)
    assert summary.predicted_counts == {"bright": 4, "dark": 5}
    assert (tmp_path / "r.rejected.csv").is_file()

    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "r.parquet").num_row_groups == 3  # One per batch.


def test_csv_neutralises_formula_file_names_and_parquet_keeps_them(tmp_path):
    folder = tmp_path / "line"
    folder.mkdir()
    (folder / "=cmd.png").write_bytes(png_bytes(200))
    (folder / "+1.png").write_bytes(png_bytes(200))
    predict_to_outputs(FakePredictor(), [folder], out=tmp_path / "r.csv")
    predict_to_outputs(FakePredictor(), [folder], out=tmp_path / "r.parquet")
    names = [row[1] for row in read_csv_rows(tmp_path / "r.csv")[1:]]
    assert names == ["'+1.png", "'=cmd.png"]
    assert pd.read_parquet(tmp_path / "r.parquet")["name"].tolist() == ["+1.png", "=cmd.png"]


def test_unknown_output_suffix_and_bad_batch_size_are_refused(tmp_path):
    folder = make_folder(tmp_path / "line", 1)
    with pytest.raises(ValueError) as error:
        predict_to_outputs(FakePredictor(), [folder], out=tmp_path / "results.xlsx")
    assert str(error.value) == (
        "Expected an output file ending in .csv or .parquet. "
        f"Received: out='{tmp_path / 'results.xlsx'}'"
    )
    with pytest.raises(ValueError, match=r"positive integer. Received: batch_size=0"):
        predict_to_outputs(FakePredictor(), [folder], batch_size=0)


def test_csv_row_writer_appends_without_a_second_header(tmp_path):
    path = tmp_path / "rows.csv"
    with CsvRowWriter(path, ["name", "value"], append=True) as writer:
        writer.write([{"name": "a", "value": 1.5}])
    with CsvRowWriter(path, ["name", "value"], append=True) as writer:
        writer.write([{"name": "-b", "value": 2}])
    assert read_csv_rows(path) == [["name", "value"], ["a", "1.5"], ["'-b", "2"]]

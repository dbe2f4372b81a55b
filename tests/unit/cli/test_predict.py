"""Tests for core/cli/predict.py: the `predict` and `watch` commands, end to end with a model."""

import io
import json
import shutil
import zipfile

import pandas as pd
import pytest

from core.cli.main import main
from core.cli.predict import CountProgress

HEADER = [
    "source",
    "name",
    "predicted",
    "confidence",
    "p_crack",
    "p_inclusion",
    "p_ok",
    "p_pit",
    "p_scratch",
]


def last_json_line(capsys) -> tuple[dict, str]:
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.err


@pytest.fixture
def spot_check(repository_root, tmp_path):
    folder = tmp_path / "spot_check"
    shutil.copytree(repository_root / "sample_data" / "spot_check", folder)
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def test_predict_streams_folders_and_zips_into_csv_and_parquet(
    spot_check, repository_root, tmp_path, capsys
):
    archive = tmp_path / "pits.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted((repository_root / "sample_data" / "images" / "pit").glob("*.png"))[:3]:
            handle.write(path, f"pit/{path.name}")
    common = ["--model", "demo-defect-cnn", "--registry", str(tmp_path / "registry"), "--json"]
    out = tmp_path / "results.csv"
    arguments = ["predict", "--input", str(spot_check), str(archive), "--batch-size", "4"]
    assert main([*arguments, "--out", str(out), *common]) == 0
    summary, errors = last_json_line(capsys)
    assert summary["model"] == "demo-defect-cnn:1"
    assert summary["predicted"] == 13
    assert summary["predicted_counts"]["pit"] >= 4
    assert summary["rejected_count"] == 1
    assert summary["rejected"][0]["name"] == "broken.png"
    assert summary["out"] == str(out)
    assert summary["images_per_second"] > 0
    assert "skipped broken.png: Expected a PNG, JPEG, BMP or TIFF image" in errors
    assert "14/14 images, 1 skipped" in errors

    frame = pd.read_csv(out)
    assert list(frame.columns) == HEADER
    assert frame["name"].iloc[-1] == "pit/pit_002.png"
    assert frame["source"].iloc[-1] == str(archive)
    spot = frame[frame["source"] == str(spot_check)]
    assert (spot["name"].str.split("_").str[0] == spot["predicted"]).mean() >= 0.8
    assert pd.read_csv(tmp_path / "results.rejected.csv")["name"].tolist() == ["broken.png"]

    parquet = tmp_path / "results.parquet"
    assert main([*arguments, "--out", str(parquet), *common]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), frame, check_dtype=False)


def test_predict_without_out_prints_a_table(spot_check, tmp_path, capsys):
    registry = ["--registry", str(tmp_path / "registry")]
    pattern = str(spot_check / "crack_*.png")
    assert main(["predict", "--model", "demo-defect-cnn", "--input", pattern, *registry]) == 0
    output = capsys.readouterr().out
    assert "Predicted 2 images with demo-defect-cnn:1" in output
    assert "crack_spot_1.png" in output
    assert "crack_spot_2.png" in output


def test_predict_refuses_an_unknown_output_format_before_loading_the_model(tmp_path, capsys):
    arguments = ["predict", "--model", "any", "--input", "x", "--out", "results.xlsx"]
    assert main([*arguments, "--registry", str(tmp_path / "registry")]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: Expected an output file ending in .csv or .parquet. Received: out='results.xlsx'"
    )
    assert not (tmp_path / "registry").exists(), "the registry was not even opened"


def test_predict_with_nothing_readable_exits_with_code_2(tmp_path, capsys):
    arguments = ["predict", "--model", "demo-defect-cnn", "--input", str(tmp_path / "nope")]
    assert main([*arguments, "--registry", str(tmp_path / "registry"), "--json"]) == 2
    error, errors = last_json_line(capsys)
    assert error["error"] == (
        f"Expected at least one readable image in --input. Received: input=['{tmp_path / 'nope'}']"
        " with 0 images read and 1 refused (first: "
        f"{tmp_path / 'nope'}: Expected an existing file, folder, zip or glob pattern. "
        f"Received: path='{tmp_path / 'nope'}')"
    )
    assert "skipped" in errors


def test_batch_size_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--model", "m", "--input", "x", "--batch-size", "0"])
    assert exit_info.value.code == 2
    assert "Expected a positive int. Received: '0'" in capsys.readouterr().err


def test_watch_once_scores_the_folder_and_a_restart_skips_what_is_done(
    spot_check, tmp_path, capsys
):
    results = tmp_path / "line" / "results.csv"
    results.parent.mkdir()
    arguments = ["watch", str(spot_check), "--model", "demo-defect-cnn", "--once"]
    arguments += ["--results", str(results), "--registry", str(tmp_path / "registry"), "--json"]
    assert main(arguments) == 0
    summary, errors = last_json_line(capsys)
    assert (summary["scored"], summary["rejected_count"], summary["stopped"]) == (10, 1, "once")
    assert summary["model"] == "demo-defect-cnn:1"
    assert "skipped broken.png" in errors
    frame = pd.read_csv(results)
    assert list(frame.columns) == [*HEADER, "scored_at"]
    assert len(frame) == 10

    assert main(arguments) == 0
    summary, _ = last_json_line(capsys)
    assert (summary["scored"], summary["already_scored"]) == (0, 11)
    assert len(pd.read_csv(results)) == 10


def test_count_progress_writes_log_lines_off_a_terminal():
    stream = io.StringIO()
    now = [0.0]
    progress = CountProgress(100, stream=stream, clock=lambda: now[0])
    now[0] = 2.0
    progress.update(64, 0)  # Drawn: the first update always shows.
    now[0] = 4.0
    progress.update(30, 2)  # Not drawn: under 5 s since the last line.
    now[0] = 8.0
    progress.finish()
    assert stream.getvalue().splitlines() == [
        "64/100 images, 0 skipped, 32 images/s",
        "96/100 images, 2 skipped, 12 images/s",
    ]
    progress.note("  skipped x.png: reason")
    assert stream.getvalue().endswith("  skipped x.png: reason\n")


def test_predict_and_watch_use_the_stored_operating_point(spot_check, tmp_path, capsys):
    from core.registry.attachments import OPERATING_POINT, write_json_attachment
    from core.registry.store import ModelRegistry

    registry_directory = tmp_path / "registry"
    common = ["--model", "demo-defect-cnn", "--registry", str(registry_directory), "--json"]
    assert main(["predict", "--input", str(spot_check), *common]) == 0
    before, errors = last_json_line(capsys)
    assert before["predicted_counts"].get("ok", 0) >= 1
    assert "most probable class" in before["decision"] and "most probable class" in errors

    # A threshold over any defect score: nothing is rejected, whatever the top class.
    record = ModelRegistry(registry_directory).get("demo-defect-cnn")
    write_json_attachment(record, OPERATING_POINT, {"threshold": 1.01, "good_class": "ok"})
    out = tmp_path / "decided.csv"
    assert main(["predict", "--input", str(spot_check), "--out", str(out), *common]) == 0
    after, errors = last_json_line(capsys)
    assert after["predicted_counts"] == {"ok": 10}
    assert "stored operating point: a defect when 1 - p(ok) >= 1.01" in errors
    assert set(pd.read_csv(out)["predicted"]) == {"ok"}

    results = tmp_path / "watched.csv"
    watch = ["watch", str(spot_check), "--results", str(results), "--once"]
    assert main([*watch, *common]) == 0
    capsys.readouterr()
    assert set(pd.read_csv(results)["predicted"]) == {"ok"}

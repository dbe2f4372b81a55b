"""Tests for core/cli/gan.py: `train gan`, `generate` and `gan-benefit` through the CLI."""

import json

import pytest

from core.cli.gan import format_benefit_report
from core.cli.main import main
from core.data.images import load_image_zip
from tests.unit.decisions.test_gan_benefit import CLASSES, SIZE, write_pattern_folder


def last_json_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def pattern_folder(tmp_path):
    return write_pattern_folder(tmp_path / "patterns")


@pytest.mark.slow
def test_train_generate_and_benefit_end_to_end(pattern_folder, tmp_path, capsys):
    common = ["--registry", str(tmp_path / "registry"), "--json"]
    arguments = ["train", "gan", "--data", str(pattern_folder), "--epochs", "1"]
    arguments += ["--image-size", str(SIZE), "--batch-size", "8", "--holdout", "0.25"]
    assert main([*arguments, "--name", "patterns-gan", *common]) == 0
    output = capsys.readouterr()
    trained = json.loads(output.out.strip().splitlines()[-1])
    assert trained["reference"] == "patterns-gan:1"
    assert trained["epochs_run"] == 1
    assert (trained["trained"], trained["holdout"]) == (27, 9)
    assert trained["classes"] == list(CLASSES)
    assert isinstance(trained["final_d_loss"], float)
    assert isinstance(trained["final_g_loss"], float)
    assert "epoch 1/1 done: d_loss" in output.err, "the progress bar shows the GAN's losses"

    out = tmp_path / "out" / "synthetic.zip"
    generate = ["generate", "--model", "patterns-gan", "--per-class", "3", "--out", str(out)]
    assert main([*generate, "--seed", "2", *common]) == 0
    generated = last_json_line(capsys)
    assert generated["model"] == "patterns-gan:1"
    assert generated["per_class"] == dict.fromkeys(CLASSES, 3)
    assert generated["images"] == 9
    assert generated["bytes"] == out.stat().st_size
    loaded = load_image_zip(out, image_size=None, channels=1)
    assert loaded.class_counts() == dict.fromkeys(CLASSES, 3)
    assert loaded.images.shape[1:] == (SIZE, SIZE, 1)
    assert not loaded.rejected
    assert [path.name for path in out.parent.iterdir()] == ["synthetic.zip"], "no temporary left"

    benefit = ["gan-benefit", "--data", str(pattern_folder), "--gan", "patterns-gan"]
    benefit += ["--real-per-class", "3", "--synthetic-per-class", "4", "--training-steps", "2"]
    assert main([*benefit, *common]) == 0
    output = capsys.readouterr()
    report = json.loads(output.out.strip().splitlines()[-1])
    assert report["gan"] == "patterns-gan:1"
    assert report["test_count"] == 9
    assert report["cancelled"] is False
    assert report["difference"]["accuracy"] == pytest.approx(
        report["augmented"]["accuracy"] - report["baseline"]["accuracy"]
    )
    assert "Arm (b) run 1 of 1: real + synthetic" in output.err
    assert "tested on 9 real images the GAN never saw" in output.out
    assert "  horizontal" in output.out


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "--model", "nothing", "--per-class", "2", "--out", "x.zip"],
        ["gan-benefit", "--data", "unused", "--gan", "nothing"],
    ],
    ids=["generate", "gan-benefit"],
)
def test_unknown_gan_is_a_clear_error(command, tmp_path, capsys):
    assert main([*command, "--registry", str(tmp_path / "registry"), "--json"]) == 2
    output = capsys.readouterr()
    error_line = output.err.strip().splitlines()[-1]
    assert error_line.startswith("error: Expected the name of a model in the registry")
    assert error_line.endswith("Received: name='nothing'")
    assert json.loads(output.out.strip().splitlines()[-1])["error_type"] == "ValueError"
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.slow
def test_generate_refuses_a_classifier(tmp_path, capsys):
    out = tmp_path / "x.zip"
    command = ["generate", "--model", "demo-seed-cnn", "--per-class", "2", "--out", str(out)]
    assert main([*command, "--registry", str(tmp_path / "registry")]) == 2
    assert "error: Expected a GAN (task 'gan'). Received: model='demo-seed-cnn:1'" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_generate_refuses_an_output_that_is_not_a_zip(tmp_path, capsys):
    command = ["generate", "--model", "g", "--per-class", "2", "--out", str(tmp_path / "x.tar")]
    assert main([*command, "--registry", str(tmp_path / "registry")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: Expected --out to be a .zip file path. Received: out='{tmp_path / 'x.tar'}'"
    )


def test_train_gan_refuses_an_unsupported_image_size(pattern_folder, tmp_path, capsys):
    command = ["train", "gan", "--data", str(pattern_folder), "--image-size", "50"]
    assert main([*command, "--registry", str(tmp_path / "registry")]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: Expected `image_size` to be one of [32, 64, 96, 128]. Received: image_size=50"
    )


def test_benefit_report_table():
    summary = {"accuracy": 0.5, "macro_f1": 0.4, "per_class_recall": {"a": 0.25, "b": 0.75}}
    better = {"accuracy": 0.625, "macro_f1": 0.5, "per_class_recall": {"a": 0.5, "b": 0.75}}
    report = {
        "gan": "g:1",
        "image_size": 64,
        "real_per_class": 20,
        "synthetic_per_class": 100,
        "test_count": 8,
        "classes": ["a", "b"],
        "baseline": summary,
        "augmented": better,
        "difference": {"accuracy": 0.125, "macro_f1": 0.1, "per_class_recall": {"a": 0.25, "b": 0}},
        "fidelity": {
            "agreement": 0.9,
            "judge_test_accuracy": 0.95,
            "per_class_agreement": {"a": 0.8, "b": 1.0},
        },
        "notes": ["a note"],
        "seconds": 12.0,
    }
    lines = format_benefit_report(report).splitlines()
    assert lines[0].startswith("GAN g:1 (64 px): baseline 20 real images per class")
    assert lines[2].split() == ["a", "0.250", "0.500", "+0.250", "0.800"]
    assert lines[4].split() == ["accuracy", "0.500", "0.625", "+0.125"]
    assert "judge labels 90.0% of the synthetic images" in lines[7]
    assert lines[-2:] == ["  note: a note", "Took 12.0 s."]
    cancelled = {**report, "baseline": None, "augmented": None, "difference": None}
    cancelled["fidelity"] = None
    assert format_benefit_report(cancelled).splitlines()[1:] == ["  note: a note", "Took 12.0 s."]

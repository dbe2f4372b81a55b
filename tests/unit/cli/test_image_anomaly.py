"""Tests for core/cli/image_anomaly.py: `train image-anomaly` through `core.cli.main.main`."""

import json

import pytest
from PIL import Image

from core.cli.main import main
from core.registry.store import ModelRegistry
from tests.unit.workflows.test_image_anomaly import SIZE, make_parts, write_masks


def write_parts(folder, *, classes=None) -> None:
    """Writes the synthetic parts as class folders of PNGs (optionally only some classes)."""
    dataset, _ = make_parts(per_class=10)
    for name, label, image in zip(dataset.filenames, dataset.labels, dataset.images, strict=True):
        if classes is not None and dataset.class_names[label] not in classes:
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(path)


@pytest.fixture
def parts_folder(tmp_path):
    folder = tmp_path / "parts"
    write_parts(folder)
    return folder


def train(folder, registry, *options) -> list[str]:
    return [
        "train", "image-anomaly", "--data", str(folder), "--image-size", str(SIZE),
        "--registry", str(registry), *options,
    ]  # fmt: skip


@pytest.mark.slow
def test_train_registers_an_anomaly_model_with_pixel_auroc(parts_folder, tmp_path, capsys):
    dataset, masks = make_parts(per_class=10)
    write_masks(tmp_path / "masks", dataset, masks)
    registry = tmp_path / "registry"
    options = ["--good-class", "ok", "--masks", str(tmp_path / "masks"), "--name", "parts"]
    assert main([*train(parts_folder, registry, *options), "--json"]) == 0
    output = capsys.readouterr()
    payload = json.loads(output.out.strip().splitlines()[-1])
    assert payload["reference"] == "parts:1"
    assert (payload["method"], payload["good_class"]) == ("feature-gaussian", "ok")
    assert payload["metrics"]["image_auroc"] > 0.9
    assert payload["metrics"]["pixel_auroc"] > 0.8
    assert payload["threshold"] == payload["metrics"]["threshold"]
    assert "evaluation" not in payload["metrics"]
    assert "Trained feature-gaussian on 6 good 'ok' images, one pass in" in output.out
    assert "image AUROC" in output.out and "Registered parts:1" in output.out
    assert "epoch 1/1" in output.err, "the progress bar goes to standard error"
    record = ModelRegistry(registry).get("parts")
    assert record.metadata["task"] == "image_anomaly"
    assert record.metadata["classes"] == ["ok", "anomaly"]
    assert record.metadata["extra"]["threshold"] == payload["threshold"]


@pytest.mark.slow
def test_train_autoencoder_with_the_default_name(parts_folder, tmp_path, capsys):
    registry = tmp_path / "registry"
    options = ["--method", "autoencoder", "--epochs", "2", "--seed", "3", "--json"]
    assert main(train(parts_folder, registry, *options)) == 0
    output = capsys.readouterr()
    payload = json.loads(output.out.strip().splitlines()[-1])
    assert payload["reference"] == "anomaly-autoencoder-parts:1"
    assert payload["epochs_run"] == 2
    assert "pixel_auroc" not in payload["metrics"]
    assert "epochs (best" in output.out
    config = ModelRegistry(registry).get(payload["reference"]).metadata["training_config"]
    assert (config["method"], config["seed"], config["image_size"]) == ("autoencoder", 3, SIZE)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--good-class", "good"],
            "error: Expected the good class to be one of the classes found in the data "
            "['blob', 'ok', 'streak'] (the data must hold defect-free images). "
            "Received: good_class='good'",
        ),
        (
            ["--method", "feature-gausian"],
            "error: Expected `method` to be one of ['autoencoder', 'feature-gaussian']. "
            "Received: method='feature-gausian'",
        ),
        (["--image-size", "30"], "error: Expected `input_shape` to be (height, width, channels)"),
    ],
)
def test_bad_arguments_print_one_error_line(parts_folder, tmp_path, capsys, options, message):
    assert main([*train(parts_folder, tmp_path / "registry"), *options, "--json"]) == 2
    output = capsys.readouterr()
    assert message in output.err
    assert "Traceback" not in output.err
    assert json.loads(output.out.strip().splitlines()[-1])["error_type"] == "ValueError"


def test_good_images_alone_train_a_model_without_an_auroc(tmp_path, capsys):
    folder = tmp_path / "good-only"
    write_parts(folder, classes={"ok"})
    assert main([*train(folder, tmp_path / "registry"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    record = ModelRegistry(tmp_path / "registry").get(summary["model"])
    assert record.metadata["task"] == "image_anomaly"
    assert record.metadata["metrics"]["image_auroc"] is None
    assert record.metadata["metrics"]["defect_recall"] is None

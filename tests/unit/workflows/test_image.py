"""Tests for core/workflows/image.py and the image model commands of the CLI, on tiny images."""

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.cli.main import main
from core.demo.models import bundled_demo_models, ensure_demo_models
from core.engine.image_training import ImageTrainingConfig
from core.registry.store import ModelRegistry
from core.workflows.image import run_image_training, save_image_run

SIZE = 16


def stripe_image(label: int, generator: np.random.Generator) -> np.ndarray:
    pattern = (np.arange(SIZE) // 2 % 2) * 160.0
    grid = np.tile(pattern[:, None], (1, SIZE)) if label == 0 else np.tile(pattern, (SIZE, 1))
    return np.clip(grid + generator.normal(40, 30, (SIZE, SIZE)), 0, 255).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def stripes_folder(tmp_path):
    generator = np.random.default_rng(0)
    root = tmp_path / "stripes"
    for label, class_name in enumerate(("horizontal", "vertical")):
        (root / class_name).mkdir(parents=True)
        for index in range(30):
            pixels = stripe_image(label, generator)
            (root / class_name / f"{class_name}_{index}.png").write_bytes(png_bytes(pixels))
    return root


def tiny_config(**changes) -> ImageTrainingConfig:
    values = {"model": "seed_cnn", "epochs": 3, "batch_size": 8, "image_size": (SIZE, SIZE)}
    return ImageTrainingConfig(**{**values, **changes})


def last_json_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_run_evaluates_on_held_out_images_and_registers(stripes_folder, tmp_path):
    result = run_image_training(stripes_folder, tiny_config())
    test_names = {result.dataset.filenames[index] for index in result.test_indices}
    train_names = {result.dataset.filenames[index] for index in result.train_indices}
    assert test_names and not test_names & train_names
    assert result.evaluation["count"] == len(result.test_indices)
    assert result.evaluation["accuracy"] >= 0.8
    record = save_image_run(result, ModelRegistry(tmp_path / "registry"), "stripes")
    metadata = record.metadata
    assert metadata["task"] == "image_classification"
    assert metadata["classes"] == ["horizontal", "vertical"]
    assert metadata["input_shape"] == [SIZE, SIZE, 1]
    assert metadata["training_config"]["model"] == "seed_cnn"
    assert len(metadata["history"]["loss"]) == result.training.epochs_run
    assert metadata["dataset_fingerprint"].startswith("sha256:")
    assert metadata["extra"]["dataset"]["class_counts"] == {"horizontal": 30, "vertical": 30}


@pytest.mark.slow
def test_cli_train_evaluate_predict_and_manage_models(stripes_folder, tmp_path, capsys):
    registry = str(tmp_path / "registry")
    common = ["--registry", registry, "--json"]
    arguments = ["train", "image", "--data", str(stripes_folder), "--model", "seed_cnn"]
    arguments += ["--epochs", "3", "--image-size", str(SIZE), "--batch-size", "8", "--name", "s"]
    assert main(arguments + common) == 0
    trained = last_json_line(capsys)
    assert trained["reference"] == "s:1"
    assert trained["metrics"]["accuracy"] >= 0.8

    assert main(["evaluate", "--model", "s", "--data", str(stripes_folder), *common]) == 0
    evaluated = last_json_line(capsys)
    assert evaluated["model"] == "s:1"
    assert sum(map(sum, evaluated["confusion_matrix"])) == 60

    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "part.png").write_bytes(
        png_bytes(stripe_image(1, np.random.default_rng(5)))
    )
    (tmp_path / "inbox" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "predictions.csv"
    inbox = str(tmp_path / "inbox")
    assert main(["predict", "--model", "s:1", "--input", inbox, "--out", str(out), *common]) == 0
    predicted = last_json_line(capsys)
    assert predicted["predicted"] == 1
    assert predicted["rejected"][0]["name"] == "broken.png"
    header = "source,name,predicted,confidence,p_horizontal,p_vertical"
    assert out.read_text().splitlines()[0] == header
    assert (
        (tmp_path / "predictions.rejected.csv")
        .read_text()
        .splitlines()[1]
        .startswith(f"{inbox},broken.png,")
    )

    assert main(["models", "list", *common]) == 0
    references = [row["reference"] for row in last_json_line(capsys)["models"]]
    assert "s:1" in references
    assert {"demo-defect-cnn:1", "demo-seed-cnn:1"} <= set(references), "demo models registered"
    assert main(["models", "export", "s", "--out", str(tmp_path / "s.keras"), *common]) == 0
    assert (tmp_path / "s.keras").stat().st_size > 0
    assert main(["models", "delete", "s", *common]) == 2
    assert "Expected --yes" in capsys.readouterr().err
    assert main(["models", "delete", "s", "--yes", *common]) == 0
    assert last_json_line(capsys) == {"deleted": ["s:1"]}


@pytest.mark.slow
def test_cli_streams_a_folder_from_disk_when_asked_and_refuses_to_stream_a_zip(
    stripes_folder, tmp_path, capsys
):
    registry = str(tmp_path / "registry")
    arguments = ["train", "image", "--model", "seed_cnn", "--epochs", "3", "--image-size"]
    arguments += [str(SIZE), "--batch-size", "8", "--registry", registry, "--json"]
    assert main([*arguments, "--data", str(stripes_folder), "--stream", "always"]) == 0
    trained = last_json_line(capsys)
    assert trained["metrics"]["accuracy"] >= 0.8
    metadata = ModelRegistry(registry).get(trained["reference"]).metadata
    assert metadata["extra"]["dataset"]["streamed"] is True
    # The same folder in memory: same split, same fingerprint; auto keeps 60 tiny images there.
    assert main([*arguments, "--data", str(stripes_folder), "--name", "memory"]) == 0
    memory = ModelRegistry(registry).get(last_json_line(capsys)["reference"]).metadata
    assert memory["extra"]["dataset"]["streamed"] is False
    assert memory["dataset_fingerprint"] == metadata["dataset_fingerprint"]
    assert memory["extra"]["dataset"]["split"] == metadata["extra"]["dataset"]["split"]

    archive = tmp_path / "stripes.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        for path in sorted(stripes_folder.rglob("*.png")):
            writer.write(path, path.relative_to(stripes_folder).as_posix())
    assert main([*arguments, "--data", str(archive), "--stream", "always"]) == 2
    assert "zip" in capsys.readouterr().err


def test_evaluate_refuses_data_with_unknown_classes(stripes_folder, tmp_path, capsys):
    registry = ModelRegistry(tmp_path / "registry")
    save_image_run(run_image_training(stripes_folder, tiny_config(epochs=1)), registry, "s")
    (stripes_folder / "diagonal").mkdir()
    (stripes_folder / "diagonal" / "d.png").write_bytes(png_bytes(np.eye(SIZE, dtype=np.uint8)))
    code = main(["evaluate", "--model", "s", "--data", str(stripes_folder), "--registry",
                 str(tmp_path / "registry")])  # fmt: skip
    assert code == 2
    assert "Received: unknown classes ['diagonal']" in capsys.readouterr().err


def test_unknown_model_reference_is_a_clear_error(tmp_path, capsys):
    code = main(["predict", "--model", "nothing", "--input", str(tmp_path), "--registry",
                 str(tmp_path / "registry")])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_bundled_demo_models_register_once_without_training(tmp_path):
    bundled = bundled_demo_models()
    if not bundled:
        pytest.skip("no demo models bundled yet: run `python -m core demo-models`")
    registry = ModelRegistry(tmp_path / "registry")
    added = ensure_demo_models(registry)
    assert sorted(record.name for record in added) == sorted(bundled)
    assert ensure_demo_models(registry) == []
    assert registry.get("demo-defect-cnn").metadata["task"] == "image_classification"

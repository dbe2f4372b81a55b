"""Tests for core/engine/precision.py and mixed precision in image training, forced on a CPU."""

import threading

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from core.engine import precision  # noqa: E402
from core.engine.image_training import ImageTrainingConfig, train_image_classifier  # noqa: E402
from core.engine.precision import precision_scope, resolve_precision  # noqa: E402


def test_auto_is_mixed_only_when_a_gpu_is_present(monkeypatch):
    monkeypatch.setattr(precision, "gpu_available", lambda: False)
    assert resolve_precision("auto") == "float32"
    monkeypatch.setattr(precision, "gpu_available", lambda: True)
    assert resolve_precision("auto") == "mixed_float16"
    assert resolve_precision("float32") == "float32"  # forced choices ignore the hardware
    assert resolve_precision("mixed_float16") == "mixed_float16"


def test_no_gpu_here_so_auto_trains_in_float32():
    assert resolve_precision("auto") == "float32"


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError) as error:
        resolve_precision("bfloat8")
    assert str(error.value) == (
        "Expected precision to be one of ['auto', 'float32', 'mixed_float16']. "
        "Received: precision='bfloat8'"
    )
    with pytest.raises(ValueError, match="Received: precision='half'"):
        ImageTrainingConfig(precision="half").validate()


def test_scope_restores_the_policy_and_stays_in_its_thread():
    seen_elsewhere = []
    with precision_scope("mixed_float16"):
        assert keras.config.dtype_policy().name == "mixed_float16"
        other = threading.Thread(
            target=lambda: seen_elsewhere.append(keras.config.dtype_policy().name)
        )
        other.start()
        other.join()
    assert keras.config.dtype_policy().name == "float32"
    assert seen_elsewhere == ["float32"]


@pytest.mark.slow
def test_forced_mixed_precision_trains_with_a_float32_output_on_cpu(tmp_path):
    generator = np.random.default_rng(0)
    labels = np.arange(16, dtype=np.int32) % 2
    images = np.clip(
        generator.normal(80 + 90 * labels[:, None, None, None], 20, (16, 16, 16, 1)), 0, 255
    )
    config = ImageTrainingConfig(
        model="defect_cnn",
        epochs=2,
        batch_size=8,
        image_size=(16, 16),
        schedule="constant",
        precision="mixed_float16",
    )
    result = train_image_classifier(images.astype(np.uint8), labels, ["dark", "light"], config)
    model = result.model
    assert model.dtype_policy.name == "mixed_float16"
    assert model.get_layer("classes").dtype_policy.name == "float32"
    convolutions = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert convolutions and convolutions[0].compute_dtype == "float16"
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    output = model.predict(images[:2].astype("float32"), verbose=0)
    assert output.dtype == np.float32 and np.allclose(output.sum(axis=1), 1.0, atol=1e-3)
    assert all(np.isfinite(value) for value in result.history["loss"])
    assert keras.config.dtype_policy().name == "float32"  # the caller's policy is back
    path = tmp_path / "mixed.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(loaded.predict(images[:2].astype("float32"), verbose=0), output)


@pytest.mark.slow
def test_cli_trains_and_registers_a_mixed_precision_model(tmp_path, capsys):
    import json

    from PIL import Image

    from core.cli.main import main
    from core.registry.store import ModelRegistry

    generator = np.random.default_rng(1)
    for label, name in enumerate(["dark", "light"]):
        (tmp_path / "data" / name).mkdir(parents=True)
        for index in range(6):
            pixels = np.clip(generator.normal(70 + 110 * label, 20, (16, 16)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "data" / name / f"{index}.png")
    registry = tmp_path / "registry"
    arguments = ["train", "image", "--data", str(tmp_path / "data"), "--model", "seed_cnn"]
    arguments += ["--epochs", "1", "--image-size", "16", "--precision", "mixed_float16"]
    assert main([*arguments, "--name", "mixed", "--registry", str(registry), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["reference"] == "mixed:1"
    model, metadata = ModelRegistry(registry).load("mixed")
    assert metadata["training_config"]["precision"] == "mixed_float16"
    assert model.get_layer("classes").dtype_policy.name == "float32"
    with pytest.raises(SystemExit) as exit_info:
        main([*arguments, "--precision", "half", "--registry", str(registry)])
    assert exit_info.value.code == 2
    assert "invalid choice: 'half'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "model_name", "output_layer"),
    [("rul", "lstm", "output_scale"), ("failure", "conv1d", "output"), ("anomaly", "lstm", None)],
)
def test_forced_mixed_precision_trains_series_models_with_float32_outputs(
    task, model_name, output_layer
):
    from core.data.bundled import sample_data_directory
    from core.data.series_loading import load_series
    from core.engine.series_anomaly import train_anomaly_detector
    from core.engine.series_training import SeriesTrainingConfig, train_series_model

    dataset = load_series(sample_data_directory() / "sensors" / "train.csv")
    config = SeriesTrainingConfig(
        task=task, model=model_name, window=20, epochs=2, precision="mixed_float16"
    )
    train = train_anomaly_detector if task == "anomaly" else train_series_model
    result = train(dataset, config)
    model = result.model
    assert model.dtype_policy.name == "mixed_float16"
    recurrent_or_convolution = [
        layer for layer in model.layers if type(layer).__name__ in ("LSTM", "Conv1D", "Conv2D")
    ]
    assert recurrent_or_convolution[0].compute_dtype == "float16"
    assert model.outputs[0].dtype == "float32"
    if output_layer:
        assert model.get_layer(output_layer).dtype_policy.name == "float32"
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    assert all(np.isfinite(value) for value in result.history["loss"])
    assert keras.config.dtype_policy().name == "float32"


def test_series_config_refuses_an_unknown_precision():
    from core.engine.series_training import SeriesTrainingConfig

    with pytest.raises(ValueError, match=r"Received: precision='half'"):
        SeriesTrainingConfig(precision="half").validate()

"""Tests for core/deploy/export_check.py: every export of the demo model scored beside the
original."""

import pytest

pytest.importorskip("keras")

from core.data.bundled import sample_data_directory
from core.demo.models import DEMO_IMAGE_MODEL, ensure_demo_models
from core.deploy.export_check import check_exports
from core.registry.store import ModelRegistry


@pytest.fixture
def registry(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    ensure_demo_models(registry)
    return registry


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_int8_stays_within_one_point_of_the_original_on_the_sample(registry, capsys):
    report = check_exports(registry, DEMO_IMAGE_MODEL, sample_data_directory() / "images")
    formats = report["formats"]
    assert report["test_images"] == 120
    assert list(formats) == ["keras", "tflite", "tflite-fp16", "tflite-int8"]
    assert formats["keras"]["accuracy"] > 0.85
    assert abs(formats["tflite-int8"]["accuracy_change"]) <= 0.01
    assert formats["tflite-int8"]["agreement"] >= 0.95
    assert (
        formats["tflite-int8"]["bytes"]
        < formats["tflite-fp16"]["bytes"]
        < (formats["tflite"]["bytes"])
    )


def test_refuses_models_that_are_not_image_classifiers_and_unknown_formats(registry):
    images = sample_data_directory() / "images"
    with pytest.raises(ValueError) as error:
        check_exports(registry, "demo-rul", images)
    assert str(error.value) == (
        "Expected an image classification model to check. Received: model='demo-rul:1' with "
        "task='series_rul'"
    )
    with pytest.raises(ValueError, match=r"Received: formats=\['onnx'\]"):
        check_exports(registry, DEMO_IMAGE_MODEL, images, formats=["tflite", "onnx"])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_cli_check_export_prints_every_format(registry, capsys):
    import json

    from core.cli.main import main

    images = str(sample_data_directory() / "images")
    arguments = ["models", "check-export", DEMO_IMAGE_MODEL, "--data", images]
    assert main([*arguments, "--registry", str(registry.directory), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"{DEMO_IMAGE_MODEL}:1 on 120 test images:"
    assert any(line.strip().startswith("tflite-int8") for line in lines)
    assert set(json.loads(lines[-1])["formats"]) == {
        "keras",
        "tflite",
        "tflite-fp16",
        "tflite-int8",
    }

"""Tests for core/registry/catalog.py and catalog_exports.py: registry table, comparison data,
export bytes, deletion."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.deploy import export
from core.registry import catalog as model_catalog
from core.registry import catalog_exports
from core.registry.metadata import ModelRecord

CLASSES = ["ok", "scratch", "pit"]


def image_metadata(accuracy: float = 0.9, **changes) -> dict:
    metadata = {
        "task": "image_classification",
        "classes": list(CLASSES),
        "input_shape": [16, 16, 1],
        "preprocessing": {"image_size": [16, 16], "channels": 1},
        "training_config": {"model": "tiny_cnn", "epochs": 2},
        "metrics": {
            "accuracy": accuracy,
            "macro_f1": accuracy - 0.05,
            "test_count": 30,
            "defect_roc_auc": 0.97,
            "evaluation": {
                "class_names": list(CLASSES),
                "confusion_matrix": [[9, 1, 0], [1, 8, 1], [0, 0, 10]],
                "per_class": [
                    {"class": "ok", "precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 10},
                    {
                        "class": "scratch",
                        "precision": 0.9,
                        "recall": 0.8,
                        "f1": 0.85,
                        "support": 10,
                    },
                    {"class": "pit", "precision": 0.9, "recall": 1.0, "f1": 0.95, "support": 10},
                ],
            },
        },
        "history": {"loss": [1.0, 0.6], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]},
        "dataset_fingerprint": "sha256:" + "0" * 64,
        "created_at": "2026-11-27T08:30:00+00:00",
        "tensorflow_version": "2.21.0",
        "keras_version": "3.15.0",
        "extra": {
            "dataset": {
                "source": "/home/someone/work/sample_data/images",
                "class_counts": {"ok": 40, "scratch": 30, "pit": 30},
                "split": {"train": 70, "validation": 15, "test": 15},
            },
            "epochs_run": 2,
            "training_seconds": 3.5,
        },
    }
    metadata.update(changes)
    return metadata


def series_metadata() -> dict:
    metadata = image_metadata(
        task="series_rul",
        classes=[],
        input_shape=[50, 14],
        metrics={"rmse": 18.2},
        history={},
    )
    metadata["extra"] = {}
    return metadata


def record(name: str, version: int, metadata: dict) -> ModelRecord:
    return ModelRecord(name=name, version=version, path=Path("/nowhere"), metadata=metadata)


def test_registry_table_has_one_row_per_version_with_key_columns():
    records = [
        record("demo-defect-cnn", 1, image_metadata(0.91)),
        record("pump-rul", 2, series_metadata()),
    ]
    table = model_catalog.registry_table(records, demo_names=["demo-defect-cnn"])
    assert table["model"].tolist() == ["demo-defect-cnn:1", "pump-rul:2"]
    first = table.iloc[0]
    assert first["task"] == "image_classification"
    assert first["classes"] == "ok, scratch, pit"
    assert first["accuracy"] == pytest.approx(0.91)
    assert first["macro_f1"] == pytest.approx(0.86)
    assert first["dataset"] == "sample_data/images"
    assert first["images"] == 100
    assert first["class_counts"] == "ok 40, scratch 30, pit 30"
    assert first["created"].year == 2026 and first["created"].hour == 8
    assert bool(first["demo"]) is True
    second = table.iloc[1]
    assert np.isnan(second["accuracy"])
    assert second["images"] is pd.NA
    assert bool(second["demo"]) is False


def test_registry_table_of_no_records_still_has_its_columns():
    table = model_catalog.registry_table([])
    assert table.empty
    assert {"model", "accuracy", "macro_f1", "dataset", "created"} <= set(table.columns)


def test_comparison_table_puts_models_side_by_side():
    records = [
        record("a", 1, image_metadata(0.9)),
        record("b", 3, image_metadata(0.8)),
    ]
    table = model_catalog.comparison_table(records)
    assert table.index.tolist() == ["a:1", "b:3"]
    assert table.loc["b:3", "accuracy"] == pytest.approx(0.8)
    assert table.loc["a:1", "f1 scratch"] == pytest.approx(0.85)
    assert table.loc["a:1", "architecture"] == "tiny_cnn"
    assert table.loc["a:1", "image_size"] == "16x16x1"
    assert table.loc["a:1", "epochs_run"] == 2
    # No compared model reports these: the columns are dropped, not shown empty.
    assert "defect_recall" not in table.columns
    assert "false_reject_rate" not in table.columns


def test_confusion_matrix_and_history_read_from_metadata():
    image = record("a", 1, image_metadata())
    matrix, names = model_catalog.confusion_matrix_of(image)
    assert names == CLASSES
    assert matrix[1] == [1, 8, 1]
    assert model_catalog.training_history(image)["val_loss"] == [1.1, 0.7]
    series = record("s", 1, series_metadata())
    assert model_catalog.confusion_matrix_of(series) is None
    assert model_catalog.training_history(series) == {}


def test_image_classifiers_keeps_image_models_newest_first():
    records = [
        record("b", 1, image_metadata()),
        record("a", 1, image_metadata()),
        record("a", 2, image_metadata()),
        record("s", 1, series_metadata()),
    ]
    assert [item.reference for item in model_catalog.image_classifiers(records)] == [
        "a:2",
        "a:1",
        "b:1",
    ]


def test_export_choice_and_file_name():
    assert [choice.format for choice in catalog_exports.EXPORT_CHOICES] == [
        "keras",
        "savedmodel",
        "tflite",
        "tflite-fp16",
        "tflite-int8",
    ]
    item = record("demo-defect-cnn", 4, image_metadata())
    assert catalog_exports.export_file_name(item, "keras") == "demo-defect-cnn-v4.keras"
    assert catalog_exports.export_file_name(item, "savedmodel") == "demo-defect-cnn-v4.zip"
    assert catalog_exports.export_file_name(item, "tflite") == "demo-defect-cnn-v4.tflite"
    assert catalog_exports.export_file_name(item, "tflite-int8") == "demo-defect-cnn-v4-int8.tflite"
    with pytest.raises(
        ValueError,
        match=r"Expected an export format among \['keras', 'savedmodel', 'tflite', "
        r"'tflite-fp16', 'tflite-int8'\]\. "
        r"Received: format='onnx'",
    ):
        catalog_exports.export_choice("onnx")


# A real registry with a tiny Functional model.


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    keras = pytest.importorskip("keras")
    from keras import layers

    from core.registry.store import ModelRegistry

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    x = layers.Rescaling(1.0 / 255)(inputs)
    # Augmentation inside the model, as in the image presets: exports must switch it off.
    x = layers.RandomFlip("horizontal", seed=1)(x)
    x = layers.RandomBrightness(0.3, value_range=(0.0, 1.0), seed=2)(x)
    x = layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5, seed=3)(x)
    outputs = layers.Dense(len(CLASSES), activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    metadata = image_metadata()
    metadata.pop("created_at")
    registry.save(model, "tiny", metadata)
    registry.save(model, "tiny", metadata)
    registry.save(model, "other", metadata)
    return registry


def test_export_bytes_keras_is_the_stored_file(registry):
    file_name, data = catalog_exports.export_bytes(registry, "tiny:1", "keras")
    assert file_name == "tiny-v1.keras"
    assert data == registry.get("tiny:1").model_path.read_bytes()
    latest_name, _ = catalog_exports.export_bytes(registry, "tiny", "keras")
    assert latest_name == "tiny-v2.keras"


def test_export_bytes_savedmodel_serves_in_inference_mode(registry, tmp_path):
    tensorflow = pytest.importorskip("tensorflow")
    file_name, data = catalog_exports.export_bytes(registry, "tiny:2", "savedmodel")
    assert file_name == "tiny-v2.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "savedmodel")
    assert "saved_model.pb" in names
    assert any(name.startswith("variables/") for name in names)
    served = tensorflow.saved_model.load(str(tmp_path / "savedmodel"))
    images = random_images(8)
    first = served.serve(tensorflow.constant(images)).numpy()
    # No augmentation or dropout at serving time: the same images give the same answer.
    np.testing.assert_allclose(first, served.serve(tensorflow.constant(images)).numpy())
    model, _ = registry.load("tiny:2")
    np.testing.assert_allclose(first, model(images, training=False).numpy(), atol=1e-5)


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_export_bytes_tflite_runs_and_matches_keras(registry):
    tensorflow = pytest.importorskip("tensorflow")
    file_name, data = catalog_exports.export_bytes(registry, "tiny:1", "tflite")
    assert file_name == "tiny-v1.tflite"
    assert data[4:8] == b"TFL3"
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tensorflow.lite.Interpreter
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    image = random_images(1)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    model, _ = registry.load("tiny:1")
    np.testing.assert_allclose(output, model(image, training=False).numpy(), atol=1e-5)


def test_inference_model_fixes_training_off(registry):
    model, _ = registry.load("tiny:1")
    wrapped = export.inference_model(model)
    images = random_images(8)
    assert wrapped.name == model.name
    assert wrapped.inputs[0].shape == model.inputs[0].shape
    expected = model(images, training=False).numpy()
    np.testing.assert_allclose(wrapped(images).numpy(), expected, atol=1e-6)
    # Called without `training`, the bare model augments (random layers default to training).
    assert not np.allclose(model(images).numpy(), expected, atol=1e-6)


def random_images(count: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, 16, 16, 1)).astype(np.float32)


def test_export_bytes_refuses_unknown_models_and_formats(registry):
    with pytest.raises(
        ValueError, match=r"known names: \['other', 'tiny'\]\. Received: name='nope'"
    ):
        catalog_exports.export_bytes(registry, "nope", "keras")
    with pytest.raises(ValueError, match=r"Received: format='pickle'"):
        catalog_exports.export_bytes(registry, "tiny", "pickle")


def test_deletion_preview_lists_what_would_go(registry):
    assert [item.reference for item in model_catalog.deletion_preview(registry, "tiny")] == [
        "tiny:1",
        "tiny:2",
    ]
    assert [item.reference for item in model_catalog.deletion_preview(registry, "tiny:2")] == [
        "tiny:2"
    ]
    with pytest.raises(ValueError, match=r"known versions: \[1, 2\]\. Received: version=7"):
        model_catalog.deletion_preview(registry, "tiny:7")
    with pytest.raises(
        ValueError,
        match=r'Expected a model "name" or "name:version" to delete\. Received: target=\'\'',
    ):
        model_catalog.deletion_preview(registry, "")
    with pytest.raises(ValueError, match=r"Received: name='ghost'"):
        model_catalog.deletion_preview(registry, "ghost")


def test_delete_models_removes_a_version_then_a_name(tmp_path):
    pytest.importorskip("keras")
    from core.registry.store import ModelRegistry

    source = ModelRegistry(tmp_path / "source")
    keras_file = tmp_path / "model.keras"
    _tiny_keras_file(keras_file)
    metadata = image_metadata()
    source.import_model_file(keras_file, "tiny", metadata)
    source.import_model_file(keras_file, "tiny", metadata)
    source.import_model_file(keras_file, "keep", metadata)
    deleted = model_catalog.delete_models(source, "tiny:1")
    assert [item.reference for item in deleted] == ["tiny:1"]
    assert [item.reference for item in source.list()] == ["keep:1", "tiny:2"]
    deleted = model_catalog.delete_models(source, "tiny")
    assert [item.reference for item in deleted] == ["tiny:2"]
    assert [item.reference for item in source.list()] == ["keep:1"]
    with pytest.raises(ValueError, match=r"known names: \['keep'\]\. Received: name='tiny'"):
        model_catalog.delete_models(source, "tiny")


def _tiny_keras_file(path: Path) -> None:
    import keras
    from keras import layers

    inputs = keras.Input((16, 16, 1))
    outputs = layers.Dense(len(CLASSES), activation="softmax")(layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(path)


def test_export_note_says_what_an_image_or_series_model_takes():
    image = ModelRecord(
        "cam", 1, Path("."), {"task": "image_classification", "input_shape": [64, 64, 1]}
    )
    assert catalog_exports.export_input_note(image) == (
        "The model takes raw 0-255 pixels at 64x64x1 and returns class probabilities."
    )
    metadata = {
        "task": "series_rul",
        "input_shape": [30, 2],
        "preprocessing": {"feature_columns": ["sensor_02", "sensor_03"]},
    }
    note = catalog_exports.export_input_note(ModelRecord("pump", 1, Path("."), metadata))
    assert note.startswith(
        "The model takes windows of 30x2 (cycles x sensors sensor_02, sensor_03)"
    )
    assert note.endswith("returns the remaining useful life in cycles.")
    metadata = {
        "task": "gan",
        "classes": ["ok", "pit"],
        "input_shape": [100],
        "preprocessing": {"image_size": [64, 64]},
    }
    assert catalog_exports.export_input_note(
        ModelRecord("surface-gan", 1, Path("."), metadata)
    ) == (
        "The generator takes a standard-normal noise vector of 100 floats and a class index "
        "(0 = ok, 1 = pit), and returns a 64x64 grayscale image in [-1, 1] "
        "(pixels = (output + 1) * 127.5)."
    )


def test_calibration_source_finds_the_training_folder_or_the_bundled_sample(tmp_path):
    from core.data.bundled import sample_data_directory

    # The metadata names a folder of another machine ending in sample_data/images.
    moved = record("demo-defect-cnn", 1, image_metadata())
    assert model_catalog.calibration_source(moved) == sample_data_directory() / "images"
    here = image_metadata()
    here["extra"]["dataset"]["source"] = str(tmp_path)
    assert model_catalog.calibration_source(record("m", 1, here)) == tmp_path
    gone = image_metadata()
    gone["extra"]["dataset"]["source"] = "upload.zip"
    assert model_catalog.calibration_source(record("m", 1, gone)) is None
    assert model_catalog.calibration_source(record("m", 1, series_metadata())) is None


def test_calibration_images_read_the_folder_or_an_uploaded_zip(tmp_path):
    from PIL import Image

    metadata = image_metadata()
    metadata["input_shape"] = [16, 16, 1]
    metadata["extra"]["dataset"]["source"] = "upload.zip"
    item = record("m", 1, metadata)
    with pytest.raises(
        ValueError,
        match=r"Expected the model's training images on this server, or a zip of training "
        r"images, to calibrate an int8 export\. Received: training data source='upload.zip' "
        r"is not a folder here",
    ):
        catalog_exports.calibration_images(item)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, name in enumerate(CLASSES):
            image = io.BytesIO()
            Image.new("L", (20, 24), color=40 * index).save(image, format="PNG")
            archive.writestr(f"{name}/{index}.png", image.getvalue())
    images = catalog_exports.calibration_images(item, ("train.zip", buffer.getvalue()))
    assert images.shape == (3, 16, 16, 1) and images.dtype == np.uint8
    with pytest.raises(
        ValueError, match=r"Expected at least one readable image .* Received: source='bad.zip'"
    ):
        empty = io.BytesIO()
        with zipfile.ZipFile(empty, "w") as archive:
            archive.writestr("ok/notes.txt", "not an image")
        catalog_exports.calibration_images(item, ("bad.zip", empty.getvalue()))
    with pytest.raises(ValueError, match=r"Expected an image classifier for an int8 export"):
        catalog_exports.calibration_images(record("s", 1, series_metadata()))


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_export_bytes_int8_is_calibrated_and_quantized(registry):
    tensorflow = pytest.importorskip("tensorflow")
    images = random_images(30).astype(np.uint8)
    _, float_data = catalog_exports.export_bytes(registry, "tiny:1", "tflite")
    file_name, data = catalog_exports.export_bytes(
        registry, "tiny:1", "tflite-int8", representative_data=images
    )
    assert file_name == "tiny-v1-int8.tflite"
    assert data[4:8] == b"TFL3"
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tensorflow.lite.Interpreter
    types = {detail["dtype"] for detail in Interpreter(model_content=data).get_tensor_details()}
    assert np.int8 in types  # Quantized weights and activations...
    float_types = {
        detail["dtype"] for detail in Interpreter(model_content=float_data).get_tensor_details()
    }
    assert np.int8 not in float_types
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    assert interpreter.get_input_details()[0]["dtype"] == np.float32  # ...behind float I/O.
    with pytest.raises(ValueError, match=r"Expected representative data"):
        catalog_exports.export_bytes(registry, "tiny:1", "tflite-int8")

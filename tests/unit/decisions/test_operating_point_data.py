"""Tests for core/decisions/operating_point_data.py: validation defect scores and setting the
operating point."""

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("keras")

from core.data.bundled import sample_data_directory
from core.data.images import load_images
from core.data.splits import stratified_split
from core.decisions.operating_point import load_operating_point
from core.decisions.operating_point_data import set_operating_point, validation_scores
from core.demo.models import DEMO_IMAGE_MODEL, ensure_demo_models
from core.registry.attachments import OPERATING_POINT
from core.registry.catalog import calibration_source
from core.registry.metadata import image_dataset_fingerprint
from core.registry.store import ModelRegistry
from core.workflows import image as image_workflow

COSTS = {"missed_defect_cost": 500, "false_reject_cost": 5, "defect_rate": 0.02}
ANOMALY_CONFIG = {
    "method": "autoencoder",
    "good_class": "good",
    "validation_fraction": 0.25,
    "test_fraction": 0.25,
    "seed": 3,
    "image_size": [8, 8],
    "channels": 1,
}


@pytest.fixture
def registry(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    ensure_demo_models(registry)
    return registry


def write_images(folder, counts: dict[str, tuple[int, int]]) -> None:
    """Writes 8x8 grayscale PNGs: `counts` maps a class to (images, brightness)."""
    for name, (count, brightness) in counts.items():
        (folder / name).mkdir(parents=True)
        for index in range(count):
            pixels = np.full((8, 8), brightness + index, dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{name}_{index}.png")


def tiny_model():
    import keras

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def register_anomaly_model(registry, folder, fingerprint="sha256:" + "0" * 64):
    metadata = {
        "task": "image_anomaly",
        "classes": ["good", "anomaly"],
        "input_shape": [8, 8, 1],
        "preprocessing": {"image_size": [8, 8], "channels": 1},
        "training_config": ANOMALY_CONFIG,
        "metrics": {"image_auroc": 1.0},
        "history": {},
        "dataset_fingerprint": fingerprint,
        "extra": {
            "threshold": 100.0,
            "score_scale": 10.0,
            "good_class": "good",
            "defect_classes": ["crack", "scratch"],
            "dataset": {"source": str(folder)},
        },
    }
    return registry.save(tiny_model(), "tiny-anomaly", metadata)


class FakeAnomalyPredictor:
    """Stands in for contract C1's ImageAnomalyPredictor: the score is the mean brightness."""

    def __init__(self, metadata):
        self.metadata = metadata

    @classmethod
    def from_registry_record(cls, model, metadata, *, warmup=True):
        return cls(metadata)

    def scores(self, images):
        return np.asarray(images, dtype=np.float32).mean(axis=(1, 2, 3))


@pytest.fixture
def fake_anomaly_module(monkeypatch):
    monkeypatch.setattr(image_workflow, "ImageAnomalyPredictor", FakeAnomalyPredictor)


@pytest.mark.slow
def test_classifier_scores_are_one_minus_p_ok_on_the_validation_split(registry):
    import keras

    result = validation_scores(registry, DEMO_IMAGE_MODEL)
    folder = sample_data_directory() / "images"
    dataset = load_images(folder, image_size=(64, 64), channels=1)
    _, validation, _ = stratified_split(
        dataset.labels, validation_fraction=0.15, test_fraction=0.15, seed=0
    )
    assert result["names"] == [dataset.filenames[index] for index in validation]
    assert len(result["names"]) == 120
    ok = dataset.class_names.index("ok")
    assert result["labels01"].tolist() == (dataset.labels[validation] != ok).astype(int).tolist()
    assert int(result["labels01"].sum()) == 96
    model = keras.saving.load_model(registry.get(DEMO_IMAGE_MODEL).model_path)
    probabilities = model.predict(dataset.images[validation].astype(np.float32), verbose=0)
    np.testing.assert_allclose(result["scores"], 1 - probabilities[:, ok], atol=1e-5)
    assert result["score_kind"] == "defect_probability"
    assert result["good_class"] == "ok"
    assert result["model"] == f"{DEMO_IMAGE_MODEL}:1"
    assert result["source"] == str(folder)
    assert result["notes"] == []  # The same files it trained on.


@pytest.mark.slow
def test_set_operating_point_stores_the_chosen_threshold(registry, tmp_path):
    point, curve = set_operating_point(registry, DEMO_IMAGE_MODEL, **COSTS, set_by="ann")
    record = registry.get(DEMO_IMAGE_MODEL)
    assert load_operating_point(record) == point
    stored = json.loads((record.path / OPERATING_POINT).read_text())
    assert stored["threshold"] == point.threshold
    assert point.model == record.reference
    assert point.set_by == "ann"
    assert (point.validation_count, point.validation_defects) == (120, 96)
    index = curve["chosen_index"]
    assert curve["thresholds"][index] == point.threshold
    assert curve["cost_per_million"][index] == point.cost_per_million
    assert curve["cost_per_million"].min() == point.cost_per_million
    assert curve["roc_auc"] > 0.9
    assert point.defect_recall > 0.9
    assert point.escapes_per_million == pytest.approx(0.02 * (1 - point.defect_recall) * 1e6)
    assert point.false_rejects_per_million == pytest.approx(0.98 * point.false_reject_rate * 1e6)

    # The same images from an uploaded zip give the same point.
    buffer = io.BytesIO()
    folder = sample_data_directory() / "images"
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*.png")):
            archive.write(path, path.relative_to(folder).as_posix())
    again, _ = set_operating_point(
        registry, DEMO_IMAGE_MODEL, **COSTS, data=("images.zip", buffer.getvalue())
    )
    assert again.threshold == point.threshold


def test_anomaly_model_scores_come_from_its_predictor(registry, tmp_path, fake_anomaly_module):
    folder = tmp_path / "parts"
    write_images(folder, {"good": (8, 10), "crack": (4, 200), "scratch": (4, 150)})
    register_anomaly_model(registry, folder)
    result = validation_scores(registry, "tiny-anomaly")
    dataset = load_images(folder, image_size=(8, 8), channels=1)
    _, validation, _ = stratified_split(
        dataset.labels, validation_fraction=0.25, test_fraction=0.25, seed=3
    )
    good = dataset.class_names.index("good")
    assert result["labels01"].tolist() == (dataset.labels[validation] != good).astype(int).tolist()
    np.testing.assert_allclose(result["scores"], dataset.images[validation].mean(axis=(1, 2, 3)))
    assert result["score_kind"] == "anomaly_score"
    assert result["good_class"] == "good"
    assert result["notes"] == [
        "These images differ from the model's training data (the file list does not match), "
        "so the validation part may hold images the model trained on: recall and false rejects "
        "may look better than they are."
    ]

    point, _ = set_operating_point(registry, "tiny-anomaly", **COSTS)
    assert point.score_kind == "anomaly_score"
    # Bright defects, dark good parts: the darkest validation defect is the cheapest threshold.
    assert point.threshold == result["scores"][result["labels01"] == 1].min()
    assert (point.defect_recall, point.false_reject_rate) == (1.0, 0.0)
    assert point.escapes_per_million == point.false_rejects_per_million == 0.0


def test_anomaly_model_errors(registry, tmp_path, fake_anomaly_module):
    folder = tmp_path / "parts"
    write_images(folder, {"good": (8, 10), "crack": (4, 200)})
    fingerprint = image_dataset_fingerprint(load_images(folder, image_size=(8, 8), channels=1))
    register_anomaly_model(registry, folder, fingerprint)
    assert validation_scores(registry, "tiny-anomaly")["notes"] == []
    with pytest.raises(ValueError) as error:
        validation_scores(registry, "tiny-anomaly", good_class="crack")
    assert str(error.value) == (
        "Expected good_class to be the class the anomaly model learned as good, 'good' (or "
        "none). Received: good_class='crack'"
    )
    only_defects = tmp_path / "defects"
    write_images(only_defects, {"crack": (4, 200), "scratch": (4, 150)})
    with pytest.raises(ValueError) as error:
        validation_scores(registry, "tiny-anomaly", only_defects)
    assert str(error.value) == (
        "Expected the data to hold the good class 'good' of the model. "
        "Received: data classes ['crack', 'scratch']"
    )
    assert calibration_source(registry.get("tiny-anomaly")) == folder


def test_classifier_input_errors(registry, tmp_path):
    with pytest.raises(ValueError) as error:
        validation_scores(registry, "demo-rul")
    assert str(error.value) == (
        "Expected an image model (task among ['image_classification', 'image_anomaly']) to set "
        "an operating point for. Received: model='demo-rul:1' with task='series_rul'"
    )
    with pytest.raises(ValueError) as error:
        validation_scores(registry, DEMO_IMAGE_MODEL, good_class="good")
    assert str(error.value) == (
        "Expected good_class among the model's classes ['crack', 'inclusion', 'ok', 'pit', "
        "'scratch']. Received: good_class='good'"
    )
    folder = tmp_path / "two"
    write_images(folder, {"ok": (4, 10), "crack": (4, 200)})
    with pytest.raises(ValueError) as error:
        validation_scores(registry, DEMO_IMAGE_MODEL, folder)
    assert str(error.value) == (
        "Expected the data's classes to equal the model's ['crack', 'inclusion', 'ok', 'pit', "
        "'scratch']. Received: data classes ['crack', 'ok']"
    )
    with pytest.raises(ValueError) as error:
        validation_scores(registry, DEMO_IMAGE_MODEL, 42)
    assert str(error.value) == (
        "Expected data as a folder or zip path, or an uploaded zip as (file name, bytes). "
        "Received: data=42"
    )
    # Costs are checked before the model or any image loads.
    with pytest.raises(ValueError, match=r"Received: false_reject_cost=-1"):
        set_operating_point(registry, DEMO_IMAGE_MODEL, **{**COSTS, "false_reject_cost": -1})


def test_a_classifier_without_ok_needs_its_good_class_and_moved_data_needs_a_path(
    registry, tmp_path
):
    folder = tmp_path / "line3"
    write_images(folder, {"good": (6, 10), "scratch": (6, 200)})
    metadata = {
        "task": "image_classification",
        "classes": ["good", "scratch"],
        "input_shape": [8, 8, 1],
        "preprocessing": {},
        "training_config": {"validation_fraction": 0.34, "test_fraction": 0.17, "seed": 1},
        "metrics": {},
        "history": {},
        "dataset_fingerprint": "unknown",
        "extra": {"dataset": {"source": str(tmp_path / "gone")}},
    }
    registry.save(tiny_model(), "line3", metadata)
    with pytest.raises(ValueError) as error:
        validation_scores(registry, "line3", folder)
    assert str(error.value) == (
        "Expected good_class, the good-part class among the model's classes ['good', "
        "'scratch'] (it has no 'ok' class). Received: good_class=None"
    )
    with pytest.raises(ValueError) as error:
        validation_scores(registry, "line3", good_class="good")
    assert str(error.value) == (
        "Expected the labelled images the model was trained on: pass data (class folders, a "
        "zip or a manifest), because its training folder is not on this server. Received: "
        f"training data source='{tmp_path / 'gone'}'"
    )
    result = validation_scores(registry, "line3", folder, good_class="good")
    assert result["labels01"].tolist() == [0, 0, 1, 1]
    assert ((result["scores"] >= 0) & (result["scores"] <= 1)).all()
    assert result["notes"] == []  # No fingerprint to compare with.

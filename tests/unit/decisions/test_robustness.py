"""Tests for core/decisions/robustness.py (with core/data/perturbations.py and
core/workflows/image_test_split.py): perturbations, the check, and running it on a registered
model (a fake anomaly predictor stands in for the real one)."""

import json

import numpy as np
import pytest

from core.data.bundled import sample_data_directory
from core.data.perturbations import PERTURBATIONS, apply_perturbation, perturb
from core.decisions.robustness import robustness_check, run_robustness
from core.demo.models import DEMO_IMAGE_MODEL, ensure_demo_models
from core.registry.attachments import ROBUSTNESS, read_json_attachment
from core.registry.catalog import calibration_source
from core.registry.store import ModelRegistry
from core.workflows import image as image_workflow
from core.workflows.image_test_split import load_test_split, sample_indices

SAMPLE_IMAGES = sample_data_directory() / "images"


@pytest.fixture
def images() -> np.ndarray:
    """Textured mid-grey images (no clipping at the mild severities), 3 of 24x24x1."""
    generator = np.random.default_rng(7)
    base = generator.integers(70, 186, size=(3, 24, 24, 1))
    base[:, ::2, ::2] = 180  # A fine pattern: high-frequency energy for the blur test.
    return base.astype(np.uint8)


def high_frequency_energy(batch: np.ndarray) -> float:
    pixels = batch.astype(np.float64)
    return float((np.diff(pixels, axis=1) ** 2).sum() + (np.diff(pixels, axis=2) ** 2).sum())


def _both(images, kind):
    return perturb(images, kind, 1), perturb(images, kind, 2)


def test_brightness_moves_the_mean_by_the_offset(images):
    brighter = perturb(images, "brightness_up", 1)
    darker = perturb(images, "brightness_down", 2)
    assert brighter.mean() == pytest.approx(images.mean() + 25, abs=1.0)
    assert darker.mean() == pytest.approx(images.mean() - 50, abs=2.0)
    assert brighter.dtype == darker.dtype == np.uint8


def test_lower_contrast_keeps_the_mean_and_lowers_the_spread(images):
    mild, strong = perturb(images, "contrast", 1), perturb(images, "contrast", 2)
    assert mild.mean() == pytest.approx(images.mean(), abs=0.6)
    assert strong.std() < mild.std() < images.std()
    assert mild.std() == pytest.approx(images.std() * 0.7, rel=0.02)


def test_blur_removes_high_frequency_energy_more_at_severity_two(images):
    energies = [high_frequency_energy(batch) for batch in (images, *_both(images, "blur"))]
    assert energies[0] > 2 * energies[1] > 2 * energies[2]
    assert perturb(images, "blur", 1).mean() == pytest.approx(images.mean(), abs=1.0)


def test_rotation_by_a_right_angle_equals_rot90_in_one_direction(images):
    rotated = apply_perturbation(images, "rotation", 90)
    for index in range(len(images)):
        candidates = [np.rot90(images[index], k, axes=(0, 1)) for k in (1, -1)]
        assert any(np.array_equal(rotated[index], candidate) for candidate in candidates)
    for severity in (1, 2):
        small = perturb(images, "rotation", severity)
        assert small.shape == images.shape and small.dtype == np.uint8
        assert not np.array_equal(small, images)


def overlap(image: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """The part of a 24x24 image that stays inside after moving by (rows, columns)."""
    return image[max(rows, 0) : 24 + min(rows, 0), max(columns, 0) : 24 + min(columns, 0)]


def test_shift_moves_the_content_by_the_amount_with_mirrored_borders(images):
    shifted = perturb(images, "shift", 1)
    assert shifted.shape == images.shape and shifted.dtype == np.uint8
    for index in range(len(images)):
        matches = [
            np.array_equal(
                overlap(shifted[index], rows, columns), overlap(images[index], -rows, -columns)
            )
            for rows in (-2, 2)
            for columns in (-2, 2)
        ]
        assert sum(matches) == 1


def test_noise_has_the_requested_spread_and_no_bias(images):
    noisy = perturb(images, "noise", 2).astype(np.float64)
    difference = noisy - images
    assert difference.std() == pytest.approx(8, rel=0.1)
    assert abs(difference.mean()) < 0.5


def test_amount_zero_is_the_identity_and_the_seed_makes_it_repeatable(images):
    for kind in PERTURBATIONS:
        unchanged = apply_perturbation(images, kind, 0)
        assert np.array_equal(unchanged, images) and unchanged is not images
        assert np.array_equal(perturb(images, kind, 2, seed=3), perturb(images, kind, 2, seed=3))
    assert not np.array_equal(perturb(images, "noise", 1, seed=1), perturb(images, "noise", 1))
    assert PERTURBATIONS["blur"].describe(2) == "Blur σ 2 px"


def test_perturbation_errors_say_what_was_expected(images):
    with pytest.raises(ValueError) as error:
        perturb(images.astype(np.float32), "blur", 1)
    assert str(error.value) == (
        "Expected uint8 images of shape (N, height, width, channels). "
        "Received: images.shape=(3, 24, 24, 1), dtype=float32"
    )
    with pytest.raises(ValueError, match=r"Expected a perturbation among \['brightness_up'"):
        perturb(images, "fog", 1)
    with pytest.raises(ValueError) as error:
        perturb(images, "blur", 3)
    assert str(error.value) == "Expected a severity among [1, 2]. Received: severity=3"
    with pytest.raises(ValueError) as error:
        apply_perturbation(images, "noise", -1)
    assert str(error.value) == "Expected a perturbation amount >= 0. Received: amount=-1"
    with pytest.raises(ValueError) as error:
        apply_perturbation(images, "contrast", 1.5)
    assert str(error.value) == (
        "Expected a contrast amount in [0, 1] (the share of contrast removed). Received: amount=1.5"
    )


def brightness_classifier(batch: np.ndarray) -> np.ndarray:
    return (batch.reshape(len(batch), -1).mean(axis=1) > 128).astype(np.int64)


def test_check_reports_accuracy_change_and_flips_of_a_hand_made_classifier():
    # Flat images 100, 120, 140, 160 with labels dark, dark, bright, bright.
    flat = np.stack([np.full((8, 8, 1), value, np.uint8) for value in (100, 120, 140, 160)])
    result = robustness_check(brightness_classifier, flat, [0, 0, 1, 1], ["dark", "bright"])
    assert result["clean_accuracy"] == 1.0 and result["test_count"] == 4
    rows = {(row["perturbation"], row["severity"]): row for row in result["rows"]}
    assert len(rows) == 2 * len(PERTURBATIONS)
    # +25 makes 120 bright (1 flip); +50 makes 100 and 120 bright (2 flips); darker likewise.
    assert rows["brightness_up", 1]["flip_share"] == 0.25
    assert rows["brightness_up", 2]["accuracy"] == 0.5
    assert rows["brightness_up", 2]["accuracy_change"] == -0.5
    assert rows["brightness_down", 2]["flip_share"] == 0.5
    assert rows["brightness_up", 1]["label"] == "Brighter +25"
    # Flat images keep their mean under contrast, blur, rotation, shift and (mild) noise.
    for kind in ("contrast", "blur", "rotation", "shift", "noise"):
        assert rows[kind, 2]["flip_share"] == 0.0 and rows[kind, 2]["accuracy"] == 1.0
    assert json.dumps(result)  # Plain JSON types only.


def test_check_errors_say_what_was_expected(images):
    with pytest.raises(ValueError) as error:
        robustness_check(brightness_classifier, images, [0, 1, 0], [])
    assert str(error.value) == (
        "Expected class_names to be a non-empty list of strings. Received: class_names=[]"
    )
    with pytest.raises(ValueError) as error:
        robustness_check(brightness_classifier, images, [0, 2, 0], ["a", "b"])
    assert str(error.value) == (
        "Expected at least one image and one class index in [0, 2) per image. "
        "Received: 3 images, labels=[0, 2, 0]"
    )
    with pytest.raises(ValueError) as error:
        robustness_check(lambda batch: np.zeros(1, int), images, [0, 1, 0], ["a", "b"])
    assert str(error.value) == (
        "Expected predict_labels to return one class index in [0, 2) per image (3). "
        "Received: shape=(1,), dtype=int64"
    )


def test_sample_indices_take_classes_in_turn_two_each_at_most_six():
    labels = np.array([0, 0, 0, 1, 1, 2, 3, 4, 4])
    assert sample_indices(labels, 5) == [0, 3, 5, 6, 7, 1]
    assert sample_indices(np.array([1, 0, 1, 1]), 2) == [1, 0, 2]


@pytest.fixture
def registry(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    ensure_demo_models(registry)
    return registry


def edit_metadata(registry, name: str, change) -> None:
    path = registry.directory / name / "1" / "metadata.json"
    metadata = json.loads(path.read_text())
    change(metadata)
    path.write_text(json.dumps(metadata))


def test_run_refuses_other_tasks_missing_data_and_foreign_classes(registry, tmp_path):
    with pytest.raises(ValueError) as error:
        run_robustness(registry, "demo-rul")
    assert str(error.value) == (
        "Expected an image model (task among ['image_classification', 'image_anomaly']). "
        "Received: model='demo-rul:1' with task='series_rul'"
    )
    other = tmp_path / "other"
    for name in ("ok", "dent"):
        (other / name).mkdir(parents=True)
        for index in range(3):
            source = sorted((SAMPLE_IMAGES / "ok").glob("*.png"))[index]
            (other / name / f"{index}.png").write_bytes(source.read_bytes())
    with pytest.raises(ValueError) as error:
        run_robustness(registry, DEMO_IMAGE_MODEL, other)
    assert str(error.value) == (
        "Expected the data's classes to equal the model's ['crack', 'inclusion', 'ok', 'pit', "
        "'scratch']. Received: data classes ['dent', 'ok']"
    )
    edit_metadata(
        registry, DEMO_IMAGE_MODEL, lambda m: m["extra"]["dataset"].update(source="line3.zip")
    )
    with pytest.raises(ValueError) as error:
        run_robustness(registry, DEMO_IMAGE_MODEL)
    assert str(error.value) == (
        "Expected the labelled images the model was trained on: pass data (class folders, a zip "
        "or a manifest), because its training folder is not on this server. Received: training "
        "data source='line3.zip'"
    )
    edit_metadata(
        registry, DEMO_IMAGE_MODEL, lambda m: m["training_config"].update(test_fraction=0)
    )
    with pytest.raises(ValueError) as error:
        run_robustness(registry, DEMO_IMAGE_MODEL, SAMPLE_IMAGES)
    assert str(error.value) == (
        "Expected a model trained with a test split (test_fraction > 0). Received: test_fraction=0"
    )


class FakeAnomalyPredictor:
    """Stands in for core.inference.image_anomaly.ImageAnomalyPredictor (contract C1)."""

    threshold = 0.5
    class_names = ("ok", "anomaly")

    @classmethod
    def from_registry_record(cls, model, metadata, *, warmup=True):
        return cls()

    def scores(self, images):
        return np.ones(len(images), dtype=np.float32)  # Everything looks anomalous.

    def anomaly_maps(self, images):
        return np.ones(np.shape(images)[:3], dtype=np.float32)

    def predict_arrays(self, images):
        anomaly = 1.0 / (1.0 + np.exp(-(self.scores(images) - self.threshold)))
        return np.stack([1.0 - anomaly, anomaly], axis=1).astype(np.float32)

    def heatmaps(self, images, class_indices):
        return images[..., 0].astype(np.float32) / 255.0


def register_anomaly_model(registry, monkeypatch, *, good_class="ok") -> str:
    """Registers the demo model file as an image anomaly model and fakes its predictor."""
    monkeypatch.setattr(image_workflow, "ImageAnomalyPredictor", FakeAnomalyPredictor)
    record = registry.get(DEMO_IMAGE_MODEL)
    metadata = {**record.metadata, "task": "image_anomaly", "classes": [good_class, "anomaly"]}
    metadata["training_config"] = {**metadata["training_config"], "good_class": good_class}
    metadata["extra"] = {**metadata["extra"], "threshold": 0.5, "good_class": good_class}
    anomaly = registry.import_model_file(record.model_path, "line-anomaly", metadata)
    # The fake predictor needs no Keras model: skip loading one (and TensorFlow).
    monkeypatch.setattr(registry, "load", lambda reference: (None, anomaly.metadata))
    return anomaly.reference


def test_anomaly_model_scores_good_against_every_other_class(registry, monkeypatch):
    reference = register_anomaly_model(registry, monkeypatch)
    record = registry.get(reference)
    assert calibration_source(record) == SAMPLE_IMAGES
    split = load_test_split(record)
    assert split.class_names == ["ok", "anomaly"]
    assert split.matches_training and split.data == str(SAMPLE_IMAGES)
    assert np.bincount(split.labels).tolist() == [24, 96]
    result = run_robustness(registry, reference, created_by="ana")
    # Every image is called an anomaly: right on the 96 defects, and nothing ever flips.
    assert result["clean_accuracy"] == 0.8
    assert {row["flip_share"] for row in result["rows"]} == {0.0}
    assert result["decision"] == (
        "Verdicts: 'anomaly' when the anomaly score >= 0.5 (threshold from held-out good images)."
    )
    assert read_json_attachment(record, ROBUSTNESS) == result


def test_anomaly_data_must_hold_the_good_class(registry, monkeypatch):
    reference = register_anomaly_model(registry, monkeypatch, good_class="good")
    with pytest.raises(ValueError) as error:
        run_robustness(registry, reference)
    assert str(error.value) == (
        "Expected the data to hold the good class 'good' of the model. Received: data classes "
        "['crack', 'inclusion', 'ok', 'pit', 'scratch']"
    )


@pytest.mark.slow
def test_demo_model_on_its_own_test_split_is_stored_with_the_version(registry):
    result = run_robustness(registry, DEMO_IMAGE_MODEL, created_by="ana")
    record = registry.get(DEMO_IMAGE_MODEL)
    assert result["model"] == "demo-defect-cnn:1" and result["test_count"] == 120
    # The reproduced split is the one the stored metrics came from.
    assert result["clean_accuracy"] == pytest.approx(record.metadata["metrics"]["accuracy"])
    assert result["data_matches_training"] is True
    assert (
        result["decision"] == "Verdicts are the most probable class (no operating point is stored)."
    )
    assert len(result["rows"]) == 14
    assert all(0 <= row["flip_share"] <= 1 for row in result["rows"])
    assert set(result) >= {"model", "test_count", "clean_accuracy", "rows", "created_at",
                           "created_by", "data"}  # fmt: skip
    assert read_json_attachment(record, ROBUSTNESS) == result

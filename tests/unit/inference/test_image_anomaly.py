"""Tests for core/inference/image_anomaly.py: the C1 predictor's outputs, checks and uploads."""

import copy
import io

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

from core.inference.classifier import PredictionBatch  # noqa: E402
from core.inference.image_anomaly import ImageAnomalyPredictor  # noqa: E402
from core.registry.store import ModelRegistry  # noqa: E402

SIZE = 16


def brightness_model(size: int = SIZE, channels: int = 1):
    """The anomaly map is the pixel brightness in [0, 1] (channel mean): easy to reason about."""
    inputs = keras.Input((size, size, channels))
    brightness = keras.layers.Rescaling(1.0 / 255)(inputs)
    if channels > 1:
        brightness = keras.layers.Dense(
            1, use_bias=False, kernel_initializer=keras.initializers.Constant(1 / channels)
        )(brightness)
    return keras.Model(inputs, brightness)


def metadata(**changes) -> dict:
    return {
        "task": "image_anomaly",
        "classes": ["ok", "anomaly"],
        "input_shape": [SIZE, SIZE, 1],
        "extra": {"threshold": 0.5, "score_scale": 0.1},
        **changes,
    }


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((SIZE, SIZE), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def predictor():
    return ImageAnomalyPredictor.from_registry_record(brightness_model(), metadata())


def test_outputs_match_the_contract_shapes(predictor):
    images = np.zeros((3, SIZE, SIZE, 1), dtype=np.uint8)
    images[1, 4, 5] = 255
    images[2] += 102
    assert predictor.class_names == ["ok", "anomaly"]
    assert (predictor.image_size, predictor.channels) == ((SIZE, SIZE), 1)
    assert (predictor.threshold, predictor.score_scale) == (0.5, 0.1)
    maps = predictor.anomaly_maps(images)
    assert maps.shape == (3, SIZE, SIZE) and maps.dtype == np.float32
    assert maps[1, 4, 5] == pytest.approx(1.0)
    scores = predictor.scores(images)
    assert scores.shape == (3,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, [0.0, 1.0, 0.4], atol=1e-6)
    probabilities = predictor.predict_arrays(images)
    assert probabilities.shape == (3, 2) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    expected = 1 / (1 + np.exp(-(np.array([0.0, 1.0, 0.4]) - 0.5) / 0.1))
    np.testing.assert_allclose(probabilities[:, 1], expected, rtol=1e-4)
    heatmaps = predictor.heatmaps(images, [0, 1, 1])
    assert heatmaps.shape == (3, SIZE, SIZE) and heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1
    assert heatmaps[1, 4, 5] == 1.0 and heatmaps[2, 0, 0] == pytest.approx(0.4)


def test_the_threshold_is_read_at_call_time(predictor):
    images = np.full((1, SIZE, SIZE, 1), 102, dtype=np.uint8)
    assert predictor.predict_arrays(images)[0, 1] < 0.5
    stricter = copy.copy(predictor)
    stricter.threshold = 0.4
    assert stricter.predict_arrays(images)[0, 1] == pytest.approx(0.5)
    assert stricter.verdicts(stricter.scores(images)).tolist() == [1], "at the threshold: anomaly"
    assert predictor.threshold == 0.5


def test_empty_batches_and_float_pixels(predictor):
    empty = np.zeros((0, SIZE, SIZE, 1), dtype=np.uint8)
    assert predictor.anomaly_maps(empty).shape == (0, SIZE, SIZE)
    assert predictor.scores(empty).shape == (0,)
    assert predictor.predict_arrays(empty).shape == (0, 2)
    floats = np.full((70, SIZE, SIZE, 1), 51.0)
    np.testing.assert_allclose(predictor.scores(floats), 0.2, rtol=1e-6)


@pytest.mark.parametrize("images", [np.zeros((2, 8, 8, 1)), np.zeros((SIZE, SIZE, 1))])
def test_images_of_another_shape_are_refused(predictor, images):
    with pytest.raises(ValueError) as error:
        predictor.scores(images)
    assert str(error.value).startswith(
        f"Expected images of shape (N, {SIZE}, {SIZE}, 1) with raw 0-255 pixels. "
        f"Received: images.shape={images.shape}"
    )


def test_predict_bytes_scores_uploads_and_rejects_bad_files(predictor):
    batch = predictor.predict_bytes(
        [("dark.png", png(10)), ("bad.png", b"no"), ("hot.png", png(250))]
    )
    assert isinstance(batch, PredictionBatch)
    assert [row["name"] for row in batch.rows] == ["dark.png", "hot.png"]
    assert [row["predicted"] for row in batch.rows] == ["ok", "anomaly"]
    assert [round(row["score"], 3) for row in batch.rows] == [0.039, 0.98]
    assert all(row["threshold"] == 0.5 for row in batch.rows)
    assert batch.rows[0]["confidence"] == pytest.approx(batch.rows[0]["probabilities"]["ok"])
    assert batch.class_names == ["ok", "anomaly"] and batch.probabilities.shape == (2, 2)
    assert [item.name for item in batch.rejected] == ["bad.png"]
    frame = batch.to_frame()
    assert list(frame.columns[:3]) == ["name", "predicted", "confidence"]
    assert {"score", "threshold", "p_ok", "p_anomaly"} <= set(frame.columns)


def test_rgb_models_average_the_channels():
    rgb = ImageAnomalyPredictor.from_registry_record(
        brightness_model(channels=3), metadata(input_shape=[SIZE, SIZE, 3])
    )
    images = np.zeros((1, SIZE, SIZE, 3), dtype=np.uint8)
    images[0, 2, 3] = (255, 0, 0)
    assert rgb.scores(images)[0] == pytest.approx(1 / 3, rel=1e-5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "image_classification"}, "Expected image anomaly metadata with task "),
        ({"classes": ["ok", "scratch"]}, "classes=['ok', 'scratch']"),
        ({"extra": {"score_scale": 1.0}}, "Expected threshold to be a finite number."),
        ({"extra": {"threshold": 1.0, "score_scale": 0}}, "Expected score_scale to be a finite"),
        ({"input_shape": [32, 32, 1]}, "Expected metadata input_shape to match the model's"),
        ({"classes": ["anomaly", "anomaly"]}, "Expected good_class to be a class name other"),
    ],
)
def test_metadata_that_does_not_describe_the_model_is_refused(changes, message):
    with pytest.raises(ValueError) as error:
        ImageAnomalyPredictor.from_registry_record(brightness_model(), metadata(**changes))
    assert message in str(error.value)


def test_a_classifier_is_not_an_anomaly_model():
    inputs = keras.Input((SIZE, SIZE, 1))
    classifier = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError) as error:
        ImageAnomalyPredictor(classifier, "ok", threshold=1.0, score_scale=1.0)
    assert str(error.value) == (
        "Expected an anomaly model taking images (H, W, 1 or 3) and returning a map (H, W, 1). "
        f"Received: input shape ({SIZE}, {SIZE}, 1), output shape (2,)"
    )


@pytest.mark.slow
def test_a_registered_feature_gaussian_model_reloads_with_the_same_scores(tmp_path):
    from core.workflows.image_anomaly import (
        run_image_anomaly_training,
        save_image_anomaly_run,
    )
    from tests.unit.workflows.test_image_anomaly import make_parts, tiny_config

    result = run_image_anomaly_training(make_parts(per_class=6, seed=3)[0], tiny_config())
    registry = ModelRegistry(tmp_path)
    save_image_anomaly_run(result, registry, "parts")
    model, loaded = registry.load("parts")
    reloaded = ImageAnomalyPredictor.from_registry_record(model, loaded)
    images = result.dataset.images
    np.testing.assert_allclose(
        reloaded.anomaly_maps(images).max(axis=(1, 2)), reloaded.scores(images)
    )
    fresh = ImageAnomalyPredictor(
        result.model, "ok", threshold=result.threshold, score_scale=result.score_scale
    )
    np.testing.assert_allclose(
        reloaded.predict_arrays(images), fresh.predict_arrays(images), rtol=1e-5
    )


@pytest.mark.slow
def test_the_bundled_demo_reproduces_its_stored_test_auroc(tmp_path):
    from core.data.bundled import sample_data_directory
    from core.data.images import load_images
    from core.data.splits import stratified_split
    from core.demo.models import DEMO_IMAGE_ANOMALY_MODEL, ensure_demo_models
    from core.metrics.evaluation import roc_auc

    registry = ModelRegistry(tmp_path)
    ensure_demo_models(registry)
    model, loaded = registry.load(DEMO_IMAGE_ANOMALY_MODEL)
    demo = ImageAnomalyPredictor.from_registry_record(model, loaded)
    assert demo.class_names == ["ok", "anomaly"] and demo.image_size == (64, 64)
    config = loaded["training_config"]
    dataset = load_images(sample_data_directory() / "images", image_size=(64, 64), channels=1)
    _, _, test = stratified_split(
        dataset.labels,
        validation_fraction=config["validation_fraction"],
        test_fraction=config["test_fraction"],
        seed=config["seed"],
    )
    is_defect = dataset.labels[test] != dataset.class_names.index("ok")
    auroc = roc_auc(is_defect, demo.scores(dataset.images[test]))
    assert auroc == pytest.approx(loaded["metrics"]["image_auroc"], abs=1e-6)
    assert auroc > 0.95

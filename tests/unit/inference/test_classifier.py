"""Tests for core/inference/classifier.py: the fast image predictor."""

import io

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from core.inference.classifier import BATCH_SIZE, ImagePredictor, PredictionBatch  # noqa: E402

HEIGHT, WIDTH = 24, 20
CLASSES = ["ok", "scratch", "pit"]


def small_model(channels=1):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((HEIGHT, WIDTH, channels))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.RandomFlip("horizontal")(x)
    x = layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(len(CLASSES), activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small")


@pytest.fixture(scope="module")
def model():
    return small_model()


@pytest.fixture(scope="module")
def predictor(model):
    return ImagePredictor(model, CLASSES, image_size=(HEIGHT, WIDTH), channels=1)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def random_images(count, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, HEIGHT, WIDTH, channels)).astype(np.uint8)


def test_predict_arrays_matches_the_model(model, predictor):
    images = random_images(5)
    expected = model(images.astype(np.float32), training=False).numpy()
    probabilities = predictor.predict_arrays(images)
    assert probabilities.shape == (5, 3)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_predict_arrays_in_several_batches_and_empty(model, predictor):
    images = random_images(BATCH_SIZE * 2 + 3, seed=1)
    expected = model(images.astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(predictor.predict_arrays(images), expected, atol=1e-5)
    assert predictor.predict_arrays(images[:0]).shape == (0, 3)


def test_predict_arrays_rejects_the_wrong_shape(predictor):
    with pytest.raises(ValueError) as error:
        predictor.predict_arrays(np.zeros((HEIGHT, WIDTH, 1), dtype=np.uint8))
    assert str(error.value) == (
        "Expected images of shape (N, 24, 20, 1) with raw 0-255 pixels. "
        "Received: images.shape=(24, 20, 1), dtype=uint8"
    )


def test_predict_bytes_keeps_good_images_and_rejects_bad_ones(model, predictor):
    images = random_images(2, seed=3)
    files = [
        ("first.png", png_bytes(images[0, ..., 0])),
        ("broken.png", b"not an image at all"),
        ("notes.txt", b"hello"),
        ("second.png", png_bytes(images[1, ..., 0])),
    ]
    batch = predictor.predict_bytes(files)
    assert isinstance(batch, PredictionBatch)
    assert [row["name"] for row in batch.rows] == ["first.png", "second.png"]
    assert [rejected.name for rejected in batch.rejected] == ["broken.png", "notes.txt"]
    assert all(rejected.reason.startswith("Expected") for rejected in batch.rejected)
    assert batch.images.shape == (2, HEIGHT, WIDTH, 1)
    expected = model(images.astype(np.float32), training=False).numpy()
    for row, probabilities in zip(batch.rows, expected, strict=True):
        best = int(np.argmax(probabilities))
        assert row["predicted"] == CLASSES[best]
        assert row["confidence"] == pytest.approx(probabilities[best], abs=1e-5)
        assert list(row["probabilities"]) == CLASSES
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_predict_bytes_resizes_and_converts_colour_uploads(predictor):
    colour = np.random.default_rng(4).integers(0, 256, (50, 40, 3)).astype(np.uint8)
    batch = predictor.predict_bytes([("colour.png", png_bytes(colour))])
    assert batch.images.shape == (1, HEIGHT, WIDTH, 1)
    assert len(batch.rows) == 1
    assert batch.rejected == []


def test_to_frame_columns(predictor):
    batch = predictor.predict_bytes([("a.png", png_bytes(random_images(1)[0, ..., 0]))])
    frame = batch.to_frame()
    assert list(frame.columns) == ["name", "predicted", "confidence", "p_ok", "p_scratch", "p_pit"]
    assert frame.loc[0, "name"] == "a.png"
    assert frame.loc[0, "confidence"] == pytest.approx(
        frame.loc[0, ["p_ok", "p_scratch", "p_pit"]].max()
    )
    empty = predictor.predict_bytes([("bad.png", b"")]).to_frame()
    assert list(empty.columns) == list(frame.columns)
    assert len(empty) == 0


def test_from_registry_record(model):
    metadata = {"classes": CLASSES, "input_shape": [HEIGHT, WIDTH, 1], "task": "x"}
    predictor = ImagePredictor.from_registry_record(model, metadata)
    assert predictor.image_size == (HEIGHT, WIDTH)
    assert predictor.channels == 1
    assert predictor.class_names == CLASSES
    with pytest.raises(ValueError) as error:
        ImagePredictor.from_registry_record(model, {"classes": [], "input_shape": [10]})
    assert str(error.value) == (
        "Expected image classifier metadata with 'classes' (a non-empty list) and "
        "'input_shape' [height, width, channels]. Received: classes=[], input_shape=[10]"
    )


def test_constructor_checks_against_the_model(model):
    with pytest.raises(ValueError) as error:
        ImagePredictor(model, ["a", "b"], image_size=(HEIGHT, WIDTH), channels=1)
    assert str(error.value) == (
        "Expected 3 distinct class names, one per model output. Received: class_names=['a', 'b']"
    )
    with pytest.raises(ValueError) as error:
        ImagePredictor(model, CLASSES, image_size=(32, 32), channels=1)
    assert str(error.value) == (
        "Expected image_size and channels matching the model's input (24, 20, 1). "
        "Received: image_size=(32, 32), channels=1"
    )
    with pytest.raises(ValueError) as error:
        ImagePredictor(model, CLASSES, image_size=(HEIGHT,), channels=1)
    assert str(error.value) == (
        "Expected image_size to be (height, width), two positive integers. "
        "Received: image_size=(24,)"
    )
    with pytest.raises(ValueError) as error:
        ImagePredictor(model, CLASSES, image_size=(HEIGHT, WIDTH), channels=2)
    assert str(error.value) == "Expected channels to be 1 or 3. Received: channels=2"


def test_warmup_is_optional_and_traces_once(model):
    predictor = ImagePredictor(model, CLASSES, image_size=(HEIGHT, WIDTH), channels=1, warmup=False)
    assert predictor._function is None
    assert predictor.warmup() is predictor
    function = predictor._function
    predictor.predict_arrays(random_images(70))
    predictor.predict_arrays(random_images(1))
    assert predictor._function is function
    assert function.experimental_get_tracing_count() == 1

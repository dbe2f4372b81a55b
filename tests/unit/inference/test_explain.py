"""Tests for core/inference/explain.py: Grad-CAM heatmaps, overlays and peaks."""

import gc
import weakref

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from core.inference import explain  # noqa: E402

SIZE = 32


def seed_cnn_like(classes=3, size=SIZE):
    inputs = keras.Input((size, size, 1))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="seed_like")


def defect_cnn_like(classes=3, size=SIZE):
    inputs = keras.Input((size, size, 1))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.RandomFlip("horizontal")(x)
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="block1_conv")(x)
    x = layers.BatchNormalization(name="block1_norm")(x)
    x = layers.Activation("relu", name="block1_relu")(x)
    x = layers.MaxPooling2D(name="block1_pool")(x)
    x = layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="block2_conv")(x)
    x = layers.BatchNormalization(name="block2_norm")(x)
    x = layers.Activation("relu", name="block2_relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="defect_like")


def residual_like():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    branch = layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = layers.Add(name="add")([x, branch])
    x = layers.ReLU(name="after_add")(x)
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="residual_like")


def random_images(count, size=SIZE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, size, size, 1)).astype(np.uint8)


@pytest.fixture(scope="module")
def defect_model():
    keras.utils.set_random_seed(0)
    return defect_cnn_like()


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (seed_cnn_like, "conv"),
        (defect_cnn_like, "block2_relu"),
        (residual_like, "after_add"),
    ],
)
def test_find_last_convolution_layer_on_functional_models(builder, expected):
    assert explain.find_last_convolution_layer(builder()) == expected


def test_find_last_convolution_layer_on_sequential_and_depthwise_models():
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            layers.Conv2D(4, 3, name="first"),
            layers.DepthwiseConv2D(3, name="depthwise"),
            layers.BatchNormalization(name="norm"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    assert explain.find_last_convolution_layer(model) == "norm"


def test_find_last_convolution_layer_skips_activation_not_fed_by_a_convolution():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = layers.Conv2D(4, 3, name="conv")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.ReLU(name="relu_after_pool")(x)
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    assert explain.find_last_convolution_layer(model) == "conv"


def test_find_last_convolution_layer_without_convolution_raises():
    inputs = keras.Input((SIZE, SIZE, 1), name="pixels")
    x = layers.Flatten(name="flat")(inputs)
    outputs = layers.Dense(2, activation="softmax", name="out")(x)
    model = keras.Model(inputs, outputs, name="dense_only")
    with pytest.raises(ValueError) as error:
        explain.find_last_convolution_layer(model)
    assert str(error.value) == (
        "Expected a model with at least one 2-D convolution layer. "
        "Received: model='dense_only' with layers ['pixels', 'flat', 'out']"
    )


def nested_and_flat_models():
    """Returns a model with a nested backbone and a flat model sharing the same layers."""
    convolution = layers.Conv2D(6, 3, padding="same", name="inner_conv")
    relu = layers.ReLU(name="inner_relu")
    pooling = layers.GlobalAveragePooling2D()
    dense = layers.Dense(3, activation="softmax")
    rescaling = layers.Rescaling(1.0 / 255)

    backbone_input = keras.Input((SIZE, SIZE, 1))
    backbone = keras.Model(backbone_input, relu(convolution(backbone_input)), name="backbone")
    inputs = keras.Input((SIZE, SIZE, 1))
    nested = keras.Model(inputs, dense(pooling(backbone(rescaling(inputs)))), name="nested")

    flat_input = keras.Input((SIZE, SIZE, 1))
    flat_output = dense(pooling(relu(convolution(rescaling(flat_input)))))
    return nested, keras.Model(flat_input, flat_output, name="flat")


def test_grad_cam_inside_nested_model_matches_the_flat_model():
    keras.utils.set_random_seed(1)
    nested, flat = nested_and_flat_models()
    assert explain.find_last_convolution_layer(nested) == "backbone/inner_relu"
    images = random_images(3, seed=4)
    from_nested = explain.grad_cam_batch(nested, images)
    from_flat = explain.grad_cam_batch(flat, images, layer_name="inner_relu")
    np.testing.assert_allclose(from_nested, from_flat, atol=1e-5)
    assert from_nested.max() == pytest.approx(1.0)


def test_grad_cam_shape_and_range(defect_model):
    image = random_images(1)[0]
    for candidate in (image, image[np.newaxis], image[..., 0], image.astype(np.float32)):
        heatmap = explain.grad_cam(defect_model, candidate)
        assert heatmap.shape == (SIZE, SIZE)
        assert heatmap.dtype == np.float32
        assert heatmap.min() >= 0.0
        assert heatmap.max() == pytest.approx(1.0)


def test_grad_cam_batch_matches_single_images_and_class_choice(defect_model):
    images = random_images(4, seed=2)
    batch = explain.grad_cam_batch(defect_model, images, [0, 1, 2, 0])
    assert batch.shape == (4, SIZE, SIZE)
    for index, class_index in enumerate([0, 1, 2, 0]):
        single = explain.grad_cam(defect_model, images[index], class_index=class_index)
        np.testing.assert_allclose(batch[index], single, atol=1e-5)
    predicted = np.argmax(defect_model(images.astype(np.float32), training=False), axis=-1)
    np.testing.assert_allclose(
        explain.grad_cam_batch(defect_model, images),
        explain.grad_cam_batch(defect_model, images, predicted),
        atol=1e-5,
    )
    assert explain.grad_cam_batch(defect_model, images[:0]).shape == (0, SIZE, SIZE)


def test_grad_cam_reuses_one_compiled_function_per_model_and_layer():
    model = seed_cnn_like()
    image = random_images(1)[0]
    explain.grad_cam(model, image)
    first = explain._FUNCTION_CACHE[model]["conv"]
    explain.grad_cam(model, image, class_index=1)
    assert explain._FUNCTION_CACHE[model]["conv"] is first
    reference = weakref.ref(model)
    del model, first
    gc.collect()
    assert reference() is None, "the cache must not keep a dropped model alive"


def test_grad_cam_rejects_bad_arguments(defect_model):
    image = random_images(1)[0]
    with pytest.raises(ValueError) as error:
        explain.grad_cam(defect_model, image, class_index=3)
    assert (
        str(error.value)
        == "Expected class_index to be an integer in [0, 3). Received: class_index=3"
    )
    with pytest.raises(ValueError) as error:
        explain.grad_cam(defect_model, np.zeros((16, 16, 1)))
    assert str(error.value) == (
        "Expected image of raw pixels with shape (32, 32, 1) (or a batch of them) for model "
        "'defect_like'. Received: image.shape=(1, 16, 16, 1), dtype=float64"
    )
    with pytest.raises(ValueError) as error:
        explain.grad_cam(defect_model, random_images(2))
    assert str(error.value) == (
        "Expected one image (H, W, C) or (1, H, W, C); use grad_cam_batch for several. "
        "Received: image.shape=(2, 32, 32, 1)"
    )
    with pytest.raises(ValueError) as error:
        explain.grad_cam(defect_model, image, layer_name="global_average_pooling2d_x")
    assert str(error.value).startswith(
        "Expected layer_name to name a layer with a 4-D output (batch, height, width, channels), "
        "as 'name' or 'nested_model/name'. Received: layer_name='global_average_pooling2d_x'; "
        "the model has layers ["
    )
    with pytest.raises(ValueError) as error:
        explain.grad_cam_batch(defect_model, random_images(2), [0])
    assert str(error.value) == (
        "Expected one class index per image. Received: 1 class_indices for 2 images"
    )


def test_grad_cam_on_a_chosen_earlier_layer(defect_model):
    heatmap = explain.grad_cam(defect_model, random_images(1)[0], layer_name="block1_relu")
    assert heatmap.shape == (SIZE, SIZE)
    assert 0.0 <= heatmap.min() <= heatmap.max() <= 1.0


SQUARE = 6
RING = 8


def _place(rng, avoid=None):
    while True:
        row, column = (int(value) for value in rng.integers(0, SIZE - RING + 1, 2))
        if avoid is None or max(abs(row - avoid[0]), abs(column - avoid[1])) > RING:
            return row, column


def square_or_ring_images(count, rng):
    """Every image holds a bright hollow ring; class 1 images also hold a filled square.

    The ring is as bright as the square, so only a model that learned "filled square" (not
    "bright spot") points at the square.
    """
    images = rng.normal(60, 20, (count, SIZE, SIZE, 1))
    labels = np.arange(count) % 2
    squares = np.zeros((count, 2), dtype=int)
    for index in range(count):
        row, column = ring = _place(rng)
        images[index, row : row + RING, column : column + RING] = 220
        inner = slice(row + 2, row + RING - 2), slice(column + 2, column + RING - 2)
        images[index][inner] = rng.normal(60, 20, (RING - 4, RING - 4, 1))
        if labels[index] == 1:
            row, column = squares[index] = _place(rng, avoid=ring)
            images[index, row : row + SQUARE, column : column + SQUARE] = 220
    return images.clip(0, 255).astype(np.uint8), labels, squares


@pytest.mark.slow
def test_grad_cam_points_at_the_object_that_decides_the_class():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train_images, train_labels, _ = square_or_ring_images(800, rng)
    test_images, test_labels, squares = square_or_ring_images(100, rng)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
    model.compile(
        keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(train_images, train_labels, epochs=10, batch_size=32, verbose=0)
    accuracy = model.evaluate(test_images, test_labels, verbose=0)[1]
    assert accuracy >= 0.9, "the toy model did not learn its task; the check below means nothing"

    with_square = test_labels == 1
    heatmaps = explain.grad_cam_batch(model, test_images[with_square], np.ones(50, dtype=int))
    hits = []
    for heatmap, (row, column) in zip(heatmaps, squares[with_square], strict=True):
        peak_row, peak_column = explain.heatmap_peak(heatmap)
        # One pixel of slack: the last convolution works at half resolution.
        hits.append(
            row - 1 <= peak_row <= row + SQUARE and column - 1 <= peak_column <= column + SQUARE
        )
    assert np.mean(hits) >= 0.8


def test_heatmap_peak():
    heatmap = np.zeros((5, 7), dtype=np.float32)
    heatmap[3, 6] = 1.0
    assert explain.heatmap_peak(heatmap) == (3, 6)
    with pytest.raises(ValueError) as error:
        explain.heatmap_peak(np.zeros(4))
    assert str(error.value) == "Expected a heatmap of shape (H, W). Received: heatmap.shape=(4,)"


def test_apply_colormap_end_points():
    colours = explain.apply_colormap(np.array([0.0, 0.5, 1.0]), "jet")
    assert colours.dtype == np.uint8
    assert colours[0].tolist() == [0, 0, 128]
    assert colours[2].tolist() == [128, 0, 0]
    assert explain.apply_colormap(np.array([0.0, 1.0]), "hot").tolist() == [
        [0, 0, 0],
        [255, 255, 255],
    ]
    with pytest.raises(ValueError) as error:
        explain.apply_colormap(np.zeros(2), "viridis")
    assert str(error.value) == (
        "Expected colormap to be one of ('jet', 'hot'). Received: colormap='viridis'"
    )


def test_heatmap_overlay_shape_dtype_and_blending():
    image = np.full((20, 30, 1), 100, dtype=np.uint8)
    heatmap = np.zeros((20, 30), dtype=np.float32)
    overlay = explain.heatmap_overlay(image, heatmap)
    assert overlay.shape == (20, 30, 3)
    assert overlay.dtype == np.uint8
    # Zero maps to jet's dark blue (0, 0, 128): 0.55 * 100 + 0.45 * colour.
    assert overlay[0, 0].tolist() == [55, 55, 113]
    assert (explain.heatmap_overlay(image, heatmap, alpha=0.0) == 100).all()
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    assert explain.heatmap_overlay(rgb, np.ones((10, 15))).shape == (40, 60, 3)


def test_heatmap_overlay_rejects_bad_arguments():
    with pytest.raises(ValueError) as error:
        explain.heatmap_overlay(np.zeros((4, 4, 2)), np.zeros((4, 4)))
    assert str(error.value) == (
        "Expected an image of shape (H, W), (H, W, 1) or (H, W, 3). "
        "Received: image.shape=(4, 4, 2), dtype=float64"
    )
    with pytest.raises(ValueError) as error:
        explain.heatmap_overlay(np.zeros((4, 4)), np.zeros((4, 4)), alpha=1.5)
    assert str(error.value) == "Expected alpha in [0, 1]. Received: alpha=1.5"

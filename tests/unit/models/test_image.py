"""Tests for core/models/image.py: one contract for every preset, then each preset's specifics."""

import numpy as np
import pytest

from core.models.image import (
    DEFAULT_IMAGE_MODEL,
    IMAGE_MODEL_PRESETS,
    AugmentationConfig,
    build_image_model,
)

keras = pytest.importorskip("keras")

RANDOM_LAYER_TYPES = (
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomBrightness",
    "RandomContrast",
)


def layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("preset", sorted(IMAGE_MODEL_PRESETS))
@pytest.mark.parametrize(
    ("input_shape", "number_of_classes"), [((32, 32, 1), 2), ((40, 56, 3), 5), ((64, 64, 1), 6)]
)
def test_every_preset_builds_a_functional_model(preset, input_shape, number_of_classes):
    model = build_image_model(preset, input_shape, number_of_classes, seed=0)

    assert type(model).__name__ == "Functional"
    assert model.name == preset
    assert model.input_shape == (None, *input_shape)
    assert model.output_shape == (None, number_of_classes)
    assert layer_types(model)[:2] == ["InputLayer", "Rescaling"]
    assert "Lambda" not in layer_types(model)
    batch = np.random.default_rng(0).integers(0, 256, (3, *input_shape)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(model(batch, training=False))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_default_model_is_a_known_preset():
    assert DEFAULT_IMAGE_MODEL == "defect_cnn"
    assert DEFAULT_IMAGE_MODEL in IMAGE_MODEL_PRESETS


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        build_image_model("x", (32, 32, 1), 2)
    assert str(error.value) == (
        "Expected model to be one of ['defect_cnn', 'seed_cnn']. Received: model='x'"
    )


@pytest.mark.parametrize("input_shape", [(32, 32), (32, 32, 2), (4, 32, 1), (32.0, 32, 1), None])
def test_bad_input_shape_is_refused(input_shape):
    with pytest.raises(ValueError) as error:
        build_image_model("seed_cnn", input_shape, 2)
    assert str(error.value) == (
        "Expected `input_shape` to be (height, width, channels) with sides >= 8 and 1 or 3 "
        f"channels. Received: input_shape={input_shape!r}"
    )


@pytest.mark.parametrize("number_of_classes", [1, 0, 2.0, True])
def test_fewer_than_two_classes_is_refused(number_of_classes):
    with pytest.raises(ValueError) as error:
        build_image_model("defect_cnn", (32, 32, 1), number_of_classes)
    assert str(error.value) == (
        "Expected `number_of_classes` to be an integer >= 2. "
        f"Received: number_of_classes={number_of_classes!r}"
    )


def test_seed_cnn_is_exactly_the_reference_network():
    model = build_image_model("seed_cnn", (28, 28, 1), 10, augmentation=AugmentationConfig())

    assert layer_types(model) == [
        "InputLayer",
        "Rescaling",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
    ]
    convolution, pooling, dense = model.layers[2], model.layers[3], model.layers[5]
    assert (convolution.filters, convolution.kernel_size) == (32, (3, 3))
    assert convolution.activation.__name__ == "relu"
    assert pooling.pool_size == (2, 2)
    assert dense.activation.__name__ == "softmax"
    assert model.layers[1].scale == pytest.approx(1 / 255)


def test_defect_cnn_has_augmentation_batch_norm_dropout_and_global_pooling():
    everything = AugmentationConfig(
        rotation_factor=0.1, translation_factor=0.1, brightness_factor=0.1, contrast_factor=0.1
    )
    default_types = layer_types(build_image_model("defect_cnn", (64, 64, 1), 6))
    types = layer_types(build_image_model("defect_cnn", (64, 64, 1), 6, augmentation=everything))

    assert [name for name in default_types if name.startswith("Random")] == ["RandomFlip"]
    assert [name for name in types if name.startswith("Random")] == list(RANDOM_LAYER_TYPES)
    assert {"BatchNormalization", "Dropout", "GlobalAveragePooling2D"} <= set(types)


def test_augmentation_can_be_disabled_or_reduced():
    disabled = build_image_model(
        "defect_cnn", (32, 32, 1), 2, augmentation=AugmentationConfig(enabled=False)
    )
    shifts_only = AugmentationConfig(flip="none", translation_factor=0.1)
    reduced = build_image_model("defect_cnn", (32, 32, 1), 2, augmentation=shifts_only)

    assert not any(name.startswith("Random") for name in layer_types(disabled))
    assert [name for name in layer_types(reduced) if name.startswith("Random")] == [
        "RandomTranslation"
    ]


def test_augmentation_is_active_only_in_training():
    model = build_image_model("defect_cnn", (32, 32, 1), 3, seed=1)
    batch = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 1)).astype("float32")

    first = keras.ops.convert_to_numpy(model(batch, training=False))
    second = keras.ops.convert_to_numpy(model(batch, training=False))
    trained = keras.ops.convert_to_numpy(model(batch, training=True))

    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, trained)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"flip": "diagonal"},
            "Expected `flip` to be one of ['none', 'horizontal', 'vertical', "
            "'horizontal_and_vertical']. Received: flip='diagonal'",
        ),
        (
            {"rotation_factor": 0.7},
            "Expected `rotation_factor` to be a number between 0 and 0.5. "
            "Received: rotation_factor=0.7",
        ),
        (
            {"contrast_factor": -0.1},
            "Expected `contrast_factor` to be a number between 0 and 1.0. "
            "Received: contrast_factor=-0.1",
        ),
        ({"enabled": "yes"}, "Expected `enabled` to be True or False. Received: enabled='yes'"),
    ],
)
def test_augmentation_config_validation_messages(changes, message):
    with pytest.raises(ValueError) as error:
        AugmentationConfig(**changes).validate()
    assert str(error.value) == message


def test_augmentation_config_round_trips_through_a_dict():
    config = AugmentationConfig(flip="horizontal", rotation_factor=0.25)

    assert AugmentationConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError) as error:
        AugmentationConfig.from_dict({"shear": 0.1})
    assert str(error.value) == (
        "Expected keys among ['brightness_factor', 'contrast_factor', 'enabled', 'flip', "
        "'rotation_factor', 'translation_factor']. Received unknown keys: ['shear']"
    )

"""Tests for core/models/gan.py: the builders' contract and one real adversarial step."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from core.models.gan import (  # noqa: E402
    IMAGE_SIZES,
    ConditionalGAN,
    build_discriminator,
    build_generator,
    differentiable_augment,
    to_generator_range,
    to_pixels,
)


@pytest.mark.parametrize("image_size", IMAGE_SIZES)
def test_generator_makes_images_of_every_supported_size(image_size):
    generator = build_generator(latent_dim=8, number_of_classes=3, image_size=image_size)
    noise = np.zeros((2, 8), dtype="float32")
    images = generator([noise, np.array([[0], [2]])], training=False)
    assert tuple(images.shape) == (2, image_size, image_size, 1)
    values = np.asarray(images)
    assert values.min() >= -1.0 and values.max() <= 1.0  # tanh range


def test_discriminator_judges_an_image_together_with_its_class():
    keras.utils.set_random_seed(0)
    discriminator = build_discriminator(image_size=32, number_of_classes=4)
    images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 1)).astype("float32")
    logits = discriminator([images, np.array([[0], [1], [3]])])
    assert tuple(logits.shape) == (3, 1)
    # The class changes the verdict on the same images (projection of the class embedding).
    other = discriminator([images, np.array([[2], [2], [2]])])
    assert not np.allclose(np.asarray(logits), np.asarray(other))


def test_differentiable_augment_flips_and_shifts_without_changing_the_pixels():
    import tensorflow as tf

    images = np.random.default_rng(1).uniform(-1, 1, (16, 32, 32, 1)).astype("float32")
    seed_generator = keras.random.SeedGenerator(0)
    variable = tf.Variable(images)
    with tf.GradientTape() as tape:
        augmented = differentiable_augment(variable, seed_generator)
        total = tf.reduce_sum(augmented * augmented)
    augmented = np.asarray(augmented)
    assert augmented.shape == images.shape
    # Flips and wrap-around shifts only move pixels: each image keeps its multiset of values.
    assert np.allclose(np.sort(augmented.reshape(16, -1)), np.sort(images.reshape(16, -1)))
    assert not np.allclose(augmented, images)
    gradient = tape.gradient(total, variable)
    assert np.allclose(np.asarray(gradient), 2 * images, atol=1e-5)


def test_builders_are_functional_models():
    generator = build_generator(8, 2, 32)
    assert type(generator).__name__ == "Functional"
    assert [tuple(item.shape) for item in generator.inputs] == [(None, 8), (None, 1)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"image_size": 48},
            "Expected image_size to be one of [32, 64, 96, 128]. Received: image_size=48",
        ),
        (
            {"number_of_classes": 0},
            "Expected number_of_classes to be a positive integer. Received: number_of_classes=0",
        ),
        (
            {"latent_dim": 2.5},
            "Expected latent_dim to be a positive integer. Received: latent_dim=2.5",
        ),
    ],
)
def test_generator_refuses_bad_sizes(arguments, message):
    with pytest.raises(ValueError) as error:
        build_generator(**{"latent_dim": 8, "number_of_classes": 2, "image_size": 32, **arguments})
    assert str(error.value) == message


def test_discriminator_refuses_an_unsupported_size():
    with pytest.raises(ValueError, match="Received: image_size=200"):
        build_discriminator(image_size=200, number_of_classes=2)


def test_one_train_step_updates_both_networks_and_reports_the_losses():
    keras.utils.set_random_seed(0)
    generator = build_generator(8, 2, 32)
    discriminator = build_discriminator(32, 2)
    gan = ConditionalGAN(generator, discriminator, latent_dim=8, seed=0)
    gan.compile()
    generator_before = [weight.copy() for weight in generator.get_weights()]
    discriminator_before = [weight.copy() for weight in discriminator.get_weights()]
    images = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 1)).astype("float32")
    labels = np.array([0, 1] * 4, dtype="int32")
    history = gan.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(values[0]) for values in history.history.values())
    assert 0.0 <= history.history["d_real"][0] <= 1.0
    changed = lambda before, after: any(  # noqa: E731
        not np.allclose(left, right) for left, right in zip(before, after, strict=True)
    )
    assert changed(generator_before, generator.get_weights())
    assert changed(discriminator_before, discriminator.get_weights())


def test_pixel_conversions_round_trip():
    pixels = np.array([0, 1, 127, 128, 254, 255], dtype=np.float32)
    assert np.array_equal(to_pixels(to_generator_range(pixels)), pixels.astype(np.uint8))
    assert to_pixels(np.array([-3.0, 3.0])).tolist() == [0, 255]

"""A class-conditional DCGAN for grayscale defect images: generator, discriminator, training glue.

The generator and the discriminator are Functional models built by pure functions; only
`ConditionalGAN` subclasses `keras.Model`, to override `train_step` (as in the keras-io example
`dcgan_overriding_train_step.py`). Both networks take the class index as a second input: the
generator learns one image distribution per defect class, and the discriminator judges whether an
image is a real member of the class it is shown with (a projection discriminator).

Images enter the GAN scaled to [-1, 1] (the generator ends in tanh); `to_generator_range` and
`to_pixels` convert from and to uint8 pixels.

Example:
    >>> generator = build_generator(latent_dim=64, number_of_classes=6, image_size=64)
    >>> discriminator = build_discriminator(image_size=64, number_of_classes=6)
    >>> gan = ConditionalGAN(generator, discriminator, latent_dim=64, seed=0)
    >>> gan.compile()
    >>> gan.fit(dataset_of_scaled_images_and_labels, epochs=50)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

IMAGE_SIZES = (32, 64, 96, 128)
DEFAULT_IMAGE_SIZE = 64
DEFAULT_LATENT_DIM = 100
# The generator starts from a (size / 16)-pixel square and doubles it four times.
UPSAMPLINGS = 4
GENERATOR_FILTERS = (256, 128, 64, 32)
DISCRIMINATOR_FILTERS = (32, 64, 128, 256)
LABEL_EMBEDDING = 32
# One-sided label smoothing (Salimans et al., 2016): the discriminator aims at 0.9 for real
# images, which keeps it from growing over-confident on a small training set.
REAL_TARGET = 0.9


def _check_sizes(image_size: object, number_of_classes: object, latent_dim: object = 1) -> None:
    if image_size not in IMAGE_SIZES:
        raise ValueError(
            f"Expected image_size to be one of {list(IMAGE_SIZES)}. "
            f"Received: image_size={image_size!r}"
        )
    for name, value in (("number_of_classes", number_of_classes), ("latent_dim", latent_dim)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(
                f"Expected {name} to be a positive integer. Received: {name}={value!r}"
            )


def build_generator(
    latent_dim: int = DEFAULT_LATENT_DIM,
    number_of_classes: int = 2,
    image_size: int = DEFAULT_IMAGE_SIZE,
) -> keras.Model:
    """Builds the generator: (noise, class index) -> a grayscale image in [-1, 1].

    Args:
        latent_dim: Length of the noise vector. Default: 100.
        number_of_classes: Number of classes it can be asked for. Default: 2.
        image_size: Side of the square output, one of `IMAGE_SIZES`. Default: 64.

    Returns:
        A Functional `keras.Model` with inputs `noise` (latent_dim,) and `label` (1,) int32,
        and output (image_size, image_size, 1).

    Raises:
        ValueError: If a size is not supported.
    """
    _check_sizes(image_size, number_of_classes, latent_dim)
    start = image_size // 2**UPSAMPLINGS
    noise = keras.Input(shape=(latent_dim,), name="noise")
    label = keras.Input(shape=(1,), dtype="int32", name="label")
    label_code = layers.Flatten()(layers.Embedding(number_of_classes, LABEL_EMBEDDING)(label))
    hidden = layers.Concatenate()([noise, label_code])
    hidden = layers.Dense(start * start * GENERATOR_FILTERS[0], use_bias=False)(hidden)
    hidden = layers.BatchNormalization()(hidden)
    hidden = layers.LeakyReLU(negative_slope=0.2)(hidden)
    hidden = layers.Reshape((start, start, GENERATOR_FILTERS[0]))(hidden)
    for filters in GENERATOR_FILTERS[1:]:
        hidden = layers.UpSampling2D()(hidden)
        hidden = layers.Conv2D(filters, 3, padding="same", use_bias=False)(hidden)
        hidden = layers.BatchNormalization()(hidden)
        hidden = layers.LeakyReLU(negative_slope=0.2)(hidden)
    hidden = layers.UpSampling2D()(hidden)
    image = layers.Conv2D(1, 3, padding="same", activation="tanh")(hidden)
    return keras.Model([noise, label], image, name="generator")


def build_discriminator(
    image_size: int = DEFAULT_IMAGE_SIZE, number_of_classes: int = 2
) -> keras.Model:
    """Builds the discriminator: (image in [-1, 1], class index) -> a real-vs-fake logit.

    The class enters by projection (Miyato and Koyama, 2018): the logit is a plain score of the
    image features plus their dot product with a learned embedding of the class. Unlike a
    class-prediction head (AC-GAN), this does not reward the generator for drawing the one
    most recognisable image of each class, which collapses a small training set's variety.

    Args:
        image_size: Side of the square input, one of `IMAGE_SIZES`. Default: 64.
        number_of_classes: Number of classes. Default: 2.

    Returns:
        A Functional `keras.Model` with inputs `image` (image_size, image_size, 1) and `label`
        (1,) int32, and one logit per image.

    Raises:
        ValueError: If a size is not supported.
    """
    _check_sizes(image_size, number_of_classes)
    image = keras.Input(shape=(image_size, image_size, 1), name="image")
    label = keras.Input(shape=(1,), dtype="int32", name="label")
    hidden = image
    for filters in DISCRIMINATOR_FILTERS:
        hidden = layers.Conv2D(filters, 4, strides=2, padding="same")(hidden)
        hidden = layers.LeakyReLU(negative_slope=0.2)(hidden)
    features = layers.GlobalAveragePooling2D()(hidden)
    score = layers.Dense(1)(features)
    class_embedding = layers.Flatten()(
        layers.Embedding(number_of_classes, DISCRIMINATOR_FILTERS[-1])(label)
    )
    projection = layers.Dot(axes=1)([class_embedding, features])
    logit = layers.Add()([score, projection])
    return keras.Model([image, label], logit, name="discriminator")


class ConditionalGAN(keras.Model):
    """Trains a generator against a discriminator, both conditioned on the class.

    Args:
        generator: From `build_generator`.
        discriminator: From `build_discriminator`, for the same image size and classes.
        latent_dim: The generator's noise length.
        seed: Seed of the noise drawn in training. Default: None.
        augment: Show the discriminator randomly flipped and shifted copies of real and
            generated images alike (`differentiable_augment`). Default: True.
    """

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim: int,
        seed: int | None = None,
        augment: bool = True,
    ):
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.augment = augment
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.discriminator_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.generator_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="d_real")
        self.fake_score_tracker = keras.metrics.Mean(name="d_fake")

    def compile(
        self,
        discriminator_optimizer=None,
        generator_optimizer=None,
        learning_rate: float = 2e-4,
        **kwargs,
    ):
        """Sets the two optimizers (Adam with beta_1=0.5, as in DCGAN, by default)."""
        super().compile(**kwargs)
        self.discriminator_optimizer = discriminator_optimizer or keras.optimizers.Adam(
            learning_rate, beta_1=0.5
        )
        self.generator_optimizer = generator_optimizer or keras.optimizers.Adam(
            learning_rate, beta_1=0.5
        )
        self.loss_function = keras.losses.BinaryCrossentropy(from_logits=True)

    @property
    def metrics(self):
        return [
            self.discriminator_loss_tracker,
            self.generator_loss_tracker,
            self.real_score_tracker,
            self.fake_score_tracker,
        ]

    def train_step(self, data):
        import tensorflow as tf  # Lazy: loads TensorFlow.

        real_images, labels = data
        batch_size = tf.shape(real_images)[0]
        labels = tf.reshape(tf.cast(labels, "int32"), (-1, 1))

        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        fake_images = self.generator([noise, labels], training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator([self._augment(real_images), labels], training=True)
            fake_logits = self.discriminator([self._augment(fake_images), labels], training=True)
            discriminator_loss = self.loss_function(
                tf.fill(tf.shape(real_logits), REAL_TARGET), real_logits
            ) + self.loss_function(tf.zeros_like(fake_logits), fake_logits)
        gradients = tape.gradient(discriminator_loss, self.discriminator.trainable_weights)
        self.discriminator_optimizer.apply_gradients(
            zip(gradients, self.discriminator.trainable_weights, strict=True)
        )

        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            generated = self.generator([noise, labels], training=True)
            fooled_logits = self.discriminator([self._augment(generated), labels], training=True)
            generator_loss = self.loss_function(tf.ones_like(fooled_logits), fooled_logits)
        gradients = tape.gradient(generator_loss, self.generator.trainable_weights)
        self.generator_optimizer.apply_gradients(
            zip(gradients, self.generator.trainable_weights, strict=True)
        )

        self.discriminator_loss_tracker.update_state(discriminator_loss)
        self.generator_loss_tracker.update_state(generator_loss)
        self.real_score_tracker.update_state(tf.sigmoid(real_logits))
        self.fake_score_tracker.update_state(tf.sigmoid(fake_logits))
        return {metric.name: metric.result() for metric in self.metrics}

    def _augment(self, images):
        if not self.augment:
            return images
        return differentiable_augment(images, self.seed_generator)


def differentiable_augment(images, seed_generator):
    """Random flips and a random shift, differentiable.

    The discriminator of a GAN trained on a few hundred images memorises them within a few
    hundred steps and stops teaching the generator. Showing it the same random changes of real
    and generated images (DiffAugment, Zhao et al., 2020) keeps it from memorising, and the
    generator still learns the unchanged images because the changes are applied to its output
    inside the gradient path.

    Args:
        images: float tensor (batch, height, width, channels) in [-1, 1].
        seed_generator: A `keras.random.SeedGenerator`.

    Returns:
        A tensor of the same shape.
    """
    import tensorflow as tf  # Lazy: loads TensorFlow.

    batch = tf.shape(images)[0]
    height = images.shape[1]

    def coin():
        return keras.random.uniform((batch, 1, 1, 1), seed=seed_generator) < 0.5

    images = tf.where(coin(), tf.reverse(images, axis=[2]), images)
    images = tf.where(coin(), tf.reverse(images, axis=[1]), images)
    # One shift per batch (up to an eighth of the side), wrapping round: cheap and exact.
    shifts = keras.random.randint((2,), -(height // 8), height // 8 + 1, seed=seed_generator)
    return tf.roll(images, shift=shifts, axis=[1, 2])


def to_generator_range(pixels):
    """uint8-valued pixels (0..255) -> floats in [-1, 1], the generator's range."""
    return (pixels - 127.5) / 127.5


def to_pixels(generated: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 pixels, same shape."""
    return np.clip(np.rint((np.asarray(generated) + 1.0) * 127.5), 0, 255).astype(np.uint8)

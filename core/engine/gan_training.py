"""Training the class-conditional GAN: settings, the run, its sample grids, and registration.

`run_gan_training` holds out a stratified share of the data before anything is trained, so the
"does it help" experiment (`core.decisions.gan_benefit`) can later score classifiers on real
images the GAN never saw; the names of the images it did see are stored with the model. Only the
generator is registered (task `gan`): it is all that generation needs, and it is a plain Functional
model.

Example:
    >>> result = run_gan_training("sample_data/images", GanTrainingConfig(epochs=50))
    >>> record = save_gan_run(result, registry, "surface-gan")
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.data import config_checks
from core.data.images import ImageDataset, load_images
from core.data.splits import stratified_split
from core.engine.fit_results import FitResult, TrainingRun, timed_fit
from core.engine.gan_generation import GAN_TASK, sample_grid
from core.engine.image_pipeline import check_image_arrays
from core.engine.keras_progress import make_progress_callback
from core.engine.progress import CancellationToken, ProgressBroadcaster, emit_train_end
from core.registry.metadata import image_dataset_fingerprint


@dataclasses.dataclass
class GanTrainingConfig(config_checks.DictRoundTripMixin):
    """Settings of one GAN training run.

    Args:
        image_size: Side of the square grayscale images, one of `core.models.gan.IMAGE_SIZES`.
            Default: 64.
        epochs: Passes over the training images. Default: 100.
        batch_size: Images per step. Default: 32.
        latent_dim: Length of the generator's noise vector. Default: 100.
        learning_rate: Adam learning rate of both networks. Default: 2e-4 (DCGAN's).
        holdout_fraction: Share of each class held out of GAN training, for a fair test of the
            images it makes. Default: 0.25.
        per_class: Use at most this many images per class (the few-photos regime); None uses
            all that are not held out. Default: None.
        seed: Seed of the split, the weights and the noise. Default: 0.
    """

    image_size: int = 64
    epochs: int = 100
    batch_size: int = 32
    latent_dim: int = 100
    learning_rate: float = 2e-4
    holdout_fraction: float = 0.25
    per_class: int | None = None
    seed: int = 0

    def validate(self) -> GanTrainingConfig:
        """Checks every field; returns self. A ValueError names the field at fault."""
        from core.models.gan import IMAGE_SIZES  # Lazy: loads TensorFlow.

        config_checks.require_choices(self, {"image_size": IMAGE_SIZES})
        config_checks.require_integers(
            self, {"epochs": 1, "batch_size": 1, "latent_dim": 1, "seed": 0}
        )
        config_checks.require_field(
            self.per_class is None
            or (config_checks.is_integer(self.per_class) and self.per_class >= 1),
            "to be None or an integer >= 1",
            self,
            "per_class",
        )
        config_checks.require_learning_rate(self)
        fraction = self.holdout_fraction
        config_checks.require_field(
            config_checks.is_number(fraction) and 0 <= fraction < 1,
            "to be a number in [0, 1)",
            self,
            "holdout_fraction",
        )
        return self


@dataclasses.dataclass
class GanTrainingResult:
    """What one GAN training run produced.

    Attributes:
        generator: The trained generator (Functional `keras.Model`).
        discriminator: The trained discriminator.
        history: Per-epoch means of "d_loss", "g_loss", "d_real" and "d_fake".
        epochs_run: Epochs started (a cancelled epoch counts).
        cancelled: True if a `CancellationToken` stopped the run.
        grid: The last sample grid (uint8, see `sample_grid`), or None before the first epoch.
        config: The configuration used.
        seconds: Wall time of training.
    """

    generator: Any
    discriminator: Any
    history: dict[str, list[float]]
    epochs_run: int
    cancelled: bool
    grid: np.ndarray | None
    config: GanTrainingConfig
    seconds: float


@dataclasses.dataclass
class GanRunResult(TrainingRun):
    """A GAN trained on part of a data set, and which part.

    Attributes:
        training: The `GanTrainingResult`.
        dataset: The loaded `ImageDataset`.
        train_indices: The images the GAN trained on (indices into `dataset`).
        holdout_indices: The images held out of GAN training.
        record: The registry record once saved, else None.
    """

    training: GanTrainingResult
    dataset: Any
    train_indices: np.ndarray
    holdout_indices: np.ndarray


def train_gan(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    config: GanTrainingConfig | None = None,
    *,
    listeners: Iterable[object] = (),
    cancellation: CancellationToken | None = None,
) -> GanTrainingResult:
    """Trains a class-conditional GAN on in-memory images.

    Listeners get the batch and epoch events of `core.engine.progress` (logs `d_loss`, `g_loss`,
    `d_real`, `d_fake`) and, after every epoch, `on_images(epoch, grid)` with a fresh
    `sample_grid`.

    Args:
        images: uint8 array (count, size, size, 1) at `config.image_size`.
        labels: Integer class indices into `class_names`.
        class_names: Names of the classes (at least 1).
        config: Settings; None uses `GanTrainingConfig()`.
        listeners: `core.engine.progress` listeners.
        cancellation: Token that stops training after the current batch.

    Returns:
        A `GanTrainingResult`.

    Raises:
        TypeError: Images are not uint8.
        ValueError: Bad config, no classes, or images that do not match the config.
    """
    import keras  # Lazy: loads TensorFlow.
    import tensorflow as tf  # Lazy: loads TensorFlow.

    from core.models.gan import (  # Lazy: loads TensorFlow.
        ConditionalGAN,
        build_discriminator,
        build_generator,
    )

    config = (config or GanTrainingConfig()).validate()
    listeners = list(listeners)
    if len(class_names) < 1:
        raise ValueError(f"Expected at least 1 class name. Received: class_names={class_names!r}")
    size = config.image_size
    images, labels = check_image_arrays(
        images, labels, len(class_names), expected_shape=(size, size, 1)
    )
    keras.utils.set_random_seed(config.seed)
    generator = build_generator(config.latent_dim, len(class_names), size)
    discriminator = build_discriminator(size, len(class_names))
    gan = ConditionalGAN(generator, discriminator, config.latent_dim, seed=config.seed)
    gan.compile(learning_rate=config.learning_rate)

    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .cache()
        .shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(
            lambda batch, batch_labels: ((tf.cast(batch, tf.float32) - 127.5) / 127.5, batch_labels)
        )
        .prefetch(tf.data.AUTOTUNE)
    )
    steps_per_epoch = math.ceil(len(labels) / config.batch_size)
    progress = make_progress_callback(listeners, cancellation, config.epochs, steps_per_epoch)
    grid_callback = make_grid_callback(generator, len(class_names), listeners)
    history, seconds = timed_fit(
        gan, dataset, epochs=config.epochs, callbacks=[progress, grid_callback]
    )
    epochs_run = len(history.get("d_loss", []))
    # No early stopping: the last epoch's weights are kept.
    fit = FitResult(history, epochs_run, epochs_run or None, progress.cancelled, seconds)
    emit_train_end(listeners, **fit.fields())
    return GanTrainingResult(
        generator=generator,
        discriminator=discriminator,
        history=history,
        epochs_run=epochs_run,
        cancelled=progress.cancelled,
        grid=grid_callback.grid,
        config=config,
        seconds=seconds,
    )


def make_grid_callback(generator, number_of_classes: int, listeners: list):
    """A Keras callback drawing `sample_grid` after each epoch and telling the listeners."""
    import keras  # Lazy: loads TensorFlow.

    broadcaster = ProgressBroadcaster(listeners)

    class GridCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.grid = None

        def on_epoch_end(self, epoch, logs=None):
            self.grid = sample_grid(generator, number_of_classes)
            broadcaster.emit("on_images", epoch + 1, self.grid)

    return GridCallback()


def select_training_images(
    labels: np.ndarray, config: GanTrainingConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Splits indices into (GAN training, held out), stratified by class and seeded.

    Raises:
        ValueError: If a class is too small to hold one image out (the message names it).
    """
    labels = np.asarray(labels)
    if config.holdout_fraction > 0:
        train, _, holdout = stratified_split(
            labels, validation_fraction=0.0, test_fraction=config.holdout_fraction, seed=config.seed
        )
    else:
        train, holdout = np.arange(len(labels)), np.zeros(0, dtype=np.int64)
    if config.per_class is not None:
        rng = np.random.default_rng(config.seed)
        kept = [
            np.sort(rng.permutation(train[labels[train] == label])[: config.per_class])
            for label in np.unique(labels[train])
        ]
        train = np.sort(np.concatenate(kept))
    return train, holdout


def run_gan_training(
    data,
    config: GanTrainingConfig | None = None,
    *,
    listeners: Iterable[object] = (),
    cancellation: CancellationToken | None = None,
) -> GanRunResult:
    """Loads a labelled image set, holds part of it out and trains the GAN on the rest.

    Args:
        data: An `ImageDataset` at `config.image_size` with 1 channel, or a path the image
            loaders accept (class folders, zip, manifest).
        config: A `GanTrainingConfig`; None uses the defaults.
        listeners, cancellation: As in `train_gan`.

    Returns:
        A `GanRunResult`.

    Raises:
        ValueError: If the data cannot be loaded or split, or the config is invalid.
    """
    config = (config or GanTrainingConfig()).validate()
    size = config.image_size
    if isinstance(data, ImageDataset):
        dataset = data
    else:
        dataset = load_images(Path(data), image_size=(size, size), channels=1)
    if dataset.images.shape[1:] != (size, size, 1):
        raise ValueError(
            f"Expected grayscale images of {size}x{size} pixels for this GAN. "
            f"Received: images of shape {tuple(dataset.images.shape[1:])}"
        )
    train_indices, holdout_indices = select_training_images(dataset.labels, config)
    training = train_gan(
        dataset.images[train_indices],
        dataset.labels[train_indices],
        dataset.class_names,
        config,
        listeners=listeners,
        cancellation=cancellation,
    )
    return GanRunResult(training, dataset, train_indices, holdout_indices)


def gan_run_metadata(result: GanRunResult) -> dict:
    """Builds the registry metadata of a GAN run (validated by the registry on save)."""
    config = result.training.config
    dataset = result.dataset
    history = result.training.history
    trained_counts = np.bincount(
        dataset.labels[result.train_indices], minlength=len(dataset.class_names)
    )
    metadata = {
        "task": GAN_TASK,
        "classes": list(dataset.class_names),
        "input_shape": [config.latent_dim],
        "preprocessing": {
            "image_size": [config.image_size, config.image_size],
            "channels": 1,
            "color_mode": "grayscale",
            "latent_dim": config.latent_dim,
            "output_scale": "tanh in [-1, 1]; pixels = (output + 1) * 127.5",
        },
        "training_config": config.to_dict(),
        "metrics": {
            "final_d_loss": history["d_loss"][-1] if history.get("d_loss") else None,
            "final_g_loss": history["g_loss"][-1] if history.get("g_loss") else None,
            "training_images": len(result.train_indices),
        },
        "history": history,
        "dataset_fingerprint": image_dataset_fingerprint(dataset),
        "extra": {
            "dataset": {
                "source": str(dataset.source),
                "class_counts": dataset.class_counts(),
                "trained_per_class": {
                    name: int(count)
                    for name, count in zip(dataset.class_names, trained_counts, strict=True)
                },
            },
            "training_files": [dataset.filenames[index] for index in result.train_indices],
            "holdout_files": [dataset.filenames[index] for index in result.holdout_indices],
            "epochs_run": result.training.epochs_run,
            "cancelled": result.training.cancelled,
            "training_seconds": result.training.seconds,
        },
    }
    metadata["metrics"] = {
        key: value for key, value in metadata["metrics"].items() if value is not None
    }
    return metadata


def save_gan_run(result: GanRunResult, registry, name: str, *, owner: str | None = None):
    """Registers the run's generator under `name` (a new version) and returns the record."""
    return result.save_model(
        registry, result.training.generator, name, gan_run_metadata(result), owner
    )

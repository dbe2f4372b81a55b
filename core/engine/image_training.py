"""Image training engine: `train_image_classifier`, `fit_image_classifier` and the progress adapter.

The caller splits the data (`split_and_train` does the usual stratified split) and passes uint8
images already resized by the loader, or (`fit_image_classifier`) batched tf.data datasets, e.g.
streamed from disk. Training feeds a tf.data pipeline (`core.engine.image_pipeline`),
weights classes for imbalanced data, stops early on the validation loss and ends holding the best
weights seen. Progress goes to `core.engine.progress` listeners (epochs and steps count from 1); a
`CancellationToken` stops training after the current batch.

Example:
    result = train_image_classifier(images, labels, ["ok", "scratch"], ImageTrainingConfig(),
                                    validation=(validation_images, validation_labels))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from core.data.config_checks import is_integer
from core.data.splits import stratified_split
from core.engine.distribution import make_strategy
from core.engine.fit_results import fit_keeping_best
from core.engine.image_config import ImageTrainingConfig, ImageTrainingResult, finish_training
from core.engine.image_pipeline import (
    OPTIMIZERS,
    SCHEDULES,
    check_image_arrays,
    config_optimizer,
    make_training_datasets,
)
from core.engine.keras_progress import make_progress_callback
from core.engine.multiworker import fit_multiworker
from core.engine.precision import precision_scope, resolve_precision
from core.engine.progress import CancellationToken
from core.models.image import build_image_model

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "ImageTrainingConfig",
    "ImageTrainingResult",
    "fit_image_classifier",
    "make_progress_callback",
    "split_and_train",
    "train_image_classifier",
]


def train_image_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    config: ImageTrainingConfig | None = None,
    *,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    listeners: Iterable[object] = (),
    cancellation: CancellationToken | None = None,
) -> ImageTrainingResult:
    """Trains an image classifier from in-memory arrays.

    Args:
        images: uint8 array (count, height, width, channels), already resized to
            `config.image_size`.
        labels: Integer class indices into `class_names`.
        class_names: Names of the classes (at least 2).
        config: Settings; None uses `ImageTrainingConfig()`.
        validation: Held-out `(images, labels)`; early stopping and the best weights then follow
            the validation loss, otherwise the training loss.
        listeners: `core.engine.progress` listeners receiving batch and epoch events.
        cancellation: Token that stops training after the current batch.

    Returns:
        An `ImageTrainingResult`; its model holds the best weights seen.

    Raises:
        TypeError: Images are not uint8.
        ValueError: Bad config, fewer than 2 classes, or images that do not match the config.
    """
    config = (config or ImageTrainingConfig()).validate()
    # A multi-worker strategy must exist before TensorFlow runs its first operation.
    strategy = make_strategy(config.strategy)
    number_of_classes = _check_class_names(class_names)
    expected_shape = (*config.image_size, config.channels)
    images, labels = check_image_arrays(
        images, labels, number_of_classes, expected_shape=expected_shape
    )
    if validation is not None:
        validation = check_image_arrays(
            *validation, number_of_classes, "validation images", expected_shape
        )
    train_dataset, validation_dataset = make_training_datasets(
        images,
        labels,
        validation,
        number_of_classes,
        config.batch_size,
        seed=config.seed,
        class_weighting=config.class_weighting,
    )
    return fit_image_classifier(
        train_dataset,
        validation_dataset,
        class_names=class_names,
        training_count=len(labels),
        config=config,
        listeners=listeners,
        cancellation=cancellation,
        strategy=strategy,
    )


def fit_image_classifier(
    train_dataset,
    validation_dataset=None,
    *,
    class_names: Sequence[str],
    training_count: int,
    config: ImageTrainingConfig | None = None,
    listeners: Iterable[object] = (),
    cancellation: CancellationToken | None = None,
    strategy=None,
) -> ImageTrainingResult:
    """Builds, compiles and trains the configured model on batched tf.data datasets.

    Args:
        train_dataset: Batches of (float32 images, int32 labels[, sample weights]), reshuffled
            each epoch, `config.batch_size` images per batch.
        validation_dataset: Batches of (images, labels) in a fixed order, or None.
        class_names: Names of the classes (at least 2).
        training_count: Images in one pass over `train_dataset` (sets steps per epoch).
        config: Settings; None uses `ImageTrainingConfig()`.
        listeners, cancellation: As in `train_image_classifier`.
        strategy: A `tf.distribute.Strategy` made earlier by
            `core.engine.distribution.make_strategy`; None makes the one `config.strategy` names.

    Returns:
        An `ImageTrainingResult`; its model holds the best weights seen.

    Raises:
        ValueError: Bad config, fewer than 2 classes or `training_count` below 1.
    """
    import keras  # Lazy: loads TensorFlow.

    listeners = list(listeners)
    config = (config or ImageTrainingConfig()).validate()
    number_of_classes = _check_class_names(class_names)
    if not is_integer(training_count) or training_count < 1:
        raise ValueError(
            "Expected training_count as an integer >= 1. "
            f"Received: training_count={training_count!r}"
        )
    if strategy is None:
        strategy = make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    steps_per_epoch = math.ceil(training_count / config.batch_size)
    if config.strategy == "multiworker":
        return fit_multiworker(
            train_dataset,
            validation_dataset,
            class_names=class_names,
            steps_per_epoch=steps_per_epoch,
            config=config,
            listeners=listeners,
            cancellation=cancellation,
            strategy=strategy,
        )
    expected_shape = (*config.image_size, config.channels)
    steps_per_execution = config.steps_per_execution
    if strategy.num_replicas_in_sync > 1:
        # Keras 3.15's multi-step loop fails on a distributed iterator with several replicas
        # ("You must feed a value for placeholder tensor"), so mirrored runs go step by step.
        steps_per_execution = 1

    with strategy.scope(), precision_scope(resolve_precision(config.precision)):
        model = build_image_model(
            config.model,
            expected_shape,
            number_of_classes,
            augmentation=config.augmentation,
            seed=config.seed,
        )
        model.compile(
            optimizer=config_optimizer(config, steps_per_epoch),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
    progress = make_progress_callback(listeners, cancellation, config.epochs, steps_per_epoch)
    fit = fit_keeping_best(
        model,
        train_dataset,
        validation_dataset,
        config,
        progress,
        # A third of the early stopping patience (as `core.engine.multiworker`).
        plateau_patience=max(2, (config.early_stopping_patience or config.epochs) // 3),
    )
    samples = min(progress.batches_run * config.batch_size, fit.epochs_run * training_count)
    return finish_training(model, fit, config=config, samples=samples, listeners=listeners)


def _check_class_names(class_names: Sequence[str]) -> int:
    if len(class_names) < 2:
        raise ValueError(
            f"Expected at least 2 class names. Received: class_names={list(class_names)!r}"
        )
    return len(class_names)


def split_and_train(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    config: ImageTrainingConfig | None = None,
    **progress: object,
) -> tuple[ImageTrainingResult, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Splits stratified by class (`config` fractions and seed), then trains.

    Args:
        images, labels, class_names: As in `train_image_classifier`.
        config: Settings; None uses `ImageTrainingConfig()`.
        **progress: `listeners` and `cancellation`, passed on to `train_image_classifier`.

    Returns:
        `(result, (train_indices, validation_indices, test_indices))`; evaluate the model on
        `images[test_indices]`, which training never saw.

    Raises:
        ValueError: As `train_image_classifier` and `stratified_split` (e.g. a class too small).
    """
    config = (config or ImageTrainingConfig()).validate()
    train, validation, test = stratified_split(
        np.asarray(labels),
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    validation_data = (
        (images[validation], np.asarray(labels)[validation]) if len(validation) else None
    )
    result = train_image_classifier(
        images[train],
        np.asarray(labels)[train],
        class_names,
        config,
        validation=validation_data,
        **progress,
    )
    return result, (train, validation, test)

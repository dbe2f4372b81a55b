"""Image training on data larger than memory, end to end: split, streamed training, evaluation.

The pixels are read and decoded batch by batch by `core.engine.image_streaming`; the split,
training and evaluation match `core.workflows.image.run_image_training`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from core.data.image_files import load_image_files
from core.data.splits import stratified_split
from core.engine.distribution import make_strategy
from core.engine.image_pipeline import compute_class_weights
from core.engine.image_streaming import (
    EVALUATION_BATCH_SIZE,
    make_file_dataset,
    predict_image_files,
)
from core.engine.image_training import ImageTrainingConfig, fit_image_classifier
from core.inference.classifier import ImagePredictor
from core.workflows.image_runs import evaluated_run

__all__ = ["run_streaming_image_training"]


def run_streaming_image_training(
    path: str | os.PathLike,
    config=None,
    *,
    listeners: Iterable[object] = (),
    cancellation=None,
):
    """Trains and evaluates an image classifier, streaming the images from disk.

    The split (fractions and seed from `config`), training and evaluation match
    `core.workflows.image.run_image_training`; only the pixels are never all in memory.

    Args:
        path: A dataset folder or manifest .csv (`core.data.image_files.load_image_files`).
        config: An `ImageTrainingConfig`; None uses the defaults.
        listeners: `core.engine.progress` listeners for batch and epoch events.
        cancellation: A `CancellationToken`; a cancelled run keeps its best weights so far.

    Returns:
        A `core.workflows.image.ImageRunResult` whose `dataset` is an `ImageFileDataset`.

    Raises:
        ValueError: If the files cannot be found or split, or the config is invalid.
    """
    config = (config or ImageTrainingConfig()).validate()
    # A multi-worker strategy must exist before TensorFlow runs its first operation.
    strategy = make_strategy(config.strategy)
    image_size = tuple(config.image_size)
    dataset = load_image_files(path, image_size=image_size, channels=config.channels)
    train_indices, validation_indices, test_indices = stratified_split(
        dataset.labels,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    paths = np.asarray(dataset.paths, dtype=object)
    number_of_classes = len(dataset.class_names)
    train_labels = dataset.labels[train_indices]
    weights = (
        compute_class_weights(train_labels, number_of_classes) if config.class_weighting else None
    )
    options = {"image_size": image_size, "channels": config.channels}
    train_dataset = make_file_dataset(
        paths[train_indices],
        train_labels,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        class_weights=weights,
        **options,
    )
    validation_dataset = None
    if len(validation_indices):
        validation_dataset = make_file_dataset(
            paths[validation_indices],
            dataset.labels[validation_indices],
            max(config.batch_size, EVALUATION_BATCH_SIZE),
            shuffle=False,
            **options,
        )
    training = fit_image_classifier(
        train_dataset,
        validation_dataset,
        class_names=dataset.class_names,
        training_count=len(train_indices),
        config=config,
        listeners=listeners,
        cancellation=cancellation,
        strategy=strategy,
    )
    predictor = ImagePredictor(training.model, dataset.class_names, **options)
    return evaluated_run(
        training,
        dataset,
        (train_indices, validation_indices, test_indices),
        lambda indices: predict_image_files(predictor, list(paths[indices])),
    )

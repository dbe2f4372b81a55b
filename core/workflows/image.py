"""The image inspection workflow: load -> split -> train -> evaluate -> register, and reuse.

The CLI, the job runner and the pages call these functions; they hold no layer definitions and no
user interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from core.data.image_files import ImageFileDataset
from core.data.images import ImageDataset, load_images
from core.data.validation import describe_value
from core.engine.image_streaming import should_stream
from core.engine.image_training import ImageTrainingConfig, split_and_train
from core.inference.classifier import ImagePredictor
from core.inference.image_anomaly import ImageAnomalyPredictor
from core.inference.verdicts import with_operating_point
from core.metrics.evaluation import evaluate_classification
from core.registry.metadata import image_dataset_fingerprint
from core.workflows.image_runs import (
    ImageRunResult,
    evaluated_run,
    image_preprocessing,
    summary_metrics,
)
from core.workflows.image_streamed import run_streaming_image_training

IMAGE_TASK = "image_classification"
ANOMALY_TASK = "image_anomaly"
# Tasks whose models judge product images: spot check and batch predict accept both.
INSPECTION_TASKS = (IMAGE_TASK, ANOMALY_TASK)
STREAM_CHOICES = ("auto", "always", "never")
# Enough to browse in a gallery; the full list would bloat the metadata of a poor model.
MAX_STORED_MISCLASSIFIED = 100


def load_image_data(data, config):
    """Returns an `ImageDataset`: `data` itself, or loaded from a path at the config's size."""
    if isinstance(data, ImageDataset):
        return data
    return load_images(Path(data), image_size=tuple(config.image_size), channels=config.channels)


def run_image_training(
    data,
    config=None,
    *,
    listeners: Iterable[object] = (),
    cancellation=None,
    stream: str = "auto",
) -> ImageRunResult:
    """Trains an image classifier on a data set and evaluates it on a held-out test split.

    Args:
        data: An `ImageDataset`, or a path the image loaders accept (class folders, zip, manifest).
        config: An `ImageTrainingConfig`; None uses the defaults.
        listeners: `core.engine.progress` listeners for batch and epoch events.
        cancellation: A `CancellationToken`; a cancelled run keeps its best weights so far.
        stream: For a folder or manifest path: "auto" reads the images from disk batch by batch
            when their decoded pixels would pass `core.engine.image_streaming.should_stream`'s
            memory budget, "always" does so whatever the size, "never" loads them all into memory.
            An `ImageDataset` or a zip is always in memory.

    Returns:
        An `ImageRunResult` (its dataset is an `ImageFileDataset`, without pixels, when streamed).

    Raises:
        ValueError: If the data cannot be loaded or split, the config is invalid, or `stream`
            is unknown or "always" for data that cannot stream (a zip).
    """
    config = (config or ImageTrainingConfig()).validate()
    if stream not in STREAM_CHOICES:
        raise ValueError(
            f"Expected stream to be one of {list(STREAM_CHOICES)}. Received: stream={stream!r}"
        )
    streamed = not isinstance(data, ImageDataset) and stream != "never"
    if streamed and (stream == "always" or should_stream(data, config)):
        return run_streaming_image_training(
            data, config, listeners=listeners, cancellation=cancellation
        )
    dataset = load_image_data(data, config)
    training, (train_indices, validation_indices, test_indices) = split_and_train(
        dataset.images,
        dataset.labels,
        dataset.class_names,
        config,
        listeners=listeners,
        cancellation=cancellation,
    )
    predictor = ImagePredictor(
        training.model,
        dataset.class_names,
        image_size=tuple(config.image_size),
        channels=config.channels,
    )
    return evaluated_run(
        training,
        dataset,
        (train_indices, validation_indices, test_indices),
        lambda indices: predictor.predict_arrays(dataset.images[indices]),
    )


def image_run_metadata(result: ImageRunResult) -> dict:
    """Builds the registry metadata of a run (validated by the registry on save)."""
    config = result.training.config
    dataset = result.dataset
    height, width = config.image_size
    evaluation = dict(result.evaluation)
    evaluation["misclassified"] = evaluation["misclassified"][:MAX_STORED_MISCLASSIFIED]
    metadata = {
        "task": IMAGE_TASK,
        "classes": list(dataset.class_names),
        "input_shape": [height, width, config.channels],
        "preprocessing": image_preprocessing(height, width, config.channels),
        "training_config": config.to_dict(),
        "metrics": summary_metrics(evaluation) | {"evaluation": evaluation},
        "history": {
            key: [float(value) for value in values]
            for key, values in result.training.history.items()
        },
        "dataset_fingerprint": image_dataset_fingerprint(dataset),
        "extra": {
            "dataset": {
                "source": str(dataset.source),
                "class_counts": dataset.class_counts(),
                "rejected": len(dataset.rejected),
                # Streamed runs read the files batch by batch (`core.engine.image_streaming`).
                "streamed": isinstance(dataset, ImageFileDataset),
                "split": {
                    "train": len(result.train_indices),
                    "validation": len(result.validation_indices),
                    "test": len(result.test_indices),
                },
            },
            "epochs_run": result.training.epochs_run,
            "best_epoch": result.training.best_epoch,
            "cancelled": result.training.cancelled,
            "training_seconds": result.training.seconds,
            "samples_per_second": result.training.samples_per_second,
        },
    }
    return metadata


def save_image_run(result: ImageRunResult, registry, name: str, *, owner: str | None = None):
    """Registers the run's model under `name` (a new version) and returns the record."""
    return result.save_model(
        registry, result.training.model, name, image_run_metadata(result), owner
    )


def load_predictor(registry, reference: str, *, operating_point: bool = True):
    """Loads a registered image model (classifier or anomaly model) as a warmed-up predictor.

    Args:
        registry: A `ModelRegistry`.
        reference: "name" or "name:version".
        operating_point: Whether the version's stored operating point decides the verdicts
            (`core.inference.verdicts`). Default: True.

    Returns:
        `(predictor, metadata)`: an `ImagePredictor` or an `ImageAnomalyPredictor`.

    Raises:
        ValueError: If the model is unknown or is not an image model.
    """
    record = registry.get(reference)
    task = record.metadata.get("task")
    if task not in INSPECTION_TASKS:
        raise ValueError(
            f"Expected an image classification or image anomaly model. Received: "
            f"model='{reference}' with task={describe_value(task)}"
        )
    model, metadata = registry.load(record.reference)
    predictor = predictor_for(model, metadata)
    if operating_point:
        predictor = with_operating_point(predictor, record)
    return predictor, metadata


def predictor_for(model, metadata: dict, *, warmup: bool = True):
    """Returns the predictor of a loaded image model: `ImagePredictor` for a classifier,
    `ImageAnomalyPredictor` for an anomaly model (without any operating point)."""
    if metadata.get("task") == ANOMALY_TASK:
        return ImageAnomalyPredictor.from_registry_record(model, metadata, warmup=warmup)

    return ImagePredictor.from_registry_record(model, metadata, warmup=warmup)


def evaluate_registered_model(registry, reference: str, data) -> dict:
    """Scores a registered image classifier on a labelled data set.

    Args:
        registry: A `ModelRegistry`.
        reference: "name" or "name:version".
        data: A path the image loaders accept (class folders, zip, manifest).

    Returns:
        `evaluate_classification` output plus `model`, `rejected` (files that could not be read).

    Raises:
        ValueError: If the data holds classes the model does not know.
    """
    predictor, metadata = load_predictor(registry, reference, operating_point=False)
    dataset = load_images(Path(data), image_size=predictor.image_size, channels=predictor.channels)
    unknown = sorted(set(dataset.class_names) - set(predictor.class_names))
    if unknown:
        raise ValueError(
            f"Expected only classes the model knows ({predictor.class_names}). "
            f"Received: unknown classes {unknown} in data='{data}'"
        )
    label_map = np.array([predictor.class_names.index(name) for name in dataset.class_names])
    probabilities = predictor.predict_arrays(dataset.images)
    evaluation = evaluate_classification(
        label_map[dataset.labels],
        probabilities,
        predictor.class_names,
        item_names=dataset.filenames,
    )
    evaluation["model"] = f"{metadata['name']}:{metadata['version']}"
    evaluation["rejected"] = [rejected.as_dict() for rejected in dataset.rejected]
    return evaluation

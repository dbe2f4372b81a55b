"""The engine behind the image training page: configuration, background work, results.

A page picks an `ImageSource` (`core.data.image_sources`: the bundled sample, an uploaded zip of
class folders, or uploaded images with a `filename,label` CSV manifest), shows
`dataset_summary(source)`, turns its widget
values into a config with `training_config(...)` and submits `make_training_work(source, config)`
to the `JobManager`. The work loads the images at the chosen size inside the job, so the page
never blocks. Once the job has finished, `result_summary`, `confusion_cell_items` and
`misclassified_items` give what the results section draws; they also work on
`lightweight_result(result)`, what the `JobManager` keeps once the result is released (no model,
only the evaluated images). Nothing here imports Streamlit, and TensorFlow is only imported inside
the job.

Example:
    >>> source = zip_image_source("parts.zip", zip_bytes)
    >>> summary = dataset_summary(source)
    >>> work = make_training_work(source, training_config(model="seed_cnn", epochs=1))
    >>> job = manager.submit(token, "train-image", work, description=source.description)
"""

from __future__ import annotations

import copy
import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.data.config_checks import page_changes
from core.data.image_sources import SAMPLE, ImageSource, display_image
from core.engine.image_training import OPTIMIZERS, ImageTrainingConfig
from core.jobs.job import RELEASED_MODEL
from core.models.image import IMAGE_MODEL_PRESETS
from core.workflows.image import run_image_training

JOB_KIND = "train-image"
IMAGE_SIZE_CHOICES = (32, 48, 64, 96, 128, 160, 224)
MODEL_NAME_LIMIT = 64
PAGE_CHOICES = (
    "model", "epochs", "batch_size", "learning_rate", "optimizer", "validation_fraction",
    "channels",
)  # fmt: skip


def training_defaults() -> dict:
    """Default widget values (from `ImageTrainingConfig()`) and the choices the page offers."""
    config = ImageTrainingConfig()
    height = config.image_size[0]
    return {
        "model": config.model,
        "models": sorted(IMAGE_MODEL_PRESETS),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "optimizer": config.optimizer,
        "optimizers": list(OPTIMIZERS),
        "image_size": height,
        "image_sizes": sorted({*IMAGE_SIZE_CHOICES, height}),
        "augmentation": config.augmentation.enabled,
        "validation_fraction": config.validation_fraction,
        "test_fraction": config.test_fraction,
    }


def training_config(
    *, image_size: int | None = None, augmentation: bool | None = None, **choices
) -> ImageTrainingConfig:
    """An `ImageTrainingConfig` from the page's choices; a missing or None choice keeps the default.

    Args:
        image_size: Side of the square images in pixels.
        augmentation: Switches the default augmentation on or off.
        **choices: Any of `model`, `epochs`, `batch_size`, `learning_rate`, `optimizer`,
            `validation_fraction`, `channels`, as in `ImageTrainingConfig`.

    Raises:
        ValueError: If a choice is unknown or invalid (the message names it).
    """
    changes = page_changes(choices, PAGE_CHOICES)
    if image_size is not None:
        changes["image_size"] = (image_size, image_size)
    config = dataclasses.replace(ImageTrainingConfig(), **changes)
    if augmentation is not None:
        config.augmentation = dataclasses.replace(config.augmentation, enabled=bool(augmentation))
    return config.validate()


def make_training_work(source: ImageSource, config: ImageTrainingConfig) -> Callable:
    """Returns `work(progress, cancellation)` for `JobManager.submit`.

    The work loads the images at `config.image_size` inside the job, trains and evaluates with
    `run_image_training`, and returns its `ImageRunResult` (None if cancelled while loading);
    its `lightweight` is `lightweight_result`.

    Raises:
        ValueError: If `config` is invalid (checked now, before anything is queued).
    """
    config.validate()

    def work(progress, cancellation):
        progress.set_message(f"Loading {source.description}")
        dataset = source.load(tuple(config.image_size), config.channels)
        if cancellation.cancelled:
            return None
        progress.set_message(f"Training on {len(dataset)} images")
        result = run_image_training(
            dataset, config, listeners=[progress], cancellation=cancellation
        )
        progress.set_message("Finished")
        return result

    work.lightweight = lightweight_result
    return work


class KeptImages:
    """Some images of a dataset, indexed as in the full array; the others were let go.

    Stands in for `dataset.images` in a released result: indexing with kept indices (an integer
    or an array of them) returns what the full array did, any other index raises ValueError.

    Args:
        images: The dataset's images, (count, height, width, channels).
        keep: Indices of the images to keep (may be empty).
    """

    def __init__(self, images: np.ndarray, keep):
        self._kept = np.unique(np.asarray(keep, dtype=np.int64))
        self._images = images[self._kept]  # A copy: the full array can be freed.
        self.shape = images.shape
        self.dtype = images.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        wanted = np.asarray(index)
        if wanted.dtype.kind in "iu" and len(self._kept):
            positions = np.minimum(np.searchsorted(self._kept, wanted), len(self._kept) - 1)
            if np.all(self._kept[positions] == wanted):
                return self._images[positions]
        raise ValueError(
            "Expected indices of the images a released result kept (its evaluated images). "
            f"Received: index={index!r}"
        )

    def __array__(self, dtype=None, copy=None):
        raise ValueError(
            "Expected a dataset with all its images. Received: a released result that kept "
            f"{len(self._kept)} of {len(self)} images"
        )


def released_dataset(dataset, keep=()):
    """A shallow copy of `dataset` keeping only the images at `keep` (`KeptImages`); a dataset
    without an `images` array (e.g. one streamed from disk) is returned as it is."""
    images = getattr(dataset, "images", None)
    if not isinstance(images, np.ndarray):
        return dataset
    released = copy.copy(dataset)
    released.images = KeptImages(images, keep)
    return released


def lightweight_result(result):
    """What a released `ImageRunResult` keeps: all but the model and the unevaluated images.

    The results section (`result_summary`, `confusion_cell_items`, `misclassified_items`)
    works on it as on the full result; saving it raises ValueError (there is no model).
    """
    if result is None:
        return None
    return dataclasses.replace(
        result,
        training=dataclasses.replace(result.training, model=RELEASED_MODEL),
        dataset=released_dataset(result.dataset, _evaluated_indices(result)),
    )


def training_jobs(manager, owner: str) -> list:
    """The image training jobs of one session (other pages' jobs are theirs to show)."""
    return [job for job in manager.jobs_for(owner) if job.kind == JOB_KIND]


def queue_text(position: int | None) -> str:
    """'2 jobs ahead' for a queued job's position, '' when it is not queued."""
    if position is None:
        return ""
    return f"{position} job{'' if position == 1 else 's'} ahead"


def job_labels(jobs) -> dict:
    """{job id: 'HH:MM:SS: description'} for a job picker."""
    return {
        job.job_id: f"{time.strftime('%H:%M:%S', time.localtime(job.submitted_at))}: "
        f"{job.description}"
        for job in jobs
    }


def job_rows(manager, jobs) -> list[dict]:
    """One row per job for a table: description, state, progress and queue position."""
    rows = []
    for job in jobs:
        snapshot = job.progress.snapshot()
        epochs = (
            f"{snapshot['epoch']}/{snapshot['total_epochs']}" if snapshot["total_epochs"] else ""
        )
        rows.append(
            {
                "submitted": time.strftime("%H:%M:%S", time.localtime(job.submitted_at)),
                "data": job.description,
                "state": job.state,
                "epoch": epochs,
                "queue": queue_text(manager.queue_position(job.job_id)),
                "job": job.job_id,
            }
        )
    return rows


def suggested_model_name(source: ImageSource, config: ImageTrainingConfig) -> str:
    """A valid registry name such as 'parts-seed_cnn' (letters, digits, '_', '.', '-')."""
    stem = "sample" if source.kind == SAMPLE else Path(source.file_names[0]).stem
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._") or "images"
    return f"{stem[: MODEL_NAME_LIMIT - len(config.model) - 1]}-{config.model}"


def result_summary(result) -> dict:
    """Headline numbers, per-class rows and the confusion matrix of an `ImageRunResult`."""
    evaluation = result.evaluation
    training = result.training
    return {
        "accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "test_count": evaluation["count"],
        "epochs_run": training.epochs_run,
        "best_epoch": training.best_epoch,
        "cancelled": training.cancelled,
        "seconds": training.seconds,
        "class_names": list(evaluation["class_names"]),
        "confusion_matrix": evaluation["confusion_matrix"],
        "per_class": evaluation["per_class"],
        "misclassified_count": len(evaluation["misclassified"]),
        "history": training.history,
    }


def _evaluated_indices(result) -> np.ndarray:
    # `run_image_training` evaluates on the test split, or on validation when there is no test.
    return result.test_indices if len(result.test_indices) else result.validation_indices


def _check_class(result, class_name: str, argument: str) -> int:
    names = list(result.evaluation["class_names"])
    if class_name not in names:
        raise ValueError(
            f"Expected `{argument}` to be one of {names}. Received: {argument}={class_name!r}"
        )
    return names.index(class_name)


def default_confusion_cell(result) -> tuple[str, str]:
    """The most frequent confusion (true, predicted), or the first class's diagonal cell."""
    names = list(result.evaluation["class_names"])
    matrix = np.array(result.evaluation["confusion_matrix"])
    off_diagonal = matrix - np.diag(np.diag(matrix))
    if off_diagonal.max() > 0:
        true_index, predicted_index = np.unravel_index(np.argmax(off_diagonal), matrix.shape)
        return names[true_index], names[predicted_index]
    return names[0], names[0]


def confusion_cell_items(
    result, true_class: str, predicted_class: str, limit: int | None = None
) -> list[tuple[str, np.ndarray]]:
    """The evaluated images behind one confusion-matrix cell, as (file name, display image).

    Raises:
        ValueError: If either class is not one of the result's classes.
    """
    true_index = _check_class(result, true_class, "true_class")
    predicted_index = _check_class(result, predicted_class, "predicted_class")
    names = list(result.evaluation["class_names"])
    dataset = result.dataset
    indices = _evaluated_indices(result)
    # Every wrong prediction is listed in `misclassified`; the others were predicted right.
    predicted = dataset.labels[indices].copy()
    for item in result.evaluation["misclassified"]:
        predicted[item["index"]] = names.index(item["predicted"])
    chosen = np.flatnonzero(
        (dataset.labels[indices] == true_index) & (predicted == predicted_index)
    )
    if limit is not None:
        chosen = chosen[:limit]
    return [
        (dataset.filenames[indices[position]], display_image(dataset.images[indices[position]]))
        for position in chosen
    ]


def misclassified_items(result, limit: int = 24) -> list[dict]:
    """The most confident mistakes: {name, image, true, predicted, confidence}, worst first."""
    dataset = result.dataset
    indices = _evaluated_indices(result)
    return [
        {
            "name": item["name"],
            "image": display_image(dataset.images[indices[item["index"]]]),
            "true": item["true"],
            "predicted": item["predicted"],
            "confidence": item["confidence"],
        }
        for item in result.evaluation["misclassified"][:limit]
    ]

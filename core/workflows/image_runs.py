"""A finished image training run: `ImageRunResult`, its evaluation on held-out images, headlines.

Both training paths (in memory, `core.workflows.image`, and streamed from disk,
`core.workflows.image_streamed`) end in `evaluated_run`. `image_preprocessing` is the input
contract that image classifiers and image anomaly models record in their metadata.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from core.engine.fit_results import TrainingRun
from core.metrics.evaluation import evaluate_classification

__all__ = ["ImageRunResult", "evaluated_run", "image_preprocessing", "summary_metrics"]


@dataclasses.dataclass
class ImageRunResult(TrainingRun):
    """One finished (or cancelled) image training run, ready to inspect or register.

    Attributes:
        training: The `ImageTrainingResult` (model, history, timing).
        evaluation: `evaluate_classification` on the held-out test split.
        dataset: The loaded `ImageDataset`.
        train_indices, validation_indices, test_indices: The split, as indices into `dataset`.
        record: The registry record once saved, else None.
    """

    training: object
    evaluation: dict
    dataset: object
    train_indices: np.ndarray
    validation_indices: np.ndarray
    test_indices: np.ndarray


def evaluated_run(training, dataset, split, predict) -> ImageRunResult:
    """Scores a trained model on its held-out images and packs the run.

    Args:
        training: The `ImageTrainingResult`.
        dataset: The `ImageDataset` or `ImageFileDataset` it trained on.
        split: `(train_indices, validation_indices, test_indices)` into `dataset`.
        predict: Returns class probabilities for an array of dataset indices.

    Returns:
        An `ImageRunResult` evaluated on the test split (the validation split without one).
    """
    train_indices, validation_indices, test_indices = split
    evaluation_indices = test_indices if len(test_indices) else validation_indices
    evaluation = evaluate_classification(
        dataset.labels[evaluation_indices],
        predict(evaluation_indices),
        dataset.class_names,
        item_names=[dataset.filenames[index] for index in evaluation_indices],
    )
    return ImageRunResult(
        training=training,
        evaluation=evaluation,
        dataset=dataset,
        train_indices=train_indices,
        validation_indices=validation_indices,
        test_indices=test_indices,
    )


def summary_metrics(evaluation: dict) -> dict:
    """The headline numbers of an evaluation, for tables and `--json` output."""
    metrics = {
        "accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "test_count": evaluation["count"],
    }
    ok_vs_defect = evaluation.get("ok_vs_defect")
    if ok_vs_defect:
        metrics["defect_roc_auc"] = ok_vs_defect["roc_auc"]
        metrics["defect_recall"] = ok_vs_defect["defect_recall"]
        metrics["false_reject_rate"] = ok_vs_defect["false_reject_rate"]
    return metrics


def image_preprocessing(height: int, width: int, channels: int) -> dict:
    """The metadata's `preprocessing` of a model taking raw images resized to height x width."""
    return {
        "image_size": [height, width],
        "channels": channels,
        "color_mode": "grayscale" if channels == 1 else "rgb",
        "resize": "bilinear, stretched to image_size",
        "input_scale": "raw 0-255 pixels; the model rescales to [0, 1] itself",
    }

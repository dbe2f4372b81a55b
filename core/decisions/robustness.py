"""Robustness check: re-score a model's test split under controlled changes of the images.

A line camera drifts; each perturbation of `core.data.perturbations` imitates one drift at two
severities, and the check reports the accuracy under each and the share of predictions that flip
against the clean images. The check takes any `images -> class indices` callable, so it is
model-agnostic. `run_robustness` applies it to a registered image model and stores the result
with the version (`core.registry.attachments.ROBUSTNESS`).

Example:

    result = robustness_check(lambda x: model_labels(x), images, labels, ["ok", "crack"])
    result["rows"][0]   # {"perturbation": "brightness_up", "severity": 1, "accuracy": ...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from core.data.perturbations import PERTURBATIONS, SEVERITIES, check_images, perturb
from core.data.validation import describe_value
from core.inference.verdicts import decision_summary
from core.registry.attachments import ROBUSTNESS, write_json_attachment
from core.registry.metadata import now_iso
from core.workflows.image_test_split import (
    ImageTestSplit,
    image_predictor,
    load_test_split,
    predicted_labels,
)


def _predicted(predict_labels: Callable, images: np.ndarray, class_count: int) -> np.ndarray:
    predicted = np.asarray(predict_labels(images))
    if (
        predicted.shape != (len(images),)
        or not np.issubdtype(predicted.dtype, np.integer)
        or (predicted.size and (predicted.min() < 0 or predicted.max() >= class_count))
    ):
        raise ValueError(
            f"Expected predict_labels to return one class index in [0, {class_count}) per image "
            f"({len(images)}). Received: shape={predicted.shape}, dtype={predicted.dtype}"
        )
    return predicted


def robustness_check(
    predict_labels: Callable[[np.ndarray], np.ndarray],
    images,
    labels: Sequence[int],
    class_names: Sequence[str],
    *,
    seed: int = 0,
) -> dict:
    """Scores clean and perturbed images: accuracy and the share of flipped predictions.

    Args:
        predict_labels: Maps uint8 images `(N, H, W, C)` to N integer class indexes.
        images: uint8 array `(N, H, W, C)`, N >= 1 (the test split).
        labels: The true class index of each image.
        class_names: The names of the class indexes.
        seed: Seed of the random perturbations. Default: 0.

    Returns:
        `{"test_count", "clean_accuracy", "class_names", "seed", "rows"}`; each row holds
        `perturbation`, `severity`, `amount`, `label`, `accuracy`, `accuracy_change` (against
        the clean accuracy) and `flip_share` (share of images whose prediction differs from
        the clean one).

    Raises:
        ValueError: If the inputs do not fit together or `predict_labels` returns something
            else than one class index per image.
    """
    array = check_images(images)
    names = list(class_names) if not isinstance(class_names, str) else []
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(
            "Expected class_names to be a non-empty list of strings. "
            f"Received: class_names={describe_value(class_names)}"
        )
    truth = np.asarray(labels)
    if (
        len(array) == 0
        or truth.shape != (len(array),)
        or not np.issubdtype(truth.dtype, np.integer)
        or truth.min() < 0
        or truth.max() >= len(names)
    ):
        raise ValueError(
            f"Expected at least one image and one class index in [0, {len(names)}) per image. "
            f"Received: {len(array)} images, labels={describe_value(truth.tolist())}"
        )
    clean = _predicted(predict_labels, array, len(names))
    clean_accuracy = float((clean == truth).mean())
    rows = []
    for kind, perturbation in PERTURBATIONS.items():
        for severity in SEVERITIES:
            predicted = _predicted(
                predict_labels, perturb(array, kind, severity, seed=seed), len(names)
            )
            accuracy = float((predicted == truth).mean())
            rows.append(
                {
                    "perturbation": kind,
                    "severity": severity,
                    "amount": perturbation.amounts[severity - 1],
                    "label": perturbation.describe(severity),
                    "accuracy": accuracy,
                    "accuracy_change": accuracy - clean_accuracy,
                    "flip_share": float((predicted != clean).mean()),
                }
            )
    return {
        "test_count": len(array),
        "clean_accuracy": clean_accuracy,
        "class_names": names,
        "seed": seed,
        "rows": rows,
    }


def robustness_result(record, predictor, split: ImageTestSplit, *, created_by=None) -> dict:
    """Runs `robustness_check` on a test split, stores it with the version and returns it."""
    result = robustness_check(
        lambda images: predicted_labels(predictor, images),
        split.images,
        split.labels,
        split.class_names,
    )
    result = {
        "model": record.reference,
        **result,
        "decision": decision_summary(predictor),
        "data_matches_training": split.matches_training,
        "created_at": now_iso(),
        "created_by": created_by,
        "data": split.data,
    }
    write_json_attachment(record, ROBUSTNESS, result)
    return result


def run_robustness(registry, reference: str, data=None, *, created_by: str | None = None) -> dict:
    """Re-scores a registered image model's test split under every perturbation; stores it.

    Args:
        registry: A `ModelRegistry`.
        reference: "name", "name:version" or "name:latest" of an image classifier or image
            anomaly model.
        data: The labelled images it was trained on (see `load_test_split`); None uses the
            training folder recorded in the metadata. Default: None.
        created_by: Who ran it, recorded in the result. Default: None.

    Returns:
        The `robustness.json` content (contract C3): `model`, `test_count`, `clean_accuracy`,
        `rows`, `created_at`, `created_by`, `data`, plus `class_names`, `seed`, `decision`
        and `data_matches_training`.

    Raises:
        ValueError: If the model is unknown or not an image model, or the data is missing or
            does not fit (see `load_test_split`).
    """
    record = registry.get(reference)
    split = load_test_split(record, data)
    model, metadata = registry.load(record.reference)
    predictor = image_predictor(model, metadata, record)
    return robustness_result(record, predictor, split, created_by=created_by)

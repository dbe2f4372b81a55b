"""Evaluating an image anomaly model: the threshold, image and pixel AUROC, and test metrics.

Pure numpy (the masks loader included): `core.workflows.image_anomaly` calls these after
fitting, and anything holding scores and maps can too.
"""

from __future__ import annotations

import numpy as np

from core.data.masks import load_masks
from core.data.validation import describe_value
from core.metrics.evaluation import evaluate_classification, roc_auc

# Enough to browse in a gallery, as for classifiers.
MAX_STORED_MISCLASSIFIED = 100


def anomaly_threshold(good_scores: np.ndarray, quantile: float) -> tuple[float, float]:
    """The threshold (the `quantile` quantile of the good scores) and the score scale (their
    standard deviation; a tenth of the threshold's size, or 1, when they do not vary).

    Raises:
        ValueError: If there are no finite good scores.
    """
    scores = np.asarray(good_scores, dtype=np.float64)
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError(
            "Expected at least one finite score of a good validation image. "
            f"Received: scores={describe_value(scores.tolist())}"
        )
    threshold = float(np.quantile(scores, quantile))
    scale = float(np.std(scores))
    if not scale > 0:
        scale = abs(threshold) / 10 or 1.0
    return threshold, scale


def pixel_auroc(maps: np.ndarray, masks: np.ndarray) -> float:
    """ROC AUC of every pixel's anomaly value against its mask (True = defect pixel).

    Raises:
        ValueError: If the shapes differ or the masks hold only defect or only good pixels.
    """
    maps = np.asarray(maps, dtype=np.float32)
    masks = np.asarray(masks, dtype=bool)
    if maps.shape != masks.shape:
        raise ValueError(
            "Expected one mask per anomaly map, of the same size. "
            f"Received: maps.shape={maps.shape}, masks.shape={masks.shape}"
        )
    return roc_auc(masks.reshape(-1), maps.reshape(-1))


def select_test_masks(masks, dataset, test_indices: np.ndarray, good_index: int):
    """The masks of the test images that count for the pixel AUROC: defect images with a mask
    file and every good image (all-zero masks). Returns (indices into test, masks) or None."""
    if masks is None:
        return None

    names = [dataset.filenames[index] for index in test_indices]
    loaded, has_mask = load_masks(masks, names, tuple(dataset.images.shape[1:3]))
    is_good = dataset.labels[test_indices] == good_index
    loaded[is_good] = False
    if not np.any(loaded[~is_good]):
        raise ValueError(
            "Expected defect masks (white = defect) for some defect test images, named like the "
            f"images, under masks={str(masks)!r}. Received: {int(has_mask[~is_good].sum())} of "
            f"{int((~is_good).sum())} defect test images have a mask, none with a defect pixel"
        )
    selected = np.flatnonzero(has_mask | is_good)
    return selected, loaded[selected]


def evaluate_anomaly_scores(predictor, dataset, test_indices, scores, maps=None, selection=None):
    """The test metrics of an anomaly model (the metadata's `metrics`).

    Args:
        predictor: The `ImageAnomalyPredictor` holding the threshold.
        dataset: The `ImageDataset`; `test_indices` index it.
        test_indices: The test images.
        scores: Their image scores.
        maps: Their anomaly maps `(N, H, W)`, for the pixel AUROC; None skips it.
        selection: `(indices into the test images, their masks)` from the masks, or None.

    Returns:
        `image_auroc`, `pixel_auroc` (with masks), `threshold`, `false_reject_rate`,
        `defect_recall`, `test_count`, `defect_class_auroc` ({defect class: AUROC against the
        good test images}) and `evaluation` (`evaluate_classification` of good vs anomaly).
    """
    good_class = predictor.class_names[0]
    good_index = dataset.class_names.index(good_class)
    labels = dataset.labels[test_indices]
    is_defect = (labels != good_index).astype(np.int64)
    flagged = predictor.verdicts(scores).astype(bool)
    evaluation = evaluate_classification(
        is_defect,
        predictor.probabilities_of(scores),
        predictor.class_names,
        item_names=[dataset.filenames[index] for index in test_indices],
        ok_class=good_class,
    )
    evaluation["misclassified"] = evaluation["misclassified"][:MAX_STORED_MISCLASSIFIED]
    good_scores = scores[is_defect == 0]
    has_defects = bool(is_defect.any())
    metrics = {
        # None without defect test images: nothing to rank good parts against.
        "image_auroc": roc_auc(is_defect, scores) if has_defects else None,
        "threshold": predictor.threshold,
        "false_reject_rate": float(flagged[is_defect == 0].mean()),
        "defect_recall": float(flagged[is_defect == 1].mean()) if has_defects else None,
        "test_count": len(labels),
        "defect_class_auroc": {
            name: roc_auc(
                np.r_[np.zeros(len(good_scores)), np.ones(int(np.sum(labels == index)))],
                np.r_[good_scores, scores[labels == index]],
            )
            for index, name in enumerate(dataset.class_names)
            if index != good_index and np.any(labels == index)
        },
    }
    if maps is not None and selection is not None:
        chosen, masks = selection
        metrics["pixel_auroc"] = pixel_auroc(maps[chosen], masks)
        metrics["pixel_auroc_images"] = len(chosen)
    metrics["evaluation"] = evaluation
    return metrics

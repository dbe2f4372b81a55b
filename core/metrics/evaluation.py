"""Evaluation metrics for classifiers, remaining-useful-life regressors and anomaly flags.

Pure numpy. Every public `evaluate_*` function validates its input once and returns a dict of plain
Python numbers, lists and strings, ready for `json.dumps(..., allow_nan=False)`.

Zero division is defined as 0.0: the precision of a class that is never predicted, the recall of a
class that never occurs, and the F1 of a class whose precision and recall are both 0.

The classifier metrics live here; `confusion_matrix` and `precision_recall_f1` come from
`core.metrics.counts`, and the series metrics (`nasa_score`, `evaluate_regression`,
`evaluate_binary_flags`) from `core.metrics.series`. All are importable from this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.data.validation import describe_value
from core.metrics.counts import (
    as_binary,
    as_float_arrays,
    as_indices,
    as_vector,
    check_same_length,
    confusion_matrix,
    precision_recall_f1,
    safe_divide,
)
from core.metrics.series import evaluate_binary_flags, evaluate_regression, nasa_score

__all__ = [
    "MAXIMUM_CURVE_POINTS",
    "ROW_SUM_TOLERANCE",
    "confusion_matrix",
    "evaluate_binary_flags",
    "evaluate_classification",
    "evaluate_regression",
    "nasa_score",
    "precision_recall_f1",
    "roc_auc",
    "roc_curve",
]

# Softmax outputs in float32 drift from 1 by far less than this; anything beyond it is not a
# probability distribution (logits, or a column lost).
ROW_SUM_TOLERANCE = 1e-3
MAXIMUM_CURVE_POINTS = 200


def _binary_scores(labels01: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    """Validates a (labels, scores) pair for ROC analysis; both classes must be present."""
    labels = as_binary(labels01, "labels01")
    score_array = as_vector(scores, "scores")
    check_same_length(labels, "labels01", score_array, "scores")
    positives = int(labels.sum())
    if positives == 0 or positives == labels.size:
        raise ValueError(
            "Expected `labels01` to contain both 0 and 1 (ROC is undefined otherwise). "
            f"Received: {positives} ones out of {labels.size}"
        )
    return labels, score_array


def roc_auc(labels01: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve, computed from ranks (the Mann-Whitney U statistic).

    Tied scores get their average rank, so a positive tied with a negative counts one half.
    Constant scores give 0.5.

    Args:
        labels01: 1 for positive items, 0 for negative items (booleans accepted).
        scores: Higher means more likely positive; same length.

    Returns:
        The AUC in [0, 1].

    Raises:
        ValueError: On invalid input, or when only one class is present.
    """
    labels, score_array = _binary_scores(labels01, scores)
    _, inverse, counts = np.unique(score_array, return_inverse=True, return_counts=True)
    # 1-based average rank of each distinct score: the mean of the ranks its tied items span.
    average_ranks = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_ranks[inverse]
    positive_count = int(labels.sum())
    negative_count = labels.size - positive_count
    u_statistic = ranks[labels == 1].sum() - positive_count * (positive_count + 1) / 2.0
    return float(u_statistic / (positive_count * negative_count))


def roc_curve(
    labels01: Sequence[int], scores: Sequence[float], *, max_points: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: an item is flagged positive when its score is >= the threshold.

    Args:
        labels01: 1 for positive items, 0 for negative items (booleans accepted).
        scores: Higher means more likely positive; same length.
        max_points: If given (>= 2), drop points lying on a straight segment and then keep at
            most this many, evenly spaced, always keeping both ends. Default None keeps every
            distinct threshold.

    Returns:
        `(false_positive_rate, true_positive_rate, thresholds)`, ordered by decreasing threshold.
        The first point is (0, 0) with threshold `inf` (nothing flagged).

    Raises:
        ValueError: On invalid input, or when only one class is present.
    """
    if max_points is not None and (
        isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2
    ):
        raise ValueError(
            "Expected `max_points` to be None or an integer >= 2. "
            f"Received: max_points={describe_value(max_points)}"
        )
    labels, score_array = _binary_scores(labels01, scores)
    order = np.argsort(-score_array, kind="stable")
    sorted_scores = score_array[order]
    # The last item of each run of equal scores: all of a tie is flagged at once.
    run_ends = np.append(np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1)
    true_positives = np.concatenate([[0], np.cumsum(labels[order])[run_ends]])
    false_positives = np.concatenate([[0], run_ends + 1]) - true_positives
    thresholds = np.concatenate([[np.inf], sorted_scores[run_ends]])
    if max_points is not None:
        keep = _thinned_indices(false_positives, true_positives, max_points)
        true_positives, false_positives, thresholds = (
            true_positives[keep],
            false_positives[keep],
            thresholds[keep],
        )
    false_positive_rate = false_positives / (labels.size - labels.sum())
    true_positive_rate = true_positives / labels.sum()
    return false_positive_rate, true_positive_rate, thresholds


def _thinned_indices(x_counts: np.ndarray, y_counts: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of curve points to keep: corners, then at most `max_points` evenly spaced."""
    x = x_counts.astype(np.int64)
    y = y_counts.astype(np.int64)
    # Integer cross product: exact test of whether a point lies on the segment of its neighbours.
    cross = (x[1:-1] - x[:-2]) * (y[2:] - y[:-2]) - (y[1:-1] - y[:-2]) * (x[2:] - x[:-2])
    corners = np.flatnonzero(np.concatenate([[True], cross != 0, [True]]))
    if corners.size <= max_points:
        return corners
    picks = np.unique(np.round(np.linspace(0, corners.size - 1, max_points)).astype(np.int64))
    return corners[picks]


def _check_class_names(class_names: object) -> list[str]:
    if (
        isinstance(class_names, str)
        or not isinstance(class_names, Sequence | np.ndarray)
        or len(class_names) == 0
        or not all(isinstance(name, str) for name in class_names)
    ):
        raise ValueError(
            "Expected `class_names` to be a non-empty sequence of strings. "
            f"Received: class_names={describe_value(class_names)}"
        )
    names = [str(name) for name in class_names]
    if len(set(names)) != len(names):
        raise ValueError(
            f"Expected `class_names` to be unique. Received: class_names={describe_value(names)}"
        )
    return names


def _as_probabilities(probabilities: object, number_of_classes: int) -> np.ndarray:
    """Returns `probabilities` as an (N, C) float array whose rows are distributions."""
    (matrix,) = as_float_arrays("a 2-D array of numbers", probabilities=probabilities)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] != number_of_classes:
        raise ValueError(
            f"Expected `probabilities` of shape (N >= 1, {number_of_classes}), one column per "
            f"class name. Received: shape {matrix.shape}"
        )
    bad_rows = ~np.all(np.isfinite(matrix) & (matrix >= 0), axis=1)
    bad_rows |= np.abs(np.nan_to_num(matrix).sum(axis=1) - 1.0) > ROW_SUM_TOLERANCE
    if np.any(bad_rows):
        row = int(np.flatnonzero(bad_rows)[0])
        raise ValueError(
            "Expected each row of `probabilities` to be finite, non-negative and sum to 1 "
            f"(within {ROW_SUM_TOLERANCE}); apply softmax to logits first. "
            f"Received: probabilities[{row}]={describe_value(matrix[row].tolist())}"
        )
    return matrix


def _ok_versus_defect(
    true_labels: np.ndarray, probabilities: np.ndarray, ok_index: int, threshold: float
) -> dict | None:
    """The ok-versus-defect view, or None when the items are all ok or all defects."""
    is_defect = (true_labels != ok_index).astype(np.int64)
    defect_count = int(is_defect.sum())
    if defect_count == 0 or defect_count == is_defect.size:
        return None
    defect_score = 1.0 - probabilities[:, ok_index]
    flagged = defect_score >= threshold
    fpr, tpr, thresholds = roc_curve(is_defect, defect_score, max_points=MAXIMUM_CURVE_POINTS)
    return {
        "roc_auc": roc_auc(is_defect, defect_score),
        "threshold": threshold,
        "defect_recall": float(flagged[is_defect == 1].mean()),
        "false_reject_rate": float(flagged[is_defect == 0].mean()),
        "defect_count": defect_count,
        "ok_count": int(is_defect.size - defect_count),
        "roc_curve": {
            "false_positive_rate": fpr.tolist(),
            "true_positive_rate": tpr.tolist(),
            # JSON has no infinity: the first point (nothing flagged) gets null.
            "thresholds": [None if np.isinf(value) else float(value) for value in thresholds],
        },
    }


def evaluate_classification(
    true_labels: Sequence[int],
    probabilities: np.ndarray,
    class_names: Sequence[str],
    *,
    item_names: Sequence[str] | None = None,
    ok_class: str | None = "ok",
    defect_threshold: float = 0.5,
) -> dict:
    """Evaluates predicted class probabilities against true labels.

    The predicted class is the arg-max of each row (the first class on a tie).

    Args:
        true_labels: Class index of each of the N items.
        probabilities: (N, C) array; each row sums to 1 and column j belongs to `class_names[j]`.
        class_names: The C class names, unique.
        item_names: Optional N names (file names) for the misclassified list. Default None, in
            which case each misclassified entry has `name` None.
        ok_class: Name of the good-part class. Default "ok". When it is a class name and the items
            hold both ok and defect parts, `ok_vs_defect` is reported with defect score
            `1 - p(ok)`; None disables it.
        defect_threshold: A part is flagged defect when its defect score is >= this value, in
            [0, 1]. Default 0.5.

    Returns:
        A JSON-serialisable dict: `accuracy`, `macro_f1` (mean F1 over the classes present in the
        true or predicted labels), `per_class` (list of {class, precision, recall, f1, support}),
        `confusion_matrix` (rows = true, columns = predicted), `confusion_matrix_normalized`
        (each row divided by its support; empty rows stay 0), `class_names`, `count`,
        `ok_vs_defect` (only when available) and `misclassified` (list of {index, name, true,
        predicted, confidence, probabilities}, highest confidence first).

    Raises:
        ValueError: On malformed input; the message names the offending argument.
    """
    names = _check_class_names(class_names)
    matrix = _as_probabilities(probabilities, len(names))
    labels = as_indices(true_labels, "true_labels", len(names))
    if labels.size != matrix.shape[0]:
        raise ValueError(
            "Expected one true label per row of `probabilities`. "
            f"Received: len(true_labels)={labels.size}, probabilities rows={matrix.shape[0]}"
        )
    if item_names is not None:
        item_names = list(item_names)
    if item_names is not None and len(item_names) != labels.size:
        raise ValueError(
            "Expected one item name per item. "
            f"Received: len(item_names)={len(item_names)}, items={labels.size}"
        )
    if isinstance(defect_threshold, bool) or not (
        isinstance(defect_threshold, int | float | np.number) and 0 <= defect_threshold <= 1
    ):
        raise ValueError(
            "Expected `defect_threshold` to be a number in [0, 1]. "
            f"Received: defect_threshold={describe_value(defect_threshold)}"
        )

    predicted = np.argmax(matrix, axis=1)
    counts = confusion_matrix(labels, predicted, len(names))
    precision, recall, f1, support = precision_recall_f1(counts)
    present = (support > 0) | (counts.sum(axis=0) > 0)
    normalized = safe_divide(counts, support[:, np.newaxis])
    result = {
        "accuracy": float(np.trace(counts) / labels.size),
        "macro_f1": float(f1[present].mean()),
        "per_class": [
            {
                "class": name,
                "precision": float(precision[index]),
                "recall": float(recall[index]),
                "f1": float(f1[index]),
                "support": int(support[index]),
            }
            for index, name in enumerate(names)
        ],
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalized": normalized.tolist(),
        "class_names": names,
        "count": int(labels.size),
    }
    if ok_class is not None and ok_class in names:
        view = _ok_versus_defect(labels, matrix, names.index(ok_class), float(defect_threshold))
        if view is not None:
            result["ok_vs_defect"] = view

    wrong = np.flatnonzero(predicted != labels)
    confidence = matrix[wrong, predicted[wrong]]
    # Stable sort on the negated confidence: ties keep item order.
    wrong = wrong[np.argsort(-confidence, kind="stable")]
    result["misclassified"] = [
        {
            "index": int(index),
            "name": None if item_names is None else str(item_names[index]),
            "true": names[labels[index]],
            "predicted": names[predicted[index]],
            "confidence": float(matrix[index, predicted[index]]),
            "probabilities": dict(zip(names, matrix[index].tolist(), strict=True)),
        }
        for index in wrong
    ]
    return result

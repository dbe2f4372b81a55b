"""Evaluation metrics for classifiers, remaining-useful-life regressors and anomaly flags.

Pure numpy. Every public `evaluate_*` function validates its input once and returns a dict of plain
Python numbers, lists and strings, ready for `json.dumps(..., allow_nan=False)`.

Zero division is defined as 0.0: the precision of a class that is never predicted, the recall of a
class that never occurs, and the F1 of a class whose precision and recall are both 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.data.validation import describe_value

# Softmax outputs in float32 drift from 1 by far less than this; anything beyond it is not a
# probability distribution (logits, or a column lost).
ROW_SUM_TOLERANCE = 1e-3
MAXIMUM_CURVE_POINTS = 200


def _reject_first(failed: np.ndarray, array: np.ndarray, name: str, expectation: str) -> None:
    """Raises a ValueError naming the first element of `array` where `failed` is True."""
    if np.any(failed):
        position = int(np.flatnonzero(failed)[0])
        value = float(array[position])
        shown = int(value) if value.is_integer() else value
        raise ValueError(f"Expected `{name}` {expectation}. Received: {name}[{position}]={shown}")


def _as_vector(values: object, name: str) -> np.ndarray:
    """Returns `values` as a non-empty 1-D float array of finite numbers, or raises ValueError."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"Expected `{name}` to be a 1-D sequence of numbers. "
            f"Received: {name}={describe_value(values)}"
        ) from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"Expected `{name}` to be a non-empty 1-D sequence of numbers. "
            f"Received: {name} with shape {array.shape}"
        )
    _reject_first(~np.isfinite(array), array, name, "to contain only finite numbers")
    return array


def _as_indices(values: object, name: str, number_of_classes: int) -> np.ndarray:
    """Returns `values` as a 1-D int64 array of class indices in [0, number_of_classes)."""
    array = _as_vector(values, name)
    _reject_first(array != np.round(array), array, name, "to hold integer class indices")
    out_of_range = (array < 0) | (array >= number_of_classes)
    _reject_first(out_of_range, array, name, f"in the range [0, {number_of_classes - 1}]")
    return array.astype(np.int64)


def _as_binary(values: object, name: str) -> np.ndarray:
    """Returns `values` (booleans or 0/1) as a 1-D int64 array of zeros and ones."""
    array = _as_vector(values, name)
    not_binary = (array != 0) & (array != 1)
    _reject_first(not_binary, array, name, "to hold only 0/1 or False/True")
    return array.astype(np.int64)


def _check_same_length(first: np.ndarray, first_name: str, second: np.ndarray, second_name: str):
    if first.shape[0] != second.shape[0]:
        raise ValueError(
            f"Expected `{first_name}` and `{second_name}` to have the same length. "
            f"Received: len({first_name})={first.shape[0]}, len({second_name})={second.shape[0]}"
        )


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise division that gives 0.0 where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    result = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


def confusion_matrix(
    true_labels: Sequence[int], predicted_labels: Sequence[int], number_of_classes: int
) -> np.ndarray:
    """Counts (true, predicted) pairs.

    Args:
        true_labels: Class indices of the items.
        predicted_labels: Predicted class indices, same length.
        number_of_classes: Number of classes C (a positive integer).

    Returns:
        An int64 array of shape (C, C): rows are true classes, columns are predicted classes.

    Raises:
        ValueError: On a non-positive class count, non-integer or out-of-range labels, or
            mismatched lengths.
    """
    if (
        isinstance(number_of_classes, bool)
        or not isinstance(number_of_classes, int | np.integer)
        or number_of_classes < 1
    ):
        raise ValueError(
            "Expected `number_of_classes` to be a positive integer. "
            f"Received: number_of_classes={describe_value(number_of_classes)}"
        )
    true_array = _as_indices(true_labels, "true_labels", number_of_classes)
    predicted_array = _as_indices(predicted_labels, "predicted_labels", number_of_classes)
    _check_same_length(true_array, "true_labels", predicted_array, "predicted_labels")
    flat = np.bincount(
        true_array * number_of_classes + predicted_array, minlength=number_of_classes**2
    )
    return flat.reshape(number_of_classes, number_of_classes)


def precision_recall_f1(
    confusion: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix.

    Zero division gives 0.0 (for example the precision of a class that is never predicted).

    Args:
        confusion: Square matrix of non-negative counts, rows = true, columns = predicted.

    Returns:
        `(precision, recall, f1, support)`: float arrays of length C, and support as int64.

    Raises:
        ValueError: If `confusion` is not a square matrix of finite non-negative counts.
    """
    matrix = np.asarray(confusion, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(
            f"Expected `confusion` to be a non-empty square matrix. Received: shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
        raise ValueError(
            "Expected `confusion` to hold finite non-negative counts. "
            f"Received: confusion={describe_value(matrix.tolist())}"
        )
    correct = np.diag(matrix)
    support = matrix.sum(axis=1)
    precision = _safe_divide(correct, matrix.sum(axis=0))
    recall = _safe_divide(correct, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return precision, recall, f1, support.astype(np.int64)


def _binary_scores(labels01: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    """Validates a (labels, scores) pair for ROC analysis; both classes must be present."""
    labels = _as_binary(labels01, "labels01")
    score_array = _as_vector(scores, "scores")
    _check_same_length(labels, "labels01", score_array, "scores")
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
    try:
        matrix = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            "Expected `probabilities` to be a 2-D array of numbers. "
            f"Received: probabilities={describe_value(probabilities)}"
        ) from None
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
    labels = _as_indices(true_labels, "true_labels", len(names))
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
    normalized = _safe_divide(counts, support[:, np.newaxis])
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


def _as_value_pairs(true_values: object, predicted_values: object) -> tuple[np.ndarray, np.ndarray]:
    """Validates a (true, predicted) pair of equally long finite vectors."""
    true_array = _as_vector(true_values, "true_values")
    predicted_array = _as_vector(predicted_values, "predicted_values")
    _check_same_length(true_array, "true_values", predicted_array, "predicted_values")
    return true_array, predicted_array


def nasa_score(true_values: Sequence[float], predicted_values: Sequence[float]) -> float:
    """NASA asymmetric scoring function for remaining useful life (Saxena et al., 2008).

    With d = predicted - true, each item adds exp(-d / 13) - 1 when d < 0 (early) and
    exp(d / 10) - 1 when d >= 0 (late): late predictions cost more. Lower is better; 0 is perfect.

    Raises:
        ValueError: On empty, non-finite or mismatched input.
    """
    true_array, predicted_array = _as_value_pairs(true_values, predicted_values)
    error = predicted_array - true_array
    penalty = np.where(error < 0, np.expm1(-error / 13.0), np.expm1(error / 10.0))
    return float(penalty.sum())


def evaluate_regression(true_values: Sequence[float], predicted_values: Sequence[float]) -> dict:
    """Regression metrics for remaining-useful-life predictions.

    Returns:
        A dict with `rmse`, `mae`, `nasa_score`, `mean_error` (mean of predicted - true: positive
        means predictions run late, the costly direction) and `count`.

    Raises:
        ValueError: On empty, non-finite or mismatched input.
    """
    true_array, predicted_array = _as_value_pairs(true_values, predicted_values)
    error = predicted_array - true_array
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "nasa_score": nasa_score(true_array, predicted_array),
        "mean_error": float(np.mean(error)),
        "count": int(error.size),
    }


def evaluate_binary_flags(true_flags: Sequence[bool], predicted_flags: Sequence[bool]) -> dict:
    """Precision, recall and F1 of binary flags (1/True = anomaly), with the four counts.

    Zero division gives 0.0: precision with no predicted flags, recall with no true flags.

    Returns:
        A dict with `precision`, `recall`, `f1`, `true_positive`, `false_positive`,
        `false_negative`, `true_negative` and `count`.

    Raises:
        ValueError: On empty, non-0/1 or mismatched input.
    """
    truth = _as_binary(true_flags, "true_flags")
    predicted = _as_binary(predicted_flags, "predicted_flags")
    _check_same_length(truth, "true_flags", predicted, "predicted_flags")
    counts = confusion_matrix(truth, predicted, 2)
    precision, recall, f1, _ = precision_recall_f1(counts)
    return {
        "precision": float(precision[1]),
        "recall": float(recall[1]),
        "f1": float(f1[1]),
        "true_positive": int(counts[1, 1]),
        "false_positive": int(counts[0, 1]),
        "false_negative": int(counts[1, 0]),
        "true_negative": int(counts[0, 0]),
        "count": int(truth.size),
    }

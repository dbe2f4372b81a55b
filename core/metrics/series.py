"""Metrics for sensor series: remaining-useful-life regression and binary anomaly flags.

Pure numpy. Every public function validates its input once and returns plain Python numbers
(`evaluate_*` return dicts ready for `json.dumps(..., allow_nan=False)`). `core.metrics.evaluation`
re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.metrics.counts import (
    as_binary,
    as_vector,
    check_same_length,
    confusion_matrix,
    precision_recall_f1,
)

__all__ = ["evaluate_binary_flags", "evaluate_regression", "nasa_score"]


def _as_value_pairs(true_values: object, predicted_values: object) -> tuple[np.ndarray, np.ndarray]:
    """Validates a (true, predicted) pair of equally long finite vectors."""
    true_array = as_vector(true_values, "true_values")
    predicted_array = as_vector(predicted_values, "predicted_values")
    check_same_length(true_array, "true_values", predicted_array, "predicted_values")
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
    truth = as_binary(true_flags, "true_flags")
    predicted = as_binary(predicted_flags, "predicted_flags")
    check_same_length(truth, "true_flags", predicted, "predicted_flags")
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

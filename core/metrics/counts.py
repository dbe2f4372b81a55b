"""Checked metric inputs, and the counts every metric builds on.

Pure numpy, shared by `core.metrics.evaluation` (classifiers) and `core.metrics.series` (remaining
useful life and anomaly flags). Zero division is defined as 0.0, as described in
`core.metrics.evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.data.validation import describe_value


def _reject_first(failed: np.ndarray, array: np.ndarray, name: str, expectation: str) -> None:
    """Raises a ValueError naming the first element of `array` where `failed` is True."""
    if np.any(failed):
        position = int(np.flatnonzero(failed)[0])
        value = float(array[position])
        shown = int(value) if value.is_integer() else value
        raise ValueError(f"Expected `{name}` {expectation}. Received: {name}[{position}]={shown}")


def as_float_arrays(expected: str, /, **values: object) -> list[np.ndarray]:
    """Returns each of `values` as a float64 array, in order; shapes are the caller's to check.

    Raises:
        ValueError: If one of them is not numbers: "Expected `a` and `b` to be {expected}.
            Received: a=..., b=..." (every value named, as the caller's input).
    """
    try:
        return [np.asarray(value, dtype=np.float64) for value in values.values()]
    except (TypeError, ValueError):
        names = " and ".join(f"`{name}`" for name in values)
        received = ", ".join(f"{name}={describe_value(value)}" for name, value in values.items())
        raise ValueError(f"Expected {names} to be {expected}. Received: {received}") from None


def as_vector(values: object, name: str) -> np.ndarray:
    """Returns `values` as a non-empty 1-D float array of finite numbers, or raises ValueError."""
    (array,) = as_float_arrays("a 1-D sequence of numbers", **{name: values})
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"Expected `{name}` to be a non-empty 1-D sequence of numbers. "
            f"Received: {name} with shape {array.shape}"
        )
    _reject_first(~np.isfinite(array), array, name, "to contain only finite numbers")
    return array


def as_indices(values: object, name: str, number_of_classes: int) -> np.ndarray:
    """Returns `values` as a 1-D int64 array of class indices in [0, number_of_classes)."""
    array = as_vector(values, name)
    _reject_first(array != np.round(array), array, name, "to hold integer class indices")
    out_of_range = (array < 0) | (array >= number_of_classes)
    _reject_first(out_of_range, array, name, f"in the range [0, {number_of_classes - 1}]")
    return array.astype(np.int64)


def as_binary(values: object, name: str) -> np.ndarray:
    """Returns `values` (booleans or 0/1) as a 1-D int64 array of zeros and ones."""
    array = as_vector(values, name)
    not_binary = (array != 0) & (array != 1)
    _reject_first(not_binary, array, name, "to hold only 0/1 or False/True")
    return array.astype(np.int64)


def check_same_length(
    first: np.ndarray, first_name: str, second: np.ndarray, second_name: str
) -> None:
    """Raises a ValueError naming both arrays when their lengths differ."""
    if first.shape[0] != second.shape[0]:
        raise ValueError(
            f"Expected `{first_name}` and `{second_name}` to have the same length. "
            f"Received: len({first_name})={first.shape[0]}, len({second_name})={second.shape[0]}"
        )


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
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
    true_array = as_indices(true_labels, "true_labels", number_of_classes)
    predicted_array = as_indices(predicted_labels, "predicted_labels", number_of_classes)
    check_same_length(true_array, "true_labels", predicted_array, "predicted_labels")
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
    precision = safe_divide(correct, matrix.sum(axis=0))
    recall = safe_divide(correct, support)
    f1 = safe_divide(2 * precision * recall, precision + recall)
    return precision, recall, f1, support.astype(np.int64)

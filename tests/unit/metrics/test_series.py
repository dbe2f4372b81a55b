"""Tests for core/metrics/series.py: remaining-useful-life regression and anomaly flags."""

import json
import math

import numpy as np
import pytest

from core.metrics import evaluation
from core.metrics import series as evaluation_series


def to_json(result):
    """Serialises strictly: fails on numpy scalars, NaN and infinity."""
    return json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("name", ["nasa_score", "evaluate_regression", "evaluate_binary_flags"])
def test_evaluation_re_exports_the_series_metrics(name):
    assert getattr(evaluation, name) is getattr(evaluation_series, name)
    assert name in evaluation.__all__


# Regression and binary flags


@pytest.mark.parametrize(
    ("true_values", "predicted_values", "expected"),
    [
        ([50.0], [50.0], 0.0),
        ([50.0], [37.0], math.e - 1),  # 13 cycles early.
        ([50.0], [60.0], math.e - 1),  # 10 cycles late.
        ([100.0, 100.0], [74.0, 120.0], 2 * (math.e**2 - 1)),
        ([10.0], [11.0], math.exp(0.1) - 1),
    ],
)
def test_nasa_score_known_values(true_values, predicted_values, expected):
    assert evaluation_series.nasa_score(true_values, predicted_values) == pytest.approx(expected)


def test_nasa_score_penalises_late_more_than_early():
    assert evaluation_series.nasa_score([50], [70]) > evaluation_series.nasa_score([50], [30])


def test_evaluate_regression_by_hand():
    result = evaluation_series.evaluate_regression([10, 20, 30, 40], [12, 18, 30, 44])
    to_json(result)
    # Errors (predicted - true): 2, -2, 0, 4.
    assert result == {
        "rmse": pytest.approx(math.sqrt((4 + 4 + 0 + 16) / 4)),
        "mae": 2.0,
        "nasa_score": pytest.approx(
            (math.exp(0.2) - 1) + (math.exp(2 / 13) - 1) + 0 + (math.exp(0.4) - 1)
        ),
        "mean_error": 1.0,
        "count": 4,
    }


@pytest.mark.parametrize(
    "function", [evaluation_series.evaluate_regression, evaluation_series.nasa_score]
)
@pytest.mark.parametrize(
    ("true_values", "predicted_values", "message"),
    [
        (
            [1.0, 2.0],
            [1.0],
            "Expected `true_values` and `predicted_values` to have the same "
            "length. Received: len(true_values)=2, len(predicted_values)=1",
        ),
        (
            [],
            [],
            "Expected `true_values` to be a non-empty 1-D sequence of numbers. "
            "Received: true_values with shape (0,)",
        ),
        (
            [1.0],
            [np.nan],
            "Expected `predicted_values` to contain only finite numbers. "
            "Received: predicted_values[0]=nan",
        ),
        (
            [1.0],
            ["x"],
            "Expected `predicted_values` to be a 1-D sequence of numbers. "
            "Received: predicted_values=['x']",
        ),
    ],
)
def test_regression_functions_reject_bad_input(function, true_values, predicted_values, message):
    with pytest.raises(ValueError) as raised:
        function(true_values, predicted_values)
    assert message in str(raised.value)


def test_evaluate_binary_flags_by_hand():
    result = evaluation_series.evaluate_binary_flags(
        [True, True, True, False, False, False], [1, 1, 0, 1, 0, 0]
    )
    to_json(result)
    assert result == {
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "true_positive": 2,
        "false_positive": 1,
        "false_negative": 1,
        "true_negative": 2,
        "count": 6,
    }


def test_evaluate_binary_flags_without_flags_gives_zero_not_nan():
    result = evaluation_series.evaluate_binary_flags([0, 0, 1], [0, 0, 0])
    assert (result["precision"], result["recall"], result["f1"]) == (0.0, 0.0, 0.0)
    assert result["false_negative"] == 1


@pytest.mark.parametrize(
    ("true_flags", "predicted_flags", "message"),
    [
        (
            [0, 1],
            [0, 2],
            "Expected `predicted_flags` to hold only 0/1 or False/True. "
            "Received: predicted_flags[1]=2",
        ),
        (
            [0, 1],
            [0],
            "Expected `true_flags` and `predicted_flags` to have the same length. "
            "Received: len(true_flags)=2, len(predicted_flags)=1",
        ),
        ([], [], "Received: true_flags with shape (0,)"),
    ],
)
def test_evaluate_binary_flags_rejects_bad_input(true_flags, predicted_flags, message):
    with pytest.raises(ValueError) as raised:
        evaluation_series.evaluate_binary_flags(true_flags, predicted_flags)
    assert message in str(raised.value)

"""Tests for core/decisions/maintenance.py: unit ranking; also the safe CSV download
(core/data/tables.py) and flagged stretches (core/metrics/anomalies.py)."""

import io

import numpy as np
import pandas as pd
import pytest

from core.data import tables
from core.decisions import maintenance
from core.metrics import anomalies


def predictions_frame():
    """Two cycles per unit; the last cycle's prediction is the one that counts."""
    return pd.DataFrame(
        {
            "unit": [3, 3, 1, 1, 2, 2],
            "cycle": [10, 11, 20, 21, 5, 6],
            "predicted": [90.0, 80.0, 30.0, 25.0, 70.0, 12.0],
        }
    )


# maintenance_table


def test_maintenance_table_ranks_units_by_last_prediction():
    table = maintenance.maintenance_table(predictions_frame(), 25)
    assert list(table.columns) == ["unit", "last_cycle", "predicted_rul", "due"]
    assert table["unit"].tolist() == [2, 1, 3]
    assert table["last_cycle"].tolist() == [6, 21, 11]
    assert table["predicted_rul"].tolist() == [12.0, 25.0, 80.0]
    # RUL equal to the window counts as due.
    assert table["due"].tolist() == [True, True, False]
    assert table["due"].dtype == bool


def test_maintenance_table_uses_the_last_cycle_even_when_rows_are_shuffled():
    shuffled = predictions_frame().sample(frac=1.0, random_state=3)
    table = maintenance.maintenance_table(shuffled, 25)
    assert table["predicted_rul"].tolist() == [12.0, 25.0, 80.0]


@pytest.mark.parametrize(
    "true",
    [
        {1: 20.0, 2: 15.0, 3: 100.0},
        pd.Series([20.0, 15.0, 100.0], index=[1, 2, 3]),
        [20.0, 15.0, 100.0],  # Ascending unit order, as load_cmapss_test returns.
        np.array([20.0, 15.0, 100.0]),
    ],
    ids=["mapping", "series", "list", "array"],
)
def test_maintenance_table_adds_true_rul_and_error(true):
    table = maintenance.maintenance_table(predictions_frame(), 25, true=true)
    assert list(table.columns) == [
        "unit",
        "last_cycle",
        "predicted_rul",
        "due",
        "true_rul",
        "error",
    ]
    assert table["true_rul"].tolist() == [15.0, 20.0, 100.0]
    assert table["error"].tolist() == [-3.0, 5.0, -20.0]


def test_maintenance_table_ties_are_ordered_by_unit():
    frame = pd.DataFrame({"unit": ["b", "a"], "cycle": [1, 1], "predicted": [5.0, 5.0]})
    assert maintenance.maintenance_table(frame, 10)["unit"].tolist() == ["a", "b"]


@pytest.mark.parametrize("window", [0, -3, 2.5, True, "30", None])
def test_maintenance_table_rejects_a_bad_window(window):
    with pytest.raises(ValueError) as error:
        maintenance.maintenance_table(predictions_frame(), window)
    assert str(error.value) == (
        "Expected `maintenance_window` to be a positive integer number of cycles. "
        f"Received: maintenance_window={window!r}"
    )


def test_maintenance_table_accepts_a_numpy_integer_window():
    table = maintenance.maintenance_table(predictions_frame(), np.int64(12))
    assert table["due"].tolist() == [True, False, False]


def test_maintenance_table_names_missing_columns():
    frame = predictions_frame().drop(columns=["cycle"])
    with pytest.raises(ValueError) as error:
        maintenance.maintenance_table(frame, 30)
    assert str(error.value) == (
        "Expected `last_predictions` with columns ['unit', 'cycle', 'predicted']. "
        "Received: missing=['cycle'], columns=['unit', 'predicted']"
    )


def test_maintenance_table_rejects_a_non_frame():
    with pytest.raises(TypeError, match=r"Expected `last_predictions` to be a pandas DataFrame\. "):
        maintenance.maintenance_table([1, 2], 30)


def test_maintenance_table_rejects_non_finite_predictions():
    frame = predictions_frame()
    frame.loc[0, "predicted"] = np.nan
    with pytest.raises(ValueError) as error:
        maintenance.maintenance_table(frame, 30)
    assert str(error.value) == (
        "Expected finite numbers in `predicted`. Received: 1 bad value(s) such as nan"
    )


def test_maintenance_table_rejects_true_rul_that_does_not_match_the_units():
    with pytest.raises(ValueError) as error:
        maintenance.maintenance_table(predictions_frame(), 30, true={1: 5.0, 2: 6.0})
    assert str(error.value) == (
        "Expected a true RUL for every predicted unit. Received: missing units=[3]"
    )
    with pytest.raises(ValueError) as error:
        maintenance.maintenance_table(predictions_frame(), 30, true=[5.0, 6.0])
    assert str(error.value) == (
        "Expected one true RUL per unit, in ascending unit order. "
        "Received: 2 value(s) for 3 unit(s)"
    )
    with pytest.raises(TypeError, match=r"Received: true=12"):
        maintenance.maintenance_table(predictions_frame(), 30, true=12)


# predictions_csv


def test_predictions_csv_neutralises_formula_text_and_leaves_numbers():
    frame = pd.DataFrame(
        {
            "unit": ["=HYPERLINK(1)", "+a", "-b", "@c", "\td", "\re", "plain", "a=b"],
            "predicted": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "cycle": [-1, 2, 3, 4, 5, 6, 7, 8],
            "due": [True, False, True, False, True, False, True, False],
        }
    )
    data = tables.predictions_csv(frame)
    assert isinstance(data, bytes)
    back = pd.read_csv(io.BytesIO(data), keep_default_na=False)
    assert back["unit"].tolist() == [
        "'=HYPERLINK(1)",
        "'+a",
        "'-b",
        "'@c",
        "'\td",
        "'\re",
        "plain",
        "a=b",
    ]
    # Negative numbers stay numbers.
    assert back["predicted"].tolist() == frame["predicted"].tolist()
    assert back["cycle"].tolist() == frame["cycle"].tolist()
    assert back["due"].tolist() == frame["due"].tolist()
    assert data.decode("utf-8").splitlines()[0] == "unit,predicted,cycle,due"


def test_predictions_csv_leaves_numbers_in_mixed_columns_and_neutralises_headers():
    frame = pd.DataFrame({"=cmd": [-4, "-4", "é"]})
    assert tables.predictions_csv(frame).decode("utf-8") == "'=cmd\r\n-4\r\n'-4\r\né\r\n"


def test_predictions_csv_rejects_a_non_frame():
    with pytest.raises(TypeError) as error:
        tables.predictions_csv("unit,cycle")
    assert str(error.value) == (
        "Expected `frame` to be a pandas DataFrame. Received: frame='unit,cycle'"
    )


# flagged_stretches


def test_flagged_stretches_finds_maximal_runs_per_unit():
    scores = pd.DataFrame(
        {
            "unit": ["a"] * 8 + ["b"] * 4,
            "cycle": list(range(1, 9)) + list(range(1, 5)),
            "score": [0.1, 0.9, 0.8, 0.2, 0.3, 0.7, 0.95, 0.6, 0.5, 0.4, 0.1, 0.2],
            "flagged": [0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1],
        }
    )
    stretches = anomalies.flagged_stretches(scores)
    assert list(stretches.columns) == ["unit", "start_cycle", "end_cycle", "peak_score"]
    # Unit a's run ending at its last cycle does not merge into unit b's run at its first.
    assert stretches.to_dict("records") == [
        {"unit": "a", "start_cycle": 2, "end_cycle": 3, "peak_score": 0.9},
        {"unit": "a", "start_cycle": 6, "end_cycle": 8, "peak_score": 0.95},
        {"unit": "b", "start_cycle": 1, "end_cycle": 2, "peak_score": 0.5},
        {"unit": "b", "start_cycle": 4, "end_cycle": 4, "peak_score": 0.2},
    ]


def test_flagged_stretches_sorts_by_cycle_first():
    scores = pd.DataFrame(
        {"unit": 1, "cycle": [3, 1, 2, 4], "score": [3.0, 1.0, 2.0, 4.0], "flagged": [True] * 4}
    )
    scores.loc[1, "flagged"] = False  # Cycle 1.
    assert anomalies.flagged_stretches(scores).to_dict("records") == [
        {"unit": 1, "start_cycle": 2, "end_cycle": 4, "peak_score": 4.0}
    ]


def test_flagged_stretches_without_flags_is_empty_with_the_columns():
    scores = pd.DataFrame({"unit": [1, 1], "cycle": [1, 2], "score": [0.1, 0.2], "flagged": False})
    stretches = anomalies.flagged_stretches(scores)
    assert stretches.empty
    assert list(stretches.columns) == list(anomalies.STRETCH_COLUMNS)


def test_flagged_stretches_rejects_bad_flags_and_missing_columns():
    scores = pd.DataFrame({"unit": 1, "cycle": [1, 2], "score": [0.1, 0.2], "flagged": [1, 2]})
    with pytest.raises(ValueError) as error:
        anomalies.flagged_stretches(scores)
    assert str(error.value) == (
        "Expected `flagged` to hold True/False (or 1/0). Received: 1 bad value(s) such as 2"
    )
    with pytest.raises(ValueError) as error:
        anomalies.flagged_stretches(scores.drop(columns=["score", "flagged"]))
    assert str(error.value) == (
        "Expected `scores` with columns ['unit', 'cycle', 'score', 'flagged']. "
        "Received: missing=['score', 'flagged'], columns=['unit', 'cycle']"
    )

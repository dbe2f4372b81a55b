"""Tests for core/charts/decisions.py: ROC, precision-recall and cost charts of a threshold."""

import json

import pytest

from core.charts import decisions as charts_decisions
from core.decisions.operating_point import cost_curve, minimum_cost_index

LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
SCORES = [0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.9]


@pytest.fixture
def curve() -> dict:
    curve = cost_curve(
        LABELS, SCORES, missed_defect_cost=100, false_reject_cost=10, defect_rate=0.1
    )
    curve["chosen_index"] = minimum_cost_index(curve)
    return curve


def traces(figure) -> dict:
    return {trace["name"]: trace for trace in json.loads(figure.to_json())["data"]}


def test_roc_chart_marks_the_chosen_point(curve):
    figure = charts_decisions.roc_chart(curve)
    drawn = traces(figure)
    assert list(drawn) == ["chance", "thresholds", "chosen threshold"]
    assert drawn["thresholds"]["x"] == [0, 0, 0, 0.25, 0.25, 0.25, 0.5, 0.75, 1]
    assert drawn["thresholds"]["y"] == [0, 0.25, 0.5, 0.5, 0.75, 1, 1, 1, 1]
    chosen = drawn["chosen threshold"]
    assert (chosen["x"], chosen["y"]) == ([0.25], [1.0])
    assert chosen["text"] == ["threshold 0.4<br>recall 100.0%, false rejects 25.0%"]
    assert figure.layout.title.text == "ROC curve (validation images), AUC 0.875"
    assert figure.layout.xaxis.title.text == "false-reject rate (good parts rejected)"


def test_precision_recall_chart_uses_the_line_defect_rate(curve):
    figure = charts_decisions.precision_recall_chart(curve, defect_rate=0.1, title="PR")
    drawn = traces(figure)
    chosen = drawn["chosen threshold"]
    assert chosen["x"] == [1.0]
    assert chosen["y"][0] == pytest.approx(0.1 / 0.325)
    assert chosen["text"] == ["threshold 0.4<br>recall 100.0%, precision 30.8%"]
    assert figure.layout.yaxis.title.text == "precision on the line (10.00% defects)"
    assert figure.layout.title.text == "PR"


def test_cost_chart_marks_the_minimum(curve):
    figure = charts_decisions.cost_chart(curve)
    drawn = traces(figure)
    line = drawn["expected cost"]
    assert line["x"] == sorted(line["x"])
    assert min(line["y"]) == pytest.approx(2_250_000)
    assert line["line"]["shape"] == "vh"
    chosen = drawn["chosen threshold"]
    assert chosen["x"] == [0.4]
    assert chosen["y"][0] == pytest.approx(2_250_000)
    assert chosen["text"] == ["minimum 2,250,000 per million<br>at threshold 0.4"]
    assert figure.layout.title.text == "Expected cost per million parts"


def test_charts_refuse_an_incomplete_curve(curve):
    with pytest.raises(ValueError) as error:
        charts_decisions.roc_chart({key: curve[key] for key in curve if key != "chosen_index"})
    assert str(error.value) == (
        f"Expected a curve with the keys {list(charts_decisions.CURVE_KEYS)}. "
        "Received: missing ['chosen_index']"
    )
    with pytest.raises(ValueError) as error:
        charts_decisions.cost_chart({**curve, "chosen_index": 9})
    assert str(error.value) == (
        "Expected `chosen_index` to be an integer in [0, 8]. Received: chosen_index=9"
    )
    with pytest.raises(ValueError) as error:
        charts_decisions.precision_recall_chart({**curve, "line_precision": [1.0]})
    assert str(error.value).startswith(
        "Expected the curve's arrays to be 1-D, non-empty and of one length. Received: shapes"
    )
    with pytest.raises(ValueError) as error:
        charts_decisions.roc_chart([1, 2])
    assert str(error.value) == (
        "Expected the curve dict of set_operating_point. Received: curve=[1, 2]"
    )


def test_the_label_of_a_point_near_the_right_edge_goes_left(curve):
    # Chosen at recall 100%: on the precision-recall chart it sits at the right edge.
    drawn = traces(charts_decisions.precision_recall_chart(curve))
    assert drawn["chosen threshold"]["textposition"] == "bottom left"
    drawn = traces(charts_decisions.roc_chart(curve))
    assert drawn["chosen threshold"]["textposition"] == "bottom right"

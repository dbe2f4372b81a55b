"""Tests for core/charts/image_anomaly.py: the test score distribution and the ROC curve."""

import json
import math

import pytest

from core.charts import image_anomaly as charts_image_anomaly

GROUPS = {"ok": [1.0, 2.0, 3.0, 5.0], "crack": [4.0, 40.0, 400.0], "pit": [2.5, 60.0]}


def test_score_distribution_draws_one_box_per_class_with_the_threshold():
    figure = charts_image_anomaly.score_distribution(GROUPS, "ok", 4.5)
    boxes = [trace for trace in figure.data if trace.type == "box"]
    # Added bottom-up, so the good class ends on top of the chart.
    assert [trace.name for trace in boxes] == ["pit", "crack", "ok"]
    assert list(boxes[-1].x) == [1.0, 2.0, 3.0, 5.0]
    assert boxes[-1].marker.color != boxes[0].marker.color
    assert all(trace.boxpoints == "all" and trace.orientation == "h" for trace in boxes)
    (line,) = figure.layout.shapes
    assert (line.x0, line.x1) == (4.5, 4.5)
    texts = [annotation.text for annotation in figure.layout.annotations]
    assert "threshold 4.5" in texts
    assert {"1/4 flagged", "2/3 flagged", "1/2 flagged"} <= set(texts)
    assert figure.layout.title.text == "Test scores by true class"
    json.loads(figure.to_json())


def test_score_distribution_chooses_a_log_axis_for_widely_spread_positive_scores():
    figure = charts_image_anomaly.score_distribution(GROUPS, "ok", 4.5)
    assert figure.layout.xaxis.type == "log"
    # On a log axis the line takes the score, its label the score's log10.
    assert figure.layout.shapes[0].x0 == 4.5
    label = next(note for note in figure.layout.annotations if note.text == "threshold 4.5")
    assert label.x == pytest.approx(math.log10(4.5))
    narrow = {"ok": [1.0, 2.0], "crack": [3.0, 4.0]}
    linear = charts_image_anomaly.score_distribution(narrow, "ok", 2.5)
    assert linear.layout.xaxis.type == "linear"
    label = next(note for note in linear.layout.annotations if note.text == "threshold 2.5")
    assert label.x == 2.5
    negative = {"ok": [-0.5, 1.0], "crack": [3.0, 400.0]}
    figure = charts_image_anomaly.score_distribution(negative, "ok", 2.0)
    assert figure.layout.xaxis.type == "linear"
    forced = charts_image_anomaly.score_distribution(GROUPS, "ok", 4.5, log_scale=False)
    assert forced.layout.xaxis.type == "linear"
    with pytest.raises(ValueError) as caught:
        charts_image_anomaly.score_distribution(negative, "ok", 2.0, log_scale=True)
    assert str(caught.value) == (
        "Expected positive scores and a positive threshold for a log axis. Received: "
        "log_scale=True, threshold=2.0, lowest score -0.5"
    )


@pytest.mark.parametrize(
    ("groups", "good_class", "threshold", "message"),
    [
        (
            [1, 2],
            "ok",
            1.0,
            "Expected a mapping of class name to test scores, e.g. {'ok': [...], 'crack': [...]}. "
            "Received: scores_by_class=",
        ),
        (
            {"ok": [1.0], "crack": []},
            "ok",
            1.0,
            "Expected each class to hold a non-empty list of finite scores. "
            "Received: scores_by_class['crack']=",
        ),
        (
            {"ok": [1.0], "crack": ["deep"]},
            "ok",
            1.0,
            "Expected each class to hold a non-empty list of finite scores. "
            "Received: scores_by_class['crack']=",
        ),
        (
            {"ok": "12", "crack": [2.0]},
            "ok",
            1.0,
            "Expected each class to hold a non-empty list of finite scores. "
            "Received: scores_by_class['ok']=",
        ),
        (
            {"ok": [1.0, float("nan")], "crack": [2.0]},
            "ok",
            1.0,
            "Expected each class to hold a non-empty list of finite scores. "
            "Received: scores_by_class['ok']=",
        ),
        (
            {"good": [1.0], "crack": [2.0]},
            "ok",
            1.0,
            "Expected the good class ",
        ),
        (
            {"ok": [1.0], "crack": [2.0]},
            "ok",
            float("inf"),
            "Expected `threshold` to be a finite number. Received: threshold=",
        ),
    ],
)
def test_both_charts_reject_bad_input_with_the_reason(groups, good_class, threshold, message):
    for chart in (charts_image_anomaly.score_distribution, charts_image_anomaly.score_roc_chart):
        with pytest.raises(ValueError) as caught:
            chart(groups, good_class, threshold)
        assert str(caught.value).startswith(message), str(caught.value)


def test_roc_chart_marks_the_threshold_and_titles_the_auroc():
    figure = charts_image_anomaly.score_roc_chart(GROUPS, "ok", 4.5)
    chance, curve, chosen = figure.data
    assert list(chance.x) == [0, 1]
    assert curve.x[0] == 0 and curve.y[-1] == 1
    # At 4.5: one good part of four is rejected, three defects of five are caught.
    assert (chosen.x[0], chosen.y[0]) == (0.25, 0.6)
    assert chosen.text[0] == "threshold 4.5<br>recall 60.0%, false rejects 25.0%"
    # Of the 20 (good, defect) pairs the defect scores higher in 17: 4 is under 5, 2.5 under 3
    # and 5.
    assert figure.layout.title.text == "ROC curve (test images), AUROC 0.850"


def test_roc_chart_of_perfectly_separated_scores():
    figure = charts_image_anomaly.score_roc_chart({"ok": [1, 2], "dent": [3, 4]}, "ok", 2.5)
    assert figure.layout.title.text == "ROC curve (test images), AUROC 1.000"
    chosen = figure.data[-1]
    assert (chosen.x[0], chosen.y[0]) == (0.0, 1.0)
    custom = charts_image_anomaly.score_roc_chart(
        {"ok": [1, 2], "dent": [3, 4]}, "ok", 2.5, title="ROC"
    )
    assert custom.layout.title.text == "ROC"


def test_good_scores_alone_draw_a_distribution_but_no_roc_curve():
    figure = charts_image_anomaly.score_distribution({"ok": [1.0, 2.0, 3.0]}, "ok", 2.5)
    assert [trace.name for trace in figure.data] == ["ok"]
    with pytest.raises(ValueError) as caught:
        charts_image_anomaly.score_roc_chart({"ok": [1.0]}, "ok", 1.0)
    assert str(caught.value) == (
        "Expected the good class and at least one defect class among the score groups "
        "['ok']. Received: good_class='ok'"
    )

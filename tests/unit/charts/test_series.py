"""Tests for core/charts/series.py (with core/charts/series_anomaly.py and core/charts/training.py):
the figures' contents and the input checks."""

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.charts import series as charts_series
from core.charts import series_anomaly as charts_anomaly
from core.charts import training as charts_training
from core.decisions import maintenance
from core.metrics.series import evaluate_regression


def predictions_frame():
    """Units 1 and 2 with five cycles each, predicted and true RUL."""
    return pd.DataFrame(
        {
            "unit": [1] * 5 + [2] * 5,
            "cycle": [5, 4, 3, 2, 1, 1, 2, 3, 4, 5],  # Unit 1 deliberately out of order.
            "predicted": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 55.0, 50.0, 45.0, 40.0],
            "true": [41.0, 42.0, 43.0, 44.0, 45.0, 70.0, 69.0, 68.0, 67.0, 66.0],
        }
    )


def per_unit_frame():
    return pd.DataFrame(
        {"unit": [7, 8, 9], "true": [10.0, 50.0, 100.0], "predicted": [20.0, 45.0, 90.0]}
    )


def scores_frame():
    """One unit, twelve cycles; flagged where the score exceeds 0.5 (cycles 2-3, 7, 10-11)."""
    scores = [0.1, 0.9, 0.8, 0.2, 0.1, 0.1, 0.7, 0.1, 0.1, 0.6, 0.65, 0.1]
    return pd.DataFrame(
        {
            "unit": "live",
            "cycle": range(1, 13),
            "score": scores,
            "flagged": [score > 0.5 for score in scores],
            "top_sensor": "sensor_02",
        }
    )


# rul_over_cycles


def test_rul_over_cycles_draws_predicted_and_true_lines_per_unit_in_cycle_order():
    figure = charts_series.rul_over_cycles(predictions_frame(), [1, 2], cap=125)
    assert isinstance(figure, go.Figure)
    assert [trace.name for trace in figure.data] == [
        "unit 1 predicted RUL",
        "unit 1 true",
        "unit 2 predicted RUL",
        "unit 2 true",
    ]
    assert list(figure.data[0].x) == [1, 2, 3, 4, 5]
    assert list(figure.data[0].y) == [50.0, 40.0, 30.0, 20.0, 10.0]
    assert list(figure.data[1].y) == [45.0, 44.0, 43.0, 42.0, 41.0]
    # A unit's true line shares its colour and is dashed.
    assert figure.data[0].line.color == figure.data[1].line.color
    assert figure.data[1].line.dash == "dash"
    assert figure.data[0].line.color != figure.data[2].line.color
    (cap_line,) = figure.layout.shapes
    assert (cap_line.y0, cap_line.y1) == (125, 125)


def test_rul_over_cycles_takes_a_single_unit_and_no_true_column():
    frame = predictions_frame().drop(columns=["true"])
    figure = charts_series.rul_over_cycles(frame, 2)
    assert [trace.name for trace in figure.data] == ["unit 2 predicted RUL"]
    assert figure.layout.shapes == ()


def test_rul_over_cycles_rejects_absent_units_and_bad_cap():
    with pytest.raises(ValueError) as error:
        charts_series.rul_over_cycles(predictions_frame(), [1, 3])
    assert str(error.value) == (
        "Expected one or more units present in `predictions`. Received: units=[1, 3], missing=[3]"
    )
    with pytest.raises(ValueError) as error:
        charts_series.rul_over_cycles(predictions_frame(), [])
    assert str(error.value) == (
        "Expected one or more units present in `predictions`. Received: units=[], missing=[]"
    )
    with pytest.raises(ValueError) as error:
        charts_series.rul_over_cycles(predictions_frame(), 1, cap=0)
    assert str(error.value) == "Expected `cap` to be a positive number. Received: cap=0"


def test_rul_over_cycles_names_missing_columns():
    with pytest.raises(ValueError) as error:
        charts_series.rul_over_cycles(predictions_frame().drop(columns=["predicted"]), 1)
    assert str(error.value) == (
        "Expected `predictions` with columns ['unit', 'cycle', 'predicted']. "
        "Received: missing=['predicted'], columns=['unit', 'cycle', 'true']"
    )


# predicted_against_true and error_histogram


def test_predicted_against_true_scatter_identity_line_and_hover():
    figure = charts_series.predicted_against_true(per_unit_frame())
    identity, points = figure.data
    assert identity.mode == "lines"
    # From min(0, lowest value) to the highest value over both axes.
    assert list(identity.x) == [0.0, 100.0]
    assert list(identity.y) == [0.0, 100.0]
    assert points.type == "scatter"
    assert points.mode == "markers"
    assert list(points.x) == [10.0, 50.0, 100.0]
    assert list(points.y) == [20.0, 45.0, 90.0]
    assert [list(item) for item in points.customdata] == [["7", 10.0], ["8", -5.0], ["9", -10.0]]
    assert "unit %{customdata[0]}" in points.hovertemplate
    assert "error %{customdata[1]" in points.hovertemplate


def test_predicted_against_true_identity_line_reaches_negative_predictions():
    frame = pd.DataFrame({"unit": [1, 2], "true": [5.0, 30.0], "predicted": [-4.0, 35.0]})
    identity = charts_series.predicted_against_true(frame).data[0]
    assert list(identity.x) == [-4.0, 35.0]


def test_error_histogram_errors_zero_line_and_metrics_in_title():
    frame = per_unit_frame()
    figure = charts_series.error_histogram(frame)
    (histogram,) = figure.data
    assert histogram.type == "histogram"
    assert list(histogram.x) == [10.0, -5.0, -10.0]
    (zero_line,) = figure.layout.shapes
    assert (zero_line.x0, zero_line.x1) == (0, 0)
    metrics = evaluate_regression(frame["true"], frame["predicted"])
    assert metrics["rmse"] == pytest.approx(math.sqrt((100 + 25 + 100) / 3))
    assert figure.layout.title.text == (
        f"RMSE {metrics['rmse']:.2f} · NASA score {metrics['nasa_score']:.1f} (3 units)"
    )


@pytest.mark.parametrize(
    "function", [charts_series.predicted_against_true, charts_series.error_histogram]
)
def test_per_unit_charts_reject_empty_missing_and_non_finite(function):
    with pytest.raises(ValueError) as error:
        function(per_unit_frame().iloc[0:0])
    assert str(error.value) == "Expected at least one unit in `per_unit`. Received: 0 rows"
    with pytest.raises(ValueError) as error:
        function(per_unit_frame().drop(columns=["true"]))
    assert str(error.value) == (
        "Expected `per_unit` with columns ['unit', 'true', 'predicted']. "
        "Received: missing=['true'], columns=['unit', 'predicted']"
    )
    frame = per_unit_frame()
    frame.loc[1, "predicted"] = np.nan
    with pytest.raises(ValueError, match="predicted_values"):
        function(frame)


# maintenance_ranking


def test_maintenance_ranking_bars_sorted_with_due_units_in_the_warning_colour():
    frame = pd.DataFrame(
        {"unit": [1, 2, 3, 4], "cycle": [9, 9, 9, 9], "predicted": [80.0, 12.0, 30.0, 31.0]}
    )
    table = maintenance.maintenance_table(frame, 30, true=[70.0, 10.0, 35.0, 20.0])
    figure = charts_series.maintenance_ranking(table, 30)
    (bars,) = figure.data
    assert bars.type == "bar"
    assert bars.orientation == "h"
    assert list(bars.y) == ["2", "3", "4", "1"]
    assert list(bars.x) == [12.0, 30.0, 31.0, 80.0]
    warning, neutral = charts_series.WARNING_COLOUR, charts_series.NEUTRAL_COLOUR
    assert list(bars.marker.color) == [warning, warning, neutral, neutral]
    # Most urgent at the top.
    assert figure.layout.yaxis.autorange == "reversed"
    (window_line,) = figure.layout.shapes
    assert (window_line.x0, window_line.x1) == (30, 30)
    assert figure.layout.title.text == "2 of 4 units due within 30 cycles"
    assert "true rul %{customdata[1]}" in bars.hovertemplate


def test_maintenance_ranking_sorts_an_unsorted_table_and_checks_its_input():
    table = pd.DataFrame({"unit": ["b", "a"], "predicted_rul": [50.0, 5.0]})
    figure = charts_series.maintenance_ranking(table, 10)
    assert list(figure.data[0].y) == ["a", "b"]
    with pytest.raises(ValueError) as error:
        charts_series.maintenance_ranking(table, -1)
    assert str(error.value) == (
        "Expected `maintenance_window` to be a positive number. Received: maintenance_window=-1"
    )
    with pytest.raises(ValueError) as error:
        charts_series.maintenance_ranking(table.rename(columns={"predicted_rul": "rul"}), 10)
    assert str(error.value) == (
        "Expected `table` with columns ['unit', 'predicted_rul']. "
        "Received: missing=['predicted_rul'], columns=['unit', 'rul']"
    )


# anomaly_timeline


def test_anomaly_timeline_threshold_flagged_and_injected_stretches():
    injected = pd.DataFrame(
        {"start_cycle": [2, 9], "end_cycle": [3, 11], "kind": ["noise_burst", "level_shift"]}
    )
    figure = charts_anomaly.anomaly_timeline(scores_frame(), 0.5, injected=injected)
    (line,) = figure.data
    assert list(line.x) == list(range(1, 13))
    assert line.y[1] == 0.9
    assert "top sensor %{customdata}" in line.hovertemplate
    threshold, *stretches = figure.layout.shapes
    assert (threshold.y0, threshold.y1, threshold.line.dash) == (0.5, 0.5, "dash")
    flagged = [shape for shape in stretches if shape.fillcolor == charts_series.FLAGGED_FILL]
    known = [shape for shape in stretches if shape.fillcolor == charts_series.INJECTED_FILL]
    # Flagged runs 2-3, 7 and 10-11, each widened by half a cycle.
    assert [(shape.x0, shape.x1) for shape in flagged] == [(1.5, 3.5), (6.5, 7.5), (9.5, 11.5)]
    assert [(shape.x0, shape.x1) for shape in known] == [(1.5, 3.5), (8.5, 11.5)]
    assert [shape.showlegend for shape in flagged] == [True, False, False]
    labels = [annotation.text for annotation in figure.layout.annotations]
    assert labels == ["threshold", "noise_burst", "level_shift"]
    assert figure.layout.title.text == "unit live: 3 flagged stretch(es)"


def test_anomaly_timeline_picks_the_named_unit():
    other = scores_frame().assign(unit="other", flagged=False)
    scores = pd.concat([scores_frame(), other], ignore_index=True)
    figure = charts_anomaly.anomaly_timeline(scores, 0.5, unit="other")
    assert len(figure.data[0].x) == 12
    assert len(figure.layout.shapes) == 1  # Only the threshold: nothing flagged.
    with pytest.raises(ValueError) as error:
        charts_anomaly.anomaly_timeline(scores, 0.5)
    assert str(error.value) == (
        "Expected `unit` naming one unit when scores hold several (or none). "
        "Received: unit=None, units=['live', 'other']"
    )
    with pytest.raises(ValueError) as error:
        charts_anomaly.anomaly_timeline(scores, 0.5, unit="missing")
    assert str(error.value) == (
        "Expected `unit` among the units in `scores`. Received: unit='missing'"
    )


def test_anomaly_timeline_rejects_bad_threshold_and_injected_stretches():
    with pytest.raises(ValueError) as error:
        charts_anomaly.anomaly_timeline(scores_frame(), float("nan"))
    assert str(error.value) == "Expected `threshold` to be a finite number. Received: threshold=nan"
    backwards = pd.DataFrame({"start_cycle": [9], "end_cycle": [3], "kind": ["spike"]})
    with pytest.raises(ValueError) as error:
        charts_anomaly.anomaly_timeline(scores_frame(), 0.5, injected=backwards)
    assert str(error.value) == (
        "Expected each injected stretch to have start_cycle <= end_cycle. Received: rows=[[9, 3]]"
    )
    with pytest.raises(ValueError, match=r"Received: missing=\['kind'\]"):
        charts_anomaly.anomaly_timeline(
            scores_frame(), 0.5, injected=backwards.drop(columns=["kind"])
        )


# failure_probability_over_cycles


def test_failure_probability_lines_truth_steps_and_threshold():
    frame = predictions_frame().assign(
        probability=[0.9, 0.7, 0.4, 0.2, 0.1, 0.0, 0.1, 0.2, 0.3, 0.4],
        true=[1, 1, 0, 0, 0, 0, 0, 0, 0, 1],
    )
    figure = charts_series.failure_probability_over_cycles(frame, [1], threshold=0.3)
    probability, truth = figure.data
    assert probability.name == "unit 1 probability"
    assert list(probability.y) == [0.1, 0.2, 0.4, 0.7, 0.9]
    assert list(truth.y) == [0, 0, 0, 1, 1]
    assert truth.line.shape == "hv"
    (threshold,) = figure.layout.shapes
    assert (threshold.y0, threshold.y1) == (0.3, 0.3)


def test_failure_probability_reads_predicted_when_there_is_no_probability_column():
    frame = predictions_frame().drop(columns=["true"]).assign(predicted=0.25)
    figure = charts_series.failure_probability_over_cycles(frame, 2)
    assert list(figure.data[0].y) == [0.25] * 5


def test_failure_probability_rejects_bad_threshold_and_probabilities():
    frame = predictions_frame().assign(probability=0.5)
    with pytest.raises(ValueError) as error:
        charts_series.failure_probability_over_cycles(frame, 1, threshold=1.0)
    assert str(error.value) == "Expected `threshold` in (0, 1). Received: threshold=1.0"
    with pytest.raises(ValueError) as error:
        charts_series.failure_probability_over_cycles(frame.assign(probability=1.5), 1)
    assert str(error.value) == (
        "Expected probabilities in [0, 1] in column 'probability'. Received: [1.5, 1.5, 1.5]"
    )


# series_training_curves


def test_series_training_curves_shows_a_regression_history():
    history = {
        "loss": [300.0, 200.0],
        "val_loss": [320.0, 250.0],
        "mae": [14.0, 11.0],
        "val_mae": [15.0, 12.5],
        "learning_rate": [0.001, 0.001],
    }
    batch_points = [{"epoch": 0.5, "loss": 310.0, "mae": 14.5}]
    figure = charts_training.series_training_curves(history, batch_points)
    assert [annotation.text for annotation in figure.layout.annotations] == ["loss", "mae"]
    names = [trace.name for trace in figure.data]
    assert names == [
        "train loss (batch)",
        "train loss",
        "validation loss",
        "train mae (batch)",
        "train mae",
        "validation mae",
    ]
    validation_mae = figure.data[5]
    assert list(validation_mae.x) == [1, 2]
    assert list(validation_mae.y) == [15.0, 12.5]
    assert validation_mae.xaxis == "x2"
    assert validation_mae.line.color == charts_series.VALIDATION_COLOUR


def test_series_training_curves_puts_loss_first_and_checks_input():
    figure = charts_training.series_training_curves({"val_accuracy": [0.5], "loss": [1.0]})
    assert [annotation.text for annotation in figure.layout.annotations] == ["loss", "accuracy"]
    with pytest.raises(ValueError) as error:
        charts_training.series_training_curves({"lr": [0.1]})
    assert str(error.value) == (
        "Expected a training history with at least one metric, e.g. {'loss': [...]}. "
        "Received: history={'lr': [0.1]}"
    )
    with pytest.raises(ValueError, match=r"Received: history=\[1, 2\]"):
        charts_training.series_training_curves([1, 2])


def test_every_figure_serialises_to_json():
    figures = [
        charts_series.rul_over_cycles(predictions_frame(), [1, 2], cap=125),
        charts_series.predicted_against_true(per_unit_frame()),
        charts_series.error_histogram(per_unit_frame()),
        charts_anomaly.anomaly_timeline(scores_frame(), 0.5),
    ]
    for figure in figures:
        assert figure.to_json().startswith("{")

"""Tests for core/jobs/sensor_results.py: monitor runs and the frames each results section draws."""

import types

import pandas as pd
import pytest

from core.engine.series_training import SeriesTrainingConfig
from core.jobs import sensor_results
from core.jobs.sensor_results import MonitorRun


def rul_predictions() -> pd.DataFrame:
    """Units 1-3; unit 2 is the most urgent, unit 3 the least."""
    rows = []
    for unit, last_rul in ((1, 40.0), (2, 5.0), (3, 90.0)):
        for step in range(4):
            cycle = 10 + step
            rows.append(
                {
                    "unit": unit,
                    "cycle": cycle,
                    "true": last_rul + 3 - step,
                    "predicted": last_rul + 4 - step,
                    "true_rul": last_rul + 3 - step,
                    "last_cycle": step == 3,
                }
            )
    return pd.DataFrame(rows)


def rul_run(**changes) -> MonitorRun:
    predictions = rul_predictions()
    last = predictions[predictions["last_cycle"]]
    evaluation = {
        "rmse": 1.0,
        "mae": 1.0,
        "score": 0.3,
        "count": 3,
        "per_unit": [
            {"unit": unit, "true": true, "predicted": predicted}
            for unit, true, predicted in zip(
                last["unit"], last["true_rul"], last["predicted"], strict=True
            )
        ],
    }
    return MonitorRun("rul", "a run", predictions, evaluation, rul_cap=125, **changes)


def anomaly_scores() -> pd.DataFrame:
    flagged = [False, True, True, False, False, True, False, False]
    return pd.DataFrame(
        {
            "unit": [1] * 8,
            "cycle": range(1, 9),
            "score": [0.1, 2.0, 3.0, 0.2, 0.1, 4.0, 0.3, 0.2],
            "flagged": flagged,
            "top_sensor": ["s1"] * 8,
            "healthy": [True] * 8,
        }
    )


def training_result(**changes):
    values = {
        "config": SeriesTrainingConfig(task="rul", epochs=2),
        "predictions": rul_predictions(),
        "evaluation": {"rmse": 1.0},
        "threshold": None,
        "problems": ["Dropped 1 sensor(s)."],
        "best_epoch": 2,
        "epochs_run": 2,
        "seconds": 3.4,
        "cancelled": False,
        "history": {"loss": [2.0, 1.0], "val_loss": [2.5, 1.5]},
        "train_units": [1, 2, 3, 4],
        "validation_units": [5],
        "test_units": [6, 7],
    }
    return types.SimpleNamespace(**(values | changes))


def test_run_from_training_wraps_the_result():
    run = sensor_results.run_from_training(training_result(), "rul on sample")
    assert (run.task, run.description, run.rul_cap, run.horizon) == (
        "rul",
        "rul on sample",
        125,
        30,
    )
    assert run.evaluation == {"rmse": 1.0}
    assert run.problems == ["Dropped 1 sensor(s)."]
    assert run.has_model and run.model_reference is None
    cancelled = sensor_results.run_from_training(training_result(best_epoch=None), "x")
    assert not cancelled.has_model


def test_run_summary_headline():
    summary = sensor_results.run_summary(sensor_results.run_from_training(training_result(), "x"))
    assert summary["headline"] == {
        "Epochs": "2",
        "Best epoch": "2",
        "Training time": "3 s",
        "Units train/validation/test": "4/1/2",
    }
    assert summary["history"]["loss"] == [2.0, 1.0]
    assert summary["cancelled"] is None
    stopped = training_result(cancelled=True, epochs_run=3)
    assert sensor_results.run_summary(sensor_results.run_from_training(stopped, "x"))[
        "cancelled"
    ] == ("Cancelled after 3 epoch(s); the model holds the weights of epoch 2.")
    assert sensor_results.run_summary(rul_run()) == {}, "a saved model has no training"


def test_headline_formats_and_orders_by_labels():
    metrics = {"mae": 12.3456, "rmse": 15.0, "count": 16, "score": None}
    assert sensor_results.headline(metrics, sensor_results.RUL_METRICS) == {
        "RMSE": "15",
        "MAE": "12.3",
        "Units": "16",
    }


def test_rul_view_orders_units_by_urgency():
    view = sensor_results.rul_view(rul_run())
    assert view["units"] == [2, 1, 3]
    assert view["default_units"] == [2, 1, 3]
    assert list(view["curves"].columns) == ["unit", "cycle", "predicted", "true"]
    assert list(view["per_unit"]["unit"]) == [1, 2, 3]
    assert view["headline"]["RMSE"] == "1"
    assert view["cap"] == 125
    assert (view["window"], view["max_window"]) == (30, 200), "the horizon is the default window"
    assert sensor_results.rul_view(rul_run(horizon=500))["window"] == 200


def test_rul_view_without_truth_has_no_true_curve_or_per_unit():
    predictions = rul_predictions()[["unit", "cycle", "predicted"]]
    view = sensor_results.rul_view(MonitorRun("rul", "saved", predictions, {}))
    assert list(view["curves"].columns) == ["unit", "cycle", "predicted"]
    assert view["per_unit"] is None
    assert view["headline"] == {}


def test_maintenance_view_marks_units_due_within_the_window():
    table = sensor_results.maintenance_view(rul_run(), 41)
    assert list(table["unit"]) == [2, 1, 3]
    assert list(table["due"]) == [True, True, False]
    assert list(table["true_rul"]) == [5.0, 40.0, 90.0]
    assert list(table["last_cycle"]) == [13, 13, 13]
    narrow = sensor_results.maintenance_view(rul_run(), 5)
    assert list(narrow["due"]) == [False, False, False], "predicted RUL 6 is outside 5"
    with pytest.raises(ValueError, match="Expected `maintenance_window` to be a positive integer"):
        sensor_results.maintenance_view(rul_run(), 0)


def test_failure_view_ranks_units_by_probability():
    predictions = pd.DataFrame(
        {
            "unit": [1, 1, 2, 2],
            "cycle": [1, 2, 1, 2],
            "probability": [0.1, 0.2, 0.4, 0.9],
            "predicted": [0, 0, 0, 1],
            "true": [0, 0, 0, 1],
        }
    )
    evaluation = {
        "confusion_matrix": [[3, 0], [0, 1]],
        "class_names": ["healthy", "failing"],
        "accuracy": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
    }
    view = sensor_results.failure_view(MonitorRun("failure", "x", predictions, evaluation))
    assert view["units"] == [2, 1]
    assert view["ranking"].to_dict("list") == {
        "unit": [2, 1],
        "last_cycle": [2, 2],
        "probability": [0.9, 0.2],
        "failing": [True, False],
    }
    assert view["confusion_matrix"] == [[3, 0], [0, 1]]
    assert list(view["headline"]) == ["Accuracy", "Precision", "Recall", "F1"]
    assert "true" in view["curves"].columns


def test_anomaly_view_lists_flagged_stretches_and_the_injected_ones_they_hit():
    labels = pd.DataFrame(
        {"start_cycle": [2], "end_cycle": [3], "kind": ["spike"], "sensors": ["s1"]}
    )
    detection = {
        "step": {"precision": 0.5, "recall": 1.0},
        "event_precision": 0.5,
        "event_recall": 1.0,
        "events_found": 1,
        "events_total": 1,
    }
    run = MonitorRun(
        "anomaly", "x", anomaly_scores(), {}, threshold=1.0, labels=labels, detection=detection
    )
    view = sensor_results.anomaly_view(run)
    stretches = view["stretches"]
    assert stretches[["start_cycle", "end_cycle", "cycles"]].values.tolist() == [
        [2, 3, 2],
        [6, 6, 1],
    ]
    assert list(stretches["injected"]) == ["spike", ""]
    assert view["headline"] == {
        "Event precision": "0.5",
        "Event recall": "1",
        "Step precision": "0.5",
        "Step recall": "1",
    }
    assert view["threshold"] == 1.0
    assert view["units"] == [1]


def test_anomaly_view_without_labels_has_no_metrics():
    run = MonitorRun("anomaly", "x", anomaly_scores(), {}, threshold=1.0)
    view = sensor_results.anomaly_view(run)
    assert view["headline"] == {}
    assert "injected" not in view["stretches"].columns


def test_labels_for_unit_keeps_stretches_without_units_for_every_unit():
    shared = pd.DataFrame({"start_cycle": [1], "end_cycle": [2], "kind": ["x"]})
    assert sensor_results.labels_for_unit(shared, 5) is shared
    per_unit = shared.assign(unit=[3])
    assert len(sensor_results.labels_for_unit(per_unit, 3)) == 1
    assert sensor_results.labels_for_unit(per_unit, 4).empty
    assert sensor_results.labels_for_unit(None, 1) is None


def test_download_frame_leaves_out_internal_columns():
    run = MonitorRun("anomaly", "x", anomaly_scores(), {})
    assert "healthy" not in sensor_results.download_frame(run).columns
    assert "score" in sensor_results.download_frame(run).columns


def test_add_detection_evaluates_flags_against_labels():
    run = MonitorRun("anomaly", "x", anomaly_scores(), {})
    sensor_results.add_detection(run, None)
    assert run.detection is None
    labels = pd.DataFrame({"start_cycle": [6], "end_cycle": [7], "kind": ["spike"]})
    sensor_results.add_detection(run, labels)
    assert run.detection["events_found"] == 1
    assert run.detection["flagged_stretches"] == 2
    assert run.labels is labels


def test_live_history_lists_batch_metrics_before_the_first_epoch_ends():
    snapshot = {"epoch_history": {}, "batch_points": [{"epoch": 0.5, "loss": 1.0, "mae": 0.8}]}
    assert sensor_results.live_history(snapshot) == {"loss": [], "mae": []}
    later = {"epoch_history": {"loss": [1.0], "val_loss": [1.2]}, "batch_points": []}
    assert sensor_results.live_history(later) == {"loss": [1.0], "val_loss": [1.2]}


def test_live_curves_draw_the_batch_loss_during_the_first_epoch():
    snapshot = {"epoch_history": {}, "batch_points": [{"epoch": 0.5, "loss": 1.0, "mae": 0.8}]}
    figure = sensor_results.live_curves(snapshot)
    names = [trace.name for trace in figure.data]
    assert names == ["train loss (batch)", "train mae (batch)"]

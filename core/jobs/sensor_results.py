"""Results of the sensor monitor page: one `MonitorRun` per trained or saved model, and its views.

A `MonitorRun` holds what a model said about a set of machines (per-cycle predictions), how good
that was when the truth is known (evaluation), and for a trained model the training run itself.
`run_from_training` wraps a `SeriesRunResult` (scoring live data for anomaly detection);
`core.jobs.sensor.score_saved_model` builds one from a registered model. The `*_view` functions
return the plain frames and dicts each results section draws; they also work on
`lightweight_run(run)`, what the `JobManager` keeps once a trained run is released (no model).
Pure pandas; TensorFlow only runs inside the model calls.

Example:
    >>> run = run_from_training(result, "rul, conv1d on sample train.csv")
    >>> view = rul_view(run)
    >>> table = maintenance_view(run, 30)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from core.charts.training import series_training_curves
from core.decisions.maintenance import maintenance_table
from core.engine.series_anomaly import anomaly_scores
from core.jobs.job import RELEASED_MODEL
from core.metrics.anomalies import evaluate_anomalies, flagged_stretches

FAILURE_CLASSES = ["healthy", "failing"]
DEFAULT_CHART_UNITS = 3
MAINTENANCE_WINDOW_MAX = 200
RUL_METRICS = {"rmse": "RMSE", "mae": "MAE", "score": "NASA score", "count": "Units"}
FAILURE_METRICS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
}
ANOMALY_METRICS = {
    "event_precision": "Event precision",
    "event_recall": "Event recall",
    "step_precision": "Step precision",
    "step_recall": "Step recall",
}


@dataclasses.dataclass
class MonitorRun:
    """What one model said about a set of machines.

    Attributes:
        task: "rul", "failure" or "anomaly".
        description: What was run on what, for headings.
        predictions: Per cycle: `unit`, `cycle`, `predicted` and, when the truth is known,
            `true`, `true_rul`, `last_cycle` (rul/failure; failure adds `probability`); anomaly:
            `score`, `flagged`, `top_sensor`.
        evaluation: Metrics against the truth (empty when unknown); rul: rmse, mae, score,
            count, per_unit; failure: confusion_matrix, class_names, accuracy, precision, recall,
            f1; anomaly: the training run's threshold and flag rates.
        threshold: Anomaly score threshold (task anomaly).
        rul_cap: Cap of the RUL target (task rul).
        horizon: Failure horizon in cycles.
        labels: Known anomalous stretches, when given.
        detection: `evaluate_anomalies` of the flags against `labels`, when given.
        training: The `SeriesRunResult` of a trained model, None for a saved one.
        model_reference: "name:version" of a saved model.
        problems: Non-fatal findings.
        suggested_name: A valid registry name to offer when saving.
        record: The registry record once saved.
    """

    task: str
    description: str
    predictions: pd.DataFrame
    evaluation: dict
    threshold: float | None = None
    rul_cap: float | None = None
    horizon: int = 30
    labels: pd.DataFrame | None = None
    detection: dict | None = None
    training: Any = None
    model_reference: str | None = None
    problems: list[str] = dataclasses.field(default_factory=list)
    suggested_name: str = "sensors"
    record: Any = None

    @property
    def has_model(self) -> bool:
        """False when training was cancelled before its first epoch finished."""
        return self.training is None or self.training.best_epoch is not None


def run_from_training(result, description: str, *, test=None, truth=None) -> MonitorRun:
    """Wraps a `SeriesRunResult`; an anomaly detector also scores `test` against `truth`.

    Args:
        result: The training run.
        description: For headings.
        test: The `SeriesDataset` the run was evaluated on (rul/failure: already in `result`;
            anomaly: scored here), or None.
        truth: Anomaly: known stretches (a frame from `load_anomaly_labels`), or None.
    """
    config = result.config
    run = MonitorRun(
        task=config.task,
        description=description,
        predictions=result.predictions,
        evaluation=dict(result.evaluation),
        threshold=result.threshold,
        rul_cap=config.rul_cap,
        horizon=config.horizon,
        training=result,
        problems=list(result.problems),
    )
    if config.task == "anomaly" and test is not None and result.best_epoch is not None:
        run.predictions = anomaly_scores(
            result.model, result.scaler, config, test, result.threshold
        )
        add_detection(run, truth)
    return run


def lightweight_run(run: MonitorRun | None) -> MonitorRun | None:
    """What a released `MonitorRun` keeps: all but the trained model (saving it then raises
    ValueError); the views and `run_summary` work on it as on the full run."""
    if run is None or run.training is None:
        return run
    training = dataclasses.replace(run.training, model=RELEASED_MODEL)
    return dataclasses.replace(run, training=training)


def add_detection(run: MonitorRun, labels: pd.DataFrame | None) -> None:
    """Sets `labels` and `detection` (`evaluate_anomalies` of the flags) when labels are given."""
    if labels is not None:
        run.labels = labels
        run.detection = evaluate_anomalies(run.predictions, labels)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _last_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    ordered = predictions.sort_values(["unit", "cycle"], kind="stable")
    return ordered.groupby("unit", sort=True).tail(1).reset_index(drop=True)


def headline(metrics: dict, labels: dict) -> dict:
    """{label: text} for metric tiles: the `labels` keys present in `metrics`, in that order.

    Integers are shown as they are, other numbers with three significant digits.
    """
    return {
        label: str(value) if isinstance(value, int) else f"{value:.3g}"
        for key, label in labels.items()
        if (value := metrics.get(key)) is not None
    }


def rul_view(run: MonitorRun) -> dict:
    """What the RUL section draws.

    Returns:
        {"units" (all, most urgent first), "default_units" (the most urgent few),
        "curves" (unit, cycle, predicted, true when known), "per_unit" (frame unit, true,
        predicted at the last cycle, or None), "headline" ({label: text}: RMSE, MAE, NASA score,
        units), "cap", "window" (the default maintenance window: the horizon) and "max_window"}.
    """
    predictions = run.predictions
    last = _last_rows(predictions).sort_values("predicted", kind="stable")
    units = last["unit"].tolist()
    columns = ["unit", "cycle", "predicted"] + (["true"] if "true" in predictions else [])
    per_unit = run.evaluation.get("per_unit")
    return {
        "units": units,
        "default_units": units[:DEFAULT_CHART_UNITS],
        "curves": predictions[columns],
        "per_unit": pd.DataFrame(per_unit) if per_unit else None,
        "headline": headline(run.evaluation, RUL_METRICS),
        "cap": run.rul_cap,
        "window": min(int(run.horizon), MAINTENANCE_WINDOW_MAX),
        "max_window": MAINTENANCE_WINDOW_MAX,
    }


def maintenance_view(run: MonitorRun, maintenance_window: int) -> pd.DataFrame:
    """Units ranked by predicted RUL at their last cycle; `due` marks those within the window.

    Raises:
        ValueError: If the window is not a positive integer.
    """
    last = _last_rows(run.predictions)
    per_unit = run.evaluation.get("per_unit")
    true = {row["unit"]: row["true"] for row in per_unit} if per_unit else None
    if true is not None and set(true) != set(last["unit"]):
        true = None  # Only some units have a known truth: rank without it.
    return maintenance_table(last[["unit", "cycle", "predicted"]], maintenance_window, true=true)


def failure_view(run: MonitorRun) -> dict:
    """What the failure section draws.

    Returns:
        {"units" (highest last probability first), "default_units", "curves" (unit, cycle,
        probability, true when known), "ranking" (unit, last_cycle, probability, failing),
        "confusion_matrix" and "class_names" (or None), "headline" ({label: text})}.
    """
    predictions = run.predictions
    last = _last_rows(predictions).sort_values("probability", ascending=False, kind="stable")
    ranking = pd.DataFrame(
        {
            "unit": last["unit"],
            "last_cycle": last["cycle"],
            "probability": last["probability"],
            "failing": last["probability"] >= 0.5,
        }
    ).reset_index(drop=True)
    units = ranking["unit"].tolist()
    columns = ["unit", "cycle", "probability"] + (["true"] if "true" in predictions else [])
    return {
        "units": units,
        "default_units": units[:DEFAULT_CHART_UNITS],
        "curves": predictions[columns],
        "ranking": ranking,
        "confusion_matrix": run.evaluation.get("confusion_matrix"),
        "class_names": run.evaluation.get("class_names", FAILURE_CLASSES),
        "headline": headline(run.evaluation, FAILURE_METRICS),
    }


def anomaly_view(run: MonitorRun) -> dict:
    """What the anomaly section draws.

    Returns:
        {"scores" (unit, cycle, score, flagged, top_sensor), "units" (most flagged first),
        "threshold", "stretches" (flagged stretches with `cycles` and, with labels, `injected`),
        "headline" (event and step precision/recall when labels are known, else {})}.
    """
    scores = run.predictions
    stretches = flagged_stretches(scores)
    stretches["cycles"] = (stretches["end_cycle"] - stretches["start_cycle"] + 1).astype("int64")
    if run.labels is not None:
        stretches["injected"] = [
            _overlapping_kinds(labels_for_unit(run.labels, row.unit), row)
            for row in stretches.itertuples(index=False)
        ]
    flagged_per_unit = scores.groupby("unit", sort=True)["flagged"].sum()
    units = flagged_per_unit.sort_values(ascending=False, kind="stable").index.tolist()
    metrics = {}
    if run.detection is not None:
        step = run.detection.get("step", {})
        metrics = {
            "event_precision": run.detection["event_precision"],
            "event_recall": run.detection["event_recall"],
            "events_found": run.detection["events_found"],
            "events_total": run.detection["events_total"],
            "step_precision": step.get("precision"),
            "step_recall": step.get("recall"),
        }
    return {
        "scores": scores,
        "units": units,
        "threshold": run.threshold,
        "stretches": stretches,
        "headline": headline(metrics, ANOMALY_METRICS),
    }


def labels_for_unit(labels: pd.DataFrame | None, unit) -> pd.DataFrame | None:
    """The known stretches of one unit (stretches without a `unit` column apply to every unit)."""
    if labels is None or "unit" not in labels.columns:
        return labels
    return labels[labels["unit"] == unit].reset_index(drop=True)


def _overlapping_kinds(labels: pd.DataFrame | None, stretch) -> str:
    if labels is None:
        return ""
    overlapping = labels[
        (labels["start_cycle"] <= stretch.end_cycle) & (labels["end_cycle"] >= stretch.start_cycle)
    ]
    return ", ".join(sorted(set(overlapping["kind"].astype(str))))


def download_frame(run: MonitorRun) -> pd.DataFrame:
    """The predictions as the CSV download holds them (internal columns left out)."""
    return run.predictions.drop(columns=["healthy"], errors="ignore")


def run_summary(run: MonitorRun) -> dict:
    """Headline facts of a trained run ({} for a saved model).

    Returns:
        {"headline" ({label: text}), "epochs_run", "best_epoch", "seconds", "cancelled" (a
        sentence saying so, or None), "history"}.
    """
    training = run.training
    if training is None:
        return {}
    units = "/".join(
        str(len(units))
        for units in (training.train_units, training.validation_units, training.test_units)
    )
    return {
        "headline": {
            "Epochs": str(training.epochs_run),
            "Best epoch": str(training.best_epoch),
            "Training time": f"{training.seconds:.0f} s",
            "Units train/validation/test": units,
        },
        "epochs_run": training.epochs_run,
        "best_epoch": training.best_epoch,
        "seconds": training.seconds,
        "cancelled": (
            f"Cancelled after {training.epochs_run} epoch(s); the model holds the weights of "
            f"epoch {training.best_epoch}."
            if training.cancelled
            else None
        ),
        "history": training.history,
    }


def live_history(snapshot: dict) -> dict:
    """The per-epoch history of a progress snapshot, with every metric the batches log.

    During the first epoch there is no per-epoch value yet; listing the batch metrics with
    empty histories lets `series_training_curves` draw the batch curves already.
    """
    history = {key: list(values) for key, values in snapshot["epoch_history"].items()}
    for point in snapshot["batch_points"]:
        for key in point:
            if key != "epoch":
                history.setdefault(key, [])
    return history


def live_curves(snapshot: dict):
    """The live training curves of a running job's progress snapshot (a plotly figure)."""
    return series_training_curves(live_history(snapshot), snapshot["batch_points"])

"""Sensor-series evaluation and prediction: targets, windows, metrics and per-cycle predictions.

Shared by training (`core.engine.series_training` evaluates its test units here) and by the registry
workflow (`evaluate_series` scores a saved model, `predict_series` scores new data).

Example:
    evaluation, predictions = evaluate_series(model, scaler, config, test_dataset, final_rul)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.data.series import SeriesDataset
from core.data.validation import describe_value
from core.data.windows import SensorScaler, make_windows, rul_targets
from core.engine.series_anomaly_scoring import anomaly_scores
from core.engine.series_config import FAILURE_CLASS_NAMES, SeriesTrainingConfig, plain_value
from core.metrics.evaluation import evaluate_classification, roc_auc
from core.metrics.series import evaluate_binary_flags, evaluate_regression

__all__ = [
    "check_dataset",
    "column_labels",
    "evaluate_frame",
    "evaluate_series",
    "predict_series",
    "row_targets",
    "true_rul_rows",
    "window_set",
]


def check_dataset(dataset: object, name: str = "dataset") -> None:
    if not isinstance(dataset, SeriesDataset):
        raise TypeError(
            f"Expected a SeriesDataset (see core.data.series_loading.load_series). "
            f"Received: {name}={describe_value(dataset)}"
        )
    if not dataset.sensor_columns:
        raise ValueError(
            "Expected a dataset with at least one sensor column. "
            f"Received: {name} with columns {[str(column) for column in dataset.frame.columns]}"
        )


_POSITIVE_WORDS = {"1", "true", "yes", "y", "failure", "failed", "failing", "fail", "fault"}
_POSITIVE_WORDS |= {"faulty", "abnormal", "anomaly", "anomalous", "broken", "down", "alarm"}
_NEGATIVE_WORDS = {"0", "false", "no", "n", "normal", "healthy", "ok", "good", "none", "running"}


def column_labels(values: pd.Series) -> np.ndarray:
    """Reads a binary label column (0/1, True/False, "failure"/"normal", ...) as 0/1 int64.

    Raises:
        ValueError: If a value is neither a failure nor a normal word/number (names them).
    """
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy().astype(np.int64)
    text = values.astype(str).str.strip().str.lower()
    text = text.where(~text.isin(["1.0", "0.0"]), text.str[0])
    positive, negative = text.isin(_POSITIVE_WORDS), text.isin(_NEGATIVE_WORDS)
    unknown = sorted(set(values[~(positive | negative)].astype(str)))
    if unknown:
        raise ValueError(
            "Expected a binary label column for label_source='column': 0/1, True/False, or "
            f"words such as 'failure'/'normal'. Received: label values {unknown[:10]}"
        )
    return positive.to_numpy().astype(np.int64)


def true_rul_rows(frame: pd.DataFrame, final_rul: pd.Series | Sequence[float] | None) -> np.ndarray:
    """Uncapped true RUL of every row; `final_rul` gives each unit's RUL at its last row."""
    if final_rul is None:
        return rul_targets(frame, cap=None).astype("float64")
    units = frame["unit"].drop_duplicates().tolist()
    if isinstance(final_rul, pd.Series):
        missing = [unit for unit in units if unit not in final_rul.index]
        if missing:
            raise ValueError(
                "Expected a true RUL for every test unit. "
                f"Received: no value for units {missing[:10]}"
            )
        final = final_rul.astype("float64")
    else:
        values = list(final_rul)
        if len(values) != len(units):
            raise ValueError(
                f"Expected one true RUL per test unit ({len(units)} units), in unit order. "
                f"Received: {len(values)} values"
            )
        final = pd.Series(values, index=units, dtype="float64")
    cycles = frame["cycle"].astype("float64")
    last = cycles.groupby(frame["unit"], sort=False).transform("max")
    return (frame["unit"].map(final).to_numpy() + (last - cycles).to_numpy()).astype("float64")


def row_targets(frame: pd.DataFrame, config: SeriesTrainingConfig, true_rul: np.ndarray):
    """Training target of every row: the capped RUL, or the 0/1 failure label."""
    if config.task == "rul":
        cap = config.rul_cap
        return (true_rul if cap is None else np.minimum(true_rul, cap)).astype("float32")
    if config.label_source == "column":
        if "label" not in frame.columns:
            raise ValueError(
                "Expected a `label` column for label_source='column'. "
                f"Received: columns {[str(column) for column in frame.columns]}"
            )
        return column_labels(frame["label"]).astype("float32")
    return (true_rul <= config.horizon).astype("float32")


def window_set(scaler, frame, targets, config, *, stride):
    return make_windows(
        scaler.transform(frame),
        frame,
        window=config.window,
        stride=stride,
        targets=targets,
        short_units=config.short_units,
    )


def predict_values(model, inputs: np.ndarray, config: SeriesTrainingConfig) -> np.ndarray:
    if len(inputs) == 0:
        return np.zeros(0, "float64")
    values = model.predict(inputs, batch_size=1024, verbose=0).reshape(-1).astype("float64")
    if config.task == "rul":
        # RUL below 0 means nothing, and the network never saw targets above the cap.
        values = np.clip(values, 0, config.rul_cap)
    return values


def evaluate_frame(model, scaler, config, frame, true_rul) -> tuple[dict, pd.DataFrame]:
    """Metrics and per-window predictions on the test units (every window ending at a cycle)."""
    targets = row_targets(frame, config, true_rul)
    windows = window_set(scaler, frame, targets, config, stride=1)
    predicted = predict_values(model, windows.inputs, config)
    last_rows = frame.groupby("unit", sort=False).cumcount(ascending=False).to_numpy() == 0
    predictions = pd.DataFrame(
        {
            "unit": windows.units,
            "cycle": windows.end_cycles,
            "true": windows.targets.astype("float64"),
            "predicted": predicted,
        }
    )
    if np.isfinite(true_rul).all():
        predictions["true_rul"] = true_rul[windows.end_rows]
    predictions["last_cycle"] = last_rows[windows.end_rows]
    if config.task == "rul":
        return _evaluate_rul(predictions, config), predictions
    predictions["probability"] = predicted
    predictions["predicted"] = (predicted >= 0.5).astype(np.int64)
    predictions["true"] = predictions["true"].astype(np.int64)
    return _evaluate_failure(predictions), predictions


def _evaluate_rul(predictions: pd.DataFrame, config: SeriesTrainingConfig) -> dict:
    last = predictions[predictions["last_cycle"]]
    truth = last["true_rul"] if "true_rul" in last else last["true"]
    evaluation = evaluate_regression(truth, last["predicted"])
    evaluation["score"] = evaluation["nasa_score"]
    if config.rul_cap is not None:
        # Papers differ on whether the test truth is capped too: report both.
        capped = evaluate_regression(np.minimum(truth, config.rul_cap), last["predicted"])
        evaluation["rmse_capped_truth"] = capped["rmse"]
    evaluation["per_unit"] = [
        {"unit": plain_value(unit), "true": float(true), "predicted": float(predicted)}
        for unit, true, predicted in zip(last["unit"], truth, last["predicted"], strict=True)
    ]
    every = evaluate_regression(predictions["true"], predictions["predicted"])
    evaluation["all_cycles"] = {key: every[key] for key in ("rmse", "mae", "count")}
    return evaluation


def _evaluate_failure(predictions: pd.DataFrame) -> dict:
    truth, probability = predictions["true"].to_numpy(), predictions["probability"].to_numpy()
    evaluation = evaluate_classification(
        truth, np.stack([1 - probability, probability], axis=1), FAILURE_CLASS_NAMES, ok_class=None
    )
    # One entry per misclassified window would bloat the run record; the frame holds them all.
    evaluation.pop("misclassified", None)
    flags = evaluate_binary_flags(truth, predictions["predicted"].to_numpy())
    evaluation |= {key: flags[key] for key in ("precision", "recall", "f1")}
    evaluation["threshold"] = 0.5
    if 0 < truth.sum() < truth.size:
        evaluation["roc_auc"] = roc_auc(truth, probability)
    return evaluation


def predict_series(
    model, scaler: SensorScaler, config: SeriesTrainingConfig, dataset, *, threshold=None
) -> pd.DataFrame:
    """Predicts for every cycle that ends a window (every cycle from `window` on, per unit).

    Args:
        model: A trained model (from `train_series_model` or loaded from `.keras`).
        scaler: The fitted `SensorScaler` of that run.
        config: The run's `SeriesTrainingConfig` (task, window, short_units, rul_cap).
        dataset: A `SeriesDataset` holding the sensors the model was trained on.
        threshold: Task "anomaly": the run's score threshold. Defaults to None.

    Returns:
        A DataFrame with `unit`, `cycle` and `predicted`: the RUL (task "rul"), the failure
        probability (task "failure", with `probability` and a boolean `failing` at 0.5), or the
        anomaly score (task "anomaly", with `score` and `flagged`, for every time step).

    Raises:
        ValueError: If the dataset lacks a sensor or setting column the scaler needs (named),
            or every unit is shorter than the window with short_units="skip".
    """
    config = config.validate()
    check_dataset(dataset)
    if config.task == "anomaly":
        scores = anomaly_scores(model, scaler, config, dataset, threshold)
        return scores.assign(predicted=scores["score"])
    windows = window_set(scaler, dataset.frame, None, config, stride=1)
    predicted = predict_values(model, windows.inputs, config)
    frame = pd.DataFrame(
        {"unit": windows.units, "cycle": windows.end_cycles, "predicted": predicted}
    )
    if config.task == "failure":
        frame["probability"] = predicted
        frame["failing"] = predicted >= 0.5
    return frame


def evaluate_series(
    model, scaler: SensorScaler, config: SeriesTrainingConfig, dataset, final_rul=None
) -> tuple[dict, pd.DataFrame]:
    """Scores a trained RUL or failure model on labelled units, as training evaluates its test set.

    Args:
        model: The trained model.
        scaler: The run's fitted `SensorScaler`.
        config: The run's `SeriesTrainingConfig` (task "rul" or "failure").
        dataset: A `SeriesDataset` of the units to score.
        final_rul: Each unit's true RUL at its last row (a Series indexed by unit, or values in
            unit order); None when the units ran to failure.

    Returns:
        `(evaluation, predictions)` as in `SeriesRunResult`.

    Raises:
        ValueError: For task "anomaly" (see `core.metrics.anomalies`), or unusable data.
    """
    config = config.validate()
    if config.task == "anomaly":
        raise ValueError(
            "Expected a RUL or failure model; anomaly models are scored against known stretches "
            "(core.metrics.anomalies). Received: task='anomaly'"
        )
    check_dataset(dataset)
    frame = dataset.frame
    return evaluate_frame(model, scaler, config, frame, true_rul_rows(frame, final_rul))

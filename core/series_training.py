"""Sensor-series training engine: `train_series_model`, `predict_series`, `evaluate_series`.

Units are split whole (`core.data.splits.split_units`), the scaler is fitted on training units
only, windows come from `core.data.windows`, and training stops early on the validation loss and
keeps the best weights. Task "rul" regresses the piecewise-linear remaining useful life, "failure"
classifies "fails within `horizon` cycles", and "anomaly" is handed to `core.series_anomaly`.
`SeriesTrainingConfig` and `SeriesRunResult` live in `core.series_config` and are re-exported here.

Example:
    result = train_series_model(load_cmapss("data/cmapss"), SeriesTrainingConfig())
    result.evaluation["rmse"], result.predictions.head()
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.data.splits import split_units
from core.data.validation import describe_value
from core.data.windows import SensorScaler, make_windows, rul_targets
from core.evaluation_series import evaluate_binary_flags, evaluate_regression
from core.image_pipeline import make_optimizer
from core.models.series import build_series_model
from core.progress import CancellationToken, ProgressBroadcaster
from core.series_config import (
    FAILURE_CLASS_NAMES,
    LABEL_SOURCES,
    SERIES_TASKS,
    SeriesRunResult,
    SeriesTrainingConfig,
)
from core.training import make_progress_callback

__all__ = [
    "FAILURE_CLASS_NAMES",
    "LABEL_SOURCES",
    "SERIES_TASKS",
    "SeriesRunResult",
    "SeriesTrainingConfig",
    "column_labels",
    "evaluate_series",
    "predict_series",
    "train_series_model",
]


def _check_dataset(dataset: object, name: str = "dataset") -> None:
    from core.data.series import SeriesDataset

    if not isinstance(dataset, SeriesDataset):
        raise TypeError(
            f"Expected a SeriesDataset (see core.data.series.load_series). "
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


def _true_rul(frame: pd.DataFrame, final_rul: pd.Series | Sequence[float] | None) -> np.ndarray:
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


def _row_targets(frame: pd.DataFrame, config: SeriesTrainingConfig, true_rul: np.ndarray):
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


def _subset(frame: pd.DataFrame, units: np.ndarray) -> pd.DataFrame:
    return frame[frame["unit"].isin(units)].reset_index(drop=True)


def _windows(scaler, frame, targets, config, *, stride):
    return make_windows(
        scaler.transform(frame),
        frame,
        window=config.window,
        stride=stride,
        targets=targets,
        short_units=config.short_units,
    )


def _predict(model, inputs: np.ndarray, config: SeriesTrainingConfig) -> np.ndarray:
    if len(inputs) == 0:
        return np.zeros(0, "float64")
    values = model.predict(inputs, batch_size=1024, verbose=0).reshape(-1).astype("float64")
    if config.task == "rul":
        # RUL below 0 means nothing, and the network never saw targets above the cap.
        values = np.clip(values, 0, config.rul_cap)
    return values


def _dataset(inputs, targets, batch_size, *, shuffle_seed=None):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((inputs, targets.reshape(-1, 1)))
    if shuffle_seed is not None:
        data = data.shuffle(len(inputs), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _evaluate(model, scaler, config, frame, true_rul) -> tuple[dict, pd.DataFrame]:
    """Metrics and per-window predictions on the test units (every window ending at a cycle)."""
    targets = _row_targets(frame, config, true_rul)
    windows = _windows(scaler, frame, targets, config, stride=1)
    predicted = _predict(model, windows.inputs, config)
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
        {"unit": _plain(unit), "true": float(true), "predicted": float(predicted)}
        for unit, true, predicted in zip(last["unit"], truth, last["predicted"], strict=True)
    ]
    every = evaluate_regression(predictions["true"], predictions["predicted"])
    evaluation["all_cycles"] = {key: every[key] for key in ("rmse", "mae", "count")}
    return evaluation


def _evaluate_failure(predictions: pd.DataFrame) -> dict:
    from core.evaluation import evaluate_classification, roc_auc

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


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def train_series_model(
    dataset,
    config: SeriesTrainingConfig | None = None,
    *,
    listeners: Iterable[object] = (),
    cancellation: CancellationToken | None = None,
    test: tuple[Any, pd.Series | Sequence[float] | None] | None = None,
) -> SeriesRunResult:
    """Trains a sensor-series model and evaluates it on held-out units.

    Args:
        dataset: A `SeriesDataset` (run-to-failure units, or with a `rul`/`label` column).
        config: Settings; None uses `SeriesTrainingConfig()`.
        listeners: `core.progress` listeners receiving batch and epoch events.
        cancellation: Token that stops training after the current batch.
        test: Optional external test set `(test_dataset, final_rul)`: `final_rul` is each unit's
            true RUL at its last row (a Series indexed by unit, or values in unit order), or None
            when the test units ran to failure or carry a `rul` column. When given, no units of
            `dataset` are held out for testing (`test_fraction` is ignored).

    Returns:
        A `SeriesRunResult`; its model holds the best weights seen.

    Raises:
        TypeError: `dataset` is not a `SeriesDataset`.
        ValueError: Bad config, no sensor, too few units for the splits, units all shorter than
            the window with short_units="skip", or unusable labels.
    """
    config = (config or SeriesTrainingConfig()).validate()
    _check_dataset(dataset)
    if config.task == "anomaly":
        from core.series_anomaly import train_anomaly_detector

        return train_anomaly_detector(
            dataset, config, listeners=listeners, cancellation=cancellation
        )
    import keras

    listeners = list(listeners)
    if test is not None:
        _check_dataset(test[0], "test")
    train_units, validation_units, test_units = split_units(
        dataset.frame["unit"].to_numpy(),
        validation_fraction=config.validation_fraction,
        test_fraction=0.0 if test is not None else config.test_fraction,
        seed=config.seed,
    )
    frame = dataset.frame
    train_frame = _subset(frame, train_units)
    scaler = SensorScaler(by_condition=config.by_condition).fit(
        train_frame, dataset.sensor_columns, dataset.setting_columns
    )
    problems = []
    if scaler.dropped_sensors_:
        problems.append(
            f"Dropped {len(scaler.dropped_sensors_)} sensor(s) constant on the training units: "
            f"{scaler.dropped_sensors_}."
        )
    if scaler.condition_centers_ is not None:
        problems.append(
            f"Scaled per operating condition: the settings form {len(scaler.condition_centers_)} "
            "clusters."
        )
    train_windows = _windows(
        scaler,
        train_frame,
        _row_targets(train_frame, config, _true_rul(train_frame, None)),
        config,
        stride=config.stride,
    )
    problems += train_windows.problems
    validation_data = None
    if len(validation_units):
        validation_frame = _subset(frame, validation_units)
        validation_targets = _row_targets(
            validation_frame, config, _true_rul(validation_frame, None)
        )
        validation_windows = _windows(
            scaler, validation_frame, validation_targets, config, stride=1
        )
        problems += validation_windows.problems
        validation_data = _dataset(
            validation_windows.inputs, validation_windows.targets, config.batch_size
        )
    if config.task == "failure" and train_windows.targets.min() == train_windows.targets.max():
        problems.append(
            "Every training window has the same failure label: the classifier cannot learn to "
            "tell healthy from failing (lower the horizon or add run-to-failure units)."
        )

    keras.utils.set_random_seed(config.seed)
    is_rul = config.task == "rul"
    model = build_series_model(
        config.model,
        config.window,
        len(scaler.feature_columns_),
        task=config.task,
        members=config.members,
        # The network then learns targets in [0, 1]: fewer epochs than raw cycles need.
        output_scale=float(max(train_windows.targets.max(), 1.0)) if is_rul else 1.0,
    )
    steps_per_epoch = math.ceil(len(train_windows) / config.batch_size)
    model.compile(
        optimizer=make_optimizer(
            config.optimizer,
            config.learning_rate,
            config.schedule,
            total_steps=config.epochs * steps_per_epoch,
        ),
        loss="mse" if is_rul else "binary_crossentropy",
        metrics=["mae"] if is_rul else ["accuracy"],
    )
    progress = make_progress_callback(listeners, cancellation, config.epochs, steps_per_epoch)
    monitor = "val_loss" if validation_data is not None else "loss"
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=monitor,
        patience=config.early_stopping_patience or config.epochs,
        restore_best_weights=True,
    )
    callbacks = [progress, early_stopping]
    if config.schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=5, min_lr=1e-6)
        )
    started = time.perf_counter()
    history = model.fit(
        _dataset(
            train_windows.inputs, train_windows.targets, config.batch_size, shuffle_seed=config.seed
        ),
        validation_data=validation_data,
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # The pipeline shuffles; Keras would only warn.
        verbose=0,
    )
    seconds = time.perf_counter() - started
    history_lists = {
        key: [float(value) for value in values] for key, values in history.history.items()
    }
    epochs_run = max(len(history_lists.get("loss", [])), progress.epoch)
    best_epoch = None if early_stopping.best_weights is None else early_stopping.best_epoch + 1

    evaluation, predictions = {}, pd.DataFrame()
    if best_epoch is not None:
        if test is not None:
            evaluation, predictions = evaluate_series(model, scaler, config, *test)
        elif len(test_units):
            test_frame = _subset(frame, test_units)
            evaluation, predictions = _evaluate(
                model, scaler, config, test_frame, _true_rul(test_frame, None)
            )
    evaluation_units = test[0].units() if test is not None else test_units
    result = SeriesRunResult(
        model=model,
        scaler=scaler,
        config=config,
        history=history_lists,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        cancelled=progress.cancelled,
        seconds=seconds,
        evaluation=evaluation,
        predictions=predictions,
        train_units=[_plain(unit) for unit in train_units],
        validation_units=[_plain(unit) for unit in validation_units],
        test_units=[_plain(unit) for unit in evaluation_units],
        problems=problems,
    )
    ProgressBroadcaster(listeners).emit(
        "on_train_end",
        {
            "epochs_run": epochs_run,
            "cancelled": result.cancelled,
            "best_epoch": best_epoch,
            "seconds": seconds,
            "best_metrics": {key: values[best_epoch - 1] for key, values in history_lists.items()}
            if best_epoch
            else {},
        },
    )
    return result


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
    _check_dataset(dataset)
    if config.task == "anomaly":
        from core.series_anomaly import anomaly_scores

        scores = anomaly_scores(model, scaler, config, dataset, threshold)
        return scores.assign(predicted=scores["score"])
    windows = _windows(scaler, dataset.frame, None, config, stride=1)
    predicted = _predict(model, windows.inputs, config)
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
        ValueError: For task "anomaly" (see `core.evaluation_anomalies`), or unusable data.
    """
    config = config.validate()
    if config.task == "anomaly":
        raise ValueError(
            "Expected a RUL or failure model; anomaly models are scored against known stretches "
            "(core.evaluation_anomalies). Received: task='anomaly'"
        )
    _check_dataset(dataset)
    frame = dataset.frame
    return _evaluate(model, scaler, config, frame, _true_rul(frame, final_rul))

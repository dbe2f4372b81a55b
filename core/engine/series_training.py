"""Sensor-series training engine: `train_series_model`, `predict_series`, `evaluate_series`.

Units are split whole (`core.data.splits.split_units`), the scaler is fitted on training units
only, windows come from `core.data.windows`, and training stops early on the validation loss and
keeps the best weights. Task "rul" regresses the piecewise-linear remaining useful life, "failure"
classifies "fails within `horizon` cycles", and "anomaly" is handed to `core.engine.series_anomaly`.
`SeriesTrainingConfig` and `SeriesRunResult` live in `core.engine.series_config` and are re-exported
here.

Example:
    result = train_series_model(load_cmapss("data/cmapss"), SeriesTrainingConfig())
    result.evaluation["rmse"], result.predictions.head()
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.data.splits import split_units
from core.data.windows import SensorScaler
from core.engine.fit_results import fit_keeping_best
from core.engine.image_pipeline import config_optimizer
from core.engine.keras_progress import make_progress_callback
from core.engine.precision import precision_scope, resolve_precision
from core.engine.progress import CancellationToken
from core.engine.series_anomaly import train_anomaly_detector
from core.engine.series_config import (
    FAILURE_CLASS_NAMES,
    SERIES_TASKS,
    SeriesRunResult,
    SeriesTrainingConfig,
    finish_series_run,
)
from core.engine.series_evaluation import (
    check_dataset,
    column_labels,
    evaluate_frame,
    evaluate_series,
    predict_series,
    row_targets,
    true_rul_rows,
    window_set,
)
from core.models.series import build_series_model

__all__ = [
    "FAILURE_CLASS_NAMES",
    "SERIES_TASKS",
    "SeriesRunResult",
    "SeriesTrainingConfig",
    "column_labels",
    "evaluate_series",
    "predict_series",
    "train_series_model",
]


# Schedule "plateau": epochs without a better monitored loss before the learning rate halves.
SERIES_PLATEAU_PATIENCE = 5


def _subset(frame: pd.DataFrame, units: np.ndarray) -> pd.DataFrame:
    return frame[frame["unit"].isin(units)].reset_index(drop=True)


def _dataset(inputs, targets, batch_size, *, shuffle_seed=None):
    import tensorflow as tf  # Lazy: loads TensorFlow.

    data = tf.data.Dataset.from_tensor_slices((inputs, targets.reshape(-1, 1)))
    if shuffle_seed is not None:
        data = data.shuffle(len(inputs), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


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
        listeners: `core.engine.progress` listeners receiving batch and epoch events.
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
    check_dataset(dataset)
    if config.task == "anomaly":
        return train_anomaly_detector(
            dataset, config, listeners=listeners, cancellation=cancellation
        )
    import keras  # Lazy: loads TensorFlow.

    listeners = list(listeners)
    if test is not None:
        check_dataset(test[0], "test")
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
    train_windows = window_set(
        scaler,
        train_frame,
        row_targets(train_frame, config, true_rul_rows(train_frame, None)),
        config,
        stride=config.stride,
    )
    problems += train_windows.problems
    validation_data = None
    if len(validation_units):
        validation_frame = _subset(frame, validation_units)
        validation_targets = row_targets(
            validation_frame, config, true_rul_rows(validation_frame, None)
        )
        validation_windows = window_set(
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
    with precision_scope(resolve_precision(config.precision)):
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
        optimizer=config_optimizer(config, steps_per_epoch),
        loss="mse" if is_rul else "binary_crossentropy",
        metrics=["mae"] if is_rul else ["accuracy"],
    )
    progress = make_progress_callback(listeners, cancellation, config.epochs, steps_per_epoch)
    train_data = _dataset(
        train_windows.inputs, train_windows.targets, config.batch_size, shuffle_seed=config.seed
    )
    fit = fit_keeping_best(
        model,
        train_data,
        validation_data,
        config,
        progress,
        plateau_patience=SERIES_PLATEAU_PATIENCE,
    )

    outcome = {}  # A run cancelled before its first epoch has no model to test.
    if fit.best_epoch is not None:
        outcome = _tested(model, scaler, config, frame, test_units, test)
    units = (train_units, validation_units, test[0].units() if test is not None else test_units)
    return finish_series_run(
        model, scaler, config, fit, units, listeners, problems=problems, **outcome
    )


def _tested(model, scaler, config, frame, test_units, test) -> dict:
    """The run's `evaluation` and `predictions`: on the external test set when there is one,
    else on the held-out test units (none: nothing to report)."""
    if test is not None:
        evaluation, predictions = evaluate_series(model, scaler, config, *test)
    elif len(test_units):
        test_frame = _subset(frame, test_units)
        evaluation, predictions = evaluate_frame(
            model, scaler, config, test_frame, true_rul_rows(test_frame, None)
        )
    else:
        return {}
    return {"evaluation": evaluation, "predictions": predictions}

"""Sensor-series run settings and results: `SeriesTrainingConfig` and `SeriesRunResult`.

`SeriesTrainingConfig` holds every choice of one run (task, model preset, window, optimiser,
splits, labels) and checks them all in `validate()`, naming the field at fault; it round-trips
through `to_dict()`/`from_dict()` for run records. `SeriesRunResult` is what
`core.engine.series_training.train_series_model` returns, packed by `finish_series_run` for the
forecasting and the anomaly paths. Neither imports TensorFlow.

Example:
    config = SeriesTrainingConfig(task="failure", horizon=20).validate()
    SeriesTrainingConfig.from_dict(config.to_dict()) == config
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.data import config_checks
from core.data.windows import DEFAULT_RUL_CAP, SHORT_UNIT_CHOICES, SensorScaler
from core.engine.fit_results import FitResult
from core.engine.image_pipeline import OPTIMIZERS, SCHEDULES
from core.engine.precision import PRECISIONS
from core.engine.progress import emit_train_end
from core.models.series import DEFAULT_SERIES_MODEL, SERIES_MODEL_PRESETS

__all__ = [
    "FAILURE_CLASS_NAMES",
    "LABEL_SOURCES",
    "SERIES_TASKS",
    "SeriesRunResult",
    "SeriesTrainingConfig",
    "finish_series_run",
    "plain_value",
]

SERIES_TASKS = ("rul", "failure", "anomaly")
LABEL_SOURCES = ("rul", "column")
FAILURE_CLASS_NAMES = ["healthy", "failing"]


@dataclasses.dataclass
class SeriesTrainingConfig(config_checks.DictRoundTripMixin):
    """Settings of one sensor-series training run.

    The defaults (conv1d, window 30, batch 512, Adam 3e-3 with cosine decay, up to 100 epochs,
    patience 30, cap 125) train C-MAPSS FD001 in about 2 minutes on 2 CPU cores (see
    bench/cmapss_fd001.py).

    Args:
        task: "rul" (remaining useful life), "failure" (fails within `horizon`) or "anomaly".
        model: Preset from `SERIES_MODEL_PRESETS` (the anomaly task reads it as the autoencoder
            preset, "lstm" or "conv1d").
        window: Time steps per input window.
        stride: Steps between consecutive training windows of a unit (1 = every cycle).
        epochs: Maximum number of epochs.
        batch_size: Windows per batch.
        learning_rate: Initial learning rate.
        optimizer: "adam", "sgd" (Nesterov momentum 0.9) or "rmsprop".
        schedule: "constant", "cosine" (decay to 1 % over all epochs) or "plateau" (halve the
            rate when the monitored loss stalls for 5 epochs).
        members: Networks averaged inside the one saved model (a seed ensemble).
        rul_cap: Cap of the piecewise-linear RUL target, or None for no cap.
        horizon: Task "failure": a window is "failing" when the RUL at its end is <= horizon.
        label_source: Task "failure": "rul" derives labels from the RUL (run-to-failure data or a
            `rul` column); "column" reads the dataset's `label` column (0/1, True/False or
            "failure"/"normal"-style text).
        validation_fraction: Share of units held out for early stopping.
        test_fraction: Share of units held out for evaluation (use 0 with an external test set).
        early_stopping_patience: Epochs without a better validation loss before stopping; 0
            never stops early (the best weights are still restored).
        by_condition: Per-operating-condition scaling: "auto", True or False (`SensorScaler`).
        short_units: Units shorter than the window: "pad" or "skip".
        seed: Seed for the split, the weights and the shuffling.
        precision: "auto" (mixed float16 when a GPU is present, else float32), "float32" or
            "mixed_float16"; output layers stay float32 (see `core.engine.precision`).
        threshold_quantile: Task "anomaly": quantile of the validation reconstruction error used
            as the threshold.
        healthy_rul: Task "anomaly": when RUL is known, only rows with RUL above this train the
            autoencoder (None = every row).
    """

    task: str = "rul"
    model: str = DEFAULT_SERIES_MODEL
    window: int = 30
    stride: int = 1
    epochs: int = 100
    batch_size: int = 512
    learning_rate: float = 3e-3
    optimizer: str = "adam"
    schedule: str = "cosine"
    members: int = 1
    rul_cap: float | None = DEFAULT_RUL_CAP
    horizon: int = 30
    label_source: str = "rul"
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    early_stopping_patience: int = 30
    by_condition: bool | str = "auto"
    short_units: str = "pad"
    seed: int = 0
    precision: str = "auto"
    threshold_quantile: float = 0.995
    healthy_rul: float | None = 100.0

    def validate(self) -> SeriesTrainingConfig:
        """Checks every field; returns self. A ValueError names the field at fault."""
        config_checks.require_choices(
            self, {"task": SERIES_TASKS, "precision": PRECISIONS, "model": SERIES_MODEL_PRESETS}
        )
        config_checks.require_integers(
            self,
            {
                "window": 2,
                "stride": 1,
                "epochs": 1,
                "batch_size": 1,
                "members": 1,
                "horizon": 1,
                "early_stopping_patience": 0,
                "seed": 0,
            },
        )
        config_checks.require_learning_rate(self)
        for name in ("rul_cap", "healthy_rul"):
            value = getattr(self, name)
            config_checks.require_field(
                value is None or (config_checks.is_number(value) and value > 0),
                "to be a positive number or None",
                self,
                name,
            )
        config_checks.require_choices(
            self, {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "label_source": LABEL_SOURCES}
        )
        config_checks.require_field(
            self.by_condition == "auto" or isinstance(self.by_condition, bool),
            "to be 'auto', True or False",
            self,
            "by_condition",
        )
        config_checks.require_choices(self, {"short_units": SHORT_UNIT_CHOICES})
        quantile = self.threshold_quantile
        config_checks.require_field(
            config_checks.is_number(quantile) and 0 < quantile < 1,
            "to be a number in (0, 1)",
            self,
            "threshold_quantile",
        )
        config_checks.require_split_fractions(self)
        return self


@dataclasses.dataclass
class SeriesRunResult:
    """What one sensor-series training run produced.

    Attributes:
        model: The trained `keras.Model`, holding the weights of `best_epoch`.
        scaler: The fitted `SensorScaler` (save `scaler.to_config()` beside the model).
        config: The configuration used.
        history: Per-epoch metrics: loss, val_loss and mae/val_mae (rul) or accuracy/val_accuracy
            (failure).
        epochs_run: Epochs started (a cancelled epoch counts).
        best_epoch: Epoch (from 1) whose weights the model holds, or None if none finished.
        cancelled: True if a `CancellationToken` stopped the run.
        seconds: Wall time of training (`fit`), validation included.
        evaluation: JSON-serialisable metrics on the test units (empty when there are none).
        predictions: One row per evaluated window: unit, cycle, true, predicted (+ probability
            for failure).
        train_units, validation_units, test_units: Unit ids of each split (lists).
        threshold: Anomaly score threshold (task "anomaly" only), else None.
        problems: Non-fatal findings (dropped sensors, padded or skipped units, ...).
    """

    model: Any
    scaler: SensorScaler
    config: SeriesTrainingConfig
    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int | None
    cancelled: bool
    seconds: float
    evaluation: dict = dataclasses.field(default_factory=dict)
    predictions: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    train_units: list = dataclasses.field(default_factory=list)
    validation_units: list = dataclasses.field(default_factory=list)
    test_units: list = dataclasses.field(default_factory=list)
    threshold: float | None = None
    problems: list[str] = dataclasses.field(default_factory=list)


def finish_series_run(
    model,
    scaler: SensorScaler,
    config: SeriesTrainingConfig,
    fit: FitResult,
    units: Sequence[Iterable],
    listeners: Sequence[object],
    **outcome,
) -> SeriesRunResult:
    """Packs a finished run into a `SeriesRunResult` and tells listeners training ended.

    Args:
        model, scaler, config: As in `SeriesRunResult`.
        fit: How `fit` went (history, epochs, best epoch, cancellation, seconds).
        units: The unit ids of the (train, validation, test) splits; numpy scalars become plain
            Python values.
        listeners: `core.engine.progress` listeners to send the train-end event to.
        **outcome: The other `SeriesRunResult` fields (evaluation, predictions, threshold,
            problems).
    """
    train_units, validation_units, test_units = (
        [plain_value(unit) for unit in part] for part in units
    )
    result = SeriesRunResult(
        model=model,
        scaler=scaler,
        config=config,
        train_units=train_units,
        validation_units=validation_units,
        test_units=test_units,
        **fit.fields(),
        **outcome,
    )
    emit_train_end(listeners, **fit.fields())
    return result


def plain_value(value: object) -> object:
    """`value` as a plain Python value (a numpy scalar becomes its `.item()`)."""
    return value.item() if isinstance(value, np.generic) else value

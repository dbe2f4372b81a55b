"""Sensor-series run settings and results: `SeriesTrainingConfig` and `SeriesRunResult`.

`SeriesTrainingConfig` holds every choice of one run (task, model preset, window, optimiser,
splits, labels) and checks them all in `validate()`, naming the field at fault; it round-trips
through `to_dict()`/`from_dict()` for run records. `SeriesRunResult` is what
`core.engine.series_training.train_series_model` returns. Neither imports TensorFlow.

Example:
    config = SeriesTrainingConfig(task="failure", horizon=20).validate()
    SeriesTrainingConfig.from_dict(config.to_dict()) == config
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd

from core.data.config_checks import (
    is_number,
    require_field,
    require_integers,
    require_learning_rate,
    require_split_fractions,
)
from core.data.windows import DEFAULT_RUL_CAP, SHORT_UNIT_CHOICES, SensorScaler
from core.engine.image_pipeline import OPTIMIZERS, SCHEDULES
from core.engine.precision import PRECISIONS
from core.models.series import DEFAULT_SERIES_MODEL, SERIES_MODEL_PRESETS

__all__ = [
    "FAILURE_CLASS_NAMES",
    "LABEL_SOURCES",
    "SERIES_TASKS",
    "SeriesRunResult",
    "SeriesTrainingConfig",
]

SERIES_TASKS = ("rul", "failure", "anomaly")
LABEL_SOURCES = ("rul", "column")
FAILURE_CLASS_NAMES = ["healthy", "failing"]


@dataclasses.dataclass
class SeriesTrainingConfig:
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
        """Checks every field; returns self.

        Raises:
            ValueError: A field has an unusable value; the message names it.
        """
        require_field(self.task in SERIES_TASKS, f"to be one of {list(SERIES_TASKS)}", self, "task")
        require_field(
            self.precision in PRECISIONS, f"to be one of {list(PRECISIONS)}", self, "precision"
        )
        require_field(
            self.model in SERIES_MODEL_PRESETS,
            f"to be one of {list(SERIES_MODEL_PRESETS)}",
            self,
            "model",
        )
        require_integers(
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
        require_learning_rate(self)
        for name in ("rul_cap", "healthy_rul"):
            value = getattr(self, name)
            require_field(
                value is None or (is_number(value) and value > 0),
                "to be a positive number or None",
                self,
                name,
            )
        for name, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
            require_field(
                getattr(self, name) in choices, f"to be one of {list(choices)}", self, name
            )
        require_field(
            self.label_source in LABEL_SOURCES,
            f"to be one of {list(LABEL_SOURCES)}",
            self,
            "label_source",
        )
        require_field(
            self.by_condition == "auto" or isinstance(self.by_condition, bool),
            "to be 'auto', True or False",
            self,
            "by_condition",
        )
        require_field(
            self.short_units in SHORT_UNIT_CHOICES,
            f"to be one of {list(SHORT_UNIT_CHOICES)}",
            self,
            "short_units",
        )
        quantile = self.threshold_quantile
        require_field(
            is_number(quantile) and 0 < quantile < 1,
            "to be a number in (0, 1)",
            self,
            "threshold_quantile",
        )
        require_split_fractions(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Returns plain JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SeriesTrainingConfig:
        """Builds a config from `to_dict()` output (missing keys take defaults).

        Raises:
            ValueError: Unknown keys (named in the message).
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Expected keys among {sorted(known)}. Received unknown keys: {unknown}"
            )
        return cls(**dict(values))


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

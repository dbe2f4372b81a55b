"""Anomaly detection on sensor series: a sequence autoencoder trained on healthy data only.

Healthy rows are those with a remaining useful life above `config.healthy_rul` when the RUL is
known (a `rul` column, or a fleet that ran to failure), else the first `healthy_fraction` of each
unit. The scaler is fitted on the training units' healthy rows. Every time step gets a score: the
reconstruction error of each sensor at that step, averaged over the windows covering it, then the
largest over the sensors (injected faults hit one or two sensors, which a mean over all sensors
dilutes). A step is flagged when its score exceeds the `threshold_quantile` quantile of the
scores of held-out healthy data. `evaluate_anomalies` compares flags with known anomalous
stretches, per time step and per event.

Example:
    result = train_anomaly_detector(load_series("train.csv"), SeriesTrainingConfig(task="anomaly"))
    scores = anomaly_scores(result.model, result.scaler, result.config, live, result.threshold)
    evaluate_anomalies(scores, load_anomaly_labels("live_anomalies.csv"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd

from core.data.series import SeriesDataset
from core.data.splits import split_units
from core.data.truth_files import load_anomaly_labels
from core.data.validation import describe_value
from core.data.windows import SensorScaler, make_windows, rul_targets
from core.engine.fit_results import FitResult, fit_keeping_best
from core.engine.keras_progress import make_progress_callback
from core.engine.precision import precision_scope, resolve_precision
from core.engine.progress import CancellationToken
from core.engine.series_anomaly_scoring import anomaly_scores
from core.engine.series_config import (
    SeriesRunResult,
    SeriesTrainingConfig,
    finish_series_run,
    plain_value,
)
from core.metrics.anomalies import evaluate_anomalies
from core.models.series_autoencoder import AUTOENCODER_PRESETS, build_sequence_autoencoder

__all__ = [
    "DEFAULT_HEALTHY_FRACTION",
    "HEALTHY_RULES",
    "anomaly_scores",
    "evaluate_anomalies",
    "load_anomaly_labels",
    "train_anomaly_detector",
]

# Without RUL, the first half of each unit trains: a machine is assumed healthy early in its record.
DEFAULT_HEALTHY_FRACTION = 0.5
HEALTHY_RULES = ("auto", "rul", "fraction")


def _healthy_mask(
    frame: pd.DataFrame, rule: str, config: SeriesTrainingConfig, fraction: float
) -> np.ndarray:
    """Rows that count as healthy: RUL above `config.healthy_rul`, or each unit's first part."""
    if rule == "rul":
        if config.healthy_rul is None:
            return np.ones(len(frame), dtype=bool)
        return rul_targets(frame, cap=None) > config.healthy_rul
    groups = frame.groupby("unit", sort=False)
    length = groups["cycle"].transform("size").to_numpy()
    return groups.cumcount().to_numpy() < np.ceil(fraction * length)


def _choose_healthy(frame, config, healthy, fraction) -> tuple[str, np.ndarray, list[str]]:
    """The healthy rule actually used, its row mask, and sentences saying what it assumed."""
    rule = healthy
    if rule == "auto":
        enough_units = frame["unit"].nunique() >= _units_needed(config)
        rule = "rul" if "rul" in frame.columns or enough_units else "fraction"
    mask = _healthy_mask(frame, rule, config, fraction)
    if rule == "fraction":
        note = (
            f"Nothing says which rows are healthy (no RUL): trained on the first {fraction:.0%} of "
            "each unit, assumed healthy. Anomalies there are learnt as normal and raise the "
            "threshold."
        )
        return rule, mask, [note]
    source = "the rul column" if "rul" in frame.columns else "last cycle - cycle: run to failure"
    notes = [
        f"Trained on healthy rows: RUL > {config.healthy_rul} (RUL from {source}); "
        f"{int(mask.sum())} of {len(frame)} rows."
    ]
    units_with_healthy = pd.Series(mask).groupby(frame["unit"].to_numpy()).any()
    if not units_with_healthy.all():
        notes.append(
            f"{int((~units_with_healthy).sum())} unit(s) have no row with RUL > "
            f"{config.healthy_rul} and train nothing."
        )
    return rule, mask, notes


def _units_needed(config: SeriesTrainingConfig) -> int:
    return 1 + (config.validation_fraction > 0) + (config.test_fraction > 0)


def _split(frame, healthy, config) -> tuple[list, list, list, pd.DataFrame, pd.DataFrame]:
    """Unit split when there are enough units, else each unit's healthy rows split in time.

    Returns:
        (train_units, validation_units, test_units, healthy training rows, healthy validation
        rows), the frames with a fresh index.
    """
    units = frame["unit"].drop_duplicates().to_numpy()
    if len(units) >= _units_needed(config):
        parts = split_units(
            units,
            validation_fraction=config.validation_fraction,
            test_fraction=config.test_fraction,
            seed=config.seed,
        )
        train, validation = (frame[healthy & frame["unit"].isin(part)] for part in parts[:2])
        test_units = list(parts[2])
        train_units, validation_units = list(parts[0]), list(parts[1])
    else:
        # Too few units to hold any out: the last part of each unit's healthy rows validates.
        rows = frame[healthy]
        groups = rows.groupby("unit", sort=False)
        length = groups["cycle"].transform("size").to_numpy()
        late = groups.cumcount().to_numpy() >= np.floor((1 - config.validation_fraction) * length)
        train, validation = rows[~late], rows[late]
        train_units = validation_units = list(units)
        test_units = []
    return (
        train_units,
        validation_units,
        test_units,
        train.reset_index(drop=True),
        validation.reset_index(drop=True),
    )


def _fit(model, train_inputs, validation_inputs, config, listeners, cancellation) -> FitResult:
    """Fits the autoencoder to rebuild its inputs."""
    steps_per_epoch = -(-len(train_inputs) // config.batch_size)
    progress = make_progress_callback(listeners, cancellation, config.epochs, steps_per_epoch)
    validation_data = None if validation_inputs is None else (validation_inputs,) * 2
    return fit_keeping_best(
        model,
        train_inputs,
        validation_data,
        config,
        progress,
        y=train_inputs,
        batch_size=config.batch_size,
        shuffle=True,
    )


def _flag_rate(flags: np.ndarray, mask: np.ndarray) -> float | None:
    return float(flags[mask].mean()) if mask.any() else None


def train_anomaly_detector(
    dataset,
    config: SeriesTrainingConfig | None = None,
    *,
    listeners: Iterable[object] = (),
    cancellation: CancellationToken | None = None,
    healthy: str = "auto",
    healthy_fraction: float = DEFAULT_HEALTHY_FRACTION,
) -> SeriesRunResult:
    """Trains a sequence autoencoder on healthy rows and sets the anomaly threshold.

    Args:
        dataset: A `SeriesDataset`.
        config: Settings; None uses `SeriesTrainingConfig(task="anomaly")`. `model` picks the
            autoencoder ("lstm" or "conv1d"; other presets fall back to "lstm", noted in
            `problems`); `threshold_quantile` and `healthy_rul` apply as documented there.
        listeners: `core.engine.progress` listeners receiving batch and epoch events.
        cancellation: Token that stops training after the current batch.
        healthy: Which rows train the autoencoder: "rul" (RUL > `config.healthy_rul`, from a
            `rul` column or read as run to failure), "fraction" (the first `healthy_fraction` of
            each unit) or "auto" (the default): "rul" when there is a `rul` column or enough units
            to split, else "fraction". The rule used is stated in `problems`.
        healthy_fraction: Share of each unit assumed healthy by the "fraction" rule. Defaults
            to 0.5.

    Returns:
        A `SeriesRunResult` with `threshold`; `predictions` holds `anomaly_scores` of the test
        units (of every unit when none is held out) plus `healthy`; `evaluation` holds the flag
        rates on healthy rows, other rows and (RUL known) rows within `horizon` of failure, the
        threshold and the settings used.

    Raises:
        TypeError: `dataset` is not a `SeriesDataset`.
        ValueError: Bad config, `healthy` or `healthy_fraction`, or no healthy rows to train on.
    """
    import keras  # Lazy: loads TensorFlow.

    if not isinstance(dataset, SeriesDataset):
        raise TypeError(
            "Expected a SeriesDataset (see core.data.series_loading.load_series). "
            f"Received: dataset={describe_value(dataset)}"
        )
    config = config or SeriesTrainingConfig(task="anomaly")
    if config.task != "anomaly":
        config = dataclasses.replace(config, task="anomaly")
    config.validate()
    if healthy not in HEALTHY_RULES:
        raise ValueError(
            f"Expected healthy to be one of {list(HEALTHY_RULES)}. Received: healthy={healthy!r}"
        )
    if isinstance(healthy_fraction, bool) or not (
        isinstance(healthy_fraction, int | float) and 0 < healthy_fraction <= 1
    ):
        raise ValueError(
            "Expected healthy_fraction to be a number in (0, 1]. "
            f"Received: healthy_fraction={healthy_fraction!r}"
        )
    listeners, frame, preset = list(listeners), dataset.frame, config.model
    problems = []
    if preset not in AUTOENCODER_PRESETS:
        preset = "lstm"
        problems.append(
            f"Model '{config.model}' has no autoencoder form: trained the 'lstm' autoencoder."
        )
    rule, mask, notes = _choose_healthy(frame, config, healthy, healthy_fraction)
    problems += notes
    train_units, validation_units, test_units, train_frame, validation_frame = _split(
        frame, mask, config
    )
    if frame["unit"].nunique() < _units_needed(config):
        problems.append(
            f"Too few units ({frame['unit'].nunique()}) to hold units out: the last part of "
            "each unit's healthy rows validates and every row is scored."
        )
    if train_frame.empty:
        raise ValueError(
            "Expected healthy rows to train the autoencoder on. Received: none among the "
            f"training units with healthy_rul={config.healthy_rul}. Lower healthy_rul or use "
            "healthy='fraction'."
        )
    scaler = SensorScaler(by_condition=config.by_condition).fit(
        train_frame, dataset.sensor_columns, dataset.setting_columns
    )
    if scaler.dropped_sensors_:
        problems.append(
            f"Dropped {len(scaler.dropped_sensors_)} sensor(s) constant on the healthy training "
            f"rows: {scaler.dropped_sensors_}."
        )
    train_windows = make_windows(
        scaler.transform(train_frame),
        train_frame,
        window=config.window,
        stride=config.stride,
        short_units=config.short_units,
    )
    problems += train_windows.problems
    validation_inputs = None
    if not validation_frame.empty:
        validation_inputs = make_windows(
            scaler.transform(validation_frame), validation_frame, window=config.window
        ).inputs

    keras.utils.set_random_seed(config.seed)
    with precision_scope(resolve_precision(config.precision)):
        model = build_sequence_autoencoder(config.window, len(scaler.feature_columns_), preset)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate), loss="mse")
    fit = _fit(model, train_windows.inputs, validation_inputs, config, listeners, cancellation)

    threshold, evaluation, predictions = None, {}, pd.DataFrame()
    if fit.best_epoch is not None:
        reference = train_frame if validation_frame.empty else validation_frame
        if validation_frame.empty:
            problems.append("No validation rows: the threshold comes from the training rows.")
        reference_scores = anomaly_scores(model, scaler, config, reference, None)["score"]
        threshold = float(np.quantile(reference_scores, config.threshold_quantile))
        evaluated = frame[frame["unit"].isin(test_units)] if test_units else frame
        evaluated = evaluated.reset_index(drop=True)
        predictions = anomaly_scores(model, scaler, config, evaluated, threshold)
        predictions["healthy"] = _healthy_mask(evaluated, rule, config, healthy_fraction)
        flags, healthy_rows = predictions["flagged"].to_numpy(), predictions["healthy"].to_numpy()
        evaluation = {
            "threshold": threshold,
            "threshold_quantile": config.threshold_quantile,
            "autoencoder": preset,
            "healthy_rule": rule,
            "healthy_rul": config.healthy_rul if rule == "rul" else None,
            "healthy_fraction": healthy_fraction if rule == "fraction" else None,
            "training_windows": len(train_windows),
            "reference_steps": len(reference_scores),
            "reference_score_median": float(np.median(reference_scores)),
            "evaluated_units": [plain_value(unit) for unit in evaluated["unit"].drop_duplicates()],
            "healthy_flag_rate": _flag_rate(flags, healthy_rows),
            "other_flag_rate": _flag_rate(flags, ~healthy_rows),
        }
        if rule == "rul":
            late = rul_targets(evaluated, cap=None) <= config.horizon
            evaluation["late_flag_rate"] = _flag_rate(flags, late)
    return finish_series_run(
        model,
        scaler,
        config,
        fit,
        (train_units, validation_units, test_units),
        listeners,
        evaluation=evaluation,
        predictions=predictions,
        threshold=threshold,
        problems=problems,
    )

"""Sensor-series runs end to end: read the data, train, register, reload and score.

`core.engine.series_training` trains on in-memory datasets; this module adds what the CLI and the
pages share: reading paths and uploads (CSV, Parquet, C-MAPSS) and true-RUL files, the registry
metadata of a run (the fitted scaler and window travel with the model), and a `SeriesPredictor`
that scores new data with a registered model.

Example:
    result = run_series_training("sample_data/sensors/train.csv", SeriesTrainingConfig(epochs=5))
    record = save_series_run(result, registry, "pump-rul")
    predictor = load_series_predictor(registry, record.reference)
    predictor.predict(load_series("sample_data/sensors/test.csv"))
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.data.series import SeriesDataset
from core.data.series_loading import load_series
from core.data.truth_files import load_anomaly_labels, read_final_rul
from core.data.validation import describe_value
from core.data.windows import SensorScaler
from core.engine.series_training import (
    SeriesTrainingConfig,
    evaluate_series,
    predict_series,
    train_series_model,
)
from core.metrics.anomalies import evaluate_anomalies

REGISTRY_TASKS = {"rul": "series_rul", "failure": "series_failure", "anomaly": "series_anomaly"}
CONFIG_TASKS = {task: name for name, task in REGISTRY_TASKS.items()}
FAILURE_CLASSES = ["healthy", "failing"]


def read_series(source, *, name: str | None = None):
    """Reads a series from a path (file or C-MAPSS directory), bytes or a `SeriesDataset`.

    Raises:
        ValueError: If the data cannot be read (the message says why).
    """
    if isinstance(source, SeriesDataset):
        return source
    if isinstance(source, str | os.PathLike) and not Path(source).exists():
        raise ValueError(
            "Expected a CSV or Parquet file, a C-MAPSS text file or a C-MAPSS directory. "
            f"Received: data='{source}' (no such file or directory)"
        )
    return load_series(source, name=name)


def run_series_training(
    data,
    config,
    *,
    listeners: Iterable[object] = (),
    cancellation=None,
    test_data=None,
    test_rul=None,
):
    """Reads the data (and an optional external test set) and trains one model.

    Args:
        data: Training data: a path, upload bytes or a `SeriesDataset`.
        config: A `SeriesTrainingConfig`.
        listeners: Progress listeners.
        cancellation: A `CancellationToken`.
        test_data: Optional test units to evaluate on (their true RUL at the last row comes
            from `test_rul`; without it they must run to failure).
        test_rul: A true-RUL file path or Series for `test_data`.

    Returns:
        The `SeriesRunResult`, with `dataset` recorded in `result.problems`' neighbour fields.
    """
    dataset = read_series(data)
    test = None
    if test_data is not None:
        test_dataset = read_series(test_data)
        final = test_rul
        if final is not None and not isinstance(final, pd.Series):
            final = read_final_rul(final, units=test_dataset.units())
        test = (test_dataset, final)
        if config.test_fraction:
            config = dataclasses.replace(config, test_fraction=0.0)
    result = train_series_model(
        dataset, config, listeners=listeners, cancellation=cancellation, test=test
    )
    source = str(data) if isinstance(data, str | os.PathLike) else "upload"
    result.dataset_summary = dataset.summary() | {"source": source}
    result.dataset_fingerprint = series_fingerprint(dataset)
    return result


def series_fingerprint(dataset) -> str:
    """Returns "sha256:..." of the dataset's canonical frame (order and values)."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(dataset.frame, index=False).to_numpy())
    return f"sha256:{digest.hexdigest()}"


def summary_metrics(config_task: str, evaluation: dict) -> dict:
    """The headline numbers of a run, for tables: RMSE/MAE/Score, F1/accuracy or anomaly rates."""
    if config_task == "rul":
        keys = ("rmse", "mae", "score", "count")
    elif config_task == "failure":
        keys = ("accuracy", "precision", "recall", "f1", "roc_auc", "count")
    else:
        keys = ("threshold", "healthy_flag_rate", "late_life_flag_rate")
    return {key: evaluation[key] for key in keys if evaluation.get(key) is not None}


def series_run_metadata(result) -> dict:
    """Builds the registry metadata of a series run (validated by the registry on save)."""
    config = result.config
    evaluation = _json_ready(result.evaluation)
    metadata = {
        "task": REGISTRY_TASKS[config.task],
        "classes": FAILURE_CLASSES if config.task == "failure" else [],
        "input_shape": [config.window, len(result.scaler.feature_columns_)],
        "preprocessing": {
            "window": config.window,
            "scaler": result.scaler.to_config(),
            "feature_columns": list(result.scaler.feature_columns_),
            "dropped_sensors": list(result.scaler.dropped_sensors_),
            "rul_cap": config.rul_cap,
            "horizon": config.horizon,
            "threshold": result.threshold,
        },
        "training_config": config.to_dict(),
        "metrics": summary_metrics(config.task, evaluation) | {"evaluation": evaluation},
        "history": {
            key: [float(value) for value in values] for key, values in result.history.items()
        },
        "dataset_fingerprint": getattr(result, "dataset_fingerprint", None) or "unknown",
        "extra": {
            "dataset": getattr(result, "dataset_summary", {}),
            "split": {
                "train": len(result.train_units),
                "validation": len(result.validation_units),
                "test": len(result.test_units),
            },
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "cancelled": result.cancelled,
            "training_seconds": round(float(result.seconds), 2),
            "problems": list(result.problems),
        },
    }
    return metadata


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save_series_run(result, registry, name: str, *, owner: str | None = None):
    """Registers the run's model under `name` (a new version) and returns the record.

    Raises:
        ValueError: If the run was cancelled before its first epoch (there is no model).
    """
    if result.best_epoch is None:
        raise ValueError(
            "Expected a run that finished at least one epoch. Received: a run cancelled before "
            "its first epoch"
        )
    result.record = registry.save(result.model, name, series_run_metadata(result), owner=owner)
    return result.record


@dataclasses.dataclass
class SeriesPredictor:
    """A registered series model with its scaler and settings, ready to score new data.

    Attributes:
        model: The Keras model.
        scaler: The fitted `SensorScaler` stored with it.
        config: The run's `SeriesTrainingConfig`.
        threshold: The anomaly threshold (task "anomaly"), else None.
        metadata: The registry metadata.
    """

    model: Any
    scaler: Any
    config: Any
    threshold: float | None
    metadata: dict

    @property
    def task(self) -> str:
        return self.config.task

    def predict(self, data) -> pd.DataFrame:
        """Scores every cycle that ends a window (every cycle for anomaly scores).

        Raises:
            ValueError: If the data lacks a sensor the model was trained on (named).
        """
        dataset = read_series(data)
        return predict_series(
            self.model, self.scaler, self.config, dataset, threshold=self.threshold
        )


def load_series_predictor(registry, reference: str) -> SeriesPredictor:
    """Loads a registered sensor-series model as a `SeriesPredictor`.

    Raises:
        ValueError: If the model is unknown or is not a sensor-series model.
    """
    model, metadata = registry.load(reference)
    if metadata.get("task") not in CONFIG_TASKS:
        raise ValueError(
            f"Expected a sensor-series model (task one of {sorted(CONFIG_TASKS)}). Received: "
            f"model='{reference}' with task={describe_value(metadata.get('task'))}"
        )
    preprocessing = metadata["preprocessing"]
    return SeriesPredictor(
        model=model,
        scaler=SensorScaler.from_config(preprocessing["scaler"]),
        config=SeriesTrainingConfig.from_dict(metadata["training_config"]),
        threshold=preprocessing.get("threshold"),
        metadata=metadata,
    )


def evaluate_registered_series(registry, reference: str, data, *, rul=None, anomalies=None) -> dict:
    """Scores a registered series model on labelled data.

    Args:
        registry: A `ModelRegistry`.
        reference: "name" or "name:version".
        data: Test data (path, bytes or `SeriesDataset`).
        rul: True RUL at each unit's last row (path, bytes or Series); without it the units
            are taken to run to failure (RUL = last cycle - cycle).
        anomalies: Task "anomaly": known anomalous stretches (path, bytes or DataFrame).

    Returns:
        A JSON-ready dict: `model`, `task`, the metrics, and `per_unit` (task "rul").

    Raises:
        ValueError: If an anomaly model is evaluated without `anomalies`, or the data is unusable.
    """
    predictor = load_series_predictor(registry, reference)
    dataset = read_series(data)
    if predictor.task == "anomaly":
        if anomalies is None:
            raise ValueError(
                "Expected known anomalous stretches (--anomalies FILE with columns start_cycle,"
                f"end_cycle) to evaluate an anomaly model. Received: model='{reference}', "
                "anomalies=None"
            )
        scores = predictor.predict(dataset)
        evaluation = evaluate_anomalies(scores, load_anomaly_labels(anomalies))
    else:
        final = rul
        if final is not None and not isinstance(final, pd.Series):
            final = read_final_rul(final, units=dataset.units())
        evaluation, _ = evaluate_series(
            predictor.model, predictor.scaler, predictor.config, dataset, final
        )
    return {"model": reference, "task": predictor.task} | _json_ready(evaluation)

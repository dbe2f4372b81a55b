"""Training from the sensor monitor page: settings, configs, background work, saved models.

The page turns its widget values into a config with `training_config(...)`, picks what to
evaluate on with `evaluation_data(...)` and submits `make_training_work(source, config, ...)` to
the `JobManager`. The work reads the data inside the job, trains with `run_series_training` and
returns a `MonitorRun` (`core.jobs.sensor_results`). Data sources live in
`core.data.sensor_sources`. Nothing here imports Streamlit, and TensorFlow is only imported inside
the job.

Example:
    >>> work = make_training_work(sample_source(), training_config(task="rul", epochs=1))
    >>> job = manager.submit(token, JOB_KIND, work, description="rul on the sample")
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.config_checks import page_changes
from core.data.sensor_sources import (
    EvaluationData,
    SeriesSource,
    check_truth_file,
    load_dataset,
    mapping_for,
    read_table,
    read_truth,
)
from core.data.series import ColumnMapping
from core.data.validation import describe_value
from core.engine.series_training import SERIES_TASKS, SeriesTrainingConfig, column_labels
from core.jobs.sensor_results import (
    FAILURE_CLASSES,
    MonitorRun,
    add_detection,
    lightweight_run,
    run_from_training,
)
from core.metrics.evaluation import evaluate_classification
from core.metrics.series import evaluate_binary_flags, evaluate_regression
from core.models.series import SERIES_MODEL_PRESETS
from core.models.series_autoencoder import AUTOENCODER_PRESETS, DEFAULT_AUTOENCODER
from core.workflows.series import CONFIG_TASKS, run_series_training

JOB_KIND = "train-series"
TASK_LABELS = {
    "rul": "Remaining useful life",
    "failure": "Failure within a horizon",
    "anomaly": "Anomaly detection",
}
PAGE_CHOICES = ("task", "model", "window", "epochs", "batch_size", "learning_rate", "horizon")
MODEL_NAME_LIMIT = 64


def number_settings(task: str) -> list[dict]:
    """The number inputs of the settings form for `task`: name, label and input options.

    The horizon only matters to the failure task, so it is only listed for it.
    """
    settings = [
        {"name": "window", "label": "Window (cycles)", "options": {"min_value": 2,
         "max_value": 500, "step": 1}},
        {"name": "epochs", "label": "Epochs", "options": {"min_value": 1, "max_value": 500,
         "step": 1}},
        {"name": "batch_size", "label": "Batch size", "options": {"min_value": 1,
         "max_value": 4096, "step": 32}},
        {"name": "learning_rate", "label": "Learning rate", "options": {"min_value": 1e-5,
         "max_value": 1.0, "step": 1e-4, "format": "%.5f"}},
    ]  # fmt: skip
    if task == "failure":
        settings.append(
            {"name": "horizon", "label": "Horizon (cycles)",
             "options": {"min_value": 1, "max_value": 1000, "step": 5}}
        )  # fmt: skip
    return settings


def training_defaults() -> dict:
    """Default widget values (from `SeriesTrainingConfig()`) and the choices the page offers."""
    config = SeriesTrainingConfig()
    return {
        "task": config.task,
        "tasks": list(SERIES_TASKS),
        "model": config.model,
        "models": list(SERIES_MODEL_PRESETS),
        "autoencoder": DEFAULT_AUTOENCODER,
        "autoencoders": list(AUTOENCODER_PRESETS),
        "window": config.window,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "horizon": config.horizon,
        "rul_cap": config.rul_cap,
        "validation_fraction": config.validation_fraction,
        "test_fraction": config.test_fraction,
    }


def training_config(**choices) -> SeriesTrainingConfig:
    """A `SeriesTrainingConfig` from the page's choices; a missing or None choice keeps the default.

    Args:
        **choices: Any of `PAGE_CHOICES` (task, model, window, epochs, batch_size,
            learning_rate, horizon), as in `SeriesTrainingConfig`.

    Raises:
        ValueError: If a choice is unknown or invalid (the message names it).
    """
    changes = page_changes(choices, PAGE_CHOICES)
    for key in ("window", "epochs", "batch_size", "horizon"):
        # Number inputs hand over floats such as 30.0: the config wants integers.
        if isinstance(changes.get(key), float) and changes[key].is_integer():
            changes[key] = int(changes[key])
    return dataclasses.replace(SeriesTrainingConfig(), **changes).validate()


def job_description(source: SeriesSource, config: SeriesTrainingConfig) -> str:
    """E.g. 'rul, conv1d, 5 epochs on sample train.csv' for job lists."""
    return f"{config.task}, {config.model}, {config.epochs} epochs on {source.description}"


def make_training_work(
    source: SeriesSource,
    config: SeriesTrainingConfig,
    *,
    mapping: ColumnMapping | None = None,
    evaluation: EvaluationData | None = None,
) -> Callable:
    """Returns `work(progress, cancellation)` for `JobManager.submit`.

    The work reads the data inside the job, trains with `run_series_training` (evaluating on
    `evaluation` when given, else on held-out units), and returns a `MonitorRun` (None if
    cancelled while reading); its `lightweight` is `lightweight_run`.

    Raises:
        ValueError: If `config` or the truth file is invalid (checked now, before anything is
            queued).
    """
    config.validate()
    if evaluation is not None and evaluation.truth is not None:
        # A bad truth file is refused now, not after a training it would make useless.
        check_truth_file(evaluation.truth, config.task)

    def work(progress, cancellation):
        progress.set_message(f"Reading {source.description}")
        dataset = load_dataset(source, mapping)
        test, truth = None, None
        if evaluation is not None:
            test_table = read_table(evaluation.series)
            test = load_dataset(evaluation.series, mapping_for(test_table, mapping), test_table)
            if evaluation.truth is not None:
                truth = read_truth(evaluation.truth, config.task, test)
        if cancellation.cancelled:
            return None
        progress.set_message(f"Training on {dataset.frame['unit'].nunique()} unit(s)")
        if config.task == "anomaly" or test is None:
            result = run_series_training(
                dataset, config, listeners=[progress], cancellation=cancellation
            )
        else:
            result = run_series_training(
                dataset,
                config,
                listeners=[progress],
                cancellation=cancellation,
                test_data=test,
                test_rul=truth,
            )
        description = f"{config.task}, {config.model} on {source.description}"
        if evaluation is not None:
            description += f", evaluated on {evaluation.description}"
            progress.set_message(f"Scoring {evaluation.description}")
        run = run_from_training(result, description, test=test, truth=truth)
        run.suggested_name = suggested_model_name(source, config)
        progress.set_message("Finished")
        return run

    work.lightweight = lightweight_run
    return work


def progress_text(snapshot: dict) -> str:
    """'Epoch 2 of 5, batch 10 of 40' for a running job's progress snapshot, else its message."""
    if snapshot["total_epochs"]:
        return (
            f"Epoch {snapshot['epoch']} of {snapshot['total_epochs']}, "
            f"batch {snapshot['step']} of {snapshot['steps_per_epoch']}"
        )
    return snapshot["message"] or "Starting..."


def submit_training(
    manager,
    owner: str,
    source: SeriesSource,
    choices: dict,
    *,
    mapping: ColumnMapping | None = None,
    evaluation: EvaluationData | None = None,
):
    """Submits a training job for the page's choices (see `training_config`).

    Returns:
        The `Job`; its `MonitorRun` result carries a suggested registry name for the model.

    Raises:
        JobRefused: If the job queue is full.
        ValueError: If a choice is invalid.
    """
    config = training_config(**choices)
    work = make_training_work(source, config, mapping=mapping, evaluation=evaluation)
    return manager.submit(owner, JOB_KIND, work, description=job_description(source, config))


def series_jobs(manager, owner: str) -> list:
    """This owner's sensor training jobs (other pages' jobs are left out)."""
    return [job for job in manager.jobs_for(owner) if job.kind == JOB_KIND]


def suggested_model_name(source: SeriesSource, config: SeriesTrainingConfig) -> str:
    """A valid registry name such as 'train-rul-conv1d' (letters, digits, '_', '.', '-')."""
    suffix = f"-{config.task}-{config.model}"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(source.name).stem).strip("-._") or "sensors"
    return f"{stem[: MODEL_NAME_LIMIT - len(suffix)]}{suffix}"


def saved_series_models(registry) -> list[dict]:
    """The registry's sensor-series models, newest version first within each name.

    Returns:
        [{"reference", "task" ("rul", "failure" or "anomaly"), "label" (for a picker)}].
    """
    models = []
    for record in registry.list():
        task = CONFIG_TASKS.get(record.metadata.get("task"))
        if task is None:
            continue
        metrics = record.metadata.get("metrics", {})
        headline = ""
        if task == "rul" and metrics.get("rmse") is not None:
            headline = f", RMSE {metrics['rmse']:.1f}"
        elif task == "failure" and metrics.get("f1") is not None:
            headline = f", F1 {metrics['f1']:.2f}"
        models.append(
            {
                "reference": record.reference,
                "task": task,
                "label": f"{record.reference} ({task}{headline})",
                "version": record.version,
                "name": record.name,
            }
        )
    models.sort(key=lambda model: (model["name"], -model["version"]))
    return [{key: model[key] for key in ("reference", "task", "label")} for model in models]


def _true_rul_rows(dataset, truth) -> np.ndarray | None:
    """Uncapped true RUL of every row of the dataset, or None when unknown."""
    frame = dataset.frame
    if truth is None:
        return frame["rul"].to_numpy("float64") if "rul" in frame.columns else None
    final = truth.astype("float64")
    missing = [unit for unit in dataset.units() if unit not in final.index]
    if missing:
        raise ValueError(
            "Expected a true RUL for every unit of the data. "
            f"Received: no value for units {describe_value(missing[:10])}"
        )
    last = frame.groupby("unit", sort=False)["cycle"].transform("max")
    return (frame["unit"].map(final) + (last - frame["cycle"])).to_numpy("float64")


def _with_truth(predictions: pd.DataFrame, dataset, true_rul: np.ndarray) -> pd.DataFrame:
    frame = dataset.frame
    rows = pd.DataFrame(
        {
            "unit": frame["unit"],
            "cycle": frame["cycle"],
            "true_rul": true_rul,
            "last_cycle": frame.groupby("unit", sort=False).cumcount(ascending=False) == 0,
        }
    )
    if "label" in frame.columns:
        rows["label"] = frame["label"]
    return predictions.merge(rows, on=["unit", "cycle"], how="left")


def score_saved_model(
    predictor,
    dataset,
    *,
    reference: str,
    truth: SeriesSource | None = None,
    description: str | None = None,
) -> MonitorRun:
    """Scores a dataset with a registered model, evaluating when the truth is known.

    Args:
        predictor: A `SeriesPredictor` (`core.workflows.series.load_series_predictor`).
        dataset: The `SeriesDataset` to score.
        reference: The model's "name:version", for headings.
        truth: rul/failure: a file with the true RUL at each unit's last row (without it a
            `rul` column of the data is used when present); anomaly: known stretches. None
            when unknown.
        description: For headings; defaults to the reference.

    Raises:
        ValueError: If the data lacks a sensor the model needs, or the truth file is unusable
            or misses a unit.
    """
    config = predictor.config
    truth = read_truth(truth, config.task, dataset) if truth is not None else None
    predictions = predictor.predict(dataset)
    run = MonitorRun(
        task=config.task,
        description=description or reference,
        predictions=predictions,
        evaluation={},
        threshold=predictor.threshold,
        rul_cap=config.rul_cap,
        horizon=config.horizon,
        model_reference=reference,
        problems=list(dataset.problems),
    )
    if config.task == "anomaly":
        add_detection(run, truth)
        return run
    if config.task == "failure":
        predictions["predicted"] = predictions.pop("failing").astype("int64")
    true_rul = _true_rul_rows(dataset, truth)
    uses_label = config.task == "failure" and config.label_source == "column"
    if true_rul is None and not (uses_label and "label" in dataset.frame.columns):
        return run
    if true_rul is None:
        true_rul = np.full(len(dataset.frame), np.nan)
    predictions = _with_truth(predictions, dataset, true_rul)
    if config.task == "rul":
        cap = config.rul_cap
        truth_rows = predictions["true_rul"]
        predictions["true"] = truth_rows if cap is None else np.minimum(truth_rows, cap)
        run.evaluation = _rul_evaluation(predictions)
    else:
        if uses_label:
            predictions["true"] = column_labels(predictions["label"])
        else:
            predictions["true"] = (predictions["true_rul"] <= config.horizon).astype("int64")
        run.evaluation = _failure_evaluation(predictions)
    run.predictions = predictions.drop(columns=["label"], errors="ignore")
    return run


def _rul_evaluation(predictions: pd.DataFrame) -> dict:
    """RMSE, MAE and NASA score at each unit's last cycle, as `train_series_model` reports."""
    last = predictions[predictions["last_cycle"].astype(bool)]
    evaluation = evaluate_regression(last["true_rul"], last["predicted"])
    evaluation["score"] = evaluation["nasa_score"]
    evaluation["per_unit"] = [
        {
            "unit": _plain(unit),
            "true": float(true),
            "predicted": float(predicted),
        }
        for unit, true, predicted in zip(
            last["unit"], last["true_rul"], last["predicted"], strict=True
        )
    ]
    return evaluation


def _failure_evaluation(predictions: pd.DataFrame) -> dict:
    truth = predictions["true"].to_numpy()
    probability = predictions["probability"].to_numpy("float64")
    evaluation = evaluate_classification(
        truth, np.stack([1 - probability, probability], axis=1), FAILURE_CLASSES, ok_class=None
    )
    evaluation.pop("misclassified", None)
    flags = evaluate_binary_flags(truth, predictions["predicted"].to_numpy())
    return evaluation | {key: flags[key] for key in ("precision", "recall", "f1")}


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value

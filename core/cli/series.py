"""Sensor-series commands of `python -m core`: `train series` and series `evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from core.cli.common import given_options, open_registry, print_json, record_keys
from core.cli.terminal_progress import TerminalProgressBar
from core.engine.precision import PRECISIONS
from core.engine.series_training import SERIES_TASKS, SeriesTrainingConfig
from core.models.series import SERIES_MODEL_PRESETS
from core.workflows.series import (
    evaluate_registered_series,
    run_series_training,
    save_series_run,
    summary_metrics,
)


def add_train_series_parser(kinds, add_common_options) -> None:
    """Adds `train series` to the `train` sub-commands."""
    defaults = SeriesTrainingConfig()
    series = kinds.add_parser(
        "series", help="Train a remaining-life, failure or anomaly model on sensor series."
    )
    series.add_argument(
        "--data", required=True, help="Training CSV/Parquet, C-MAPSS text file or directory."
    )
    series.add_argument("--task", choices=SERIES_TASKS, default=defaults.task)
    series.add_argument("--model", choices=SERIES_MODEL_PRESETS, default=defaults.model)
    series.add_argument("--window", type=int, help=f"Window length (default {defaults.window}).")
    series.add_argument("--stride", type=int, help=f"Window stride (default {defaults.stride}).")
    series.add_argument("--epochs", type=int, help=f"Maximum epochs (default {defaults.epochs}).")
    series.add_argument("--batch-size", type=int, help=f"Default {defaults.batch_size}.")
    series.add_argument("--learning-rate", type=float, help=f"Default {defaults.learning_rate}.")
    series.add_argument("--rul-cap", type=float, help=f"RUL cap (default {defaults.rul_cap}).")
    series.add_argument(
        "--horizon", type=int, help=f"Failure task: fails within N cycles ({defaults.horizon})."
    )
    series.add_argument(
        "--test", help="External test units (e.g. test_FD001.txt); default: held-out units."
    )
    series.add_argument("--rul", help="True RUL at the last row of each --test unit.")
    series.add_argument("--seed", type=int, help=f"Random seed (default {defaults.seed}).")
    series.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (default): mixed float16 when a GPU is present, else float32.",
    )
    series.add_argument("--name", help="Registry name (default: <task>-<model>-<data>).")
    add_common_options(series)
    series.set_defaults(handler=command_train_series)


OPTION_FIELDS = (
    "window", "stride", "epochs", "batch_size", "learning_rate", "rul_cap", "horizon", "seed",
    "precision",
)  # fmt: skip


def series_config_from_arguments(arguments: argparse.Namespace):
    config = SeriesTrainingConfig(
        task=arguments.task, model=arguments.model, **given_options(arguments, OPTION_FIELDS)
    )
    if arguments.test:
        config = dataclasses.replace(config, test_fraction=0.0)
    return config.validate()


def command_train_series(arguments: argparse.Namespace) -> int:
    config = series_config_from_arguments(arguments)
    if arguments.rul and not arguments.test:
        raise ValueError(f"Expected --test with --rul. Received: rul='{arguments.rul}', test=None")
    registry = open_registry(arguments)
    print(f"Loading sensor series from {arguments.data} ...", flush=True)
    result = run_series_training(
        arguments.data,
        config,
        listeners=[TerminalProgressBar()],
        test_data=arguments.test,
        test_rul=arguments.rul,
    )
    for problem in result.problems:
        print(f"  note: {problem}", flush=True)
    print(
        f"Trained {config.model} ({config.task}) on {len(result.train_units)} units, "
        f"{result.epochs_run} epochs in {result.seconds:.1f} s; best epoch {result.best_epoch}.",
        flush=True,
    )
    name = arguments.name or f"{config.task}-{config.model}-{Path(arguments.data).stem}"
    record = save_series_run(result, registry, name)
    metrics = summary_metrics(config.task, result.evaluation)
    shown = ", ".join(f"{key} {value:.4g}" for key, value in metrics.items())
    print(f"Test: {shown}. Registered {record.reference} in {registry.directory}", flush=True)
    if arguments.json:
        print_json(
            {
                **record_keys(record),
                "task": config.task,
                "metrics": metrics,
                "epochs_run": result.epochs_run,
                "training_seconds": round(result.seconds, 2),
                "problems": list(result.problems),
            }
        )
    return 0


def command_evaluate_series(arguments: argparse.Namespace, registry) -> int:
    evaluation = evaluate_registered_series(
        registry,
        arguments.model,
        arguments.data,
        rul=arguments.rul,
        anomalies=arguments.anomalies,
    )
    task = evaluation["task"]
    print(f"Model {evaluation['model']} ({task}) on {arguments.data}:")
    if task == "anomaly":
        step = evaluation.get("step", {})
        print(
            f"  per step: precision {step.get('precision', 0):.3f} recall "
            f"{step.get('recall', 0):.3f}; stretches found {evaluation['events_found']} of "
            f"{evaluation['events_total']}, event precision {evaluation['event_precision']:.3f}",
            flush=True,
        )
        metrics = {
            key: evaluation[key]
            for key in ("event_precision", "event_recall", "events_found", "events_total")
        } | {f"step_{key}": step.get(key) for key in ("precision", "recall", "f1")}
    else:
        metrics = summary_metrics(task, evaluation)
        print("  " + ", ".join(f"{key} {value:.4g}" for key, value in metrics.items()), flush=True)
    if arguments.json:
        payload = {"model": evaluation["model"], "task": task, "metrics": metrics}
        for key in ("per_unit", "confusion_matrix", "class_names"):
            if key in evaluation:
                payload[key] = evaluation[key]
        print_json(payload)
    return 0

"""Handlers of the model commands of `python -m core`: train, evaluate, predict, models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.common import given_options, open_registry, print_json, record_keys
from core.cli.series import command_evaluate_series
from core.cli.terminal_progress import TerminalProgressBar
from core.data.images import load_images
from core.demo.models import DEMO_MODELS_DIRECTORY, build_demo_models
from core.deploy.export_check import check_exports
from core.engine.distribution import cluster_role
from core.engine.image_training import ImageTrainingConfig
from core.models.image import AugmentationConfig
from core.workflows.image import (
    evaluate_registered_model,
    run_image_training,
    save_image_run,
    summary_metrics,
)

# Options passed to `ImageTrainingConfig` under their own names; `epochs` may be left out.
IMAGE_OPTIONS = (
    "model", "epochs", "batch_size", "learning_rate", "optimizer", "schedule", "seed",
    "steps_per_execution", "validation_fraction", "test_fraction", "precision", "strategy",
)  # fmt: skip


def image_config_from_arguments(arguments: argparse.Namespace):
    size = arguments.image_size
    return ImageTrainingConfig(
        **given_options(arguments, IMAGE_OPTIONS),
        **({"image_size": (size, size)} if size else {}),
        augmentation=AugmentationConfig(enabled=not arguments.no_augmentation),
    ).validate()


def command_train_image(arguments: argparse.Namespace) -> int:
    config = image_config_from_arguments(arguments)
    # In a cluster every worker ends with the same weights; only the chief touches the registry
    # (the demo models included), so a shared registry folder gets one of each.
    role = cluster_role() if config.strategy == "multiworker" else None
    registry = open_registry(arguments) if role is None or role["is_chief"] else None
    print(f"Loading images from {arguments.data} ...", flush=True)
    result = run_image_training(
        arguments.data, config, listeners=[TerminalProgressBar()], stream=arguments.stream
    )
    dataset = result.dataset
    print(
        f"Trained {config.model} on {len(result.train_indices)} images "
        f"({len(dataset.class_names)} classes), {result.training.epochs_run} epochs in "
        f"{result.training.seconds:.1f} s; best epoch {result.training.best_epoch}.",
        flush=True,
    )
    for rejected in dataset.rejected:
        print(f"  skipped {rejected.name}: {rejected.reason}", flush=True)
    if registry is None:
        print(f"Worker {role['task_index']} done; the chief registers the model.", flush=True)
        if arguments.json:
            print_json({"model": None, "worker": role["task_index"], "registered": False})
        return 0
    name = arguments.name or f"{config.model}-{Path(arguments.data).stem}"
    record = save_image_run(result, registry, name)
    metrics = summary_metrics(result.evaluation)
    print(
        f"Test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} on "
        f"{metrics['test_count']} images. Registered {record.reference} in {registry.directory}",
        flush=True,
    )
    if arguments.json:
        print_json(
            {
                **record_keys(record),
                "metrics": metrics,
                "epochs_run": result.training.epochs_run,
                "training_seconds": round(result.training.seconds, 2),
                "rejected": [item.as_dict() for item in dataset.rejected],
            }
        )
    return 0


def command_evaluate(arguments: argparse.Namespace) -> int:
    registry = open_registry(arguments)
    if registry.get(arguments.model).metadata.get("task", "").startswith("series_"):
        return command_evaluate_series(arguments, registry)
    evaluation = evaluate_registered_model(registry, arguments.model, arguments.data)
    metrics = summary_metrics(evaluation)
    print(f"Model {evaluation['model']} on {arguments.data}:")
    for row in evaluation["per_class"]:
        print(
            f"  {row['class']:<16} precision {row['precision']:.3f} recall {row['recall']:.3f} "
            f"f1 {row['f1']:.3f} support {row['support']}"
        )
    print(f"  accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}", flush=True)
    if arguments.json:
        print_json(
            {
                "model": evaluation["model"],
                "metrics": metrics,
                "per_class": evaluation["per_class"],
                "confusion_matrix": evaluation["confusion_matrix"],
                "class_names": evaluation["class_names"],
                "rejected": evaluation["rejected"],
            }
        )
    return 0


def _record_row(record) -> dict:
    metrics = record.metadata.get("metrics", {})
    return {
        "reference": record.reference,
        "task": record.metadata.get("task"),
        "classes": record.metadata.get("classes"),
        "accuracy": metrics.get("accuracy"),
        "rmse": metrics.get("rmse"),
        "created_at": record.metadata.get("created_at"),
    }


def representative_images(registry, reference: str, data: str):
    """Images of `data` at the input size of image model `reference`, to calibrate int8."""
    metadata = registry.get(reference).metadata
    height, width, channels = metadata["input_shape"]
    dataset = load_images(Path(data), image_size=(height, width), channels=channels)
    return dataset.images


def command_models(arguments: argparse.Namespace) -> int:
    registry = open_registry(arguments)
    action = arguments.action
    if action == "list":
        rows = [_record_row(record) for record in registry.list()]
        for row in rows:
            shown = " ".join(
                f"{key} {row[key]:.4f}" for key in ("accuracy", "rmse") if row[key] is not None
            )
            print(f"{row['reference']:<32} {row['task']:<22} {shown}")
        if not rows:
            print(f"No models in {registry.directory}")
        payload: dict = {"models": rows}
    elif action == "show":
        record = registry.get(arguments.name)
        metadata = dict(record.metadata)
        metadata.get("metrics", {}).pop("evaluation", None)
        print(json.dumps(metadata, indent=2, default=str))
        payload = {"reference": record.reference, "metadata": metadata}
    elif action == "export":
        representative = None
        if arguments.format == "tflite-int8" and arguments.data:
            representative = representative_images(registry, arguments.name, arguments.data)
        path = registry.export(
            arguments.name,
            None,
            arguments.format,
            arguments.out,
            representative_data=representative,
        )
        print(f"Exported {arguments.name} as {arguments.format} to {path}")
        payload = {"model": arguments.name, "format": arguments.format, "out": str(path)}
    elif action == "check-export":
        payload = check_exports(registry, arguments.name, arguments.data)
        print(f"{payload['model']} on {payload['test_images']} test images:")
        for name, row in payload["formats"].items():
            print(
                f"  {name:<12} accuracy {row['accuracy']:.1%} "
                f"({row['accuracy_change'] * 100:+.1f} points), agrees with the original on "
                f"{row['agreement']:.1%}, {row['bytes']:,} bytes"
            )
    else:
        if not arguments.yes:
            raise ValueError(
                "Expected --yes to confirm deleting a model. "
                f"Received: models delete {arguments.name} without --yes"
            )
        deleted = registry.delete(arguments.name)
        print(f"Deleted {', '.join(record.reference for record in deleted)}")
        payload = {"deleted": [record.reference for record in deleted]}
    if arguments.json:
        print_json(payload)
    return 0


def command_demo_models(arguments: argparse.Namespace) -> int:
    output = Path(arguments.out) if arguments.out else DEMO_MODELS_DIRECTORY
    summaries = build_demo_models(
        output, epochs=arguments.epochs, names=arguments.only, listeners=[TerminalProgressBar()]
    )
    for summary in summaries:
        metrics = ", ".join(
            f"{key} {summary[key]:.4g}"
            for key in ("accuracy", "rmse", "score", "f1", "threshold")
            if key in summary
        )
        print(
            f"{summary['name']}: {metrics} after {summary['epochs_run']} epochs "
            f"({summary['seconds']} s), {summary['bytes']} bytes",
            flush=True,
        )
    if arguments.json:
        print_json({"demo_models": summaries, "out": str(output)})
    return 0

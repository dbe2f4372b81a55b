"""Image anomaly commands of `python -m core`: `train image-anomaly`."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.common import given_options, open_registry, print_json, record_keys
from core.cli.terminal_progress import TerminalProgressBar
from core.models.image_anomaly import ANOMALY_METHODS
from core.workflows import image_anomaly as anomaly_workflow


def add_train_anomaly_parser(kinds, add_common_options) -> None:
    """Adds `train image-anomaly` to the `train` sub-commands."""
    defaults = anomaly_workflow.ImageAnomalyConfig()
    anomaly = kinds.add_parser(
        "image-anomaly",
        help="Train an image anomaly detector on the good images only (defects only test it).",
    )
    anomaly.add_argument(
        "--data",
        required=True,
        help="Class folders, a zip, or a manifest folder, with the good class and defect classes.",
    )
    anomaly.add_argument(
        "--good-class",
        default=defaults.good_class,
        help=f"The defect-free class to learn (default {defaults.good_class!r}).",
    )
    # Checked by the config rather than argparse `choices`, so a typo gets the usual one-line
    # error naming the methods.
    anomaly.add_argument(
        "--method",
        default=defaults.method,
        help=f"One of {', '.join(ANOMALY_METHODS)} (default {defaults.method}).",
    )
    anomaly.add_argument(
        "--epochs", type=int, help=f"Autoencoder: maximum epochs (default {defaults.epochs})."
    )
    anomaly.add_argument(
        "--image-size",
        type=int,
        default=defaults.image_size,
        help=f"Square side, a multiple of 8 from 16 to 256 (default {defaults.image_size}).",
    )
    anomaly.add_argument(
        "--channels", type=int, default=defaults.channels, help="1 (grayscale) or 3 (RGB)."
    )
    anomaly.add_argument(
        "--threshold-quantile",
        type=float,
        default=defaults.threshold_quantile,
        help="Quantile of the held-out good images' scores that becomes the threshold "
        f"(default {defaults.threshold_quantile}).",
    )
    anomaly.add_argument(
        "--masks", help="Folder of defect masks named like the images, for the pixel AUROC."
    )
    anomaly.add_argument("--seed", type=int, default=defaults.seed)
    anomaly.add_argument("--name", help="Registry name (default: anomaly-<method>-<data folder>).")
    add_common_options(anomaly)
    anomaly.set_defaults(handler=command_train_image_anomaly)


# Options passed to `ImageAnomalyConfig` under their own names; `epochs` may be left out.
ANOMALY_OPTIONS = (
    "method", "good_class", "image_size", "channels", "epochs", "threshold_quantile", "seed",
)  # fmt: skip


def command_train_image_anomaly(arguments: argparse.Namespace) -> int:
    config = anomaly_workflow.ImageAnomalyConfig(
        **given_options(arguments, ANOMALY_OPTIONS)
    ).validate()
    registry = open_registry(arguments)
    print(f"Loading images from {arguments.data} ...", flush=True)
    result = anomaly_workflow.run_image_anomaly_training(
        arguments.data, config, masks=arguments.masks, listeners=[TerminalProgressBar()]
    )
    for rejected in result.dataset.rejected:
        print(f"  skipped {rejected.name}: {rejected.reason}", flush=True)
    metrics = result.metrics
    good_train = int(sum(result.dataset.labels[result.train_indices] == result.good_index))
    trained = (
        f"{result.epochs_run} epochs (best {result.best_epoch})"
        if config.method == "autoencoder"
        else "one pass"
    )
    print(
        f"Trained {config.method} on {good_train} good '{config.good_class}' images, {trained} in "
        f"{result.seconds:.1f} s. Threshold {result.threshold:.4g}: quantile "
        f"{config.threshold_quantile} of {len(result.validation_scores)} held-out good scores.",
        flush=True,
    )
    pixel = f", pixel AUROC {metrics['pixel_auroc']:.4f}" if "pixel_auroc" in metrics else ""
    name = arguments.name or f"anomaly-{config.method}-{Path(arguments.data).stem}"
    record = anomaly_workflow.save_image_anomaly_run(result, registry, name)
    if metrics["image_auroc"] is None:
        detection = "no defect images to test on, so image AUROC and defect recall are unknown"
    else:
        detection = (
            f"image AUROC {metrics['image_auroc']:.4f}{pixel}, defect recall "
            f"{metrics['defect_recall']:.3f}"
        )
    print(
        f"Test on {metrics['test_count']} images: {detection}, false reject rate "
        f"{metrics['false_reject_rate']:.3f}. Registered {record.reference} in "
        f"{registry.directory}",
        flush=True,
    )
    if arguments.json:
        print_json(
            {
                **record_keys(record),
                "method": config.method,
                "good_class": config.good_class,
                "threshold": result.threshold,
                "metrics": {key: value for key, value in metrics.items() if key != "evaluation"},
                "epochs_run": result.epochs_run,
                "cancelled": result.cancelled,
                "training_seconds": round(result.seconds, 2),
                "rejected": [item.as_dict() for item in result.dataset.rejected],
            }
        )
    return 0

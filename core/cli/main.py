"""Command-line interface: `python -m core <command> ...`.

Every command prints human-readable progress; with `--json` the last line of output is one JSON
object, so scripts can read it with `tail -n 1`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from core.cli import commands as cli_commands
from core.cli import decisions as cli_decisions
from core.cli import demo as cli_demo
from core.cli import gan as cli_gan
from core.cli import image_anomaly as cli_anomaly
from core.cli import predict as cli_predict
from core.cli import series as cli_series
from core.cli import signoff as cli_signoff
from core.cli.common import print_json
from core.data.inspection import format_report, inspect_path
from core.data.sample_data import DEFAULT_SAMPLE_DIRECTORY, generate_sample_data
from core.engine.distribution import STRATEGIES
from core.engine.image_training import OPTIMIZERS, SCHEDULES, ImageTrainingConfig
from core.engine.precision import PRECISIONS
from core.models.image import DEFAULT_IMAGE_MODEL, IMAGE_MODEL_PRESETS


def command_sample_data(arguments: argparse.Namespace) -> int:
    output_directory = Path(arguments.out) if arguments.out else DEFAULT_SAMPLE_DIRECTORY
    print(f"Writing sample data to {output_directory} ...", flush=True)
    summary = generate_sample_data(output_directory, seed=arguments.seed)
    if arguments.json:
        print_json(summary)
    else:
        for key, value in summary.items():
            print(f"  {key}: {value}")
    return 0


def command_inspect(arguments: argparse.Namespace) -> int:
    report = inspect_path(arguments.path, kind=arguments.kind)
    print(format_report(report), flush=True)
    if arguments.json:
        print_json(report)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser with one sub-command per task."""
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="LineSight engine: data, models and training from the command line.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sample_data = subcommands.add_parser(
        "sample-data", help="Regenerate the bundled sample data (deterministic)."
    )
    sample_data.add_argument("--out", help="Output directory (default: the repo's sample_data/).")
    sample_data.add_argument("--seed", type=int, default=20261127, help="Base random seed.")
    sample_data.add_argument("--json", action="store_true", help="Print a JSON summary last.")
    sample_data.set_defaults(handler=command_sample_data)

    inspect = subcommands.add_parser(
        "inspect", help="Show what the loaders find in an image or sensor data set."
    )
    inspect.add_argument("path", help="Image folder, zip, manifest folder, CSV/Parquet or C-MAPSS.")
    inspect.add_argument(
        "--kind",
        choices=("auto", "images", "series"),
        default="auto",
        help="Force the kind of data (default: detect).",
    )
    inspect.add_argument("--json", action="store_true", help="Print a JSON report last.")
    inspect.set_defaults(handler=command_inspect)

    add_train_parser(subcommands)
    add_model_parsers(subcommands)
    cli_predict.add_predict_parsers(subcommands, add_common_options)
    cli_demo.add_demo_parsers(subcommands, add_common_options)
    cli_signoff.add_signoff_parsers(subcommands, add_common_options)
    cli_gan.add_gan_parsers(subcommands, add_common_options)
    cli_decisions.add_decision_parsers(subcommands, add_common_options)

    demo = subcommands.add_parser(
        "demo-models", help="Train the bundled demo models on sample_data (commit the result)."
    )
    demo.add_argument("--out", help="Output folder (default: core/demo/bundled_models).")
    demo.add_argument("--epochs", type=int, help="Override the epochs of every demo model.")
    demo.add_argument("--only", nargs="+", help="Build only these demo models.")
    demo.add_argument("--json", action="store_true", help="Print a JSON summary last.")
    demo.set_defaults(handler=cli_commands.command_demo_models)
    return parser


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry", help="Model registry folder (default: $LINESIGHT_REGISTRY or ./registry)."
    )
    parser.add_argument("--json", action="store_true", help="Print a JSON object as the last line.")


def add_train_parser(subcommands) -> None:
    defaults = ImageTrainingConfig()
    train = subcommands.add_parser("train", help="Train a model and register it.")
    kinds = train.add_subparsers(dest="kind", required=True, metavar="KIND")
    image = kinds.add_parser("image", help="Train an image defect classifier.")
    image.add_argument("--data", required=True, help="Class folders, a zip, or a manifest folder.")
    image.add_argument("--model", default=DEFAULT_IMAGE_MODEL, choices=sorted(IMAGE_MODEL_PRESETS))
    image.add_argument("--epochs", type=int, help=f"Maximum epochs (default {defaults.epochs}).")
    image.add_argument(
        "--image-size", type=int, help=f"Square input size (default {defaults.image_size[0]})."
    )
    image.add_argument("--batch-size", type=int, default=defaults.batch_size)
    image.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    image.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer)
    image.add_argument("--schedule", choices=SCHEDULES, default=defaults.schedule)
    image.add_argument("--validation-fraction", type=float, default=defaults.validation_fraction)
    image.add_argument("--test-fraction", type=float, default=defaults.test_fraction)
    image.add_argument("--no-augmentation", action="store_true", help="Train without augmentation.")
    image.add_argument("--seed", type=int, default=defaults.seed)
    image.add_argument(
        "--steps-per-execution",
        type=int,
        default=defaults.steps_per_execution,
        help="Batches per call into TensorFlow: higher is faster on small models; progress and "
        "cancellation then act every that many batches.",
    )
    image.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help="auto: mixed float16 when a GPU is present, else float32.",
    )
    image.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=defaults.strategy,
        help="auto: mirror over this machine's GPUs when there are several; mirrored: every GPU "
        "(or logical CPU device); multiworker: the cluster in TF_CONFIG (the chief registers).",
    )
    image.add_argument(
        "--stream",
        choices=("auto", "always", "never"),
        default="auto",
        help="Read a folder's images from disk batch by batch instead of all into memory: auto "
        "does so when their decoded pixels would pass 256 MB.",
    )
    image.add_argument("--name", help="Registry name (default: <model>-<data folder>).")
    add_common_options(image)
    image.set_defaults(handler=cli_commands.command_train_image)
    cli_series.add_train_series_parser(kinds, add_common_options)
    cli_gan.add_train_gan_parser(kinds, add_common_options)
    cli_anomaly.add_train_anomaly_parser(kinds, add_common_options)


def add_model_parsers(subcommands) -> None:
    evaluate = subcommands.add_parser("evaluate", help="Score a registered model on labelled data.")
    evaluate.add_argument("--model", required=True, help="NAME or NAME:VERSION.")
    evaluate.add_argument(
        "--data",
        required=True,
        help="Images: class folders, a zip or a manifest folder. Series: CSV/Parquet/C-MAPSS.",
    )
    evaluate.add_argument(
        "--rul", help="Series: true RUL at each unit's last row (unit,rul CSV or RUL_FD00x.txt)."
    )
    evaluate.add_argument(
        "--anomalies", help="Anomaly models: known stretches (start_cycle,end_cycle CSV)."
    )
    add_common_options(evaluate)
    evaluate.set_defaults(handler=cli_commands.command_evaluate)

    models = subcommands.add_parser(
        "models", help="List, show, export, check exports of or delete models."
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_common_options(actions.add_parser("list", help="List registered models."))
    show = actions.add_parser("show", help="Show a model's metadata.")
    show.add_argument("name", help="NAME or NAME:VERSION.")
    add_common_options(show)
    export = actions.add_parser("export", help="Export a model for deployment.")
    export.add_argument("name", help="NAME or NAME:VERSION.")
    export.add_argument(
        "--format",
        default="keras",
        choices=("keras", "savedmodel", "tflite", "tflite-fp16", "tflite-int8"),
    )
    export.add_argument(
        "--data", help="tflite-int8 only: labelled images (training set) to calibrate with."
    )
    export.add_argument("--out", required=True, help="Output file or folder.")
    add_common_options(export)
    check = actions.add_parser(
        "check-export", help="Score each TFLite export of an image model beside the original."
    )
    check.add_argument("name", help="NAME or NAME:VERSION.")
    check.add_argument("--data", required=True, help="The labelled images it was trained on.")
    add_common_options(check)
    delete = actions.add_parser("delete", help="Delete a model (all versions, or NAME:VERSION).")
    delete.add_argument("name", help="NAME or NAME:VERSION.")
    delete.add_argument("--yes", action="store_true", help="Confirm the deletion.")
    add_common_options(delete)
    models.set_defaults(handler=cli_commands.command_models)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI and returns the process exit code.

    Input errors (`ValueError`, `TypeError`, missing files) are printed as one clear line on
    standard error with exit code 2, never as a traceback.
    """
    parser = build_parser()
    arguments = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = arguments.handler
    try:
        return handler(arguments)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        if getattr(arguments, "json", False):
            print_json({"error": str(error), "error_type": type(error).__name__})
        return 2

"""Command-line interface: `python -m core <command> ...`.

Every command prints human-readable progress; with `--json` the last line of output is one JSON
object, so scripts can read it with `tail -n 1`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def print_json(payload: dict) -> None:
    """Prints `payload` as one JSON line (the contract of `--json`)."""
    print(json.dumps(payload, sort_keys=True, default=str), flush=True)


def command_sample_data(arguments: argparse.Namespace) -> int:
    from core.sample_data import DEFAULT_SAMPLE_DIRECTORY, generate_sample_data

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
    from core.data.inspection import format_report, inspect_path

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
    return parser


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

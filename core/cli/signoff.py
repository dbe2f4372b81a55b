"""Sign-off commands of `python -m core`: `report` and `robustness`.

python -m core robustness demo-defect-cnn
python -m core report demo-defect-cnn:1 --out demo-defect-cnn-signoff.html
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from core.cli.common import open_registry, print_json, timed_step
from core.data.perturbations import PERTURBATIONS, SEVERITIES
from core.decisions.robustness import run_robustness
from core.decisions.signoff_report import make_signoff_report

ROBUSTNESS_CHOICES = ("stored", "run", "skip")


def add_signoff_parsers(subcommands, add_common_options) -> None:
    """Adds the top-level `report` and `robustness` commands."""
    report = subcommands.add_parser(
        "report",
        help="Write the HTML sign-off report of a model version (also stored with the model).",
    )
    report.add_argument("name", help="NAME or NAME:VERSION.")
    report.add_argument("--out", required=True, help="The .html file (or folder) to write.")
    report.add_argument(
        "--data",
        help="The labelled images the model was trained on, for sample heatmaps and the "
        "robustness check (default: its training folder when it is on this machine).",
    )
    report.add_argument(
        "--robustness",
        choices=ROBUSTNESS_CHOICES,
        default="stored",
        help="stored: the stored result, or run it when none is stored and the data is here; "
        "run: run it again; skip: never run it.",
    )
    add_common_options(report)
    report.set_defaults(handler=command_report)

    robustness = subcommands.add_parser(
        "robustness",
        help="Re-score an image model's test split under brightness, contrast, blur, rotation, "
        "shift and noise changes; store the result with the model.",
    )
    robustness.add_argument("name", help="NAME or NAME:VERSION of an image model.")
    robustness.add_argument(
        "--data",
        help="The labelled images the model was trained on (default: its training folder).",
    )
    add_common_options(robustness)
    robustness.set_defaults(handler=command_robustness)


def command_line_user() -> str | None:
    """Who runs the command, as recorded in a report: the operating-system user."""
    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):  # No user name in the environment or the password database.
        return None


def robustness_lines(result: dict) -> list[str]:
    """The robustness table as text lines: accuracy, change and flipped share per row."""
    lines = [
        f"{result['model']} on {result['test_count']} test images: clean accuracy "
        f"{result['clean_accuracy']:.1%}",
        f"  {'perturbation':<22} {'accuracy':>8} {'change':>10} {'flipped':>8}",
    ]
    for row in result["rows"]:
        lines.append(
            f"  {row['label']:<22} {row['accuracy']:>8.1%} "
            f"{row['accuracy_change'] * 100:>+6.1f} pts {row['flip_share']:>8.1%}"
        )
    lines.append(f"  {result['decision']}")
    return lines


def command_robustness(arguments: argparse.Namespace) -> int:
    registry = open_registry(arguments)
    changes = len(PERTURBATIONS) * len(SEVERITIES)
    with timed_step(
        f"Re-scoring the test images of {arguments.name} under {changes} changes ..."
    ) as step:
        result = run_robustness(
            registry, arguments.name, arguments.data, created_by=command_line_user()
        )
    print("\n".join(robustness_lines(result)), flush=True)
    print(f"Stored with {result['model']} in {step.seconds:.1f} s.", flush=True)
    if arguments.json:
        print_json({**result, "seconds": step.seconds})
    return 0


def command_report(arguments: argparse.Namespace) -> int:
    registry = open_registry(arguments)
    record = registry.get(arguments.name)
    out = Path(arguments.out).expanduser()
    if out.is_dir():
        out = out / f"{record.name}-v{record.version}-signoff.html"
    if not out.parent.is_dir():
        raise ValueError(
            "Expected --out to be a file in an existing folder, or a folder. "
            f"Received: out='{arguments.out}'"
        )
    with timed_step(f"Making the sign-off report of {record.reference} ...") as step:
        document, stored = make_signoff_report(
            registry,
            record.reference,
            arguments.data,
            generated_by=command_line_user(),
            robustness=arguments.robustness,
        )
        content = document.encode("utf-8")
        out.write_bytes(content)
    print(
        f"Wrote {out} ({len(content) / 1024:.0f} KB) in {step.seconds:.1f} s; stored with the "
        f"model as {stored}.",
        flush=True,
    )
    if arguments.json:
        print_json(
            {
                "model": record.reference,
                "out": str(out),
                "stored": str(stored),
                "bytes": len(content),
                "seconds": step.seconds,
            }
        )
    return 0

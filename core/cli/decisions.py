"""Decision commands of `python -m core`: `operating-point`.

    python -m core operating-point demo-defect-cnn --missed-defect-cost 500 \\
        --false-reject-cost 5 --defect-rate 2%
    python -m core operating-point demo-defect-cnn --show
"""

from __future__ import annotations

import argparse

from core.cli.common import add_arguments, given_options, open_registry, print_json, timed_step
from core.decisions.operating_point import load_operating_point
from core.decisions.operating_point_data import set_operating_point

COST_OPTIONS = ("missed_defect_cost", "false_reject_cost", "defect_rate")
# Options passed to `set_operating_point` under their own names.
POINT_OPTIONS = (*COST_OPTIONS, "data", "good_class")


def defect_rate_argument(text: str) -> float:
    """Parses a defect rate: a fraction ("0.02"), a percentage ("2%") or parts per million
    ("20000ppm")."""
    cleaned = text.strip().lower().replace(" ", "")
    scale = 1.0
    if cleaned.endswith("%"):
        cleaned, scale = cleaned[:-1], 100.0
    elif cleaned.endswith("ppm"):
        cleaned, scale = cleaned[:-3], 1_000_000.0
    try:
        return float(cleaned) / scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected a fraction (0.02), a percentage (2%) or parts per million (20000ppm). "
            f"Received: {text!r}"
        ) from None


# The arguments of `operating-point`: (name or flag, `add_argument` keywords).
OPERATING_POINT_ARGUMENTS = (
    ("name", {"help": "NAME or NAME:VERSION of an image model."}),
    ("--missed-defect-cost", {"type": float, "help": "Cost of one defective part shipped."}),
    ("--false-reject-cost", {"type": float, "help": "Cost of one good part rejected."}),
    (
        "--defect-rate",
        {
            "type": defect_rate_argument,
            "help": "The line's share of defective parts: 0.02, 2%% or 20000ppm.",
        },
    ),
    (
        "--data",
        {"help": "The labelled images the model was trained on (default: its training folder)."},
    ),
    ("--good-class", {"help": "The good-part class of a classifier without an 'ok' class."}),
    ("--show", {"action": "store_true", "help": "Print the stored operating point instead."}),
)


def add_decision_parsers(subcommands, add_common_options) -> None:
    """Adds the top-level `operating-point` command."""
    parser = subcommands.add_parser(
        "operating-point",
        help="Choose an image model's reject threshold from the cost of a missed defect, the "
        "cost of a false reject and the line's defect rate, and store it with the model.",
    )
    add_arguments(parser, OPERATING_POINT_ARGUMENTS)
    add_common_options(parser)
    parser.set_defaults(handler=command_operating_point)


def describe_point(point) -> list[str]:
    """The lines that present an operating point to an engineer."""
    score = (
        f"1 - p({point.good_class})"
        if point.score_kind == "defect_probability"
        else "anomaly score"
    )
    return [
        f"  threshold: {point.threshold:.4g} (a part whose {score} is at or above it is rejected)",
        f"  defect recall: {point.defect_recall:.1%}",
        f"  false-reject rate: {point.false_reject_rate:.1%}",
        f"  escapes per million parts: {point.escapes_per_million:,.0f}",
        f"  false rejects per million parts: {point.false_rejects_per_million:,.0f}",
        f"  expected cost per million parts: {point.cost_per_million:,.0f} "
        f"(missed defect {point.missed_defect_cost:g}, false reject {point.false_reject_cost:g}, "
        f"defect rate {point.defect_rate:.2%})",
        f"  chosen on {point.validation_count} validation images ({point.validation_defects} "
        f"defects) at {point.set_at}" + (f" by {point.set_by}" if point.set_by else ""),
    ]


def _show(registry, arguments: argparse.Namespace) -> int:
    record = registry.get(arguments.name)
    point = load_operating_point(record)
    if point is None:
        print(
            f"{record.reference} has no operating point yet: choose one with "
            "--missed-defect-cost, --false-reject-cost and --defect-rate.",
            flush=True,
        )
    else:
        print(f"Operating point of {record.reference}:", flush=True)
        print("\n".join(describe_point(point)), flush=True)
    if arguments.json:
        print_json(
            {
                "model": record.reference,
                "operating_point": None if point is None else point.to_dict(),
            }
        )
    return 0


def command_operating_point(arguments: argparse.Namespace) -> int:
    given = list(given_options(arguments, COST_OPTIONS))
    registry = open_registry(arguments)
    if arguments.show:
        if given or arguments.data or arguments.good_class:
            raise ValueError(
                "Expected either --show alone or the costs to choose a new operating point. "
                f"Received: --show with {['--' + name.replace('_', '-') for name in given]}"
            )
        return _show(registry, arguments)
    missing = [f"--{name.replace('_', '-')}" for name in COST_OPTIONS if name not in given]
    if missing:
        raise ValueError(
            "Expected --missed-defect-cost, --false-reject-cost and --defect-rate (or --show). "
            f"Received: missing {missing}"
        )
    with timed_step(f"Scoring the validation images of {arguments.name} ...") as step:
        point, curve = set_operating_point(
            registry, arguments.name, **given_options(arguments, POINT_OPTIONS)
        )
    print(f"Operating point of {point.model} (images from {curve['source']}):", flush=True)
    print("\n".join(describe_point(point)), flush=True)
    for note in curve["notes"]:
        print(f"  note: {note}", flush=True)
    print(
        f"Stored with {point.model} in {step.seconds:.1f} s; spot check and batch predict use it.",
        flush=True,
    )
    if arguments.json:
        print_json(
            {
                "model": point.model,
                "operating_point": point.to_dict(),
                "roc_auc": curve["roc_auc"],
                "source": curve["source"],
                "notes": curve["notes"],
                "seconds": step.seconds,
            }
        )
    return 0

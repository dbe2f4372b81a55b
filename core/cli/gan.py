"""GAN commands of `python -m core`: `train gan`, `generate` and `gan-benefit`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from core.cli.common import given_options, open_registry, print_json, record_keys
from core.cli.terminal_progress import TerminalProgressBar
from core.data.atomic_files import write_bytes_atomically
from core.decisions.gan_benefit import run_gan_benefit
from core.engine.gan_generation import generate_zip
from core.engine.gan_training import GanTrainingConfig, run_gan_training, save_gan_run

GAN_LOG_KEYS = ("d_loss", "g_loss")
# Options passed under their own names to `GanTrainingConfig` and to `run_gan_benefit`.
GAN_OPTIONS = ("image_size", "epochs", "batch_size", "per_class", "seed")
BENEFIT_OPTIONS = ("real_per_class", "synthetic_per_class", "training_steps", "repeats", "seed")


def add_train_gan_parser(kinds, add_common_options) -> None:
    """Adds `train gan` to the `train` sub-commands."""
    defaults = GanTrainingConfig()
    gan = kinds.add_parser(
        "gan", help="Train a class-conditional GAN that makes synthetic defect images."
    )
    gan.add_argument("--data", required=True, help="Class folders, a zip, or a manifest folder.")
    gan.add_argument("--epochs", type=int, default=defaults.epochs)
    gan.add_argument(
        "--image-size",
        type=int,
        default=defaults.image_size,
        help=f"Square grayscale size: 32, 64, 96 or 128 (default {defaults.image_size}).",
    )
    gan.add_argument("--batch-size", type=int, default=defaults.batch_size)
    gan.add_argument(
        "--per-class", type=int, help="Train on at most N images per class (default: all)."
    )
    gan.add_argument(
        "--holdout",
        type=float,
        default=defaults.holdout_fraction,
        help="Share of each class kept out of GAN training, to test on later "
        f"(default {defaults.holdout_fraction}).",
    )
    gan.add_argument("--seed", type=int, default=defaults.seed)
    gan.add_argument("--name", help="Registry name (default: gan-<data folder>).")
    add_common_options(gan)
    gan.set_defaults(handler=command_train_gan)


def add_gan_parsers(subcommands, add_common_options) -> None:
    """Adds the top-level `generate` and `gan-benefit` commands."""
    generate = subcommands.add_parser(
        "generate", help="Generate synthetic images with a registered GAN into a zip."
    )
    generate.add_argument("--model", required=True, help="GAN NAME or NAME:VERSION.")
    generate.add_argument("--per-class", type=int, required=True, help="Images per class.")
    generate.add_argument("--out", required=True, help="Output .zip (class folders of PNGs).")
    generate.add_argument("--seed", type=int, default=0, help="Noise seed (default 0).")
    add_common_options(generate)
    generate.set_defaults(handler=command_generate)

    benefit = subcommands.add_parser(
        "gan-benefit",
        help="Test whether a GAN's images help a classifier trained on few real images.",
    )
    benefit.add_argument(
        "--data", required=True, help="The GAN's data set (its held-out images are the test set)."
    )
    benefit.add_argument("--gan", required=True, help="GAN NAME or NAME:VERSION.")
    benefit.add_argument(
        "--real-per-class", type=int, default=20, help="Real training images per class (20)."
    )
    benefit.add_argument(
        "--synthetic-per-class", type=int, default=100, help="Synthetic images added (100)."
    )
    benefit.add_argument(
        "--training-steps", type=int, default=600, help="Gradient steps per classifier (600)."
    )
    benefit.add_argument("--repeats", type=int, default=1, help="Runs to average (1).")
    benefit.add_argument("--seed", type=int, default=0, help="First seed (0).")
    add_common_options(benefit)
    benefit.set_defaults(handler=command_gan_benefit)


class PhasePrinter:
    """Writes `set_message` phases to standard error, one line each."""

    def set_message(self, text: str) -> None:
        sys.stderr.write(f"{text}\n")
        sys.stderr.flush()


def command_train_gan(arguments: argparse.Namespace) -> int:
    config = GanTrainingConfig(
        **given_options(arguments, GAN_OPTIONS), holdout_fraction=arguments.holdout
    ).validate()
    registry = open_registry(arguments)
    print(f"Loading images from {arguments.data} ...", flush=True)
    result = run_gan_training(arguments.data, config, listeners=[TerminalProgressBar()])
    training = result.training
    name = arguments.name or f"gan-{Path(arguments.data).stem}"
    record = save_gan_run(result, registry, name)
    history = training.history
    final = {key: history[key][-1] if history.get(key) else None for key in GAN_LOG_KEYS}
    losses = ", ".join(f"{key} {value:.4f}" for key, value in final.items() if value is not None)
    print(
        f"Trained the GAN on {len(result.train_indices)} images "
        f"({len(result.dataset.class_names)} classes; {len(result.holdout_indices)} held out), "
        f"{training.epochs_run} epochs in {training.seconds:.1f} s; {losses}. "
        f"Registered {record.reference} in {registry.directory}",
        flush=True,
    )
    for rejected in result.dataset.rejected:
        print(f"  skipped {rejected.name}: {rejected.reason}", flush=True)
    if arguments.json:
        print_json(
            {
                **record_keys(record),
                "epochs_run": training.epochs_run,
                "cancelled": training.cancelled,
                "training_seconds": round(training.seconds, 2),
                "final_d_loss": final["d_loss"],
                "final_g_loss": final["g_loss"],
                "trained": len(result.train_indices),
                "holdout": len(result.holdout_indices),
                "classes": list(result.dataset.class_names),
                "rejected": [item.as_dict() for item in result.dataset.rejected],
            }
        )
    return 0


def command_generate(arguments: argparse.Namespace) -> int:
    out = Path(arguments.out)
    if out.suffix.lower() != ".zip":
        raise ValueError(
            f"Expected --out to be a .zip file path. Received: out={str(arguments.out)!r}"
        )
    registry = open_registry(arguments)
    reference = registry.get(arguments.model).reference
    content, counts = generate_zip(registry, reference, arguments.per_class, seed=arguments.seed)
    write_bytes_atomically(out, content)
    shown = ", ".join(f"{name} {count}" for name, count in counts.items())
    print(f"Wrote {sum(counts.values())} images ({shown}) from {reference} to {out}", flush=True)
    if arguments.json:
        print_json(
            {
                "model": reference,
                "out": str(out),
                "per_class": counts,
                "images": sum(counts.values()),
                "bytes": len(content),
                "seed": arguments.seed,
            }
        )
    return 0


def command_gan_benefit(arguments: argparse.Namespace) -> int:
    registry = open_registry(arguments)
    report = run_gan_benefit(
        arguments.data,
        registry,
        arguments.gan,
        **given_options(arguments, BENEFIT_OPTIONS),
        listeners=[TerminalProgressBar(), PhasePrinter()],
    )
    print(format_benefit_report(report), flush=True)
    if arguments.json:
        print_json(report)
    return 0


def format_benefit_report(report: Mapping) -> str:
    """The experiment's report as a plain-text table (per-class recall, accuracy, notes)."""
    lines = [
        f"GAN {report['gan']} ({report['image_size']} px): baseline {report['real_per_class']} "
        f"real images per class, augmented + {report['synthetic_per_class']} synthetic; "
        f"tested on {report['test_count']} real images the GAN never saw.",
    ]
    baseline, augmented, difference = (
        report["baseline"],
        report["augmented"],
        report["difference"],
    )
    fidelity = report.get("fidelity") or {}
    agreement = fidelity.get("per_class_agreement", {})
    if baseline and augmented and difference:
        lines.append(
            f"  {'class':<16}{'baseline':>10}{'augmented':>11}{'difference':>12}{'judge':>8}"
        )
        for name in report["classes"]:
            judged = f"{agreement[name]:8.3f}" if name in agreement else f"{'-':>8}"
            lines.append(
                f"  {name:<16}{baseline['per_class_recall'][name]:10.3f}"
                f"{augmented['per_class_recall'][name]:11.3f}"
                f"{difference['per_class_recall'][name]:+12.3f}{judged}"
            )
        for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
            lines.append(
                f"  {label:<16}{baseline[key]:10.3f}{augmented[key]:11.3f}{difference[key]:+12.3f}"
            )
        lines.append("  (per-class rows: recall on the real test set; judge: fidelity agreement)")
    if fidelity:
        lines.append(
            f"Fidelity: the judge labels {fidelity['agreement']:.1%} of the synthetic images as "
            f"the class they were made for (judge test accuracy "
            f"{fidelity['judge_test_accuracy']:.1%})."
        )
    lines += [f"  note: {note}" for note in report["notes"]]
    lines.append(f"Took {report['seconds']:.1f} s.")
    return "\n".join(lines)

"""Does training with GAN images help? The reduced-data experiment on one image set.

Trains the class-conditional GAN on `--gan-per-class` real images per class (after holding a
quarter of every class out), registers it in a temporary registry, then runs
`core.decisions.gan_benefit.run_gan_benefit`: a classifier on `--real-per-class` real images per
class against the same plus `--synthetic-per-class` GAN images per class, both scored on the
held-out real images the GAN never saw, repeated `--repeats` times; plus the fidelity check. Prints
the report as one JSON line (timings included) and writes the last sample grid as a PNG.

Usage:
    python bench/gan_benefit.py --data sample_data/images
    python bench/gan_benefit.py --data /work/shared/data/neu_det --gan-epochs 400
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data.images import load_images
from core.decisions.gan_benefit import run_gan_benefit
from core.engine.gan_training import GanTrainingConfig, run_gan_training, save_gan_run
from core.registry.store import ModelRegistry


class Printer:
    """Prints GAN epochs now and then and every phase message to stderr."""

    def __init__(self, every: int):
        self.every = every
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        if "d_loss" in logs and (epoch == 1 or epoch % self.every == 0):
            shown = {key: round(value, 3) for key, value in logs.items()}
            elapsed = time.perf_counter() - self.started
            print(f"gan epoch {epoch} {elapsed:.0f}s {shown}", file=sys.stderr, flush=True)

    def set_message(self, message):
        elapsed = time.perf_counter() - self.started
        print(f"{elapsed:.0f}s {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("sample_data/images"))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--gan-epochs", type=int, default=300)
    parser.add_argument("--gan-per-class", type=int, default=20)
    parser.add_argument("--real-per-class", type=int, default=20)
    parser.add_argument("--synthetic-per-class", type=int, default=100)
    parser.add_argument("--training-steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", type=Path, default=Path("/tmp/gan_benefit_grid.png"))
    arguments = parser.parse_args()

    printer = Printer(every=25)
    dataset = load_images(
        arguments.data, image_size=(arguments.image_size, arguments.image_size), channels=1
    )
    config = GanTrainingConfig(
        image_size=arguments.image_size,
        epochs=arguments.gan_epochs,
        per_class=arguments.gan_per_class,
        seed=arguments.seed,
    )
    started = time.perf_counter()
    run = run_gan_training(dataset, config, listeners=[printer])
    gan_seconds = time.perf_counter() - started

    from PIL import Image

    Image.fromarray(run.training.grid).save(arguments.grid)
    with tempfile.TemporaryDirectory(prefix="linesight-bench-") as directory:
        registry = ModelRegistry(directory)
        record = save_gan_run(run, registry, "bench-gan")
        started = time.perf_counter()
        report = run_gan_benefit(
            dataset,
            registry,
            record.reference,
            real_per_class=arguments.real_per_class,
            synthetic_per_class=arguments.synthetic_per_class,
            training_steps=arguments.training_steps,
            repeats=arguments.repeats,
            seed=arguments.seed,
            listeners=[printer],
        )
        experiment_seconds = time.perf_counter() - started
    report["gan_training"] = {
        "epochs": arguments.gan_epochs,
        "per_class": arguments.gan_per_class,
        "images": len(run.train_indices),
        "seconds": round(gan_seconds, 1),
        "final_d_loss": run.training.history["d_loss"][-1],
        "final_g_loss": run.training.history["g_loss"][-1],
    }
    report["experiment_seconds"] = round(experiment_seconds, 1)
    report["data"] = str(arguments.data)
    report["grid"] = str(arguments.grid)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

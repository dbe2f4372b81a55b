"""Does training with GAN images help? The reduced-data experiment on one image set.

Trains the class-conditional GAN on `--gan-per-class` real images per class (after holding a
quarter of every class out), registers it in a temporary registry, then runs
`core.decisions.gan_benefit.run_gan_benefit`: a classifier on `--real-per-class` real images per
class against the same plus `--synthetic-per-class` GAN images per class, both scored on the
held-out real images the GAN never saw, repeated `--repeats` times; plus the fidelity check. Prints
the report as one JSON line (timings included) and writes the last sample grid as a PNG.

Usage:
    python bench/gan_benefit.py --data sample_data/images
    python bench/gan_benefit.py --data ../shared/data/neu_det --gan-epochs 400

`--data` defaults to the checkout's sample_data/images.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchlib

from core.data.images import load_images
from core.decisions.gan_benefit import run_gan_benefit
from core.engine.gan_training import GanTrainingConfig, run_gan_training, save_gan_run


class Printer(benchlib.EpochPrinter):
    """Prints GAN epochs now and then and every phase message to stderr."""

    def __init__(self, every: int):
        super().__init__(digits=3, label="gan epoch")
        self.every = every

    def on_epoch_end(self, epoch, logs):
        if "d_loss" in logs and (epoch == 1 or epoch % self.every == 0):
            super().on_epoch_end(epoch, logs)

    def set_message(self, message):
        self.say(f"{self.clock.elapsed:.0f}s {message}")


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    benchlib.add_data_argument(
        parser, "--data", benchlib.SAMPLE_DATA / "images", "class folders of images"
    )
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--gan-epochs", type=int, default=300)
    parser.add_argument("--gan-per-class", type=int, default=20, help="real images the GAN sees")
    parser.add_argument("--real-per-class", type=int, default=20, help="for the classifiers")
    parser.add_argument("--synthetic-per-class", type=int, default=100, help="GAN images added")
    parser.add_argument("--training-steps", type=int, default=600, help="per classifier")
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
    with benchlib.Stopwatch() as gan:
        run = run_gan_training(dataset, config, listeners=[printer])

    from PIL import Image

    Image.fromarray(run.training.grid).save(arguments.grid)
    with benchlib.temporary_registry() as registry:
        record = save_gan_run(run, registry, "bench-gan")
        with benchlib.Stopwatch() as experiment:
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
    report["gan_training"] = {
        "epochs": arguments.gan_epochs,
        "per_class": arguments.gan_per_class,
        "images": len(run.train_indices),
        "seconds": round(gan.seconds, 1),
        "final_d_loss": run.training.history["d_loss"][-1],
        "final_g_loss": run.training.history["g_loss"][-1],
    }
    report["experiment_seconds"] = round(experiment.seconds, 1)
    report["data"] = str(arguments.data)
    report["grid"] = str(arguments.grid)
    benchlib.print_json(report)


if __name__ == "__main__":
    main()

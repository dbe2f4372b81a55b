"""Training throughput of `seed_cnn` through core versus the plain reference script.

Both paths train the same network (`build_image_model("seed_cnn", ...)`) on the same random
uint8 grayscale images and labels, for the same epochs and batch size, with Adam at a constant
learning rate and no validation. The reference is the original script's way: `model.fit` on a
float32 numpy array (Keras shuffles it). The core path is `train_image_classifier` with its
tf.data pipeline (uint8 cache, shuffle, batch, cast per batch, prefetch). For each image size
the two paths run `--repeats` times, alternating (images smaller than 128 px get proportionally
more epochs, so each timed stretch lasts seconds); a run's rate counts the epochs after the first
(which traces the graph) and the median run is reported. The machine may be shared, so the
process CPU time per sample of whole runs (all threads, tracing included) is reported too: it
moves less with other load. Prints one JSON line.

Usage:
    python bench/train_throughput.py [--sizes 128 28] [--images 2000] [--epochs 4]
        [--repeats 5] [--steps-per-execution 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchlib
import numpy as np

from core.engine.image_training import ImageTrainingConfig, train_image_classifier
from core.models.image import build_image_model


class EpochClock:
    """Records the wall time at every epoch end (a core listener and a Keras callback alike)."""

    def __init__(self):
        self.times = [time.perf_counter()]

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter())

    def steady_rate(self, samples: int) -> float:
        """Samples per second over the epochs after the first."""
        return samples * (len(self.times) - 2) / (self.times[-1] - self.times[1])


def run_reference(images, labels, classes, epochs, batch_size, seed) -> float:
    import keras

    keras.utils.set_random_seed(seed)
    model = build_image_model("seed_cnn", images.shape[1:], classes)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    clock = EpochClock()
    callback = keras.callbacks.LambdaCallback(on_epoch_end=clock.on_epoch_end)
    features = images.astype("float32")  # The reference script feeds float arrays.
    clock.times = [time.perf_counter()]
    model.fit(
        features, labels, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[callback]
    )
    return clock.steady_rate(len(labels))


def run_core(images, labels, classes, epochs, batch_size, seed, steps_per_execution) -> float:
    config = ImageTrainingConfig(
        model="seed_cnn",
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=1e-3,
        optimizer="adam",
        schedule="constant",
        image_size=images.shape[1:3],
        channels=1,
        class_weighting=False,  # Balanced random labels: weights would all be ~1 anyway.
        early_stopping_patience=0,  # Run every epoch, like the reference.
        seed=seed,
        steps_per_execution=steps_per_execution,
    )
    clock = EpochClock()
    names = [f"class_{index}" for index in range(classes)]
    clock.times = [time.perf_counter()]
    train_image_classifier(images, labels, names, config, listeners=[clock])
    return clock.steady_rate(len(labels))


def measured(run, *run_arguments) -> tuple[float, float]:
    """Returns (steady samples per second, CPU milliseconds per sample) of one run."""
    started = time.process_time()
    rate = run(*run_arguments)
    samples = len(run_arguments[1]) * run_arguments[3]
    return rate, 1000 * (time.process_time() - started) / samples


def compare(size: int, arguments: argparse.Namespace) -> dict:
    generator = np.random.default_rng(arguments.seed)
    images = generator.integers(0, 256, size=(arguments.images, size, size, 1), dtype=np.uint8)
    labels = generator.integers(0, arguments.classes, size=arguments.images).astype(np.int32)
    # Small images train fast: give them more epochs so each timed stretch lasts seconds.
    epochs = max(arguments.epochs, round(arguments.epochs * (128 / size) ** 2 / 4))
    common = (images, labels, arguments.classes, epochs, arguments.batch_size)
    reference_runs, core_runs = [], []
    for _ in range(arguments.repeats):
        reference_runs.append(measured(run_reference, *common, arguments.seed))
        core_runs.append(measured(run_core, *common, arguments.seed, arguments.steps_per_execution))
    reference = statistics.median(rate for rate, _ in reference_runs)
    core = statistics.median(rate for rate, _ in core_runs)
    reference_cpu = statistics.median(cpu for _, cpu in reference_runs)
    core_cpu = statistics.median(cpu for _, cpu in core_runs)
    return {
        "size": size,
        "epochs": epochs,
        "reference_samples_per_second": round(reference, 1),
        "core_samples_per_second": round(core, 1),
        "ratio": round(core / reference, 3),
        "reference_cpu_ms_per_sample": round(reference_cpu, 3),
        "core_cpu_ms_per_sample": round(core_cpu, 3),
        "cpu_ratio": round(reference_cpu / core_cpu, 3),
        "reference_runs": [round(rate, 1) for rate, _ in reference_runs],
        "core_runs": [round(rate, 1) for rate, _ in core_runs],
    }


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 28], help="image sizes")
    parser.add_argument("--images", type=int, default=2000, help="random images per size")
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=4, help="at 128 px; more for smaller")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each path (median)")
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    results = [compare(size, arguments) for size in arguments.sizes]
    benchlib.print_json(
        {
            "images": arguments.images,
            "batch_size": arguments.batch_size,
            "steps_per_execution": arguments.steps_per_execution,
            "results": results,
        }
    )


if __name__ == "__main__":
    main()

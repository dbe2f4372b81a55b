"""Test accuracy of the default image model on the NEU steel-surface defect set.

Loads the NEU set (1,800 images, 6 classes; `--data`, by default ../shared/data/neu_det beside the
checkout) through `core.data.images.load_images` at the configured image size in grayscale, splits
it 70/15/15 with the seeded stratified split, trains with `ImageTrainingConfig()` defaults (or the
overrides given) and prints test accuracy, epochs and wall time as one JSON line. Acceptance: test
accuracy >= 98 % within 15 minutes of CPU training on a 2-core machine.

Usage:
    python bench/neu_accuracy.py [--data DIR] [--split-seed 0] [--set key=value ...]

`--set` overrides a config field with a JSON value, e.g. `--set epochs=40 --set
image_size=[64,64] --set augmentation={"rotation_factor":0.25}`.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchlib
import numpy as np

from core.data.images import load_images
from core.data.splits import stratified_split
from core.engine.image_training import ImageTrainingConfig, train_image_classifier


def confusions(truth: np.ndarray, predictions: np.ndarray, class_names: list[str]) -> dict:
    """Counts each mistaken (true -> predicted) pair, e.g. {"crazing->pitted_surface": 2}."""
    counts: dict[str, int] = {}
    for true_label, predicted in zip(truth, predictions, strict=True):
        if true_label != predicted:
            key = f"{class_names[true_label]}->{class_names[predicted]}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    benchlib.add_data_argument(
        parser, "--data", benchlib.shared_data("neu_det"), "the NEU-DET images (labels.csv)"
    )
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--save", type=Path, help="Also save the trained model (.keras) here.")
    arguments = parser.parse_args()

    values = ImageTrainingConfig().to_dict()
    overrides = benchlib.parse_overrides(arguments.set)
    if isinstance(overrides.get("augmentation"), dict):
        overrides["augmentation"] = {**values["augmentation"], **overrides["augmentation"]}
    config = ImageTrainingConfig.from_dict({**values, **overrides}).validate()

    with benchlib.Stopwatch() as loading:
        dataset = load_images(
            arguments.data, image_size=config.image_size, channels=config.channels
        )
    train, validation, test = stratified_split(
        dataset.labels,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=arguments.split_seed,
    )
    with benchlib.Stopwatch() as training:
        result = train_image_classifier(
            dataset.images[train],
            dataset.labels[train],
            dataset.class_names,
            config,
            validation=(dataset.images[validation], dataset.labels[validation]),
            listeners=[benchlib.EpochPrinter(digits=4)],
        )
    if arguments.save:
        result.model.save(arguments.save)
    probabilities = result.model.predict(dataset.images[test].astype("float32"), verbose=0)
    predictions = np.argmax(probabilities, axis=1)
    test_accuracy = float(np.mean(predictions == dataset.labels[test]))
    benchlib.print_json(
        {
            "test_accuracy": round(test_accuracy, 4),
            "test_errors": int(np.sum(predictions != dataset.labels[test])),
            "test_images": len(test),
            "confusions": confusions(dataset.labels[test], predictions, dataset.class_names),
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "best_val_accuracy": round(result.history["val_accuracy"][result.best_epoch - 1], 4),
            "training_seconds": round(training.seconds, 1),
            "loading_seconds": round(loading.seconds, 1),
            "samples_per_second": round(result.samples_per_second, 1),
            "overrides": overrides,
            "split_sizes": [len(train), len(validation), len(test)],
        }
    )


if __name__ == "__main__":
    main()

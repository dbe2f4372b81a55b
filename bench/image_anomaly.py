"""Image AUROC of both image anomaly methods on the bundled sample data, over several seeds.

Each run trains on the good ("ok") images of the train part of a seeded stratified split of
sample_data/images (`--data`; 70/15/15), sets the threshold on the good validation images and
tests on the test part (24 good and 96 defect images at the default fractions), with the bundled
masks (`--masks`) for the pixel AUROC. The seed changes the split, the initial weights and the
flips. Prints one JSON line per run, then one summary line per method (mean and standard deviation
over the seeds).

Usage:
    python bench/image_anomaly.py [--seeds 0 1 2] [--methods feature-gaussian autoencoder]
                                  [--image-size 64] [--epochs 100] [--data DIR] [--masks DIR]
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchlib
import numpy as np

from core.data.bundled import sample_data_directory
from core.data.images import load_images
from core.data.masks import bundled_mask_directory
from core.models.image_anomaly import ANOMALY_METHODS
from core.workflows.image_anomaly import (
    ImageAnomalyConfig,
    run_image_anomaly_training,
)

SUMMARY_KEYS = ("image_auroc", "pixel_auroc", "defect_recall", "false_reject_rate", "seconds")


def run_once(dataset, masks: Path, method: str, seed: int, epochs: int) -> dict:
    config = ImageAnomalyConfig(
        method=method, image_size=dataset.images.shape[1], epochs=epochs, seed=seed
    )
    with benchlib.Stopwatch() as total:
        result = run_image_anomaly_training(dataset, config, masks=masks)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        result.model.save(path)
        size = path.stat().st_size
    metrics = result.metrics
    return {
        "method": method,
        "seed": seed,
        "image_auroc": round(metrics["image_auroc"], 4),
        "pixel_auroc": round(metrics["pixel_auroc"], 4),
        "defect_class_auroc": {
            name: round(value, 4) for name, value in metrics["defect_class_auroc"].items()
        },
        "threshold": round(result.threshold, 4),
        "defect_recall": round(metrics["defect_recall"], 4),
        "false_reject_rate": round(metrics["false_reject_rate"], 4),
        "test_count": metrics["test_count"],
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 1),
        "total_seconds": round(total.seconds, 1),
        "model_bytes": size,
    }


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(ANOMALY_METHODS))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=ImageAnomalyConfig().epochs)
    benchlib.add_data_argument(
        parser, "--data", sample_data_directory() / "images", "good and defect class folders"
    )
    benchlib.add_data_argument(
        parser, "--masks", bundled_mask_directory(), "defect masks named like the images"
    )
    arguments = parser.parse_args()

    size = arguments.image_size
    dataset = load_images(arguments.data, image_size=(size, size), channels=1)
    rows = []
    for method in arguments.methods:
        for seed in arguments.seeds:
            row = run_once(dataset, arguments.masks, method, seed, arguments.epochs)
            rows.append(row)
            benchlib.print_json(row)
    for method in arguments.methods:
        chosen = [row for row in rows if row["method"] == method]
        summary = {"method": method, "seeds": arguments.seeds, "image_size": size}
        for key in SUMMARY_KEYS:
            values = np.array([row[key] for row in chosen], dtype=np.float64)
            summary[f"{key}_mean"] = round(float(values.mean()), 4)
            summary[f"{key}_std"] = round(float(values.std()), 4)
        summary["model_bytes"] = chosen[-1]["model_bytes"]
        benchlib.print_json({"summary": summary})


if __name__ == "__main__":
    main()

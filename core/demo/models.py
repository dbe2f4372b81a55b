"""Demo models: trained on the bundled sample data by `python -m core demo-models`, committed,
and registered automatically on first start so a fresh install can spot-check at once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from core.data.bundled import sample_data_directory
from core.data.masks import bundled_mask_directory
from core.engine.gan_training import GanTrainingConfig, run_gan_training, save_gan_run
from core.engine.image_training import ImageTrainingConfig
from core.engine.series_training import SeriesTrainingConfig
from core.registry.metadata import METADATA_FILENAME, MODEL_FILENAME
from core.registry.store import ModelRegistry
from core.workflows import image as image_workflow
from core.workflows import series as series_workflow
from core.workflows.image import run_image_training, save_image_run
from core.workflows.image_anomaly import (
    ImageAnomalyConfig,
    run_image_anomaly_training,
    save_image_anomaly_run,
)
from core.workflows.series import run_series_training, save_series_run

DEMO_MODELS_DIRECTORY = Path(__file__).resolve().parent / "bundled_models"
DEMO_IMAGE_MODEL = "demo-defect-cnn"
DEMO_RUL_MODEL = "demo-rul"
DEMO_FAILURE_MODEL = "demo-failure"
DEMO_ANOMALY_MODEL = "demo-anomaly"
DEMO_GAN_MODEL = "demo-gan"
DEMO_IMAGE_ANOMALY_MODEL = "demo-image-anomaly"
# Name -> training settings. Image demos (and the GAN, which holds a quarter of each class out
# for the "does it help" experiment) train on sample_data/images; series demos on
# sample_data/sensors/train.csv (the RUL demo is tested on test.csv + test_rul.csv). Epoch
# counts are sized for a 2-core CPU. The image anomaly demo learns the "ok" images only, with the
# method that measured better on the sample (bench/image_anomaly.py), and its pixel AUROC comes
# from sample_data/masks.
DEMO_MODEL_SETTINGS = {
    DEMO_IMAGE_MODEL: {"model": "defect_cnn", "epochs": 60, "early_stopping_patience": 0},
    "demo-seed-cnn": {"model": "seed_cnn", "epochs": 10},
    DEMO_RUL_MODEL: {"task": "rul", "epochs": 100},
    DEMO_FAILURE_MODEL: {"task": "failure", "epochs": 60},
    DEMO_ANOMALY_MODEL: {"task": "anomaly", "model": "conv1d", "epochs": 40},
    DEMO_GAN_MODEL: {"gan": True, "image_size": 64, "epochs": 150},
    DEMO_IMAGE_ANOMALY_MODEL: {
        "image_anomaly": True,
        "method": "feature-gaussian",
        "good_class": "ok",
        "image_size": 64,
    },
}


def bundled_demo_models(directory: Path = DEMO_MODELS_DIRECTORY) -> dict[str, Path]:
    """Returns {name: folder} of the committed demo models (each with model.keras + metadata)."""
    if not directory.is_dir():
        return {}
    return {
        path.name: path
        for path in sorted(directory.iterdir())
        if (path / MODEL_FILENAME).is_file() and (path / METADATA_FILENAME).is_file()
    }


def ensure_demo_models(registry, directory: Path = DEMO_MODELS_DIRECTORY) -> list:
    """Registers each bundled demo model the registry does not hold yet (no TensorFlow needed).

    Returns:
        The records that were added (empty when all were there already).
    """
    known = set(registry.names())
    added = []
    for name, folder in bundled_demo_models(directory).items():
        if name in known:
            continue
        metadata = json.loads((folder / METADATA_FILENAME).read_text(encoding="utf-8"))
        metadata.pop("name", None)
        metadata.pop("version", None)
        added.append(registry.import_model_file(folder / MODEL_FILENAME, name, metadata))
    return added


def build_demo_models(
    output_directory: str | os.PathLike = DEMO_MODELS_DIRECTORY,
    *,
    data: str | os.PathLike | None = None,
    epochs: int | None = None,
    names: Iterable[str] | None = None,
    listeners: Iterable[object] = (),
) -> list[dict]:
    """Trains the demo models on the sample data and writes them to `output_directory`.

    Each model lands in `<output_directory>/<name>/` (model.keras + metadata.json), replacing
    an older copy only once the new one is complete.

    Args:
        output_directory: Where to write (default: `core/demo/bundled_models`).
        data: Training data (default: the bundled `sample_data/images`, or for the sensor
            demos `sample_data/sensors/train.csv`).
        epochs: Override the epochs of every demo model (for quick checks).
        names: Which demo models to build (default: all of `DEMO_MODEL_SETTINGS`).
        listeners: `core.engine.progress` listeners.

    Returns:
        One summary dict per model: name, test metrics, epochs run, seconds, bytes.

    Raises:
        ValueError: If a name is not a demo model.
    """
    selected = list(names) if names else list(DEMO_MODEL_SETTINGS)
    unknown = sorted(set(selected) - set(DEMO_MODEL_SETTINGS))
    if unknown:
        raise ValueError(
            f"Expected demo model names from {sorted(DEMO_MODEL_SETTINGS)}. Received: {unknown}"
        )
    output_directory = Path(output_directory)
    output_directory.mkdir(parents=True, exist_ok=True)
    summaries = []
    for name in selected:
        settings = dict(DEMO_MODEL_SETTINGS[name])
        if epochs is not None:
            settings["epochs"] = epochs
        if settings.pop("gan", False):
            train = _train_gan_demo
        elif settings.pop("image_anomaly", False):
            train = _train_image_anomaly_demo
        elif "task" in settings:
            train = _train_series_demo
        else:
            train = _train_image_demo
        save, summary = train(settings, data, listeners)
        with tempfile.TemporaryDirectory(dir=output_directory, prefix=".build-") as scratch:
            record = save(ModelRegistry(scratch), name)
            target = output_directory / name
            staged = output_directory / f".{name}.new"
            shutil.rmtree(staged, ignore_errors=True)
            shutil.copytree(record.path, staged)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staged, target)
        summaries.append(
            {"name": name, "bytes": (target / MODEL_FILENAME).stat().st_size} | summary
        )
    return summaries


def _train_image_demo(settings: dict, data, listeners) -> tuple:
    config = ImageTrainingConfig(**settings)
    data_path = Path(data) if data else sample_data_directory() / "images"
    result = run_image_training(data_path, config, listeners=listeners)
    summary = {
        "model": config.model,
        "epochs_run": result.training.epochs_run,
        "seconds": round(result.training.seconds, 1),
    } | image_workflow.summary_metrics(result.evaluation)
    return (lambda registry, name: save_image_run(result, registry, name)), summary


def _train_series_demo(settings: dict, data, listeners) -> tuple:
    sensors = sample_data_directory() / "sensors"
    config = SeriesTrainingConfig(**settings)
    test = {}
    # The failure demo is scored on held-out units that ran to failure: the test machines stop
    # before most of them are within the horizon, which leaves almost no failing windows to score.
    if config.task == "rul":
        test = {"test_data": sensors / "test.csv", "test_rul": sensors / "test_rul.csv"}
    result = run_series_training(
        Path(data) if data else sensors / "train.csv", config, listeners=listeners, **test
    )
    summary = {
        "model": config.model,
        "task": config.task,
        "epochs_run": result.epochs_run,
        "seconds": round(result.seconds, 1),
    } | series_workflow.summary_metrics(config.task, result.evaluation)
    return (lambda registry, name: save_series_run(result, registry, name)), summary


def _train_gan_demo(settings: dict, data, listeners) -> tuple:
    config = GanTrainingConfig(**settings)
    data_path = Path(data) if data else sample_data_directory() / "images"
    result = run_gan_training(data_path, config, listeners=listeners)
    history = result.training.history
    summary = {
        "model": "conditional_gan",
        "epochs_run": result.training.epochs_run,
        "seconds": round(result.training.seconds, 1),
        "training_images": len(result.train_indices),
        "final_d_loss": round(history["d_loss"][-1], 4),
        "final_g_loss": round(history["g_loss"][-1], 4),
    }
    return (lambda registry, name: save_gan_run(result, registry, name)), summary


def _train_image_anomaly_demo(settings: dict, data, listeners) -> tuple:
    config = ImageAnomalyConfig(**settings)
    data_path = Path(data) if data else sample_data_directory() / "images"
    masks = bundled_mask_directory() if not data and bundled_mask_directory().is_dir() else None
    result = run_image_anomaly_training(data_path, config, masks=masks, listeners=listeners)
    metrics = result.metrics
    summary = {
        "model": config.method,
        "epochs_run": result.epochs_run,
        "seconds": round(result.seconds, 1),
        "threshold": result.threshold,
    } | {
        key: metrics[key]
        for key in ("image_auroc", "pixel_auroc", "defect_recall", "false_reject_rate")
        if key in metrics
    }
    return (lambda registry, name: save_image_anomaly_run(result, registry, name)), summary

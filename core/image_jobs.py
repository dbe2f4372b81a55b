"""The engine behind the image training page: data sources, summaries, background work, results.

A page picks an `ImageSource` (the bundled sample, an uploaded zip of class folders, or uploaded
images with a `filename,label` CSV manifest), shows `dataset_summary(source)`, turns its widget
values into a config with `training_config(...)` and submits `make_training_work(source, config)`
to the `JobManager`. The work loads the images at the chosen size inside the job, so the page
never blocks. Once the job has finished, `result_summary`, `confusion_cell_items` and
`misclassified_items` give what the results section draws. Nothing here imports Streamlit, and
TensorFlow is only imported inside the job.

Example:
    >>> source = zip_image_source("parts.zip", zip_bytes)
    >>> summary = dataset_summary(source)
    >>> work = make_training_work(source, training_config(model="seed_cnn", epochs=1))
    >>> job = manager.submit(token, "train-image", work, description=source.description)
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from core.data.validation import RejectedFile, check_named_files
from core.training import OPTIMIZERS, ImageTrainingConfig

SAMPLE, ZIP, MANIFEST = "sample", "zip", "manifest"
JOB_KIND = "train-image"
# The summary loads every image once at this small size: enough for thumbnails, cheap to hold.
THUMBNAIL_SIZE = (64, 64)
IMAGE_SIZE_CHOICES = (32, 48, 64, 96, 128, 160, 224)
MODEL_NAME_LIMIT = 64
PAGE_CHOICES = (
    "model", "epochs", "batch_size", "learning_rate", "optimizer", "validation_fraction",
    "channels",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """Where a training set comes from; `load` reads it at any size.

    Attributes:
        kind: "sample", "zip" or "manifest".
        description: What the user chose, e.g. "zip parts.zip" (shown in job lists).
        file_names: The uploaded file names (empty for the sample).
        fingerprint: A digest of the content: equal fingerprints mean equal data.
    """

    kind: str
    description: str
    file_names: tuple[str, ...]
    fingerprint: str
    loader: Callable = dataclasses.field(repr=False, compare=False)

    def load(self, image_size: tuple[int, int] = THUMBNAIL_SIZE, channels: int = 1):
        """Returns the `ImageDataset`, images resized to `image_size` with `channels`.

        Raises:
            ValueError: If no image can be used (the message says why).
        """
        return self.loader(tuple(image_size), channels)


def _digest(files: Sequence[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode())
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:16]


def sample_image_source() -> ImageSource:
    """The bundled sample images (sample_data/images, one folder per class).

    Raises:
        ValueError: If the sample images are missing.
    """
    from core.data.bundled import sample_data_directory
    from core.data.images import load_image_folder

    directory = sample_data_directory() / "images"
    if not directory.is_dir():
        raise ValueError(
            "Expected the bundled sample images (regenerate them with "
            f"`python -m core sample-data`). Received: missing folder '{directory}'"
        )

    def load(image_size, channels):
        dataset = load_image_folder(directory, image_size=image_size, channels=channels)
        dataset.source = "sample_data/images"
        return dataset

    return ImageSource(SAMPLE, "sample images (sample_data/images)", (), SAMPLE, load)


def zip_image_source(name: str, data: bytes) -> ImageSource:
    """An uploaded ZIP archive of class folders.

    Raises:
        TypeError: If `name` is not a string or `data` not bytes.
        ValueError: If `data` is not a ZIP archive.
    """
    ((name, data),) = check_named_files([(name, data)])
    if not data or not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError(
            "Expected a .zip archive holding one folder of images per class. "
            f"Received: name={name!r} ({len(data)} bytes, not a ZIP archive)"
        )

    def load(image_size, channels):
        from core.data.images import load_image_zip

        return load_image_zip(data, name=name, image_size=image_size, channels=channels)

    return ImageSource(ZIP, f"zip {name}", (name,), _digest([(name, data)]), load)


def manifest_image_source(files: Sequence[tuple[str, bytes]], manifest_name: str) -> ImageSource:
    """Uploaded images labelled by a CSV manifest with columns `filename,label`.

    Manifest rows may name a file by its bare name or by a relative path ("scratch/001.png")
    whose last part is an uploaded name. Uploaded images the manifest does not list are
    reported as rejected.

    Args:
        files: (name, bytes) pairs: the images and the manifest.
        manifest_name: Which of `files` is the manifest.

    Raises:
        TypeError: If `files` is not a list of (name, bytes) pairs.
        ValueError: If the manifest is not among `files`, is not a .csv, or no image is given.
    """
    files = check_named_files(files)
    by_name = dict(files)
    if manifest_name not in by_name or not manifest_name.lower().endswith(".csv"):
        raise ValueError(
            "Expected a .csv manifest with columns filename,label among the uploads. "
            f"Received: manifest_name={manifest_name!r}, files={sorted(by_name)}"
        )
    manifest = by_name.pop(manifest_name)
    images = {PurePosixPath(name.replace("\\", "/")).name: data for name, data in by_name.items()}
    if not images:
        raise ValueError(
            "Expected images to go with the manifest. "
            f"Received: only the manifest {manifest_name!r}"
        )

    def load(image_size, channels):
        return _load_manifest(manifest_name, manifest, images, image_size, channels)

    description = f"manifest {manifest_name} + {len(images)} images"
    names = (manifest_name, *sorted(images))
    return ImageSource(MANIFEST, description, names, _digest(sorted(files)), load)


def _load_manifest(manifest_name, manifest, images, image_size, channels):
    """Writes the uploads to a temporary folder laid out as the manifest expects, then loads."""
    import pandas as pd

    from core.data.images import load_image_manifest

    with tempfile.TemporaryDirectory(prefix="linesight-manifest-") as folder:
        root = Path(folder).resolve()
        manifest_path = root / PurePosixPath(manifest_name.replace("\\", "/")).name
        manifest_path.write_bytes(manifest)
        try:
            listed = pd.read_csv(
                io.BytesIO(manifest), dtype=str, keep_default_na=False, encoding="utf-8-sig"
            )
            listed.columns = [str(column).strip().lower() for column in listed.columns]
            listed_names = [name.strip() for name in listed.get("filename", [])]
        except (ValueError, UnicodeDecodeError):
            listed_names = []  # The loader below reports the unreadable manifest.
        placed = set()
        for listed_name in listed_names:
            target = (root / "images" / listed_name.replace("\\", "/")).resolve()
            basename = PurePosixPath(listed_name.replace("\\", "/")).name
            # Never write outside the folder; the loader refuses such rows with a reason.
            if basename not in images or not target.is_relative_to(root / "images"):
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(images[basename])
                placed.add(basename)
            except OSError:
                continue  # E.g. a row naming a folder: the loader reports the row as missing.
        try:
            dataset = load_image_manifest(
                manifest_path, image_directory=root / "images", image_size=image_size,
                channels=channels,
            )  # fmt: skip
        except ValueError as error:
            raise ValueError(str(error).replace(str(manifest_path), manifest_name)) from None
    dataset.source = manifest_name
    dataset.rejected = [
        RejectedFile(item.name, item.reason.replace(str(root / "images"), "the uploaded images"))
        for item in dataset.rejected
    ] + [
        RejectedFile(
            name,
            f"Expected every uploaded image to be listed in {manifest_name!r}. "
            f"Received: name={name!r}, not in the manifest",
        )
        for name in sorted(set(images) - placed)
    ]
    return dataset


def display_image(image: np.ndarray) -> np.ndarray:
    """An (H, W, 1) image as (H, W) for display; RGB images are returned unchanged."""
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def dataset_summary(source: ImageSource, thumbnails_per_class: int = 4) -> dict:
    """Loads the source once at thumbnail size and reports what training would see.

    Returns:
        {"description", "report" (`image_dataset_report`: counts, sizes, rejected, warnings),
        "thumbnails": {class: [(file name, uint8 image)]}}.

    Raises:
        ValueError: If the data cannot be loaded (e.g. a zip without class folders).
    """
    from core.data.inspection import image_dataset_report

    dataset = source.load(THUMBNAIL_SIZE, 3)
    thumbnails = {}
    for label, class_name in enumerate(dataset.class_names):
        indices = np.flatnonzero(dataset.labels == label)[:thumbnails_per_class]
        thumbnails[class_name] = [
            (dataset.filenames[index], dataset.images[index]) for index in indices
        ]
    return {
        "description": source.description,
        "report": image_dataset_report(dataset, source.description),
        "thumbnails": thumbnails,
    }


def training_defaults() -> dict:
    """Default widget values (from `ImageTrainingConfig()`) and the choices the page offers."""
    from core.models.image import IMAGE_MODEL_PRESETS

    config = ImageTrainingConfig()
    height = config.image_size[0]
    return {
        "model": config.model,
        "models": sorted(IMAGE_MODEL_PRESETS),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "optimizer": config.optimizer,
        "optimizers": list(OPTIMIZERS),
        "image_size": height,
        "image_sizes": sorted({*IMAGE_SIZE_CHOICES, height}),
        "augmentation": config.augmentation.enabled,
        "validation_fraction": config.validation_fraction,
        "test_fraction": config.test_fraction,
    }


def training_config(
    *, image_size: int | None = None, augmentation: bool | None = None, **choices
) -> ImageTrainingConfig:
    """An `ImageTrainingConfig` from the page's choices; a missing or None choice keeps the default.

    Args:
        image_size: Side of the square images in pixels.
        augmentation: Switches the default augmentation on or off.
        **choices: Any of `model`, `epochs`, `batch_size`, `learning_rate`, `optimizer`,
            `validation_fraction`, `channels`, as in `ImageTrainingConfig`.

    Raises:
        ValueError: If a choice is unknown or invalid (the message names it).
    """
    changes = {key: value for key, value in choices.items() if value is not None}
    unknown = sorted(set(changes) - set(PAGE_CHOICES))
    if unknown:
        raise ValueError(f"Expected choices among {list(PAGE_CHOICES)}. Received: {unknown}")
    if image_size is not None:
        changes["image_size"] = (image_size, image_size)
    config = dataclasses.replace(ImageTrainingConfig(), **changes)
    if augmentation is not None:
        config.augmentation = dataclasses.replace(config.augmentation, enabled=bool(augmentation))
    return config.validate()


def make_training_work(source: ImageSource, config: ImageTrainingConfig) -> Callable:
    """Returns `work(progress, cancellation)` for `JobManager.submit`.

    The work loads the images at `config.image_size` inside the job, trains and evaluates with
    `run_image_training`, and returns its `ImageRunResult` (None if cancelled while loading).

    Raises:
        ValueError: If `config` is invalid (checked now, before anything is queued).
    """
    config.validate()

    def work(progress, cancellation):
        from core.image_workflow import run_image_training

        progress.set_message(f"Loading {source.description}")
        dataset = source.load(tuple(config.image_size), config.channels)
        if cancellation.cancelled:
            return None
        progress.set_message(f"Training on {len(dataset)} images")
        result = run_image_training(
            dataset, config, listeners=[progress], cancellation=cancellation
        )
        progress.set_message("Finished")
        return result

    return work


def training_jobs(manager, owner: str) -> list:
    """The image training jobs of one session (other pages' jobs are theirs to show)."""
    return [job for job in manager.jobs_for(owner) if job.kind == JOB_KIND]


def queue_text(position: int | None) -> str:
    """'2 jobs ahead' for a queued job's position, '' when it is not queued."""
    if position is None:
        return ""
    return f"{position} job{'' if position == 1 else 's'} ahead"


def job_rows(manager, jobs) -> list[dict]:
    """One row per job for a table: description, state, progress and queue position."""
    rows = []
    for job in jobs:
        snapshot = job.progress.snapshot()
        epochs = (
            f"{snapshot['epoch']}/{snapshot['total_epochs']}" if snapshot["total_epochs"] else ""
        )
        rows.append(
            {
                "submitted": time.strftime("%H:%M:%S", time.localtime(job.submitted_at)),
                "data": job.description,
                "state": job.state,
                "epoch": epochs,
                "queue": queue_text(manager.queue_position(job.job_id)),
                "job": job.job_id,
            }
        )
    return rows


def suggested_model_name(source: ImageSource, config: ImageTrainingConfig) -> str:
    """A valid registry name such as 'parts-seed_cnn' (letters, digits, '_', '.', '-')."""
    stem = "sample" if source.kind == SAMPLE else Path(source.file_names[0]).stem
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._") or "images"
    return f"{stem[: MODEL_NAME_LIMIT - len(config.model) - 1]}-{config.model}"


def result_summary(result) -> dict:
    """Headline numbers, per-class rows and the confusion matrix of an `ImageRunResult`."""
    evaluation = result.evaluation
    training = result.training
    return {
        "accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "test_count": evaluation["count"],
        "epochs_run": training.epochs_run,
        "best_epoch": training.best_epoch,
        "cancelled": training.cancelled,
        "seconds": training.seconds,
        "class_names": list(evaluation["class_names"]),
        "confusion_matrix": evaluation["confusion_matrix"],
        "per_class": evaluation["per_class"],
        "misclassified_count": len(evaluation["misclassified"]),
        "history": training.history,
    }


def _evaluated_indices(result) -> np.ndarray:
    # `run_image_training` evaluates on the test split, or on validation when there is no test.
    return result.test_indices if len(result.test_indices) else result.validation_indices


def _check_class(result, class_name: str, argument: str) -> int:
    names = list(result.evaluation["class_names"])
    if class_name not in names:
        raise ValueError(
            f"Expected `{argument}` to be one of {names}. Received: {argument}={class_name!r}"
        )
    return names.index(class_name)


def default_confusion_cell(result) -> tuple[str, str]:
    """The most frequent confusion (true, predicted), or the first class's diagonal cell."""
    names = list(result.evaluation["class_names"])
    matrix = np.array(result.evaluation["confusion_matrix"])
    off_diagonal = matrix - np.diag(np.diag(matrix))
    if off_diagonal.max() > 0:
        true_index, predicted_index = np.unravel_index(np.argmax(off_diagonal), matrix.shape)
        return names[true_index], names[predicted_index]
    return names[0], names[0]


def confusion_cell_items(
    result, true_class: str, predicted_class: str, limit: int | None = None
) -> list[tuple[str, np.ndarray]]:
    """The evaluated images behind one confusion-matrix cell, as (file name, display image).

    Raises:
        ValueError: If either class is not one of the result's classes.
    """
    true_index = _check_class(result, true_class, "true_class")
    predicted_index = _check_class(result, predicted_class, "predicted_class")
    names = list(result.evaluation["class_names"])
    dataset = result.dataset
    indices = _evaluated_indices(result)
    # Every wrong prediction is listed in `misclassified`; the others were predicted right.
    predicted = dataset.labels[indices].copy()
    for item in result.evaluation["misclassified"]:
        predicted[item["index"]] = names.index(item["predicted"])
    chosen = np.flatnonzero(
        (dataset.labels[indices] == true_index) & (predicted == predicted_index)
    )
    if limit is not None:
        chosen = chosen[:limit]
    return [
        (dataset.filenames[indices[position]], display_image(dataset.images[indices[position]]))
        for position in chosen
    ]


def misclassified_items(result, limit: int = 24) -> list[dict]:
    """The most confident mistakes: {name, image, true, predicted, confidence}, worst first."""
    dataset = result.dataset
    indices = _evaluated_indices(result)
    return [
        {
            "name": item["name"],
            "image": display_image(dataset.images[indices[item["index"]]]),
            "true": item["true"],
            "predicted": item["predicted"],
            "confidence": item["confidence"],
        }
        for item in result.evaluation["misclassified"][:limit]
    ]

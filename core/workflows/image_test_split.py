"""A registered image model's test split, reproduced, with its predictor and sample heatmaps.

Training cuts its data with `stratified_split` and a recorded seed; cutting the same data the same
way (`core.data.splits.recorded_split`, as `core.deploy.export_check` does) gives back exactly the
images the model was tested on. The
robustness check re-scores them and the sign-off report shows a few with their heatmaps. An
image classifier is predicted with `core.inference.classifier.ImagePredictor`; an image anomaly
model (labels good 0, anomaly 1) with `core.inference.image_anomaly.ImageAnomalyPredictor`, imported
only when needed.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.images import load_image_zip, load_images
from core.data.splits import recorded_split
from core.data.validation import describe_value
from core.inference.heatmaps import heatmap_overlay
from core.inference.verdicts import verdict_indices, with_operating_point
from core.registry.catalog import calibration_source
from core.registry.metadata import image_dataset_fingerprint
from core.workflows.image import predictor_for

IMAGE_CLASSIFICATION = "image_classification"
IMAGE_ANOMALY = "image_anomaly"
IMAGE_TASKS = (IMAGE_CLASSIFICATION, IMAGE_ANOMALY)
ANOMALY_CLASS = "anomaly"
SPLIT_PARTS = ("test", "validation")
SAMPLE_COUNT = 6
SAMPLES_PER_CLASS = 2


@dataclasses.dataclass
class ImageTestSplit:
    """A registered model's test split, reproduced from its seeded training split.

    Attributes:
        images: uint8 `(N, H, W, C)` at the model's input size.
        labels: True class index per image (anomaly models: 0 good, 1 anomaly).
        class_names: The model's class names (anomaly models: `[good_class, "anomaly"]`).
        filenames: The name of each image in the data.
        data: Where the images came from (a path or an uploaded file name).
        matches_training: Whether the data's fingerprint equals the model's training data
            (None when the model does not record it).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    filenames: list[str]
    data: str
    matches_training: bool | None


def _check_image_task(record) -> str:
    task = record.metadata.get("task")
    if task not in IMAGE_TASKS:
        raise ValueError(
            f"Expected an image model (task among {list(IMAGE_TASKS)}). "
            f"Received: model='{record.reference}' with task={describe_value(task)}"
        )
    return task


def good_class_of(metadata: dict) -> str:
    """The good class of an image anomaly model (`training_config` or `extra`)."""
    for section in ("training_config", "extra"):
        good_class = metadata.get(section, {}).get("good_class")
        if isinstance(good_class, str) and good_class:
            return good_class
    return metadata["classes"][0]


def load_test_split(record, data=None) -> ImageTestSplit:
    """`load_split` of the test part: the images the model was tested on."""
    return load_split(record, data, part="test")


def load_split(record, data=None, *, part: str = "test") -> ImageTestSplit:
    """Loads labelled images and cuts one part of the model's seeded split out of them.

    The split is `stratified_split` over every image with the model's `validation_fraction`,
    `test_fraction` and `seed`, as in training (`core.deploy.export_check`), so on the training data
    it is exactly the images the model was validated or tested on.

    Args:
        record: The `ModelRecord` of an image classifier or image anomaly model.
        data: A path the image loaders accept, `(file name, zip bytes)` of an uploaded zip of
            class folders, or None for the model's training folder. Default: None.
        part: "test" (robustness, sign-off samples) or "validation" (the operating point).

    Returns:
        A `ImageTestSplit`.

    Raises:
        ValueError: If the model is not an image model, no data is given and the training
            folder is not on this server, the data's classes do not fit the model, or the
            test split is empty.
    """
    if part not in SPLIT_PARTS:
        raise ValueError(
            f"Expected part to be one of {list(SPLIT_PARTS)}. Received: part={describe_value(part)}"
        )
    task = _check_image_task(record)
    metadata = record.metadata
    height, width, channels = metadata["input_shape"]
    options = {"image_size": (height, width), "channels": channels}
    is_upload = (
        isinstance(data, tuple)
        and len(data) == 2
        and isinstance(data[0], str)
        and isinstance(data[1], bytes | bytearray)
    )
    if not (data is None or is_upload or isinstance(data, str | os.PathLike)):
        raise ValueError(
            "Expected data as a folder or zip path, or an uploaded zip as (file name, bytes). "
            f"Received: data={describe_value(data)}"
        )
    if is_upload:
        name, content = data[0], bytes(data[1])
        dataset, description = load_image_zip(content, name=name, **options), name
    else:
        folder = data if data is not None else calibration_source(record)
        if folder is None:
            source = metadata.get("extra", {}).get("dataset", {}).get("source")
            raise ValueError(
                "Expected the labelled images the model was trained on: pass data (class "
                "folders, a zip or a manifest), because its training folder is not on this "
                f"server. Received: training data source={describe_value(source)}"
            )
        dataset, description = load_images(Path(folder), **options), str(folder)
    names = list(dataset.class_names)
    if task == IMAGE_ANOMALY:
        good_class = good_class_of(metadata)
        if good_class not in names:
            raise ValueError(
                f"Expected the data to hold the good class '{good_class}' of the model. "
                f"Received: data classes {names}"
            )
        labels = (dataset.labels != names.index(good_class)).astype(np.int64)
        class_names = [good_class, ANOMALY_CLASS]
    else:
        if names != list(metadata["classes"]):
            raise ValueError(
                f"Expected the data's classes to equal the model's {metadata['classes']}. "
                f"Received: data classes {names}"
            )
        labels, class_names = dataset.labels.astype(np.int64), names
    config = metadata.get("training_config", {})
    _, validation, test = recorded_split(dataset.labels, config)
    chosen = test if part == "test" else validation
    if len(chosen) == 0:
        key = f"{part}_fraction"
        raise ValueError(
            f"Expected a model trained with a {part} split ({key} > 0). "
            f"Received: {key}={describe_value(config.get(key))}"
        )
    return ImageTestSplit(
        images=dataset.images[chosen],
        labels=labels[chosen],
        class_names=class_names,
        filenames=[dataset.filenames[index] for index in chosen],
        data=description,
        matches_training=None
        if metadata.get("dataset_fingerprint") in (None, "unknown")
        else image_dataset_fingerprint(dataset) == metadata["dataset_fingerprint"],
    )


def image_predictor(model, metadata: dict, record=None):
    """An `ImagePredictor` (classifier) or `ImageAnomalyPredictor` (anomaly model); with
    `record`, its stored operating point decides the verdicts, as in spot check."""
    predictor = predictor_for(model, metadata)
    return predictor if record is None else with_operating_point(predictor, record)


def predicted_labels(predictor, images: np.ndarray) -> np.ndarray:
    """The verdict's class index per image (`core.inference.verdicts.verdict_indices`)."""
    return verdict_indices(predictor, predictor.predict_arrays(images))


def verdict_rates(predictor, split: ImageTestSplit, good_class: str) -> dict:
    """Defect recall and false-reject rate of the predictor's verdicts on a split.

    Returns:
        `test_defect_recall` and `test_false_reject_rate` (None when the split holds no defect,
        or no good part), and `test_count` as "N (D defects)".
    """
    good_index = split.class_names.index(good_class)
    is_defect = split.labels != good_index
    flagged = predicted_labels(predictor, split.images) != good_index
    return {
        "test_defect_recall": float(flagged[is_defect].mean()) if is_defect.any() else None,
        "test_false_reject_rate": float(flagged[~is_defect].mean()) if (~is_defect).any() else None,
        "test_count": f"{len(is_defect)} ({int(is_defect.sum())} defects)",
    }


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def sample_indices(labels: np.ndarray, class_count: int) -> list[int]:
    """Up to `SAMPLE_COUNT` test images, one class after another, `SAMPLES_PER_CLASS` each."""
    per_class = [
        np.flatnonzero(labels == index)[:SAMPLES_PER_CLASS] for index in range(class_count)
    ]
    chosen = []
    for rank in range(SAMPLES_PER_CLASS):
        chosen += [int(indexes[rank]) for indexes in per_class if rank < len(indexes)]
    return chosen[:SAMPLE_COUNT]


def sample_heatmaps(predictor, split) -> list[tuple[str, str, bytes]]:
    """Heatmap overlays of a few test images: Grad-CAM for a classifier, the anomaly map for
    an anomaly model; each PNG shows the image and its overlay side by side."""
    chosen = sample_indices(split.labels, len(split.class_names))
    images = split.images[chosen]
    predicted = predicted_labels(predictor, images)
    heatmaps = predictor.heatmaps(images, predicted)
    if hasattr(predictor, "scores"):
        scores = np.asarray(predictor.scores(images))
        details = [f"score {score:.3g}, threshold {predictor.threshold:.3g}" for score in scores]
    else:
        probabilities = predictor.predict_arrays(images)
        details = [f"{row[index]:.0%}" for row, index in zip(probabilities, predicted, strict=True)]
    samples = []
    for position, index in enumerate(chosen):
        image = np.broadcast_to(images[position], (*images.shape[1:3], 3))
        overlay = heatmap_overlay(images[position], heatmaps[position])
        gap = np.full((image.shape[0], 2, 3), 255, dtype=np.uint8)
        caption = (
            f"true {split.class_names[split.labels[index]]}, predicted "
            f"{split.class_names[predicted[position]]} ({details[position]})"
        )
        pixels = np.concatenate([image, gap, overlay], axis=1)
        samples.append((split.filenames[index], caption, _png(pixels)))
    return samples

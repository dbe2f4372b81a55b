"""A registered image model's test split, reproduced, with its predictor and sample heatmaps.

Training cuts its data with `stratified_split` and a recorded seed; cutting the same data the same
way gives back exactly the images the model was tested on (as `core.export_check` does). The
robustness check re-scores them and the sign-off report shows a few with their heatmaps. An
image classifier is predicted with `core.inference.ImagePredictor`; an image anomaly model
(labels good 0, anomaly 1) with `core.image_anomaly_inference.ImageAnomalyPredictor`, imported
only when needed.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np

from core.data.validation import describe_value

IMAGE_CLASSIFICATION = "image_classification"
IMAGE_ANOMALY = "image_anomaly"
IMAGE_TASKS = (IMAGE_CLASSIFICATION, IMAGE_ANOMALY)
ANOMALY_CLASS = "anomaly"
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
        matches_training: Whether the data's fingerprint equals the model's training data.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    filenames: list[str]
    data: str
    matches_training: bool


def _check_image_task(record) -> str:
    task = record.metadata.get("task")
    if task not in IMAGE_TASKS:
        raise ValueError(
            f"Expected an image model (task among {list(IMAGE_TASKS)}). "
            f"Received: model='{record.reference}' with task={describe_value(task)}"
        )
    return task


def training_data_source(record) -> Path | None:
    """The model's training image folder when it is on this server (see `calibration_source`)."""
    from core import model_catalog

    if record.metadata.get("task") == IMAGE_ANOMALY:
        # `calibration_source` only looks at classifiers; an anomaly model records its training
        # folder the same way (`extra.dataset.source`).
        metadata = {**record.metadata, "task": model_catalog.IMAGE_TASK}
        record = dataclasses.replace(record, metadata=metadata)
    return model_catalog.calibration_source(record)


def good_class_of(metadata: dict) -> str:
    """The good class of an image anomaly model (`training_config` or `extra`)."""
    for section in ("training_config", "extra"):
        good_class = metadata.get(section, {}).get("good_class")
        if isinstance(good_class, str) and good_class:
            return good_class
    return metadata["classes"][0]


def load_test_split(record, data=None) -> ImageTestSplit:
    """Loads labelled images and cuts the model's test split out of them.

    The split is `stratified_split` over every image with the model's `validation_fraction`,
    `test_fraction` and `seed`, as in training (`core.export_check`), so on the training data
    it is exactly the images the model was tested on.

    Args:
        record: The `ModelRecord` of an image classifier or image anomaly model.
        data: A path the image loaders accept, `(file name, zip bytes)` of an uploaded zip of
            class folders, or None for the model's training folder. Default: None.

    Returns:
        A `ImageTestSplit`.

    Raises:
        ValueError: If the model is not an image model, no data is given and the training
            folder is not on this server, the data's classes do not fit the model, or the
            test split is empty.
    """
    from core.data.images import load_image_zip, load_images
    from core.data.splits import stratified_split
    from core.registry_metadata import image_dataset_fingerprint

    task = _check_image_task(record)
    metadata = record.metadata
    height, width, channels = metadata["input_shape"]
    options = {"image_size": (height, width), "channels": channels}
    if isinstance(data, tuple):
        name, content = data
        dataset, description = load_image_zip(content, name=name, **options), name
    else:
        folder = data if data is not None else training_data_source(record)
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
    _, _, test = stratified_split(
        dataset.labels,
        validation_fraction=config.get("validation_fraction", 0.15),
        test_fraction=config.get("test_fraction", 0.15),
        seed=config.get("seed", 0),
    )
    if len(test) == 0:
        raise ValueError(
            "Expected a model trained with a test split (test_fraction > 0). "
            f"Received: test_fraction={describe_value(config.get('test_fraction'))}"
        )
    return ImageTestSplit(
        images=dataset.images[test],
        labels=labels[test],
        class_names=class_names,
        filenames=[dataset.filenames[index] for index in test],
        data=description,
        matches_training=image_dataset_fingerprint(dataset) == metadata["dataset_fingerprint"],
    )


def image_predictor(model, metadata: dict):
    """An `ImagePredictor` (classifier) or `ImageAnomalyPredictor` (anomaly model)."""
    if metadata.get("task") == IMAGE_ANOMALY:
        from core.image_anomaly_inference import ImageAnomalyPredictor

        return ImageAnomalyPredictor.from_registry_record(model, metadata)
    from core.inference import ImagePredictor

    return ImagePredictor.from_registry_record(model, metadata)


def predicted_labels(predictor, images: np.ndarray) -> np.ndarray:
    """Class indexes: the most probable class, or anomaly (1) when score >= threshold."""
    if hasattr(predictor, "scores"):
        return (np.asarray(predictor.scores(images)) >= predictor.threshold).astype(np.int64)
    return np.asarray(predictor.predict_arrays(images)).argmax(axis=1).astype(np.int64)


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

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
    from core.heatmaps import heatmap_overlay

    chosen = sample_indices(split.labels, len(split.class_names))
    images = split.images[chosen]
    if hasattr(predictor, "scores"):
        scores = np.asarray(predictor.scores(images))
        predicted = (scores >= predictor.threshold).astype(np.int64)
        heatmaps = predictor.heatmaps(images, predicted)
        details = [f"score {score:.3g}, threshold {predictor.threshold:.3g}" for score in scores]
    else:
        from core.explain import grad_cam_batch

        probabilities = predictor.predict_arrays(images)
        predicted = probabilities.argmax(axis=1)
        heatmaps = grad_cam_batch(predictor.model, images, predicted)
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

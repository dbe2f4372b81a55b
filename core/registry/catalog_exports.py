"""Export downloads of registered models: the formats offered, file names, what an exported
model takes and returns, int8 calibration images, and the exported file as bytes.

Only `export_bytes` loads a model (for the SavedModel and TFLite formats, which it exports in
inference mode: see `core.deploy.export.inference_model`).

Example:

    registry = ModelRegistry("registry")
    file_name, data = export_bytes(registry, "demo-defect-cnn:1", "tflite")
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from core.data.images import load_image_zip, load_images
from core.data.validation import describe_value
from core.deploy.export import ExportFormat, validate_export_format
from core.registry import catalog


@dataclasses.dataclass(frozen=True)
class ExportChoice:
    """How one export format is offered for download.

    Attributes:
        format: The `ExportFormat` value passed to `ModelRegistry.export`.
        label: What the download button says.
        extension: The file extension, with its dot.
        mime: The MIME type of the download.
    """

    format: str
    label: str
    extension: str
    mime: str


EXPORT_CHOICES = (
    ExportChoice(ExportFormat.KERAS.value, "Keras (.keras)", ".keras", "application/octet-stream"),
    ExportChoice(
        ExportFormat.SAVEDMODEL.value, "TensorFlow SavedModel (.zip)", ".zip", "application/zip"
    ),
    ExportChoice(
        ExportFormat.TFLITE.value,
        "TensorFlow Lite (.tflite)",
        ".tflite",
        "application/octet-stream",
    ),
    ExportChoice(
        ExportFormat.TFLITE_FP16.value,
        "TensorFlow Lite float16",
        "-fp16.tflite",
        "application/octet-stream",
    ),
    ExportChoice(
        ExportFormat.TFLITE_INT8.value,
        "TensorFlow Lite int8",
        "-int8.tflite",
        "application/octet-stream",
    ),
)
_CHOICES_BY_FORMAT = {choice.format: choice for choice in EXPORT_CHOICES}


def export_choice(format: str) -> ExportChoice:
    """Returns the `ExportChoice` of a format.

    Raises:
        ValueError: If `format` is not an export format; the message lists them.
    """
    return _CHOICES_BY_FORMAT[validate_export_format(format).value]


def export_file_name(record, format: str) -> str:
    """Returns the download name of an export, e.g. 'demo-defect-cnn-v1.tflite'."""
    return f"{record.name}-v{record.version}{export_choice(format).extension}"


def export_input_note(record) -> str:
    """One sentence on what an exported model takes and returns, for the export section."""
    metadata = record.metadata
    task = metadata.get("task", "")
    shape = "x".join(str(size) for size in metadata.get("input_shape", []))
    if task.startswith("series_"):
        features = metadata.get("preprocessing", {}).get("feature_columns", [])
        outputs = {
            "series_rul": "the remaining useful life in cycles",
            "series_failure": "the probability of failing within the horizon",
            "series_anomaly": "the reconstructed window (score = per-sensor squared error)",
        }[task]
        return (
            f"The model takes windows of {shape} (cycles x sensors {', '.join(features)}), "
            f"z-scored with the scaler stored in its metadata, and returns {outputs}."
        )
    if task == "gan":
        preprocessing = metadata.get("preprocessing", {})
        size = "x".join(str(side) for side in preprocessing.get("image_size", []))
        classes = ", ".join(f"{index} = {name}" for index, name in enumerate(metadata["classes"]))
        return (
            f"The generator takes a standard-normal noise vector of {shape} floats and a class "
            f"index ({classes}), and returns a {size} grayscale image in [-1, 1] "
            "(pixels = (output + 1) * 127.5)."
        )
    return f"The model takes raw 0-255 pixels at {shape} and returns class probabilities."


def calibration_images(record, upload: tuple[str, bytes] | None = None):
    """Training-like images at the model's input size, to calibrate an int8 export.

    Args:
        record: The `ModelRecord` of an image classifier.
        upload: Optional `(file name, bytes)` of a zip of class folders to calibrate on instead
            of the model's training folder.

    Returns:
        A uint8 array (count, height, width, channels).

    Raises:
        ValueError: The model is not an image classifier, or no usable images were found; the
            message says where they were looked for.
    """
    metadata = record.metadata
    if metadata.get("task") != catalog.IMAGE_TASK:
        raise ValueError(
            "Expected an image classifier for an int8 export (it calibrates on images). "
            f"Received: model='{record.reference}' with task={describe_value(metadata.get('task'))}"
        )
    height, width, channels = metadata["input_shape"]
    if upload is not None:
        name, data = upload
        dataset = load_image_zip(data, image_size=(height, width), channels=channels, name=name)
    else:
        folder = catalog.calibration_source(record)
        if folder is None:
            source = catalog.dataset_of(metadata).get("source")
            raise ValueError(
                "Expected the model's training images on this server, or a zip of training "
                "images, to calibrate an int8 export. Received: training data "
                f"source={describe_value(source)} is not a folder here"
            )
        dataset = load_images(folder, image_size=(height, width), channels=channels)
    if len(dataset) == 0:
        raise ValueError(
            "Expected at least one readable image to calibrate an int8 export. "
            f"Received: 0 images, {len(dataset.rejected)} rejected file(s)"
        )
    return dataset.images


def export_bytes(
    registry, reference: str, format: str, *, representative_data=None
) -> tuple[str, bytes]:
    """Exports a registered model and returns the file's name and bytes, for a download.

    The export is written into a temporary folder, read back and removed: a `.keras` file by
    `ModelRegistry.export` (a copy), the other formats by `core.deploy.export.export_model` from the
    model loaded with the registry's checks and wrapped by `inference_model`.

    Args:
        registry: A `ModelRegistry`.
        reference: "name", "name:version" or "name:latest".
        format: "keras", "savedmodel" (a zip of the SavedModel folder), "tflite",
            "tflite-fp16" or "tflite-int8".
        representative_data: Calibration inputs for "tflite-int8" (`calibration_images`).

    Returns:
        `(file_name, data)`.

    Raises:
        ValueError: If the format is unknown, the model is unknown or cannot be loaded, or
            TensorFlow Lite cannot convert it.
    """

    choice = export_choice(format)
    record = registry.get(reference)
    file_name = export_file_name(record, choice.format)
    with tempfile.TemporaryDirectory(prefix="linesight-export-") as folder:
        destination = Path(folder) / file_name
        written = registry.export(
            record.reference,
            None,
            choice.format,
            destination,
            representative_data=representative_data,
        )
        return file_name, Path(written).read_bytes()

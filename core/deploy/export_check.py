"""The export check: every deployment format of an image model, scored beside the original.

A quantized or converted model can lose accuracy without any error; this scores each export on
the model's own test split (the seeded split its training config records), so an engineer sees the
cost of int8 before shipping it.

Example:
    >>> report = check_exports(registry, "demo-defect-cnn", "sample_data/images")
    >>> report["formats"]["tflite-int8"]["accuracy"]
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.data.images import load_images
from core.data.splits import recorded_split
from core.data.validation import describe_value

CHECKED_FORMATS = ("tflite", "tflite-fp16", "tflite-int8")


def tflite_predictions(path: str | Path, images: np.ndarray) -> np.ndarray:
    """Runs a TensorFlow Lite file on float images one at a time; returns its outputs."""
    import tensorflow  # Lazy: loads TensorFlow.

    interpreter = tensorflow.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    outputs = []
    for image in images:
        interpreter.set_tensor(input_index, image[None].astype(np.float32))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_index)[0])
    return np.array(outputs)


def check_exports(registry, reference: str, data, formats: Sequence[str] = CHECKED_FORMATS) -> dict:
    """Exports an image classifier in each format and scores every one on its test split.

    Args:
        registry: A `ModelRegistry`.
        reference: The image classification model, "name" or "name:version".
        data: The labelled images it was trained on (a path the image loaders accept); its
            training split calibrates int8 and its test split is scored.
        formats: TensorFlow Lite formats to check beside the original. Default: all three.

    Returns:
        `{"model", "test_images", "formats": {format: {"accuracy", "bytes",
        "accuracy_change", "agreement"}}}`, where `accuracy_change` is against the original
        and `agreement` the share of test images given the original's class.

    Raises:
        ValueError: If the model is not an image classifier, a format is not a TFLite format,
            or the data's classes differ from the model's.
    """
    unknown = [item for item in formats if item not in CHECKED_FORMATS]
    if unknown:
        raise ValueError(
            f"Expected formats among {list(CHECKED_FORMATS)}. Received: formats={unknown}"
        )
    record = registry.get(reference)
    metadata = record.metadata
    if metadata.get("task") != "image_classification":
        raise ValueError(
            "Expected an image classification model to check. Received: "
            f"model='{record.reference}' with task={describe_value(metadata.get('task'))}"
        )
    model, _ = registry.load(record.reference)
    height, width, channels = metadata["input_shape"]
    dataset = load_images(Path(data), image_size=(height, width), channels=channels)
    if list(dataset.class_names) != list(metadata["classes"]):
        raise ValueError(
            f"Expected the data's classes to equal the model's {metadata['classes']}. "
            f"Received: data classes {list(dataset.class_names)}"
        )
    train, _, test = recorded_split(dataset.labels, metadata.get("training_config", {}))
    images = dataset.images[test].astype(np.float32)
    truth = dataset.labels[test]
    original = model.predict(images, verbose=0).argmax(axis=1)
    original_accuracy = float((original == truth).mean())
    results = {
        "keras": {
            "accuracy": original_accuracy,
            "bytes": record.model_path.stat().st_size,
            "accuracy_change": 0.0,
            "agreement": 1.0,
        }
    }
    with tempfile.TemporaryDirectory(prefix="linesight-export-check-") as directory:
        for export_format in formats:
            path = registry.export(
                record.reference,
                None,
                export_format,
                Path(directory),
                representative_data=dataset.images[train].astype(np.float32),
            )
            predicted = tflite_predictions(path, images).argmax(axis=1)
            accuracy = float((predicted == truth).mean())
            results[export_format] = {
                "accuracy": accuracy,
                "bytes": path.stat().st_size,
                "accuracy_change": accuracy - original_accuracy,
                "agreement": float((predicted == original).mean()),
            }
    return {"model": record.reference, "test_images": len(truth), "formats": results}

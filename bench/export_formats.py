"""Accuracy and size of every export format of a registered image model, on its test split.

Registers the bundled demo models in a temporary registry (or uses `--registry`), splits the data
with the seeded stratified split the demo was trained with (70/15/15, seed 0), exports the model as
`.keras`, float32, float16 and int8 TensorFlow Lite (int8 calibrated on the training split), and
prints one JSON line: test accuracy and file size per format.

Usage:
    python bench/export_formats.py [--model demo-defect-cnn] [--data sample_data/images]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from core.data.images import load_images
from core.data.splits import stratified_split
from core.demo_models import ensure_demo_models
from core.registry import ModelRegistry


def tflite_predictions(path: Path, images: np.ndarray) -> np.ndarray:
    """Runs a TensorFlow Lite file on float images one at a time."""
    import tensorflow

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo-defect-cnn")
    parser.add_argument("--data", type=Path, default=Path("sample_data/images"))
    parser.add_argument("--registry", type=Path)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="linesight-bench-") as directory:
        registry = ModelRegistry(arguments.registry or Path(directory) / "registry")
        ensure_demo_models(registry)
        model, metadata = registry.load(arguments.model)
        height, width, channels = metadata["input_shape"]
        config = metadata["training_config"]
        dataset = load_images(arguments.data, image_size=(height, width), channels=channels)
        train, _, test = stratified_split(
            dataset.labels,
            validation_fraction=config.get("validation_fraction", 0.15),
            test_fraction=config.get("test_fraction", 0.15),
            seed=config.get("seed", 0),
        )
        images = dataset.images[test].astype(np.float32)
        truth = dataset.labels[test]
        results = {
            "keras": {
                "accuracy": float((model.predict(images, verbose=0).argmax(1) == truth).mean()),
                "bytes": registry.get(arguments.model).model_path.stat().st_size,
            }
        }
        for export_format in ("tflite", "tflite-fp16", "tflite-int8"):
            path = registry.export(
                arguments.model,
                None,
                export_format,
                Path(directory),
                representative_data=dataset.images[train].astype(np.float32),
            )
            predictions = tflite_predictions(path, images).argmax(1)
            results[export_format] = {
                "accuracy": float((predictions == truth).mean()),
                "bytes": path.stat().st_size,
            }
    print(json.dumps({"model": arguments.model, "test_images": len(truth), "formats": results}))


if __name__ == "__main__":
    main()

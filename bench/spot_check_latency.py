"""Latency of a single-image spot check: PNG bytes in, class probabilities out.

Times `ImagePredictor.predict_bytes` (decode, resize, predict through the cached `tf.function`)
over 200 calls on one PNG, next to the prediction alone (`predict_arrays`), `predict_on_batch` and
`model.predict` on the same, already decoded image, and prints the p50/p95 of each (milliseconds)
as one JSON line. Acceptance: spot-check p50 <= 5 ms for
the default model.

The model is the latest image classifier in the registry when there is one (`--registry`, else
$LINESIGHT_REGISTRY or ./registry), or `--model PATH.keras`; otherwise the default preset
(`ImageTrainingConfig().model`, at its default image size) is built with random weights: the
weights do not change the latency.

Usage:
    python bench/spot_check_latency.py [--model PATH.keras] [--registry DIR] [--calls 200]
"""

from __future__ import annotations

import io
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchlib
import numpy as np
from PIL import Image

from core.inference.classifier import ImagePredictor


def load_model(arguments) -> tuple[object, list[str], tuple[int, int], int, str]:
    """Returns `(model, class names, image size, channels, description)`."""
    import keras

    if arguments.model is not None:
        model = keras.saving.load_model(arguments.model, safe_mode=True, compile=False)
        height, width, channels = model.inputs[0].shape[1:]
        classes = [f"class_{index}" for index in range(model.outputs[0].shape[-1])]
        return model, classes, (height, width), channels, f"file {arguments.model}"

    from core.registry.store import ModelRegistry, resolve_registry_directory

    registry = ModelRegistry(resolve_registry_directory(arguments.registry))
    records = [
        record
        for record in registry.list()
        if record.metadata.get("task") == "image_classification"
    ]
    if records:
        newest = max(records, key=lambda record: record.metadata.get("created_at", ""))
        model, metadata = registry.load(newest.reference)
        height, width, channels = metadata["input_shape"]
        return model, metadata["classes"], (height, width), channels, f"registry {newest.reference}"

    from core.engine.image_training import ImageTrainingConfig
    from core.models.image import build_image_model

    config = ImageTrainingConfig()
    keras.utils.set_random_seed(0)
    classes = [f"class_{index}" for index in range(6)]
    shape = (*config.image_size, config.channels)
    model = build_image_model(config.model, shape, len(classes), seed=0)
    description = f"{config.model} {list(shape)} random weights, 6 classes"
    return model, classes, config.image_size, config.channels, description


def percentiles(seconds: list[float]) -> dict[str, float]:
    return benchlib.percentiles(seconds, scale=1000.0, suffix="_ms")


def time_calls(function, calls: int) -> list[float]:
    durations = []
    for _ in range(calls):
        with benchlib.Stopwatch() as call:
            function()
        durations.append(call.seconds)
    return durations


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    parser.add_argument("--model", type=Path, default=None, help="a .keras file to time")
    parser.add_argument("--registry", default=None, help="registry directory")
    parser.add_argument("--calls", type=int, default=200)
    arguments = parser.parse_args()

    model, classes, image_size, channels, description = load_model(arguments)
    # A 200x200 grayscale photo, like the NEU images: the spot check resizes it.
    pixels = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    if channels == 3:
        pixels = np.repeat(pixels[..., np.newaxis], 3, axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    files = [("part.png", buffer.getvalue())]

    with benchlib.Stopwatch() as construction:
        predictor = ImagePredictor(model, classes, image_size=image_size, channels=channels)
    with benchlib.Stopwatch() as first_call:
        batch = predictor.predict_bytes(files)
    decoded = batch.images.astype(np.float32)

    spot_check = time_calls(lambda: predictor.predict_bytes(files), arguments.calls)
    prediction_only = time_calls(lambda: predictor.predict_arrays(batch.images), arguments.calls)
    # Let Keras build its predict functions before timing them.
    model.predict_on_batch(decoded)
    on_batch = time_calls(lambda: model.predict_on_batch(decoded), arguments.calls)
    model.predict(decoded, verbose=0)
    keras_predict = time_calls(lambda: model.predict(decoded, verbose=0), arguments.calls)
    spot = percentiles(spot_check)
    benchlib.print_json(
        {
            "model": description,
            "image_size": list(image_size),
            "channels": channels,
            "calls": arguments.calls,
            "spot_check": spot,
            "predict_arrays_only": percentiles(prediction_only),
            "model_predict_on_batch": percentiles(on_batch),
            "model_predict": percentiles(keras_predict),
            "construction_with_warmup_ms": round(construction.seconds * 1000.0, 1),
            "first_spot_check_ms": round(first_call.seconds * 1000.0, 1),
            "target_p50_ms": 5.0,
            "meets_target": spot["p50_ms"] <= 5.0,
            "cpu_count": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()

"""Trains a small stripes classifier in a fresh process and prints the outcome as one JSON line.

Run by tests/unit/engine/test_multiworker.py: logical CPU devices can only be configured before
TensorFlow initialises, so each device count needs its own process.

Usage:
    python -m tests.unit.engine.distributed_worker --devices 2 --strategy mirrored --loop fit
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

SIZE = 16
CLASS_NAMES = ["horizontal", "vertical"]
# An odd count leaves a partial last batch, which the replicas must split unevenly.
TRAINING_COUNT = 203


def stripes(count: int, seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Noisy uint8 images of horizontal (class 0) or vertical (class 1) stripes."""
    generator = np.random.default_rng(seed)
    labels = (np.arange(count) % 2).astype(np.int32)
    pattern = (np.arange(size) // 2 % 2) * 160.0
    images = np.empty((count, size, size, 1), dtype=np.uint8)
    for index, label in enumerate(labels):
        grid = np.tile(pattern[:, None], (1, size)) if label == 0 else np.tile(pattern, (size, 1))
        noisy = grid + generator.normal(40, 30, (size, size))
        images[index, :, :, 0] = np.clip(noisy, 0, 255).astype(np.uint8)
    return images, labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=1, help="Logical CPU devices to create.")
    parser.add_argument("--strategy", choices=["auto", "mirrored"], default="auto")
    parser.add_argument("--loop", choices=["fit", "custom"], default="fit")
    arguments = parser.parse_args(argv)

    import tensorflow as tf

    if arguments.devices > 1:
        processor = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            processor, [tf.config.LogicalDeviceConfiguration()] * arguments.devices
        )
    import keras

    from core.engine.distribution import make_strategy
    from core.engine.image_pipeline import make_training_datasets
    from core.engine.image_training import ImageTrainingConfig, fit_image_classifier
    from core.engine.multiworker import fit_multiworker
    from core.inference.classifier import ImagePredictor

    config = ImageTrainingConfig(
        model="seed_cnn",
        epochs=3,
        batch_size=8,
        image_size=(SIZE, SIZE),
        schedule="constant",
        # The fit path must cope with several batches per execution on several replicas.
        steps_per_execution=4,
        strategy=arguments.strategy,
    ).validate()
    strategy = make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    images, labels = stripes(TRAINING_COUNT, seed=1)
    validation = stripes(64, seed=2)
    test_images, test_labels = stripes(100, seed=3)
    train_dataset, validation_dataset = make_training_datasets(
        images,
        labels,
        validation,
        len(CLASS_NAMES),
        config.batch_size,
        seed=0,
        class_weighting=True,
    )
    if arguments.loop == "fit":
        result = fit_image_classifier(
            train_dataset,
            validation_dataset,
            class_names=CLASS_NAMES,
            training_count=TRAINING_COUNT,
            config=config,
            strategy=strategy,
        )
    else:
        result = fit_multiworker(
            train_dataset,
            validation_dataset,
            class_names=CLASS_NAMES,
            steps_per_epoch=math.ceil(TRAINING_COUNT / config.batch_size),
            config=config,
            strategy=strategy,
        )
    predictor = ImagePredictor(result.model, CLASS_NAMES, image_size=(SIZE, SIZE), channels=1)
    predicted = predictor.predict_arrays(test_images).argmax(axis=1)
    payload = {
        "replicas": strategy.num_replicas_in_sync,
        "test_accuracy": float(np.mean(predicted == test_labels)),
        "history": result.history,
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 2),
    }
    print(json.dumps(payload), flush=True)


if __name__ == "__main__":
    main()

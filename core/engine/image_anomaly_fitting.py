"""Fitting the two image anomaly methods on good images (run by `core.workflows.image_anomaly`).

Each returns `(model, fit)`: the anomaly map model and a `core.engine.fit_results.FitResult`
(`seconds`: the whole fitting, the model's wrapping included). Networks:
`core.models.image_anomaly`.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from core.engine.fit_results import FitResult, fit_keeping_best
from core.engine.keras_progress import make_progress_callback
from core.engine.progress import ProgressBroadcaster
from core.models.image_anomaly_autoencoder import (
    build_convolutional_autoencoder,
    build_reconstruction_map_model,
)
from core.models.image_anomaly_gaussian import (
    build_feature_extractor,
    build_feature_gaussian_model,
    fit_position_gaussians,
)

# Images per feature-extraction call (the feature-gaussian "steps") and per validation batch.
FEATURE_BATCH_SIZE = 64


def reconstruction_errors(autoencoder, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Channel-mean squared reconstruction errors `(N, H, W, 1)` of raw images, float32."""
    images = np.asarray(images, dtype=np.float32)
    reconstructions = autoencoder.predict(images, batch_size=batch_size, verbose=0)
    squared = (images / 255.0 - reconstructions) ** 2
    return squared.mean(axis=-1, keepdims=True).astype(np.float32)


# Each good image is seen as is and flipped left-right, up-down and both (surfaces have no up).
FLIPS = ((False, False), (False, True), (True, False), (True, True))


def fit_feature_gaussian(good_images, config, listeners, cancellation) -> tuple:
    """Extracts features of the good training images batch by batch and fits the Gaussians."""
    started = time.perf_counter()
    broadcaster = ProgressBroadcaster(listeners)
    extractor = build_feature_extractor(good_images.shape[1:], seed=config.seed)
    flips = FLIPS if config.flips else FLIPS[:1]
    starts = range(0, len(good_images), FEATURE_BATCH_SIZE)
    steps = len(starts) * len(flips)
    state = {"cancelled": False, "images": 0}

    def feature_batches():
        step = 0
        for start in starts:
            batch = good_images[start : start + FEATURE_BATCH_SIZE].astype(np.float32)
            for vertical, horizontal in flips:
                if step and cancellation is not None and cancellation.cancelled:
                    state["cancelled"] = True
                    return
                flipped = batch[:, ::-1] if vertical else batch
                flipped = flipped[:, :, ::-1] if horizontal else flipped
                yield np.asarray(extractor(np.ascontiguousarray(flipped), training=False))
                step += 1
                state["images"] += len(batch)
                broadcaster.emit("on_batch_end", 1, step, {"images": float(state["images"])})

    broadcaster.emit("on_train_begin", 1, steps)
    mean, factors = fit_position_gaussians(feature_batches())
    broadcaster.emit("on_epoch_end", 1, {"images": float(state["images"])})
    model = build_feature_gaussian_model(extractor, mean, factors)
    seconds = time.perf_counter() - started
    return model, FitResult({}, 1, 1, state["cancelled"], seconds)


def fit_autoencoder(good_images, validation_images, config, listeners, cancellation) -> tuple:
    """Trains the autoencoder on the good training images (random flips) and wraps it."""
    import keras  # Lazy: loads TensorFlow.
    import tensorflow as tf  # Lazy: loads TensorFlow.

    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)

    def with_target(batch):
        batch = tf.cast(batch, tf.float32)
        if config.flips:
            batch = tf.image.random_flip_left_right(batch, seed=config.seed)
            batch = tf.image.random_flip_up_down(batch, seed=config.seed + 1)
        return batch, batch / 255.0

    train = (
        tf.data.Dataset.from_tensor_slices(good_images)
        .shuffle(len(good_images), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(with_target)
        .prefetch(tf.data.AUTOTUNE)
    )
    validation_data = (
        tf.data.Dataset.from_tensor_slices(validation_images)
        .batch(FEATURE_BATCH_SIZE)
        .map(lambda batch: (tf.cast(batch, tf.float32), tf.cast(batch, tf.float32) / 255.0))
    )
    autoencoder = build_convolutional_autoencoder(good_images.shape[1:])
    autoencoder.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
    steps_per_epoch = math.ceil(len(good_images) / config.batch_size)
    progress = make_progress_callback(listeners, cancellation, config.epochs, steps_per_epoch)
    fit = fit_keeping_best(autoencoder, train, validation_data, config, progress)
    model = build_reconstruction_map_model(
        autoencoder, reconstruction_errors(autoencoder, good_images)
    )
    return model, dataclasses.replace(fit, seconds=time.perf_counter() - started)

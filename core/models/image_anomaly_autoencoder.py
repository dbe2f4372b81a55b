"""The "autoencoder" image anomaly method: pure builders of its Functional models.

A convolutional autoencoder, trained on good images only, rebuilds the image through a small
bottleneck; it learns good surface, not defects. Its anomaly map is the per-pixel squared error
(channel mean), z-scored per pixel with the errors of the good training images (borders and
grain rebuild worse everywhere; unscaled, they would set the score of good parts). What both
methods share: `core.models.image_anomaly`.

Example:
    >>> autoencoder = build_convolutional_autoencoder((64, 64, 1))
    >>> # ... trained against good_images / 255, then:
    >>> build_reconstruction_map_model(autoencoder, error_maps).output_shape
    (None, 64, 64, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.models import image_anomaly

AUTOENCODER_FILTERS = (32, 64, 64)
# 8 channels at 1/8 of the side: 512 numbers for a 64x64 image (4096 pixels). 16 channels
# measured the same on the sample; a wider code rebuilds more of a defect.
AUTOENCODER_LATENT_CHANNELS = 8
# Thin defects (cracks, scratches) are 1-2 pixels wide at 64 px: smoothing the error map averages
# them away (sample image AUROC 0.95 without, 0.92 with a 3x3 box applied twice).
AUTOENCODER_SMOOTHING = 1
# Smallest per-pixel error variance, relative to the median over the pixels (a 0.1x std floor).
ERROR_VARIANCE_FLOOR = 0.01


def build_convolutional_autoencoder(
    input_shape: Sequence[int],
    *,
    filters: Sequence[int] = AUTOENCODER_FILTERS,
    latent_channels: int = AUTOENCODER_LATENT_CHANNELS,
):
    """Three strided convolutions down, a 1x1 bottleneck, three transposed convolutions up.

    Args:
        input_shape: (height, width, channels) of the raw 0-255 images.
        filters: Filters of the three encoder blocks (the decoder mirrors them).
            Defaults to (32, 64, 64).
        latent_channels: Channels of the code at 1/8 of the image side. Defaults to 8.

    Returns:
        An uncompiled Functional `keras.Model` named "conv_autoencoder": raw pixels in, the
        reconstruction in [0, 1] (sigmoid, float32) out, shape `input_shape`. Train it against
        `images / 255`.

    Raises:
        ValueError: Bad input shape, filters or latent channels.
    """
    import keras  # Lazy: loads TensorFlow.
    from keras import layers  # Lazy: loads TensorFlow.

    height, width, channels = image_anomaly.check_anomaly_input_shape(input_shape)
    filters = image_anomaly.check_filters(filters, 3)
    image_anomaly.check_positive_integer("latent_channels", latent_channels)
    inputs = keras.Input(shape=(height, width, channels), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    # No batch normalisation: with it, the validation error of the ~100 good sample images stayed
    # 3-15x the training error and the image AUROC fell from 0.95 to 0.90.
    for index, width_filters in enumerate(filters, start=1):
        x = layers.Conv2D(
            width_filters, 3, strides=2, padding="same", activation="relu", name=f"down{index}"
        )(x)
    x = layers.Conv2D(latent_channels, 1, name="code")(x)
    for index, width_filters in enumerate(reversed(filters), start=1):
        x = layers.Conv2DTranspose(
            width_filters, 3, strides=2, padding="same", activation="relu", name=f"up{index}"
        )(x)
    outputs = layers.Conv2D(
        channels, 3, padding="same", activation="sigmoid", dtype="float32", name="reconstruction"
    )(x)
    return keras.Model(inputs, outputs, name="conv_autoencoder")


def build_reconstruction_map_model(
    autoencoder,
    error_maps: np.ndarray,
    *,
    smoothing: int = AUTOENCODER_SMOOTHING,
):
    """Wraps a trained autoencoder into a model returning its per-pixel anomaly map.

    Args:
        autoencoder: A model from `build_convolutional_autoencoder` (trained).
        error_maps: float `(N, H, W, 1)` channel-mean squared errors of good training images
            (`core.engine.image_anomaly_fitting.reconstruction_errors`): their per-pixel mean and
            variance z-score the map.
        smoothing: Box-filter size applied twice to the map; 1 (the default) disables it.

    Returns:
        A Functional `keras.Model` named "autoencoder_anomaly_map": raw pixels in, the z-scored
        squared reconstruction error `(H, W, 1)` out.

    Raises:
        ValueError: If `error_maps` does not match the autoencoder's image size.
    """
    import keras  # Lazy: loads TensorFlow.
    from keras import layers  # Lazy: loads TensorFlow.

    height, width, channels = tuple(autoencoder.inputs[0].shape[1:])
    error_maps = np.asarray(error_maps, dtype=np.float32)
    if error_maps.ndim != 4 or error_maps.shape[1:] != (height, width, 1) or len(error_maps) < 1:
        raise ValueError(
            f"Expected `error_maps` of shape (N >= 1, {height}, {width}, 1). "
            f"Received: error_maps.shape={error_maps.shape}"
        )
    inputs = keras.Input(shape=(height, width, channels), name="image")
    scaled = layers.Rescaling(1.0 / 255, name="scaled_image")(inputs)
    reconstruction = autoencoder(inputs)
    difference = layers.Subtract(name="difference")([scaled, reconstruction])
    squared = layers.Multiply(name="squared_error")([difference, difference])
    error = image_anomaly.channel_sum_layer(1.0 / channels, "channel_mean")(squared)
    normalization = layers.Normalization(axis=(1, 2), name="error_zscore")
    normalization.build((None, height, width, 1))
    variance = error_maps.var(axis=0)
    # A pixel the good images always rebuild exactly would turn any error into a huge z-score.
    variance = np.maximum(variance, ERROR_VARIANCE_FLOOR * float(np.median(variance)))
    normalization.adapt_mean.assign(error_maps.mean(axis=0).reshape(normalization.adapt_mean.shape))
    normalization.adapt_variance.assign(variance.reshape(normalization.adapt_variance.shape))
    normalization.finalize_state()
    anomaly_map = normalization(error)
    for layer in image_anomaly.smoothing_layers(smoothing, "map"):
        anomaly_map = layer(anomaly_map)
    return keras.Model(inputs, anomaly_map, name="autoencoder_anomaly_map")

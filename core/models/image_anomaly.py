"""Image anomaly networks, trained on defect-free images only: pure builders of Functional models.

Two methods, both from scratch (no pretrained weights):

- "autoencoder": a convolutional autoencoder rebuilds the image through a small bottleneck; it
  learns good surface, not defects. Anomaly map: the per-pixel squared error (channel mean),
  z-scored per pixel with the errors of the good training images (borders and grain rebuild
  worse everywhere; unscaled, they would set the score of good parts).
- "feature-gaussian" (PaDiM-style): random convolutions give a feature vector every 4 pixels; a
  Gaussian per position is fitted to the good training images (`fit_position_gaussians`).
  Anomaly map: the squared Mahalanobis distance, upsampled bilinearly and smoothed.

Every saved model takes raw 0-255 pixels `(batch, H, W, C)` and returns the anomaly map
`(batch, H, W, 1)` (float32, higher = more anomalous); the image score is its maximum
(`core.inference.image_anomaly`). Only standard Keras layers (no `Lambda`, no custom layer):
the fitted statistics are weights of `EinsumDense` and `Normalization` layers, so the `.keras`
file alone reproduces the maps and loads with `keras.saving.load_model(..., safe_mode=True)`.

Example:
    >>> extractor = build_feature_extractor((64, 64, 1), seed=0)
    >>> mean, factors = fit_position_gaussians(extractor.predict(good_images))
    >>> build_feature_gaussian_model(extractor, mean, factors).output_shape
    (None, 64, 64, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from core.data.config_checks import is_integer
from core.data.validation import describe_value

ANOMALY_METHODS = ("autoencoder", "feature-gaussian")
DEFAULT_ANOMALY_METHOD = "feature-gaussian"
# Sides must halve cleanly three times (the autoencoder's bottleneck is 1/8 of the image).
SIDE_MULTIPLE = 8
MINIMUM_SIDE = 16
MAXIMUM_SIDE = 256

AUTOENCODER_FILTERS = (32, 64, 64)
# 8 channels at 1/8 of the side: 512 numbers for a 64x64 image (4096 pixels). 16 channels
# measured the same on the sample; a wider code rebuilds more of a defect.
AUTOENCODER_LATENT_CHANNELS = 8
# Thin defects (cracks, scratches) are 1-2 pixels wide at 64 px: smoothing the error map averages
# them away (sample image AUROC 0.95 without, 0.92 with a 3x3 box applied twice).
AUTOENCODER_SMOOTHING = 1
# Smallest per-pixel error variance, relative to the median over the pixels (a 0.1x std floor).
ERROR_VARIANCE_FLOOR = 0.01

# Random (seeded, untrained) convolutions, 16 then 32 filters, each followed by 2x2 max pooling,
# both blocks' outputs concatenated (48 features): on the sample data (64 px, split seed 0) they
# beat the encoder of the autoencoder trained on the good images (image AUROC 0.97-0.99 over six
# weight seeds against 0.94), as random features often do for texture statistics; the second
# block alone gave 0.96-0.98, a third block 0.95-0.98. 48 features keep the whitening small.
FEATURE_FILTERS = (16, 32)
# Covariance shrinkage, relative to the mean feature variance at each position: keeps the
# covariance invertible with fewer good images than features, and damps rare directions.
GAUSSIAN_SHRINKAGE = 0.01
FEATURE_SMOOTHING = 3


def check_anomaly_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """Returns `input_shape` as (height, width, channels) when a model can take it.

    Raises:
        ValueError: Unless the sides are multiples of 8 between 16 and 256 and there are 1 or 3
            channels.
    """
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(is_integer(side) for side in shape)
        or shape[2] not in (1, 3)
        or any(
            side % SIDE_MULTIPLE or not MINIMUM_SIDE <= side <= MAXIMUM_SIDE for side in shape[:2]
        )
    ):
        raise ValueError(
            f"Expected `input_shape` to be (height, width, channels) with sides that are "
            f"multiples of {SIDE_MULTIPLE} from {MINIMUM_SIDE} to {MAXIMUM_SIDE} and 1 or 3 "
            f"channels. Received: input_shape={describe_value(input_shape)}"
        )
    return shape


def _check_positive_integer(name: str, value: object) -> int:
    if not is_integer(value) or value < 1:
        raise ValueError(f"Expected `{name}` to be an integer >= 1. Received: {name}={value!r}")
    return value


def _check_filters(filters: Sequence[int], count: int) -> tuple[int, ...]:
    filters = tuple(filters)
    if len(filters) != count:
        raise ValueError(
            f"Expected `filters` to hold {count} integers. "
            f"Received: filters={describe_value(filters)}"
        )
    for value in filters:
        _check_positive_integer("filters", value)
    return filters


def smoothing_layers(kernel: int, prefix: str) -> list:
    """Two box filters of `kernel` pixels (about a Gaussian), or none for kernel 1.

    Average pooling with "same" padding averages only the pixels inside the image, so the
    borders are not darkened the way a zero-padded convolution would darken them.
    """
    from keras import layers  # Lazy: loads TensorFlow.

    _check_positive_integer("smoothing", kernel)
    if kernel == 1:
        return []
    return [
        layers.AveragePooling2D(kernel, strides=1, padding="same", name=f"{prefix}_smooth{index}")
        for index in (1, 2)
    ]


def _channel_sum(weight: float, name: str):
    """A frozen Dense layer summing the last axis times `weight` (a mean or a plain sum)."""
    import keras  # Lazy: loads TensorFlow.
    from keras import layers  # Lazy: loads TensorFlow.

    return layers.Dense(
        1,
        use_bias=False,
        kernel_initializer=keras.initializers.Constant(weight),
        trainable=False,
        name=name,
    )


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

    height, width, channels = check_anomaly_input_shape(input_shape)
    filters = _check_filters(filters, 3)
    _check_positive_integer("latent_channels", latent_channels)
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
    error = _channel_sum(1.0 / channels, "channel_mean")(squared)
    normalization = layers.Normalization(axis=(1, 2), name="error_zscore")
    normalization.build((None, height, width, 1))
    variance = error_maps.var(axis=0)
    # A pixel the good images always rebuild exactly would turn any error into a huge z-score.
    variance = np.maximum(variance, ERROR_VARIANCE_FLOOR * float(np.median(variance)))
    normalization.adapt_mean.assign(error_maps.mean(axis=0).reshape(normalization.adapt_mean.shape))
    normalization.adapt_variance.assign(variance.reshape(normalization.adapt_variance.shape))
    normalization.finalize_state()
    anomaly_map = normalization(error)
    for layer in smoothing_layers(smoothing, "map"):
        anomaly_map = layer(anomaly_map)
    return keras.Model(inputs, anomaly_map, name="autoencoder_anomaly_map")


def build_feature_extractor(
    input_shape: Sequence[int], *, filters: Sequence[int] = FEATURE_FILTERS, seed: int | None = 0
):
    """Seeded random convolutions giving one feature vector per 4x4 pixel block, at two scales.

    Rescaling, then two blocks of a 3x3 convolution (ReLU) and 2x2 max pooling; the first
    block's output, pooled once more to the same grid, is concatenated with the second's (as
    PaDiM concatenates layers). The weights stay as initialised (Glorot uniform from `seed`):
    see `FEATURE_FILTERS` for why.

    Args:
        input_shape: (height, width, channels) of the raw 0-255 images.
        filters: Filters of the two blocks. Defaults to (16, 32).
        seed: Seed of the initial weights; None draws fresh ones. Defaults to 0.

    Returns:
        A Functional `keras.Model` named "feature_extractor", output
        `(H/4, W/4, filters[0] + filters[1])`, all layers frozen.

    Raises:
        ValueError: Bad input shape or filters.
    """
    import keras  # Lazy: loads TensorFlow.
    from keras import layers  # Lazy: loads TensorFlow.

    height, width, channels = check_anomaly_input_shape(input_shape)
    filters = _check_filters(filters, 2)
    inputs = keras.Input(shape=(height, width, channels), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    blocks = []
    for index, block_filters in enumerate(filters, start=1):
        x = layers.Conv2D(
            block_filters,
            3,
            padding="same",
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(
                seed=None if seed is None else seed * 10 + index
            ),
            name=f"features{index}",
        )(x)
        x = layers.MaxPooling2D(2, name=f"features{index}_pool")(x)
        blocks.append(x)
    fine = layers.MaxPooling2D(2, name="features1_grid")(blocks[0])
    features = layers.Concatenate(name="features")([fine, blocks[1]])
    model = keras.Model(inputs, features, name="feature_extractor")
    model.trainable = False
    return model


def fit_position_gaussians(
    features: np.ndarray | Iterable[np.ndarray], *, shrinkage: float = GAUSSIAN_SHRINKAGE
) -> tuple[np.ndarray, np.ndarray]:
    """Fits a Gaussian to the feature vectors at each position of the good training images.

    The covariance at each position is `S + shrinkage * mean(diag(S)) * I` (S the sample
    covariance). Its inverse is returned factored, `inverse = F F^T`, so that the squared
    Mahalanobis distance is `|(x - mean) F|^2`: one `EinsumDense` layer computes it.

    Args:
        features: float `(N, h, w, F)` feature maps of good images, or an iterable of such
            batches (sums are accumulated batch by batch, so large sets need not fit in
            memory); N >= 2 in all.
        shrinkage: Relative ridge added to each covariance, > 0. Defaults to 0.01.

    Returns:
        `(mean, factors)`: float32 `(h * w, F)` and `(h * w, F, F)`, positions in row-major
        order.

    Raises:
        ValueError: Fewer than 2 images, a wrong or changing shape, non-finite features or a
            bad shrinkage.
    """
    if isinstance(shrinkage, bool) or not isinstance(shrinkage, int | float) or shrinkage <= 0:
        raise ValueError(
            f"Expected `shrinkage` to be a number > 0. Received: shrinkage={shrinkage!r}"
        )
    batches = [features] if isinstance(features, np.ndarray) else features
    count, shape, reference, total, products = 0, None, None, None, None
    for batch in batches:
        array = np.asarray(batch, dtype=np.float64)
        if (
            array.ndim != 4
            or (shape is not None and array.shape[1:] != shape)
            or not np.all(np.isfinite(array))
        ):
            raise ValueError(
                "Expected finite feature maps of shape (N >= 2, height, width, features), the "
                f"same for every batch. Received: features.shape={array.shape}"
            )
        vectors = array.reshape(len(array), -1, array.shape[-1])
        if reference is None:
            shape = array.shape[1:]
            # Sums of values shifted by a first estimate of the mean stay accurate in float64.
            reference = vectors.mean(axis=0)
            total = np.zeros_like(reference)
            products = np.zeros((*reference.shape, reference.shape[-1]))
        shifted = vectors - reference
        total += shifted.sum(axis=0)
        products += np.einsum("npc,npd->pcd", shifted, shifted)
        count += len(array)
    if count < 2:
        raise ValueError(
            "Expected finite feature maps of shape (N >= 2, height, width, features). "
            f"Received: {count} feature map(s)"
        )
    size = shape[-1]
    offset = total / count
    covariance = (products - count * np.einsum("pc,pd->pcd", offset, offset)) / (count - 1)
    scale = np.trace(covariance, axis1=1, axis2=2) / size
    # A position whose features never vary (e.g. all zero after ReLU) still gets a usable ridge.
    scale = np.where(scale > 0, scale, 1.0)
    covariance += shrinkage * scale[:, None, None] * np.eye(size)
    # eigh is exact for symmetric matrices: inverse = V diag(1/lambda) V^T = F F^T.
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    factors = eigenvectors / np.sqrt(eigenvalues)[:, None, :]
    return (reference + offset).astype(np.float32), factors.astype(np.float32)


def build_feature_gaussian_model(
    feature_extractor,
    mean: np.ndarray,
    factors: np.ndarray,
    *,
    smoothing: int = FEATURE_SMOOTHING,
):
    """The PaDiM-style anomaly map model: features, per-position Mahalanobis distance, upsampling.

    Args:
        feature_extractor: A model from `build_feature_extractor`.
        mean, factors: From `fit_position_gaussians` on the extractor's features of good images.
        smoothing: Box-filter size applied twice after upsampling; 1 disables it. Defaults to 3.

    Returns:
        A Functional `keras.Model` named "feature_gaussian_anomaly_map": raw pixels in, the
        squared Mahalanobis distance `(H, W, 1)` out. The mean and factors are the weights of
        its "whiten" layer.

    Raises:
        ValueError: If `mean` or `factors` do not match the extractor's output.
    """
    import keras  # Lazy: loads TensorFlow.
    from keras import layers  # Lazy: loads TensorFlow.

    height, width, channels = tuple(feature_extractor.inputs[0].shape[1:])
    rows, columns, size = tuple(feature_extractor.outputs[0].shape[1:])
    positions = rows * columns
    mean = np.asarray(mean, dtype=np.float32)
    factors = np.asarray(factors, dtype=np.float32)
    if mean.shape != (positions, size) or factors.shape != (positions, size, size):
        raise ValueError(
            f"Expected `mean` of shape {(positions, size)} and `factors` of shape "
            f"{(positions, size, size)} for the extractor's {rows}x{columns}x{size} features. "
            f"Received: mean.shape={mean.shape}, factors.shape={factors.shape}"
        )
    inputs = keras.Input(shape=(height, width, channels), name="image")
    features = feature_extractor(inputs)
    vectors = layers.Reshape((positions, size), name="positions")(features)
    # z = (x - mean) F per position: kernel F, bias -mean F.
    whiten = layers.EinsumDense(
        "bpc,pcd->bpd", output_shape=(positions, size), bias_axes="pd", name="whiten"
    )
    whitened = whiten(vectors)
    whiten.set_weights([factors, -np.einsum("pc,pcd->pd", mean, factors)])
    whiten.trainable = False
    squared = layers.Multiply(name="squared")([whitened, whitened])
    distance = _channel_sum(1.0, "mahalanobis")(squared)
    anomaly_map = layers.Reshape((rows, columns, 1), name="distance_grid")(distance)
    anomaly_map = layers.UpSampling2D(
        (height // rows, width // columns), interpolation="bilinear", name="upsample"
    )(anomaly_map)
    for layer in smoothing_layers(smoothing, "map"):
        anomaly_map = layer(anomaly_map)
    return keras.Model(inputs, anomaly_map, name="feature_gaussian_anomaly_map")

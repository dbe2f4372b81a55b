"""The "feature-gaussian" image anomaly method (PaDiM-style): pure builders of its models.

Seeded random convolutions give a feature vector every 4 pixels; a Gaussian per position is
fitted to the features of the good training images (`fit_position_gaussians`). The anomaly map
is the squared Mahalanobis distance, upsampled bilinearly and smoothed; the fitted mean and
inverse covariance factors are the weights of an `EinsumDense` layer. What both methods share:
`core.models.image_anomaly`.

Example:
    >>> extractor = build_feature_extractor((64, 64, 1), seed=0)
    >>> mean, factors = fit_position_gaussians(extractor.predict(good_images))
    >>> build_feature_gaussian_model(extractor, mean, factors).output_shape
    (None, 64, 64, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from core.models import image_anomaly

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

    height, width, channels = image_anomaly.check_anomaly_input_shape(input_shape)
    filters = image_anomaly.check_filters(filters, 2)
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
    distance = image_anomaly.channel_sum_layer(1.0, "mahalanobis")(squared)
    anomaly_map = layers.Reshape((rows, columns, 1), name="distance_grid")(distance)
    anomaly_map = layers.UpSampling2D(
        (height // rows, width // columns), interpolation="bilinear", name="upsample"
    )(anomaly_map)
    for layer in image_anomaly.smoothing_layers(smoothing, "map"):
        anomaly_map = layer(anomaly_map)
    return keras.Model(inputs, anomaly_map, name="feature_gaussian_anomaly_map")

"""Image anomaly methods, trained on defect-free images only: what the builders share.

Two methods, both from scratch (no pretrained weights), each with its module of pure builders
of Functional models:

- "autoencoder" (`core.models.image_anomaly_autoencoder`): a convolutional autoencoder rebuilds
  the image through a small bottleneck; it learns good surface, not defects. Anomaly map: the
  per-pixel squared error (channel mean), z-scored per pixel with the errors of the good
  training images (borders and grain rebuild worse everywhere; unscaled, they would set the
  score of good parts).
- "feature-gaussian" (`core.models.image_anomaly_gaussian`, PaDiM-style): random convolutions
  give a feature vector every 4 pixels; a Gaussian per position is fitted to the good training
  images. Anomaly map: the squared Mahalanobis distance, upsampled bilinearly and smoothed.

Every saved model takes raw 0-255 pixels `(batch, H, W, C)` and returns the anomaly map
`(batch, H, W, 1)` (float32, higher = more anomalous); the image score is its maximum
(`core.inference.image_anomaly`). Only standard Keras layers (no `Lambda`, no custom layer):
the fitted statistics are weights of `EinsumDense` and `Normalization` layers, so the `.keras`
file alone reproduces the maps and loads with `keras.saving.load_model(..., safe_mode=True)`.

This module holds the method names, the input shape check, the argument checks and the map
layers both methods use.

Example:
    >>> check_anomaly_input_shape([64, 64, 1])
    (64, 64, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

from core.data.config_checks import is_integer
from core.data.validation import describe_value

ANOMALY_METHODS = ("autoencoder", "feature-gaussian")
DEFAULT_ANOMALY_METHOD = "feature-gaussian"
# Sides must halve cleanly three times (the autoencoder's bottleneck is 1/8 of the image).
SIDE_MULTIPLE = 8
MINIMUM_SIDE = 16
MAXIMUM_SIDE = 256


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


def check_positive_integer(name: str, value: object) -> int:
    """Returns `value` when it is an integer >= 1.

    Raises:
        ValueError: Otherwise; the message names the argument `name`.
    """
    if not is_integer(value) or value < 1:
        raise ValueError(f"Expected `{name}` to be an integer >= 1. Received: {name}={value!r}")
    return value


def check_filters(filters: Sequence[int], count: int) -> tuple[int, ...]:
    """Returns `filters` as a tuple when it holds `count` integers >= 1.

    Raises:
        ValueError: Otherwise.
    """
    filters = tuple(filters)
    if len(filters) != count:
        raise ValueError(
            f"Expected `filters` to hold {count} integers. "
            f"Received: filters={describe_value(filters)}"
        )
    for value in filters:
        check_positive_integer("filters", value)
    return filters


def smoothing_layers(kernel: int, prefix: str) -> list:
    """Two box filters of `kernel` pixels (about a Gaussian), or none for kernel 1.

    Average pooling with "same" padding averages only the pixels inside the image, so the
    borders are not darkened the way a zero-padded convolution would darken them.
    """
    from keras import layers  # Lazy: loads TensorFlow.

    check_positive_integer("smoothing", kernel)
    if kernel == 1:
        return []
    return [
        layers.AveragePooling2D(kernel, strides=1, padding="same", name=f"{prefix}_smooth{index}")
        for index in (1, 2)
    ]


def channel_sum_layer(weight: float, name: str):
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

"""Sequence autoencoders for sensor windows: pure builders returning Functional `keras.Model`s.

An autoencoder squeezes a window of normalised sensor readings (window, features) through a small
bottleneck and rebuilds it. Trained on healthy data only, it rebuilds healthy behaviour well and
abnormal readings badly: the reconstruction error is the anomaly score
(`core.engine.series_anomaly`). Models hold Keras layers only (no `Lambda`): they reload with
`keras.saving.load_model(..., safe_mode=True)`. Builders return uncompiled models; the optimizer
belongs to training.

Example:
    >>> model = build_sequence_autoencoder(30, 11)
    >>> model.output_shape
    (None, 30, 11)
"""

from __future__ import annotations

from core.data import config_checks

AUTOENCODER_PRESETS = ("lstm", "conv1d")
DEFAULT_AUTOENCODER = "lstm"
MINIMUM_WINDOW = 4
# The bottleneck must be much smaller than a window (window x features numbers), or the network
# learns to copy the noise through and abnormal readings come back as well as normal ones.
DEFAULT_UNITS = 64
DEFAULT_LATENT = 16
CONV1D_FILTERS = (32, 16)
CONV1D_KERNEL = 5


def _check_arguments(window: object, features: object, units: object, latent: object) -> None:
    for name, value, minimum in (
        ("window", window, MINIMUM_WINDOW),
        ("features", features, 1),
        ("units", units, 1),
        ("latent", latent, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"Expected `{name}` to be an integer >= {minimum}. Received: {name}={value!r}"
            )


def build_lstm_autoencoder(
    window: int, features: int, *, units: int = DEFAULT_UNITS, latent: int = DEFAULT_LATENT
):
    """LSTM encoder -> Dense bottleneck -> RepeatVector -> LSTM decoder -> TimeDistributed Dense.

    Args:
        window: Time steps per window, >= 4.
        features: Sensors per time step, >= 1.
        units: Width of the encoder and decoder LSTMs. Defaults to 64.
        latent: Size of the bottleneck code. Defaults to 16.

    Returns:
        An uncompiled Functional `keras.Model` named "lstm_autoencoder", input and output
        (window, features), linear output (the inputs are standardised, so unbounded).
    """
    import keras  # Lazy: loads TensorFlow.
    from keras import layers  # Lazy: loads TensorFlow.

    _check_arguments(window, features, units, latent)
    inputs = keras.Input(shape=(window, features), name="window")
    x = layers.LSTM(units, name="encoder")(inputs)
    code = layers.Dense(latent, activation="tanh", name="code")(x)
    x = layers.RepeatVector(window, name="repeat")(code)
    x = layers.LSTM(units, return_sequences=True, name="decoder")(x)
    # A float32 reconstruction keeps the squared-error anomaly score precise under mixed precision.
    outputs = layers.TimeDistributed(
        layers.Dense(features, dtype="float32"), dtype="float32", name="reconstruction"
    )(x)
    return keras.Model(inputs, outputs, name="lstm_autoencoder")


def build_conv1d_autoencoder(
    window: int, features: int, *, units: int = DEFAULT_UNITS, latent: int = DEFAULT_LATENT
):
    """Two strided Conv1D layers down, a 1x1 bottleneck, two Conv1DTranspose layers up.

    The window is zero-padded at the end to a multiple of 4 (two halvings) and the output cropped
    back, so any window length >= 4 works.

    Args:
        window: Time steps per window, >= 4.
        features: Sensors per time step, >= 1.
        units: Filters of the outer convolutions (the inner ones get half). Defaults to 64.
        latent: Channels of the bottleneck code (at a quarter of the time steps). Defaults to 16.

    Returns:
        An uncompiled Functional `keras.Model` named "conv1d_autoencoder", input and output
        (window, features).
    """
    import keras  # Lazy: loads TensorFlow.
    from keras import layers  # Lazy: loads TensorFlow.

    _check_arguments(window, features, units, latent)
    # The code keeps a quarter of the time steps, so it gets fewer channels than the LSTM code to
    # stay a bottleneck.
    code_channels = max(1, latent // 4)
    padding = -window % 4
    inputs = keras.Input(shape=(window, features), name="window")
    x = layers.ZeroPadding1D((0, padding), name="pad")(inputs) if padding else inputs
    x = layers.Conv1D(
        units, CONV1D_KERNEL, strides=2, padding="same", activation="relu", name="down1"
    )(x)
    x = layers.Conv1D(
        max(1, units // 2),
        CONV1D_KERNEL,
        strides=2,
        padding="same",
        activation="relu",
        name="down2",
    )(x)
    x = layers.Conv1D(code_channels, 1, activation="tanh", name="code")(x)
    x = layers.Conv1DTranspose(
        max(1, units // 2), CONV1D_KERNEL, strides=2, padding="same", activation="relu", name="up1"
    )(x)
    x = layers.Conv1DTranspose(
        units, CONV1D_KERNEL, strides=2, padding="same", activation="relu", name="up2"
    )(x)
    x = layers.Conv1D(
        features, CONV1D_KERNEL, padding="same", dtype="float32", name="reconstruction"
    )(x)
    outputs = layers.Cropping1D((0, padding), dtype="float32", name="crop")(x) if padding else x
    return keras.Model(inputs, outputs, name="conv1d_autoencoder")


def build_sequence_autoencoder(
    window: int,
    features: int,
    preset: str = DEFAULT_AUTOENCODER,
    *,
    units: int = DEFAULT_UNITS,
    latent: int = DEFAULT_LATENT,
):
    """Builds an uncompiled sequence autoencoder from a preset name.

    Args:
        window: Time steps per window, >= 4.
        features: Sensors per time step, >= 1.
        preset: One of `AUTOENCODER_PRESETS`: "lstm" (the default) or "conv1d".
        units: Width of the recurrent or convolution layers. Defaults to 64.
        latent: Size of the bottleneck code. Defaults to 16.

    Returns:
        A Functional `keras.Model` whose input and output are (window, features).

    Raises:
        ValueError: Unknown preset, or a size that is not a large enough integer.
    """
    config_checks.require_choice(preset, AUTOENCODER_PRESETS, "preset")
    builder = build_lstm_autoencoder if preset == "lstm" else build_conv1d_autoencoder
    return builder(window, features, units=units, latent=latent)

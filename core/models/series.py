"""Sensor-series presets: pure builders returning uncompiled Functional `keras.Model`s.

Every model takes scaled windows of shape (window, features) and ends in one unit: a linear
remaining-useful-life estimate (task "rul") or a sigmoid probability of failing within the horizon
(task "failure"). Models hold Keras layers only (no `Lambda`), so they reload with
`keras.saving.load_model(..., safe_mode=True)`. `members > 1` builds that many copies of the
network on the same input and averages their outputs inside the one graph (a seed ensemble that
saves and loads as a single model).

Example:
    >>> model = build_series_model("conv1d", window=30, features=14, task="rul")
    >>> model.output_shape
    (None, 1)
"""

from __future__ import annotations

from collections.abc import Callable

from core.data import config_checks

SERIES_MODEL_PRESETS = ("lstm", "gru", "conv1d", "seed_rnn")
SERIES_TASKS = ("rul", "failure")
# C-MAPSS FD001 with the default training settings (bench/cmapss_fd001.py, 2-core CPU): conv1d
# RMSE 13.9 at the last test cycle (12.6 against the truth capped at 125) in under 2 minutes;
# a 3-member conv1d ensemble was no better (14.1) and took 4x longer.
DEFAULT_SERIES_MODEL = "conv1d"
# Li, Ding & Sun (2018): four temporal convolution layers of 10 filters with kernel 10, then one
# filter of kernel 3, dropout 0.5 and a dense layer of 100 units, all tanh.
CONV1D_FILTERS = 10
CONV1D_KERNEL = 10
CONV1D_LAYERS = 4
DENSE_UNITS = 100


def _conv1d_body(inputs, prefix: str):
    from keras import layers  # Lazy: loads TensorFlow.

    window, features = inputs.shape[1], inputs.shape[2]
    # Li et al. convolve along time only, one sensor at a time with weights shared across
    # sensors: a (1, k) Conv2D over a (sensors, time, 1) image. Mixing all sensors in each filter
    # (a plain Conv1D) overfits the 85 training engines of FD001 (test RMSE ~17 against ~13.5);
    # sensors-first with a (1, k) kernel trains ~2x faster on CPU than time-first with (k, 1).
    hidden = layers.Permute((2, 1), name=f"{prefix}sensors_first")(inputs)
    hidden = layers.Reshape((features, window, 1), name=f"{prefix}as_image")(hidden)
    for index in range(CONV1D_LAYERS):
        hidden = layers.Conv2D(
            CONV1D_FILTERS,
            (1, CONV1D_KERNEL),
            padding="same",
            activation="tanh",
            kernel_initializer="glorot_normal",
            name=f"{prefix}conv_{index + 1}",
        )(hidden)
    hidden = layers.Conv2D(
        1,
        (1, 3),
        padding="same",
        activation="tanh",
        kernel_initializer="glorot_normal",
        name=f"{prefix}conv_out",
    )(hidden)
    hidden = layers.Flatten(name=f"{prefix}flatten")(hidden)
    hidden = layers.Dropout(0.5, name=f"{prefix}dropout")(hidden)
    return layers.Dense(
        DENSE_UNITS, activation="tanh", kernel_initializer="glorot_normal", name=f"{prefix}dense"
    )(hidden)


def _recurrent_body(layer_class_name: str):
    def body(inputs, prefix: str):
        from keras import layers  # Lazy: loads TensorFlow.

        layer_class = getattr(layers, layer_class_name)
        hidden = layer_class(64, return_sequences=True, name=f"{prefix}recurrent_1")(inputs)
        hidden = layers.Dropout(0.2, name=f"{prefix}dropout_1")(hidden)
        hidden = layer_class(32, name=f"{prefix}recurrent_2")(hidden)
        hidden = layers.Dropout(0.2, name=f"{prefix}dropout_2")(hidden)
        return layers.Dense(32, activation="relu", name=f"{prefix}dense")(hidden)

    return body


def _seed_rnn_body(inputs, prefix: str):
    from keras import layers  # Lazy: loads TensorFlow.

    # The reference: one small plain recurrent layer, nothing else.
    return layers.SimpleRNN(32, name=f"{prefix}recurrent")(inputs)


_BODIES: dict[str, Callable] = {
    "lstm": _recurrent_body("LSTM"),
    "gru": _recurrent_body("GRU"),
    "conv1d": _conv1d_body,
    "seed_rnn": _seed_rnn_body,
}


def _check_positive_integer(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected {name} to be an integer >= {minimum}. Received: {name}={value!r}"
        )


def build_series_model(
    preset: str,
    window: int,
    features: int,
    task: str = "rul",
    *,
    members: int = 1,
    output_scale: float = 1.0,
):
    """Builds a sensor-series network.

    Args:
        preset: One of `SERIES_MODEL_PRESETS`.
        window: Time steps per input window, >= 2.
        features: Sensors per time step, >= 1.
        task: "rul" (one linear output) or "failure" (one sigmoid output). Defaults to "rul".
        members: Copies of the network averaged in one graph. Defaults to 1.
        output_scale: Task "rul": the linear output is multiplied by this (e.g. the RUL cap), so
            the network itself works on targets of order 1 and converges in fewer epochs.
            Defaults to 1.0.

    Returns:
        An uncompiled Functional `keras.Model` mapping (batch, window, features) to (batch, 1).

    Raises:
        ValueError: Unknown preset or task, or a size out of range.
    """
    import keras  # Lazy: loads TensorFlow.
    from keras import layers  # Lazy: loads TensorFlow.

    config_checks.require_choice(preset, SERIES_MODEL_PRESETS, "preset")
    config_checks.require_choice(task, SERIES_TASKS, "task")
    _check_positive_integer("window", window, 2)
    _check_positive_integer("features", features, 1)
    _check_positive_integer("members", members, 1)
    if (
        isinstance(output_scale, bool)
        or not isinstance(output_scale, int | float)
        or not output_scale > 0
    ):
        raise ValueError(
            "Expected output_scale to be a positive number. "
            f"Received: output_scale={output_scale!r}"
        )
    inputs = keras.Input(shape=(window, features), name="window")
    activation = "linear" if task == "rul" else "sigmoid"
    outputs = []
    for member in range(members):
        prefix = f"member_{member + 1}_" if members > 1 else ""
        hidden = _BODIES[preset](inputs, prefix)
        # float32 output layers: under mixed precision a float16 RUL (max 65504, 3 digits)
        # or probability near 0/1 would lose what the metrics measure.
        output = layers.Dense(1, activation=activation, dtype="float32", name=f"{prefix}output")(
            hidden
        )
        if task == "rul" and output_scale != 1:
            output = layers.Rescaling(output_scale, dtype="float32", name=f"{prefix}output_scale")(
                output
            )
        outputs.append(output)
    output = (
        outputs[0]
        if members == 1
        else layers.Average(dtype="float32", name="ensemble_mean")(outputs)
    )
    return keras.Model(inputs, output, name=f"{preset}_{task}")

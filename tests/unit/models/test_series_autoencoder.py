"""Tests for core/models/series_autoencoder.py: one contract for both presets, then the errors."""

import numpy as np
import pytest

from core.models.series_autoencoder import (
    AUTOENCODER_PRESETS,
    DEFAULT_AUTOENCODER,
    build_sequence_autoencoder,
)

keras = pytest.importorskip("keras")


@pytest.mark.parametrize("preset", AUTOENCODER_PRESETS)
@pytest.mark.parametrize(("window", "features"), [(4, 1), (7, 3), (30, 11)])
def test_every_preset_maps_a_window_to_its_own_shape(preset, window, features):
    model = build_sequence_autoencoder(window, features, preset)

    assert type(model).__name__ == "Functional"
    assert model.name == f"{preset}_autoencoder"
    assert model.input_shape == (None, window, features)
    assert model.output_shape == (None, window, features)
    layer_types = [type(layer).__name__ for layer in model.layers]
    assert "Lambda" not in layer_types
    batch = np.random.default_rng(0).normal(size=(2, window, features)).astype("float32")
    output = keras.ops.convert_to_numpy(model(batch, training=False))
    assert output.shape == (2, window, features)
    assert np.isfinite(output).all()


def test_lstm_preset_is_encoder_repeat_decoder():
    model = build_sequence_autoencoder(30, 11, "lstm", units=32, latent=8)

    layer_types = [type(layer).__name__ for layer in model.layers]
    assert layer_types == ["InputLayer", "LSTM", "Dense", "RepeatVector", "LSTM", "TimeDistributed"]
    assert model.get_layer("code").units == 8
    assert model.get_layer("encoder").units == 32


def test_conv1d_preset_pads_and_crops_odd_windows():
    layer_types = [
        type(layer).__name__ for layer in build_sequence_autoencoder(30, 5, "conv1d").layers
    ]

    assert layer_types[1] == "ZeroPadding1D"
    assert layer_types[-1] == "Cropping1D"
    assert "Conv1DTranspose" in layer_types


def test_default_preset_is_known():
    assert DEFAULT_AUTOENCODER in AUTOENCODER_PRESETS
    assert build_sequence_autoencoder(8, 2).name == f"{DEFAULT_AUTOENCODER}_autoencoder"


@pytest.mark.parametrize("preset", AUTOENCODER_PRESETS)
def test_saved_model_reloads_in_safe_mode_with_the_same_output(preset, tmp_path):
    model = build_sequence_autoencoder(10, 4, preset)
    path = tmp_path / "autoencoder.keras"
    model.save(path)

    reloaded = keras.saving.load_model(path, safe_mode=True)

    batch = np.random.default_rng(1).normal(size=(3, 10, 4)).astype("float32")
    np.testing.assert_allclose(
        reloaded.predict(batch, verbose=0), model.predict(batch, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        build_sequence_autoencoder(30, 11, "gru")
    assert str(error.value) == (
        "Expected preset to be one of ['lstm', 'conv1d']. Received: preset='gru'"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"window": 3}, "Expected `window` to be an integer >= 4. Received: window=3"),
        ({"window": 30.0}, "Expected `window` to be an integer >= 4. Received: window=30.0"),
        ({"features": 0}, "Expected `features` to be an integer >= 1. Received: features=0"),
        ({"features": True}, "Expected `features` to be an integer >= 1. Received: features=True"),
        ({"latent": 0}, "Expected `latent` to be an integer >= 1. Received: latent=0"),
    ],
)
@pytest.mark.parametrize("preset", AUTOENCODER_PRESETS)
def test_bad_sizes_are_refused(preset, arguments, message):
    values = {"window": 30, "features": 11} | arguments
    latent = values.pop("latent", 16)
    with pytest.raises(ValueError) as error:
        build_sequence_autoencoder(values["window"], values["features"], preset, latent=latent)
    assert str(error.value) == message

"""Tests for core/models/series.py: one contract over every preset and task."""

import keras
import numpy as np
import pytest

from core.models.series import (
    DEFAULT_SERIES_MODEL,
    SERIES_MODEL_PRESETS,
    SERIES_TASKS,
    build_series_model,
)

WINDOW, FEATURES = 12, 5


def all_layers(model):
    return [layer for layer in model._flatten_layers() if layer is not model]


@pytest.mark.parametrize("task", SERIES_TASKS)
@pytest.mark.parametrize("preset", SERIES_MODEL_PRESETS)
def test_every_preset_maps_windows_to_one_output_per_task(preset, task):
    model = build_series_model(preset, WINDOW, FEATURES, task)
    assert isinstance(model, keras.Model) and model.name == f"{preset}_{task}"
    assert model.input_shape == (None, WINDOW, FEATURES)
    assert model.output_shape == (None, 1)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in all_layers(model))
    values = model(np.random.default_rng(0).normal(size=(3, WINDOW, FEATURES)).astype("float32"))
    if task == "failure":
        assert model.get_layer("output").activation is keras.activations.sigmoid
        assert np.all((values.numpy() >= 0) & (values.numpy() <= 1))


@pytest.mark.parametrize("preset", SERIES_MODEL_PRESETS)
def test_every_preset_saves_and_reloads_in_safe_mode(preset, tmp_path):
    model = build_series_model(preset, WINDOW, FEATURES, "rul", members=2, output_scale=125.0)
    inputs = np.random.default_rng(1).normal(size=(4, WINDOW, FEATURES)).astype("float32")
    path = tmp_path / f"{preset}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0)
    )


def test_members_are_averaged_inside_one_model():
    model = build_series_model("seed_rnn", WINDOW, FEATURES, "rul", members=3)
    assert isinstance(model.get_layer("ensemble_mean"), keras.layers.Average)
    assert [layer.name for layer in all_layers(model) if layer.name.endswith("output")] == [
        "member_1_output",
        "member_2_output",
        "member_3_output",
    ]


def test_output_scale_multiplies_the_rul_output_only():
    model = build_series_model("conv1d", WINDOW, FEATURES, "rul", output_scale=125.0)
    assert model.get_layer("output_scale").scale == 125.0
    classifier = build_series_model("conv1d", WINDOW, FEATURES, "failure", output_scale=125.0)
    assert "output_scale" not in [layer.name for layer in all_layers(classifier)]


def test_the_default_preset_is_a_preset():
    assert DEFAULT_SERIES_MODEL in SERIES_MODEL_PRESETS


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("transformer", 30, 14),
            "Expected preset to be one of ['lstm', 'gru', 'conv1d', 'seed_rnn']. "
            "Received: preset='transformer'",
        ),
        (
            ("lstm", 30, 14, "anomaly"),
            "Expected task to be one of ['rul', 'failure']. Received: task='anomaly'",
        ),
        (("lstm", 1, 14), "Expected window to be an integer >= 2. Received: window=1"),
        (("lstm", 30, 0), "Expected features to be an integer >= 1. Received: features=0"),
    ],
)
def test_bad_arguments_are_rejected(arguments, message):
    with pytest.raises(ValueError) as error:
        build_series_model(*arguments)
    assert str(error.value) == message


def test_bad_members_and_output_scale_are_rejected():
    with pytest.raises(ValueError, match=r"Received: members=0"):
        build_series_model("lstm", 30, 14, members=0)
    with pytest.raises(ValueError, match=r"Expected output_scale to be a positive number"):
        build_series_model("lstm", 30, 14, output_scale=-1)

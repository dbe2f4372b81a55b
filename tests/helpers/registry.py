"""Tiny models and metadata shared by the registry and export tests."""

import numpy as np

SAMPLE = np.array([[0.1, -0.2, 0.3, 0.4], [1.0, 2.0, -3.0, 0.5]], dtype="float32")


def make_model(seed: int = 0):
    """Returns a tiny Functional model: Input(4) -> Dense(2)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(2, activation="softmax")(inputs)
    return keras.Model(inputs, outputs)


def make_metadata(**overrides) -> dict:
    metadata = {
        "task": "image_classification",
        "classes": ["good", "scratch"],
        "input_shape": [4],
        "preprocessing": {"rescale": 1 / 255},
        "training_config": {"epochs": 1, "batch_size": 2},
        "metrics": {"accuracy": 0.5},
        "history": {"loss": [0.9, 0.7], "val_loss": [1.0, 0.8]},
        "dataset_fingerprint": "sha256:" + "0" * 64,
    }
    metadata.update(overrides)
    return metadata

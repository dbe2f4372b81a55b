"""Tests for core/engine/image_training.py (with core/engine/image_pipeline.py) on tiny synthetic
images."""

import json

import numpy as np
import pytest

from core.engine.image_pipeline import (
    check_image_arrays,
    compute_class_weights,
    make_image_dataset,
    make_optimizer,
)
from core.engine.image_training import (
    ImageTrainingConfig,
    ImageTrainingResult,
    split_and_train,
    train_image_classifier,
)
from core.engine.progress import CancellationToken
from core.models.image import AugmentationConfig

keras = pytest.importorskip("keras")

SIZE = 16
CLASS_NAMES = ["horizontal", "vertical"]


def stripes(count: int, seed: int = 0, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images of horizontal (class 0) or vertical (class 1) stripes: easily separable."""
    generator = np.random.default_rng(seed)
    labels = (np.arange(count) % 2).astype(np.int32)
    pattern = (np.arange(size) // 2 % 2) * 160.0
    images = np.empty((count, size, size, 1), dtype=np.uint8)
    for index, label in enumerate(labels):
        grid = np.tile(pattern[:, None], (1, size)) if label == 0 else np.tile(pattern, (size, 1))
        noisy = grid + generator.normal(40, 30, (size, size))
        images[index, :, :, 0] = np.clip(noisy, 0, 255).astype(np.uint8)
    return images, labels


def tiny_config(**changes) -> ImageTrainingConfig:
    values = {
        "model": "seed_cnn",
        "epochs": 3,
        "batch_size": 8,
        "image_size": (SIZE, SIZE),
        "schedule": "constant",
    }
    return ImageTrainingConfig(**{**values, **changes})


class RecordingListener:
    def __init__(self):
        self.events = []

    def on_train_begin(self, total_epochs, steps_per_epoch):
        self.events.append(("train_begin", total_epochs, steps_per_epoch))

    def on_batch_end(self, epoch, step, logs):
        self.events.append(("batch", epoch, step, dict(logs)))

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch", epoch, dict(logs)))

    def on_train_end(self, logs):
        self.events.append(("train_end", dict(logs)))

    def of_kind(self, kind):
        return [event for event in self.events if event[0] == kind]


# Configuration.


def test_default_config_is_valid_and_round_trips_through_json():
    config = ImageTrainingConfig(augmentation=AugmentationConfig(flip="vertical")).validate()

    restored = ImageTrainingConfig.from_dict(json.loads(json.dumps(config.to_dict())))

    assert restored == config
    assert restored.image_size == config.image_size
    assert isinstance(restored.augmentation, AugmentationConfig)
    assert config.model == "defect_cnn"
    assert config.class_weighting is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model": "x"},
            "Expected model to be one of ['defect_cnn', 'seed_cnn']. Received: model='x'",
        ),
        ({"epochs": 0}, "Expected `epochs` to be an integer >= 1. Received: epochs=0"),
        (
            {"batch_size": 2.5},
            "Expected `batch_size` to be an integer >= 1. Received: batch_size=2.5",
        ),
        (
            {"learning_rate": 0},
            "Expected `learning_rate` to be a number in (0, 1]. Received: learning_rate=0",
        ),
        (
            {"optimizer": "adagrad"},
            "Expected `optimizer` to be one of ['adam', 'sgd', 'rmsprop']. "
            "Received: optimizer='adagrad'",
        ),
        (
            {"schedule": "step"},
            "Expected `schedule` to be one of ['constant', 'cosine', 'plateau']. "
            "Received: schedule='step'",
        ),
        (
            {"image_size": (4, 64)},
            "Expected `image_size` to be (height, width) with sides >= 8 pixels. "
            "Received: image_size=(4, 64)",
        ),
        ({"channels": 2}, "Expected `channels` to be 1 or 3. Received: channels=2"),
        (
            {"validation_fraction": 0.6, "test_fraction": 0.4},
            "Expected `validation_fraction + test_fraction` below 1 so training data remains. "
            "Received: validation_fraction=0.6, test_fraction=0.4",
        ),
        (
            {"early_stopping_patience": -1},
            "Expected `early_stopping_patience` to be an integer >= 0. "
            "Received: early_stopping_patience=-1",
        ),
        ({"seed": -3}, "Expected `seed` to be an integer >= 0. Received: seed=-3"),
        (
            {"augmentation": AugmentationConfig(translation_factor=2)},
            "Expected `translation_factor` to be a number between 0 and 0.5. "
            "Received: translation_factor=2",
        ),
    ],
)
def test_config_validation_messages(changes, message):
    with pytest.raises(ValueError) as error:
        ImageTrainingConfig(**changes).validate()
    assert str(error.value) == message


def test_config_from_dict_refuses_unknown_keys():
    with pytest.raises(ValueError, match=r"Received unknown keys: \['colour'\]"):
        ImageTrainingConfig.from_dict({"colour": True})


# Pipeline and inputs.


def test_class_weights_are_balanced_for_an_imbalanced_set():
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)

    weights = compute_class_weights(labels, number_of_classes=4)

    assert weights == pytest.approx({0: 10 / 18, 1: 10 / 9, 2: 10 / 3, 3: 1.0})
    # Weighted, every present class contributes the same total to the loss.
    assert weights[0] * 6 == pytest.approx(weights[1] * 3) == pytest.approx(weights[2] * 1)


def test_dataset_yields_float_batches_with_class_weights():
    images, labels = stripes(10)
    weights = compute_class_weights(labels[:7], 2)

    dataset = make_image_dataset(
        images[:7], labels[:7], 4, shuffle=True, seed=0, class_weights=weights
    )
    batches = list(dataset.as_numpy_iterator())

    assert [len(batch[0]) for batch in batches] == [4, 3]
    assert batches[0][0].dtype == np.float32
    assert sorted(np.concatenate([batch[1] for batch in batches]).tolist()) == [0, 0, 0, 0, 1, 1, 1]
    for batch_images, batch_labels, batch_weights in batches:
        assert batch_images.max() > 1  # Raw 0-255 pixels: the model rescales.
        np.testing.assert_allclose(batch_weights, [weights[label] for label in batch_labels])


def test_image_checks_name_the_problem():
    images, labels = stripes(4)
    with pytest.raises(TypeError) as error:
        check_image_arrays(images.astype(np.float32), labels, 2)
    assert str(error.value) == (
        "Expected images as a uint8 numpy array (count, height, width, channels). "
        "Received: dtype=float32"
    )
    with pytest.raises(ValueError) as error:
        check_image_arrays(images, labels[:3], 2)
    assert str(error.value) == (
        "Expected one label per image (4 images). Received: labels with shape (3,)"
    )
    with pytest.raises(ValueError) as error:
        check_image_arrays(images, np.array([0, 1, 2, 0]), 2)
    assert str(error.value) == "Expected labels in the range [0, 1]. Received: labels[2]=2"


def test_training_refuses_images_that_do_not_match_the_config():
    images, labels = stripes(4, size=20)
    with pytest.raises(ValueError) as error:
        train_image_classifier(images, labels, CLASS_NAMES, tiny_config())
    assert str(error.value) == (
        "Expected images of shape (count, 16, 16, 1) matching config.image_size and "
        "config.channels. Received: shape=(4, 20, 20, 1)"
    )
    with pytest.raises(ValueError) as error:
        train_image_classifier(images, labels, ["only"], tiny_config())
    assert str(error.value) == "Expected at least 2 class names. Received: class_names=['only']"


@pytest.mark.parametrize(
    ("optimizer", "schedule", "expected_class", "scheduled"),
    [
        ("adam", "cosine", "Adam", True),
        ("sgd", "constant", "SGD", False),
        ("rmsprop", "plateau", "RMSprop", False),
    ],
)
def test_optimizer_and_schedule_are_built_as_configured(
    optimizer, schedule, expected_class, scheduled
):
    built = make_optimizer(optimizer, 0.01, schedule, total_steps=100)

    assert type(built).__name__ == expected_class
    assert isinstance(built._learning_rate, keras.optimizers.schedules.CosineDecay) is scheduled
    if optimizer == "sgd":
        assert built.nesterov is True


# Training.


def test_training_learns_a_separable_problem_and_reports_progress():
    images, labels = stripes(64)
    validation = stripes(32, seed=1)
    listener = RecordingListener()

    result = train_image_classifier(
        images,
        labels,
        CLASS_NAMES,
        tiny_config(epochs=3),
        validation=validation,
        listeners=[listener],
    )

    assert isinstance(result, ImageTrainingResult)
    assert result.epochs_run == 3 and result.cancelled is False
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.history["val_accuracy"][result.best_epoch - 1] >= 0.9
    assert set(result.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.samples_per_second > 0
    assert listener.events[0] == ("train_begin", 3, 8)
    batches = listener.of_kind("batch")
    assert [(event[1], event[2]) for event in batches] == [
        (epoch, step) for epoch in (1, 2, 3) for step in range(1, 9)
    ]
    assert set(batches[0][3]) >= {"loss", "accuracy"}
    epochs = listener.of_kind("epoch")
    assert [event[1] for event in epochs] == [1, 2, 3]
    assert epochs[-1][2]["val_loss"] == pytest.approx(result.history["val_loss"][-1])
    assert listener.events[-1][0] == "train_end"
    assert listener.events[-1][1]["best_epoch"] == result.best_epoch
    assert listener.events[-1][1]["best_metrics"]["val_loss"] == pytest.approx(
        result.history["val_loss"][result.best_epoch - 1]
    )


def test_cancellation_stops_after_the_current_batch():
    images, labels = stripes(64)
    token = CancellationToken()

    class CancelAtThirdBatch(RecordingListener):
        def on_batch_end(self, epoch, step, logs):
            super().on_batch_end(epoch, step, logs)
            if step == 3:
                token.cancel()

    listener = CancelAtThirdBatch()
    result = train_image_classifier(
        images,
        labels,
        CLASS_NAMES,
        tiny_config(epochs=5),
        validation=stripes(16, seed=1),
        listeners=[listener],
        cancellation=token,
    )

    assert result.cancelled is True
    assert result.epochs_run == 1
    assert len(listener.of_kind("batch")) == 3
    assert result.best_epoch == 1
    assert listener.events[-1][1]["cancelled"] is True


def test_early_stopping_restores_the_best_weights():
    images, labels = stripes(64)
    validation_images, validation_labels = stripes(32, seed=1)
    # Validation labels are swapped: the better the model learns, the worse the validation loss.
    config = tiny_config(epochs=6, early_stopping_patience=1, learning_rate=0.003)

    result = train_image_classifier(
        images, labels, CLASS_NAMES, config, validation=(validation_images, 1 - validation_labels)
    )

    assert result.best_epoch == 1
    assert result.epochs_run == 2
    result.model.compile(loss="sparse_categorical_crossentropy")
    restored_loss = result.model.evaluate(
        validation_images.astype("float32"), 1 - validation_labels, verbose=0, return_dict=True
    )["loss"]
    assert restored_loss == pytest.approx(result.history["val_loss"][0], rel=1e-4)


@pytest.mark.parametrize("preset", ["seed_cnn", pytest.param("defect_cnn", marks=pytest.mark.slow)])
def test_saved_model_reloads_safely_with_identical_predictions(preset, tmp_path):
    images, labels = stripes(16)
    result = train_image_classifier(
        images, labels, CLASS_NAMES, tiny_config(model=preset, epochs=1)
    )
    assert result.best_epoch == 1  # Without validation data, the training loss is monitored.
    path = tmp_path / "model.keras"
    result.model.save(path)

    reloaded = keras.saving.load_model(path, safe_mode=True)

    batch = images[:5].astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(reloaded(batch, training=False)),
        keras.ops.convert_to_numpy(result.model(batch, training=False)),
    )


def test_split_and_train_holds_out_a_stratified_test_set():
    images, labels = stripes(40)

    result, (train, validation, test) = split_and_train(
        images, labels, CLASS_NAMES, tiny_config(epochs=1)
    )

    assert result.epochs_run == 1
    assert (len(train), len(validation), len(test)) == (28, 6, 6)
    assert sorted(np.concatenate([train, validation, test]).tolist()) == list(range(40))
    assert np.bincount(labels[test]).tolist() == [3, 3]

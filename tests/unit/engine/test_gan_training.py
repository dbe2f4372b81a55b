"""Tests for core/engine/gan_training.py: settings, the held-out split, a real tiny run, the
registry."""

import dataclasses

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from core.data.images import ImageDataset  # noqa: E402
from core.engine.gan_generation import load_generator, sample_grid  # noqa: E402
from core.engine.gan_training import (  # noqa: E402
    GanTrainingConfig,
    gan_run_metadata,
    run_gan_training,
    save_gan_run,
    select_training_images,
    train_gan,
)
from core.engine.progress import CancellationToken  # noqa: E402
from core.registry.store import ModelRegistry  # noqa: E402

SIZE = 32
CLASSES = ["dark", "light"]


def tiny_dataset(per_class: int = 8) -> ImageDataset:
    generator = np.random.default_rng(0)
    labels = np.repeat(np.arange(2, dtype=np.int32), per_class)
    images = np.empty((len(labels), SIZE, SIZE, 1), np.uint8)
    for index, label in enumerate(labels):
        images[index] = np.clip(generator.normal(60 + 140 * label, 20, (SIZE, SIZE, 1)), 0, 255)
    names = [f"{CLASSES[label]}/{index:03d}.png" for index, label in enumerate(labels)]
    return ImageDataset(
        images, labels, list(CLASSES), names, [(SIZE, SIZE)] * len(labels), [], "tiny"
    )


def tiny_config(**changes) -> GanTrainingConfig:
    return GanTrainingConfig(
        **{"image_size": SIZE, "epochs": 2, "batch_size": 4, "latent_dim": 8, **changes}
    )


class Recorder:
    def __init__(self, cancel_after_batches: int | None = None, token=None):
        self.events = []
        self.cancel_after_batches = cancel_after_batches
        self.token = token

    def on_train_begin(self, total_epochs, steps_per_epoch):
        self.events.append(("begin", total_epochs, steps_per_epoch))

    def on_batch_end(self, epoch, step, logs):
        self.events.append(("batch", epoch, step, sorted(logs)))
        batches = sum(event[0] == "batch" for event in self.events)
        if self.cancel_after_batches and batches >= self.cancel_after_batches:
            self.token.cancel()

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch", epoch))

    def on_images(self, epoch, image):
        self.events.append(("images", epoch, image.shape, image.dtype))

    def on_train_end(self, logs):
        self.events.append(("end", logs["epochs_run"], logs["cancelled"]))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_size": 50}, "`image_size` to be one of [32, 64, 96, 128]"),
        ({"epochs": 0}, "`epochs` to be an integer >= 1"),
        ({"per_class": 0}, "`per_class` to be None or an integer >= 1"),
        ({"holdout_fraction": 1.0}, "`holdout_fraction` to be a number in [0, 1)"),
        ({"learning_rate": "fast"}, "`learning_rate` to be a number in (0, 1]"),
    ],
)
def test_config_names_the_bad_field(changes, message):
    with pytest.raises(ValueError) as error:
        dataclasses.replace(GanTrainingConfig(), **changes).validate()
    assert message in str(error.value)
    field, value = next(iter(changes.items()))
    assert f"Received: {field}={value!r}" in str(error.value)


def test_config_round_trips_through_a_dict():
    config = tiny_config(per_class=5)
    assert GanTrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        GanTrainingConfig.from_dict({"colour": 1})


def test_holdout_is_stratified_disjoint_and_per_class_caps_the_rest():
    labels = np.repeat([0, 1, 2], [20, 12, 8])
    train, holdout = select_training_images(labels, GanTrainingConfig(holdout_fraction=0.25))
    assert set(train).isdisjoint(holdout) and len(train) + len(holdout) == 40
    assert np.bincount(labels[holdout]).tolist() == [5, 3, 2]
    capped, same_holdout = select_training_images(
        labels, GanTrainingConfig(holdout_fraction=0.25, per_class=4)
    )
    assert np.array_equal(same_holdout, holdout)  # the cap never moves the test images
    assert np.bincount(labels[capped]).tolist() == [4, 4, 4]
    assert set(capped) <= set(train)
    everything, nothing = select_training_images(labels, GanTrainingConfig(holdout_fraction=0))
    assert len(everything) == 40 and len(nothing) == 0


@pytest.mark.slow
def test_train_gan_reports_batches_epochs_and_a_grid_per_epoch():
    dataset = tiny_dataset()
    recorder = Recorder()
    result = train_gan(dataset.images, dataset.labels, CLASSES, tiny_config(), listeners=[recorder])
    assert result.epochs_run == 2 and not result.cancelled
    assert set(result.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert result.grid.shape == (2 * SIZE, 8 * SIZE)
    assert np.array_equal(result.grid, sample_grid(result.generator, 2))
    kinds = [event[0] for event in recorder.events]
    assert kinds[0] == "begin" and recorder.events[0][1:] == (2, 4)
    assert kinds.count("batch") == 8 and kinds.count("images") == 2
    assert ("images", 2, (2 * SIZE, 8 * SIZE), np.uint8) in recorder.events
    assert recorder.events[1][3] == ["d_fake", "d_loss", "d_real", "g_loss"]
    assert recorder.events[-1] == ("end", 2, False)


@pytest.mark.slow
def test_cancellation_stops_after_the_current_batch():
    dataset = tiny_dataset()
    token = CancellationToken()
    recorder = Recorder(cancel_after_batches=2, token=token)
    result = train_gan(
        dataset.images,
        dataset.labels,
        CLASSES,
        tiny_config(epochs=5),
        listeners=[recorder],
        cancellation=token,
    )
    assert result.cancelled and result.epochs_run == 1
    assert sum(event[0] == "batch" for event in recorder.events) == 2


def test_train_gan_refuses_images_of_another_size():
    dataset = tiny_dataset()
    with pytest.raises(
        ValueError, match=r"shape \(count, 64, 64, 1\).*Received: shape=\(16, 32, 32, 1\)"
    ):
        train_gan(dataset.images, dataset.labels, CLASSES, tiny_config(image_size=64))


def test_run_refuses_a_dataset_at_another_size():
    with pytest.raises(ValueError) as error:
        run_gan_training(tiny_dataset(), tiny_config(image_size=64))
    assert str(error.value) == (
        "Expected grayscale images of 64x64 pixels for this GAN. "
        "Received: images of shape (32, 32, 1)"
    )


@pytest.mark.slow
def test_run_holds_images_out_and_registers_the_generator(tmp_path):
    dataset = tiny_dataset()
    result = run_gan_training(dataset, tiny_config(epochs=1, holdout_fraction=0.25, per_class=5))
    trained = {dataset.filenames[index] for index in result.train_indices}
    held_out = {dataset.filenames[index] for index in result.holdout_indices}
    assert len(trained) == 10 and len(held_out) == 4 and trained.isdisjoint(held_out)

    metadata = gan_run_metadata(result)
    assert metadata["task"] == "gan" and metadata["classes"] == CLASSES
    assert metadata["extra"]["dataset"]["trained_per_class"] == {"dark": 5, "light": 5}
    assert set(metadata["extra"]["training_files"]) == trained
    assert set(metadata["extra"]["holdout_files"]) == held_out
    assert metadata["metrics"]["training_images"] == 10

    registry = ModelRegistry(tmp_path / "registry")
    record = save_gan_run(result, registry, "tiny-gan")
    assert record.reference == "tiny-gan:1" and result.record == record
    generator, loaded_metadata = load_generator(registry, "tiny-gan")
    assert loaded_metadata["name"] == "tiny-gan" and "owner" not in loaded_metadata
    noise = np.zeros((1, 8), "float32")
    expected = result.training.generator([noise, np.array([[1]])], training=False)
    loaded = generator([noise, np.array([[1]])], training=False)
    assert np.allclose(np.asarray(expected), np.asarray(loaded), atol=1e-5)

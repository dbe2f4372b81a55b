"""Tests for core/engine/multiworker.py and the distributed paths of core/engine/image_training.py.

Mirrored replicas over logical CPU devices and a two-process cluster on 127.0.0.1 each need a
fresh TensorFlow, so those tests run in subprocesses (tests/unit/engine/distributed_worker.py and
the CLI); the custom loop itself also runs in this process under the default strategy.
"""

import json
import math
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from core.engine.image_pipeline import make_training_datasets
from core.engine.image_training import ImageTrainingConfig
from core.engine.multiworker import _maybe_lower_learning_rate, _Patience, fit_multiworker
from core.engine.progress import CancellationToken
from tests.conftest import REPOSITORY_ROOT
from tests.unit.engine.distributed_worker import CLASS_NAMES, SIZE, stripes

keras = pytest.importorskip("keras")

CHILD_TIMEOUT_SECONDS = 240


def child_environment(**variables: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    environment.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **variables)
    return environment


class RecordingListener:
    def __init__(self, cancel_at: tuple[int, int] | None = None, token=None):
        self.events = []
        self.cancel_at = cancel_at
        self.token = token

    def on_train_begin(self, total_epochs, steps_per_epoch):
        self.events.append(("train_begin", total_epochs, steps_per_epoch))

    def on_batch_end(self, epoch, step, logs):
        self.events.append(("batch", epoch, step, dict(logs)))
        if (epoch, step) == self.cancel_at:
            self.token.cancel()

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch", epoch, dict(logs)))

    def on_train_end(self, logs):
        self.events.append(("train_end", dict(logs)))

    def of_kind(self, kind):
        return [event for event in self.events if event[0] == kind]


def train_in_process(count=101, validation=True, listeners=(), cancellation=None, **changes):
    """Runs `fit_multiworker` under the default strategy on stripes."""
    import tensorflow as tf

    values = {
        "model": "seed_cnn",
        "epochs": 2,
        "batch_size": 8,
        "image_size": (SIZE, SIZE),
        "schedule": "constant",
        "strategy": "multiworker",
    }
    config = ImageTrainingConfig(**{**values, **changes}).validate()
    keras.utils.set_random_seed(config.seed)
    images, labels = stripes(count, seed=1)
    validation_data = stripes(32, seed=2) if validation else None
    train_dataset, validation_dataset = make_training_datasets(
        images, labels, validation_data, 2, config.batch_size, seed=0, class_weighting=True
    )
    result = fit_multiworker(
        train_dataset,
        validation_dataset,
        class_names=CLASS_NAMES,
        steps_per_epoch=math.ceil(count / config.batch_size),
        config=config,
        listeners=listeners,
        cancellation=cancellation,
        strategy=tf.distribute.get_strategy(),
    )
    return result, validation_data


# The custom loop, in this process.


@pytest.mark.slow
def test_custom_loop_trains_reports_like_fit_and_keeps_the_best_weights():
    listener = RecordingListener()

    result, (validation_images, validation_labels) = train_in_process(listeners=[listener])

    assert list(result.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert result.epochs_run == 2 and not result.cancelled
    assert result.history["val_accuracy"][-1] >= 0.9
    steps = math.ceil(101 / 8)
    assert listener.events[0] == ("train_begin", 2, steps)
    assert [event[1:3] for event in listener.of_kind("batch")] == [
        (epoch, step) for epoch in (1, 2) for step in range(1, steps + 1)
    ]
    assert [event[1] for event in listener.of_kind("epoch")] == [1, 2]
    assert listener.of_kind("epoch")[-1][2]["val_loss"] == result.history["val_loss"][-1]
    assert listener.events[-1][1]["best_epoch"] == result.best_epoch
    # The returned model holds the weights of the best epoch: it reproduces that epoch's loss.
    best = result.best_epoch
    assert best == 1 + int(np.argmin(result.history["val_loss"]))
    probabilities = result.model(validation_images.astype("float32"), training=False)
    loss = keras.losses.sparse_categorical_crossentropy(validation_labels, probabilities)
    assert float(np.mean(loss)) == pytest.approx(result.history["val_loss"][best - 1], rel=1e-4)
    assert result.samples_per_second > 0


@pytest.mark.slow
def test_custom_loop_without_validation_follows_the_training_loss():
    result, _ = train_in_process(validation=False, epochs=1)

    assert list(result.history) == ["loss", "accuracy"]
    assert result.best_epoch == 1


@pytest.mark.slow
def test_custom_loop_stops_early_when_the_loss_stalls():
    # A learning rate far below float32 resolution leaves the weights, and so the loss, fixed.
    result, _ = train_in_process(epochs=6, learning_rate=1e-12, early_stopping_patience=1)

    assert result.epochs_run == 2
    assert result.best_epoch == 1
    assert result.history["val_loss"][0] == result.history["val_loss"][1]


@pytest.mark.slow
def test_cancellation_stops_every_worker_one_step_later():
    token = CancellationToken()
    listener = RecordingListener(cancel_at=(1, 1), token=token)

    result, _ = train_in_process(epochs=3, listeners=[listener], cancellation=token)

    # The stop is agreed through the next step's all-reduce, so one more batch runs; like
    # `model.fit`, the interrupted epoch still validates and enters the history.
    assert result.cancelled
    assert result.epochs_run == 1
    assert [event[1:3] for event in listener.of_kind("batch")] == [(1, 1), (1, 2)]
    assert len(result.history["val_loss"]) == 1
    assert listener.events[-1][1]["cancelled"] is True


@pytest.mark.slow
def test_cancellation_in_the_last_batch_of_an_epoch_stops_at_its_end():
    token = CancellationToken()
    listener = RecordingListener(cancel_at=(1, math.ceil(40 / 8)), token=token)

    result, _ = train_in_process(count=40, epochs=3, listeners=[listener], cancellation=token)

    assert result.cancelled
    assert result.epochs_run == 1
    assert len(listener.of_kind("batch")) == 5


@pytest.mark.slow
def test_custom_loop_trains_in_mixed_precision():
    result, _ = train_in_process(epochs=1, precision="mixed_float16")

    assert math.isfinite(result.history["loss"][0])
    assert result.model.get_layer("classes").dtype_policy.name == "float32"


def test_global_batch_smaller_than_the_replicas_is_refused():
    class FourReplicas:
        num_replicas_in_sync = 4

    config = ImageTrainingConfig(batch_size=2, strategy="multiworker").validate()

    with pytest.raises(ValueError) as caught:
        fit_multiworker(
            None,
            None,
            class_names=CLASS_NAMES,
            steps_per_epoch=1,
            config=config,
            strategy=FourReplicas(),
        )

    assert str(caught.value) == (
        "Expected batch_size >= the 4 replicas of the cluster (it is the global batch, split "
        "across replicas). Received: batch_size=2"
    )


def test_patience_counts_epochs_without_improvement_beyond_min_delta():
    patience = _Patience(2, min_delta=0.1)

    assert [patience.improved(value) for value in (1.0, 0.95, 0.85, 0.9)] == [
        True,
        False,
        True,
        False,
    ]
    assert (patience.best, patience.wait) == (0.85, 1)


def test_plateau_halves_the_learning_rate_down_to_a_floor():
    optimizer = keras.optimizers.Adam(4e-6)
    plateau = _Patience(2)

    plateau.wait = 1
    _maybe_lower_learning_rate(optimizer, plateau)
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(4e-6)
    for expected in (2e-6, 1e-6, 1e-6):
        plateau.wait = 2
        _maybe_lower_learning_rate(optimizer, plateau)
        assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(expected)
        assert plateau.wait == 0


# Mirrored replicas over two logical CPU devices, in fresh processes.


def run_distributed_worker(*arguments: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.unit.engine.distributed_worker", *arguments],
        cwd=REPOSITORY_ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def one_device_run() -> dict:
    return run_distributed_worker("--devices", "1", "--strategy", "auto")


@pytest.mark.slow
@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_mirrored_over_two_logical_devices_matches_one_device(one_device_run, loop):
    mirrored_run = run_distributed_worker(
        "--devices", "2", "--strategy", "mirrored", "--loop", loop
    )

    assert one_device_run["replicas"] == 1
    assert mirrored_run["replicas"] == 2
    assert one_device_run["test_accuracy"] >= 0.9
    assert mirrored_run["test_accuracy"] >= 0.9
    assert abs(mirrored_run["test_accuracy"] - one_device_run["test_accuracy"]) <= 0.1
    assert set(mirrored_run["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}


# A two-worker cluster on 127.0.0.1, through the CLI.


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("127.0.0.1", 0))
        return [each.getsockname()[1] for each in sockets]
    finally:
        for each in sockets:
            each.close()


def write_stripe_images(folder, count: int = 80) -> None:
    from PIL import Image

    images, labels = stripes(count, seed=3, size=32)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        class_folder = folder / CLASS_NAMES[label]
        class_folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[:, :, 0]).save(class_folder / f"{index:03d}.png")


def run_two_workers(data, registry) -> list[subprocess.CompletedProcess]:
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    command = [
        *(sys.executable, "-m", "core", "train", "image", "--data", str(data)),
        *("--strategy", "multiworker", "--epochs", "2", "--image-size", "32"),
        *("--model", "seed_cnn", "--registry", str(registry), "--name", "mw", "--json"),
    ]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                command,
                cwd=REPOSITORY_ROOT,
                env=child_environment(TF_CONFIG=json.dumps(tf_config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    completed = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=CHILD_TIMEOUT_SECONDS)
            completed.append(
                subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
            )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return completed


@pytest.mark.slow
def test_two_worker_cluster_on_loopback_trains_and_registers_one_model(tmp_path):
    from core.registry.store import ModelRegistry

    data = tmp_path / "data"
    write_stripe_images(data)
    registry_directory = tmp_path / "r"
    chief, worker = run_two_workers(data, registry_directory)
    if any("in use" in run.stderr.lower() for run in (chief, worker)):
        chief, worker = run_two_workers(data, registry_directory)  # A port was taken: retry.

    for run in (chief, worker):
        assert run.returncode == 0, run.stderr[-4000:]
    chief_summary = json.loads(chief.stdout.strip().splitlines()[-1])
    worker_summary = json.loads(worker.stdout.strip().splitlines()[-1])
    assert (chief_summary["model"], chief_summary["version"]) == ("mw", 1)
    assert worker_summary == {"model": None, "registered": False, "worker": 1}
    # Both workers trained the same replicated model: their epoch losses agree exactly.
    chief_losses = re.findall(r"done: loss (\S+)", chief.stderr)
    assert len(chief_losses) == 2
    assert re.findall(r"done: loss (\S+)", worker.stderr) == chief_losses

    registry = ModelRegistry(registry_directory)
    assert [record.reference for record in registry.list() if record.name == "mw"] == ["mw:1"]
    # Only the chief opened the shared registry: one copy of each bundled demo model.
    assert all(record.version == 1 for record in registry.list())
    model, metadata = registry.load("mw")
    assert metadata["training_config"]["strategy"] == "multiworker"
    assert model.predict(np.zeros((1, 32, 32, 1), "float32"), verbose=0).shape == (1, 2)

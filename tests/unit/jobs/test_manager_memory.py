"""Tests for core/jobs/manager.py memory: finished jobs drop their work, released results their
heavy part (after saving, or after an idle time), and stay listed."""

import dataclasses
import threading
import time
import tracemalloc
import types
import weakref

import numpy as np
import pytest

from core.data import image_sources
from core.data.images import ImageDataset
from core.engine.gan_training import GanRunResult, GanTrainingConfig, GanTrainingResult
from core.engine.image_config import ImageTrainingResult
from core.engine.image_training import ImageTrainingConfig
from core.jobs import gan as gan_jobs
from core.jobs import image as image_jobs
from core.jobs import image_anomaly as anomaly_jobs
from core.jobs import manager as manager_module
from core.jobs import sensor as sensor_jobs
from core.jobs.job import (
    CANCELLED,
    FAILED,
    RELEASED_IDLE,
    RELEASED_SAVED,
    SUCCEEDED,
    is_released,
)
from core.jobs.manager import JobManager
from core.workflows.image_anomaly import ImageAnomalyConfig, ImageAnomalyRunResult
from core.workflows.image_runs import evaluated_run

ARRAY_BYTES = 20 * 2**20
JOBS = 20
OWNER = "alice"


@dataclasses.dataclass
class BigResult:
    big: np.ndarray
    accuracy: float


def keep_accuracy(result: BigResult) -> dict:
    return {"accuracy": result.accuracy}


def big_work(captured: np.ndarray, accuracy: float):
    """Work capturing a large array (like an upload) and returning another one (like a model)."""

    def work(progress, cancellation):
        progress.on_epoch_end(1, {"loss": float(captured[:8].sum()) + 0.5})
        return BigResult(np.zeros(ARRAY_BYTES, dtype=np.uint8), accuracy)

    return work


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def traced():
    """Traces allocations for the test; yields the traced bytes when it started."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield tracemalloc.get_traced_memory()[0]
    finally:
        if not was_tracing:
            tracemalloc.stop()


@pytest.fixture
def collections(monkeypatch):
    """Counts the manager's full garbage collections instead of running them (they take 0.1 s
    with TensorFlow loaded); the arrays here must be freed without one."""
    calls = []
    monkeypatch.setattr(
        manager_module, "gc", types.SimpleNamespace(collect=lambda: calls.append(1))
    )
    return calls


@pytest.mark.parametrize("release", [RELEASED_SAVED, RELEASED_IDLE])
def test_twenty_large_jobs_stay_bounded_once_their_results_are_released(
    traced, collections, release
):
    manager = JobManager(
        max_running=1, max_queued=1, result_idle_seconds=0.1 if release == RELEASED_IDLE else None
    )
    captured_arrays, result_arrays = [], []
    for index in range(JOBS):
        captured = np.zeros(ARRAY_BYTES, dtype=np.uint8)
        captured_arrays.append(weakref.ref(captured))
        job = manager.submit(
            OWNER, "train", big_work(captured, index / JOBS), lightweight=keep_accuracy
        )
        del captured
        assert manager.wait(OWNER, job.job_id, timeout=30).state == SUCCEEDED
        result_arrays.append(weakref.ref(job.result.big))
        if release == RELEASED_SAVED:
            manager.release_result(OWNER, job.job_id)  # As a page does once it saved the result.
        else:
            time.sleep(0.11)  # Unread for longer than the idle time: the next call releases it.
    jobs = manager.jobs_for(OWNER)  # Sweeps the last idle result.
    current, peak = tracemalloc.get_traced_memory()

    assert not [ref for ref in captured_arrays + result_arrays if ref() is not None]
    # One job's upload and result at a time at most, not twenty of each.
    assert peak - traced < 3 * ARRAY_BYTES, f"peak {(peak - traced) / 2**20:.1f} MiB"
    assert current - traced < ARRAY_BYTES / 4, f"current {(current - traced) / 2**20:.1f} MiB"
    assert len(jobs) == JOBS
    assert all(job.state == SUCCEEDED and job.release_reason == release for job in jobs)
    assert sorted(job.result["accuracy"] for job in jobs) == [index / JOBS for index in range(JOBS)]
    assert len(collections) == JOBS, "one collection after each release (Keras models are cycles)"


def test_without_release_the_results_are_kept_whole(traced):
    manager = JobManager(result_idle_seconds=None)
    jobs = []
    for index in range(3):
        captured = np.zeros(ARRAY_BYTES, dtype=np.uint8)
        jobs.append(
            manager.submit(OWNER, "train", big_work(captured, index), lightweight=keep_accuracy)
        )
        del captured
        manager.wait(OWNER, jobs[-1].job_id, timeout=30)
    current = tracemalloc.get_traced_memory()[0]
    # The three results are held (what released jobs free), the three uploads are not.
    assert 3 * ARRAY_BYTES <= current - traced < 4 * ARRAY_BYTES
    assert not any(job.result_released for job in jobs)
    assert all(job.result.big.nbytes == ARRAY_BYTES for job in jobs)


def blocking_work(release: threading.Event):
    def work(progress, cancellation):
        while not release.wait(0.01):
            if cancellation.cancelled:
                return None
        return "done"

    return work


def capturing_work(captured: np.ndarray, outcome: str, go: threading.Event):
    """Work holding `captured` until `go` is set, then ending as `outcome` says."""

    def work(progress, cancellation):
        assert go.wait(10)
        size = captured.nbytes
        if outcome == "fail":
            raise ValueError(f"Expected good data. Received: {size} bytes")
        while outcome == "cancel-running" and not cancellation.cancelled:
            time.sleep(0.01)
        return size

    return work


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        ("succeed", SUCCEEDED),
        ("fail", FAILED),
        ("cancel-running", CANCELLED),
        ("cancel-queued", CANCELLED),
    ],
)
def test_the_work_closure_is_dropped_when_a_job_finishes_even_without_release(outcome, state):
    manager = JobManager(max_running=1, max_queued=1, result_idle_seconds=None)
    release, go = threading.Event(), threading.Event()
    blocker = (
        manager.submit(OWNER, "train", blocking_work(release)) if "queued" in outcome else None
    )
    captured = np.zeros(1024, dtype=np.uint8)
    upload = weakref.ref(captured)
    job = manager.submit(OWNER, "train", capturing_work(captured, outcome, go))
    del captured
    assert upload() is not None, "a queued or running job keeps its work"
    if outcome.startswith("cancel"):
        manager.cancel(OWNER, job.job_id)
    go.set()
    finished = manager.wait(OWNER, job.job_id, timeout=10)
    release.set()
    if blocker is not None:
        manager.wait(OWNER, blocker.job_id, timeout=10)

    assert finished.state == state
    assert finished.work is None and upload() is None
    assert not finished.result_released
    if outcome == "succeed":
        assert finished.result == 1024, "the result is kept until it is released"


def test_a_released_job_still_lists_with_its_state_and_says_its_result_was_released():
    manager = JobManager(result_idle_seconds=None)
    light = manager.submit(
        OWNER, "train", big_work(np.zeros(8, np.uint8), 0.9), lightweight=keep_accuracy
    )
    plain = manager.submit(OWNER, "train", big_work(np.zeros(8, np.uint8), 0.8))
    for job in (light, plain):
        manager.wait(OWNER, job.job_id, timeout=30)
        assert manager.release_result(OWNER, job.job_id) is job

    listed = {job.job_id: job for job in manager.jobs_for(OWNER)}
    assert set(listed) == {light.job_id, plain.job_id}
    for job in listed.values():
        assert (job.state, job.result_released, job.release_reason) == (
            SUCCEEDED,
            True,
            RELEASED_SAVED,
        )
        assert job.progress.snapshot()["epoch_history"] == {"loss": [0.5]}
    assert listed[light.job_id].result == {"accuracy": 0.9}, "the lightweight view stays"
    assert listed[plain.job_id].result is None, "a work without one keeps nothing"
    # Releasing again changes nothing, even with another reason.
    manager.release_result(OWNER, light.job_id, reason=RELEASED_IDLE)
    assert light.release_reason == RELEASED_SAVED and light.result == {"accuracy": 0.9}


def test_release_result_refuses_unfinished_jobs_other_owners_and_unknown_reasons():
    manager = JobManager()
    release = threading.Event()
    job = manager.submit(OWNER, "train", blocking_work(release))
    try:
        with pytest.raises(ValueError, match="Expected a finished job"):
            manager.release_result(OWNER, job.job_id)
        with pytest.raises(KeyError, match="Expected a job of this session"):
            manager.release_result("bob", job.job_id)
        with pytest.raises(ValueError, match="Received: reason='later'"):
            manager.release_result(OWNER, job.job_id, reason="later")
    finally:
        release.set()
        manager.wait(OWNER, job.job_id, timeout=10)
    assert job.result == "done" and not job.result_released


def test_a_result_read_within_the_idle_time_is_kept():
    clock = FakeClock()
    manager = JobManager(result_idle_seconds=60, clock=clock)
    job = manager.submit(
        OWNER, "train", big_work(np.zeros(8, np.uint8), 0.7), lightweight=keep_accuracy
    )
    manager.wait(OWNER, job.job_id, timeout=30)
    for _ in range(5):
        clock.advance(50)
        manager.jobs_for(OWNER)  # Listing sweeps, but is not a read.
        assert not job.result_released
        assert job.result.big.nbytes == ARRAY_BYTES  # The page reads it: the idle time restarts.

    clock.advance(59)
    manager.get(OWNER, job.job_id)
    assert not job.result_released
    clock.advance(1)
    assert manager.jobs_for(OWNER) == [job]
    assert (job.release_reason, job.result) == (RELEASED_IDLE, {"accuracy": 0.7})


@pytest.mark.parametrize("seconds", [0, -1, "60", True])
def test_invalid_idle_times_are_refused(seconds):
    with pytest.raises(ValueError, match="Expected result_idle_seconds to be a number > 0 or None"):
        JobManager(result_idle_seconds=seconds)


def image_run():
    """A finished image run without a real model: 12 images, the last 4 evaluated."""
    labels = np.array([0, 1] * 6, dtype=np.int32)
    dataset = ImageDataset(
        images=np.arange(12 * 4 * 4, dtype=np.uint8).reshape(12, 4, 4, 1),
        labels=labels,
        class_names=["ok", "scratch"],
        filenames=[f"image_{index}.png" for index in range(12)],
        original_sizes=[(4, 4)] * 12,
        rejected=[],
        source="test",
    )
    training = ImageTrainingResult(
        model=object(),
        history={"loss": [0.5]},
        epochs_run=1,
        cancelled=False,
        best_epoch=1,
        config=ImageTrainingConfig(image_size=(4, 4)),
        seconds=1.0,
        samples_per_second=8.0,
    )
    split = (np.arange(6), np.arange(6, 8), np.arange(8, 12))
    # Image 8 ("ok") is predicted "scratch"; the others are right.
    probabilities = {8: [0.2, 0.8], 9: [0.1, 0.9], 10: [0.9, 0.1], 11: [0.3, 0.7]}

    def predict(indices):
        return np.array([probabilities[int(index)] for index in indices])

    return evaluated_run(training, dataset, split, predict)


def test_a_released_image_run_shows_the_same_results_without_its_model_and_training_images():
    result = image_run()
    light = image_jobs.lightweight_result(result)

    assert image_jobs.result_summary(light) == image_jobs.result_summary(result)
    for cell in [("ok", "scratch"), ("scratch", "scratch"), ("ok", "ok")]:
        before = image_jobs.confusion_cell_items(result, *cell)
        after = image_jobs.confusion_cell_items(light, *cell)
        assert [name for name, _ in after] == [name for name, _ in before]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(after, before, strict=True))
    assert [item["name"] for item in image_jobs.misclassified_items(light)] == ["image_8.png"]
    assert light.dataset.images._images.nbytes == 4 * 16, "only the 4 evaluated images"
    with pytest.raises(ValueError, match="Expected indices of the images a released result kept"):
        light.dataset.images[0]
    assert is_released(light.training.model)
    with pytest.raises(ValueError, match="Expected the trained model in memory"):
        light.training.model.save("model.keras")
    assert result.training.model is not None and len(result.dataset.images) == 12, "untouched"


def test_a_released_anomaly_run_keeps_its_scores_and_draws_no_maps():
    dataset = types.SimpleNamespace(
        class_names=["ok", "pit"],
        labels=np.array([0, 0, 1, 0, 1]),
        filenames=[f"image_{index}.png" for index in range(5)],
        images=np.zeros((5, 8, 8, 1), np.uint8),
    )
    metrics = {
        "image_auroc": 1.0,
        "false_reject_rate": 0.0,
        "defect_recall": 1.0,
        "test_count": 3,
        "evaluation": {"class_names": ["ok", "anomaly"], "confusion_matrix": [[1, 0], [0, 2]]},
    }
    result = ImageAnomalyRunResult(
        model=object(),
        config=ImageAnomalyConfig(image_size=8),
        dataset=dataset,
        train_indices=np.array([0, 1]),
        validation_indices=np.array([], dtype=np.int64),
        test_indices=np.array([2, 3, 4]),
        threshold=1.0,
        score_scale=1.0,
        validation_scores=np.array([0.5]),
        test_scores=np.array([2.0, 0.1, 3.0]),
        metrics=metrics,
        history={},
        epochs_run=1,
        best_epoch=1,
        cancelled=False,
        seconds=0.1,
    )
    light = anomaly_jobs.lightweight_result(result)
    assert anomaly_jobs.result_summary(light) == anomaly_jobs.result_summary(result)
    assert anomaly_jobs.score_table(light) == anomaly_jobs.score_table(result)
    assert anomaly_jobs.sample_maps(light) == []
    assert is_released(light.model) and len(light.dataset.images._images) == 0


def test_a_released_gan_run_keeps_its_summary_and_grid_without_the_networks_and_images():
    dataset = types.SimpleNamespace(
        class_names=["ok", "pit"], labels=np.array([0, 1, 0, 1]), images=np.zeros((4, 8, 8, 1))
    )
    training = GanTrainingResult(
        generator=object(),
        discriminator=object(),
        history={"d_loss": [0.7], "g_loss": [0.9]},
        epochs_run=1,
        cancelled=False,
        grid=np.zeros((16, 64), np.uint8),
        config=GanTrainingConfig(),
        seconds=2.0,
    )
    result = GanRunResult(training, dataset, np.array([0, 1, 2]), np.array([3]))
    light = gan_jobs.lightweight_gan_result(result)
    before, after = gan_jobs.gan_result_summary(result), gan_jobs.gan_result_summary(light)
    assert after.pop("grid") is before.pop("grid") and after == before
    assert is_released(light.training.generator) and is_released(light.training.discriminator)
    assert len(light.dataset.images._images) == 0


def test_each_training_work_offers_a_lightweight_view_that_does_not_keep_the_work(monkeypatch):
    # The GAN config's check imports TensorFlow: not needed to build the work here.
    monkeypatch.setattr(GanTrainingConfig, "validate", lambda config: config)
    source = image_sources.ImageSource("zip", "zip parts.zip", ("parts.zip",), "abc", None)
    works = {
        image_jobs.lightweight_result: image_jobs.make_training_work(
            source, image_jobs.training_config(epochs=1)
        ),
        anomaly_jobs.lightweight_result: anomaly_jobs.make_anomaly_work(
            source, ImageAnomalyConfig(image_size=16)
        ),
        gan_jobs.lightweight_gan_result: gan_jobs.make_gan_training_work(
            source, GanTrainingConfig(epochs=1)
        ),
        sensor_jobs.lightweight_run: sensor_jobs.make_training_work(
            types.SimpleNamespace(description="sensors"), sensor_jobs.training_config(task="rul")
        ),
    }
    for expected, work in works.items():
        # A plain function: a bound method would keep the work (and its upload) alive.
        assert work.lightweight is expected
        assert expected(None) is None

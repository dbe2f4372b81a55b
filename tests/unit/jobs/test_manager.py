"""Tests for core/jobs/manager.py: bound, queue, ownership, cancellation, failures, progress."""

import threading

import pytest

from core.jobs.job import CANCELLED, FAILED, RUNNING, SUCCEEDED, JobProgress
from core.jobs.manager import JobManager, JobRefused


def blocking_work(release: threading.Event, result="done"):
    def work(progress, cancellation):
        while not release.wait(0.01):
            if cancellation.cancelled:
                return None
        return result

    return work


def test_bound_queue_and_refusal_are_explicit():
    release = threading.Event()
    manager = JobManager(max_running=1, max_queued=1)
    first = manager.submit("alice", "train", blocking_work(release))
    second = manager.submit("bob", "train", blocking_work(release))
    assert first.state == RUNNING
    assert manager.queue_position(second.job_id) == 1
    with pytest.raises(JobRefused, match="busy with 1 running and 1 queued"):
        manager.submit("carol", "train", blocking_work(release))
    release.set()
    assert manager.wait("alice", first.job_id, timeout=5).state == SUCCEEDED
    assert manager.wait("bob", second.job_id, timeout=5).result == "done"


def test_owners_see_only_their_own_jobs():
    release = threading.Event()
    release.set()
    manager = JobManager(max_running=2)
    mine = manager.submit("alice", "train", blocking_work(release))
    manager.submit("bob", "train", blocking_work(release))
    assert [job.job_id for job in manager.jobs_for("alice")] == [mine.job_id]
    with pytest.raises(KeyError, match="Expected a job of this session"):
        manager.get("bob", mine.job_id)


def test_cancel_running_and_queued_jobs():
    release = threading.Event()
    manager = JobManager(max_running=1, max_queued=2)
    running = manager.submit("alice", "train", blocking_work(release))
    queued = manager.submit("alice", "train", blocking_work(release))
    manager.cancel("alice", queued.job_id)
    assert queued.state == CANCELLED
    manager.cancel("alice", running.job_id)
    assert manager.wait("alice", running.job_id, timeout=5).state == CANCELLED


def test_a_failing_job_records_its_error_and_frees_the_slot():
    def broken(progress, cancellation):
        raise ValueError("Expected images. Received: nothing")

    manager = JobManager(max_running=1)
    failed = manager.wait("alice", manager.submit("alice", "train", broken).job_id, timeout=5)
    assert failed.state == FAILED
    assert failed.error == "ValueError: Expected images. Received: nothing"
    release = threading.Event()
    release.set()
    after = manager.submit("alice", "train", blocking_work(release))
    assert manager.wait("alice", after.job_id, timeout=5).state == SUCCEEDED


def test_progress_snapshot_tracks_batches_and_epochs():
    progress = JobProgress()
    progress.on_train_begin(2, 4)
    for step in range(1, 5):
        progress.on_batch_end(1, step, {"loss": 1.0 / step})
    progress.on_epoch_end(1, {"loss": 0.3, "val_loss": 0.4})
    progress.on_batch_end(2, 2, {"loss": 0.2})
    snapshot = progress.snapshot()
    assert snapshot["fraction"] == pytest.approx(6 / 8)
    assert snapshot["epoch_history"] == {"loss": [0.3], "val_loss": [0.4]}
    assert [point["epoch"] for point in snapshot["batch_points"]][-1] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"max_running": 0}, "max_running=0"), ({"max_queued": -1}, "max_queued=-1")],
)
def test_invalid_bounds_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        JobManager(**arguments)

"""Waiting on background jobs in tests: one place for the timeouts, the polling and the messages.

- `wait_for_job` blocks until a `JobManager` job finishes (through `JobManager.wait`) and can
  check the state it ended in, showing the job's error when it is not the expected one.
- `finish_jobs` cancels (optionally) and waits for every job of some owners: the clean-up of a
  test or fixture that started jobs.
- `holding_the_slot` fills the manager's running slot with another owner's job that blocks until
  the block ends, then lets it finish and waits for it.
- `rerun_until` reruns an AppTest script, as a page's polling fragment would, until a job's
  outcome is drawn (a predicate on the app holds).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator

# Bounds that only turn a hang into a failure on this 2-core machine (a run normally takes
# seconds): a one-epoch training of a page, and any job (a GAN epoch is the longest).
TRAINING_TIMEOUT_SECONDS = 300
JOB_TIMEOUT_SECONDS = 600
# Between two AppTest reruns: the page's own fragment polls about once a second.
RERUN_INTERVAL_SECONDS = 1.0


def wait_for_job(manager, job, *, timeout: float = JOB_TIMEOUT_SECONDS, state: str | None = None):
    """Waits until `job` finishes and returns it.

    Args:
        manager: The `JobManager` that runs the job.
        job: The `Job` returned by `manager.submit`.
        timeout: Seconds before `TimeoutError`.
        state: When given, the state the job must end in ("succeeded", "failed", "cancelled");
            the assertion message holds the job's error.
    """
    finished = manager.wait(job.owner, job.job_id, timeout=timeout)
    if state is not None:
        assert finished.state == state, f"{job.kind} job ended {finished.state}: {finished.error}"
    return finished


def finish_jobs(
    manager, owners: Iterable[str], *, cancel: bool = True, timeout: float = JOB_TIMEOUT_SECONDS
) -> None:
    """Cancels (unless `cancel=False`) and waits for every job of `owners`, so none outlives a
    test."""
    for owner in owners:
        for job in manager.jobs_for(owner):
            if cancel:
                manager.cancel(owner, job.job_id)
            manager.wait(owner, job.job_id, timeout=timeout)


@contextlib.contextmanager
def holding_the_slot(
    manager,
    kind: str,
    *,
    owner: str = "another-session",
    description: str = "",
    hold: float = 60,
    timeout: float = 30,
) -> Iterator[object]:
    """Runs a job of `owner` that holds a running slot of `manager` for the block (at most `hold`
    seconds), then releases it and waits up to `timeout` seconds for it; yields that job."""
    release = threading.Event()
    blocker = manager.submit(
        owner, kind, lambda progress, cancellation: release.wait(hold), description=description
    )
    try:
        yield blocker
    finally:
        release.set()
        manager.wait(owner, blocker.job_id, timeout=timeout)


def rerun_until(
    app,
    predicate: Callable[[object], bool],
    *,
    timeout: float = JOB_TIMEOUT_SECONDS,
    what: str = "the job",
    allow_errors: bool = False,
    interval: float = RERUN_INTERVAL_SECONDS,
) -> None:
    """Reruns the AppTest `app` every `interval` seconds until `predicate(app)` holds.

    Fails on an exception in the app, on `timeout`, and on an error message unless
    `allow_errors` (then the predicate decides whether an error ends the wait).
    """
    deadline = time.monotonic() + timeout
    while not predicate(app):
        assert time.monotonic() < deadline, f"{what} did not finish in time"
        assert not app.exception, app.exception
        if not allow_errors:
            assert not app.error, [element.value for element in app.error]
        time.sleep(interval)
        app.run()

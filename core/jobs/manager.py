"""Background jobs: training runs in worker threads that outlive page reruns and closed tabs.

A `JobManager` runs at most `max_running` jobs at once and queues up to `max_queued` more; past
that a submission is refused with a clear message, never silently dropped. Each job belongs to an
owner (one browser session's token) and is only ever listed for that owner. The worker reports
through the `core.engine.progress` listener interface into a `JobProgress`, whose `snapshot()` a
page polls; nothing here touches Streamlit.

Memory: a finished job drops its work closure at once (it may hold the user's upload and arrays).
Its result (a trained model, data sets) is released, keeping only what the work's
`lightweight(result)` returns, by `release_result` once the page has saved it, or after
`result_idle_seconds` without a read of `job.result`. A released job stays listed with its state
and progress; `job.result_released` and `job.release_reason` say what happened.
"""

from __future__ import annotations

import collections
import gc
import numbers
import threading
import time
import traceback
import uuid
from collections.abc import Callable

from core.engine.progress import CancellationToken
from core.jobs.job import (
    CANCELLED,
    DEFAULT_RESULT_IDLE_SECONDS,
    FAILED,
    RELEASE_REASONS,
    RELEASED_IDLE,
    RELEASED_SAVED,
    RUNNING,
    SUCCEEDED,
    Job,
    JobProgress,
)


class JobRefused(ValueError):
    """Raised when the queue is full: the caller is told, nothing is silently dropped."""


class JobManager:
    """Runs jobs in daemon threads with a bound on concurrency and a short queue.

    Args:
        max_running: Jobs that may run at once (default 1: training saturates a small CPU).
        max_queued: Jobs that may wait (default 3); further submissions are refused.
        result_idle_seconds: A finished job's result is released after this long without a
            read of `job.result` (default 30 minutes); None keeps results until
            `release_result`.
        clock: The idle clock, in seconds (default `time.monotonic`; tests pass a fake one).

    Raises:
        ValueError: If a bound is not an integer in range, or `result_idle_seconds` is not a
            positive number or None.
    """

    def __init__(
        self,
        max_running: int = 1,
        max_queued: int = 3,
        *,
        result_idle_seconds: float | None = DEFAULT_RESULT_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not isinstance(max_running, int) or max_running < 1:
            raise ValueError(f"Expected max_running >= 1. Received: max_running={max_running!r}")
        if not isinstance(max_queued, int) or max_queued < 0:
            raise ValueError(f"Expected max_queued >= 0. Received: max_queued={max_queued!r}")
        if result_idle_seconds is not None and (
            isinstance(result_idle_seconds, bool)
            or not isinstance(result_idle_seconds, numbers.Real)
            or not result_idle_seconds > 0
        ):
            raise ValueError(
                "Expected result_idle_seconds to be a number > 0 or None. "
                f"Received: result_idle_seconds={result_idle_seconds!r}"
            )
        self.max_running = max_running
        self.max_queued = max_queued
        self.result_idle_seconds = result_idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._running: set[str] = set()

    def submit(
        self,
        owner: str,
        kind: str,
        work: Callable[[JobProgress, CancellationToken], object],
        *,
        description: str = "",
        lightweight: Callable[[object], object] | None = None,
    ) -> Job:
        """Queues `work(progress, cancellation)` for `owner`; it starts when a slot is free.

        Args:
            owner: The session token the job belongs to.
            kind: The job's kind (pages list their own kinds).
            work: The work; dropped as soon as the job finishes.
            description: For job lists.
            lightweight: `lightweight(result)` returns what of the result to keep once it is
                released (see `release_result`). Default: `work.lightweight` when the work has
                one, else nothing is kept.

        Raises:
            JobRefused: If `max_queued` jobs are already waiting.
        """
        if lightweight is None:
            lightweight = getattr(work, "lightweight", None)
        self._release_idle_results()
        with self._lock:
            if len(self._running) >= self.max_running and len(self._queue) >= self.max_queued:
                raise JobRefused(
                    f"Expected a free place: LineSight is busy with {len(self._running)} running "
                    f"and {len(self._queue)} queued job(s) (limit {self.max_running} running + "
                    f"{self.max_queued} queued). Received: a new '{kind}' job; try again when "
                    "one finishes."
                )
            job = Job(
                uuid.uuid4().hex[:12],
                owner,
                kind,
                description,
                work,
                lightweight=lightweight,
                _clock=self._clock,
            )
            self._jobs[job.job_id] = job
            self._queue.append(job.job_id)
            self._start_waiting_jobs()
        return job

    def _start_waiting_jobs(self) -> None:
        # Called with the lock held.
        while self._queue and len(self._running) < self.max_running:
            job = self._jobs[self._queue.popleft()]
            if job.cancellation.cancelled:
                self._finish(job, CANCELLED)
                continue
            job.state, job.started_at = RUNNING, time.time()
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"linesight-job-{job.job_id}", daemon=True
            )
            try:
                thread.start()
            except RuntimeError as error:
                # Out of threads: the job fails visibly rather than holding its slot forever.
                self._finish(job, FAILED, error=f"RuntimeError: {error}")
                continue
            self._running.add(job.job_id)

    def _finish(self, job: Job, state: str, result: object = None, error: str | None = None):
        # Called with the lock held. The state is set last: `wait` polls it without the lock.
        job._result, job.error, job.finished_at = result, error, time.time()
        job._used_at = self._clock()
        # The work may capture the user's upload (e.g. a 60 MB zip) and data arrays: let go.
        job.work = None
        job.state = state

    def _run(self, job: Job) -> None:
        result, state, error = None, FAILED, None
        try:
            result = job.work(job.progress, job.cancellation)
            state = CANCELLED if job.cancellation.cancelled else SUCCEEDED
        except BaseException as exception:
            # The worker must never die silently. SystemExit (a `sys.exit` deep in the work)
            # would otherwise end the thread quietly, leaving the job 'running' and its slot
            # taken, so every later job would wait forever.
            error = f"{type(exception).__name__}: {exception}"
            job.progress.set_message(traceback.format_exc(limit=5))
        finally:
            with self._lock:
                self._finish(job, state, result, error)
                self._running.discard(job.job_id)
                self._start_waiting_jobs()

    def release_result(self, owner: str, job_id: str, *, reason: str = RELEASED_SAVED) -> Job:
        """Drops the heavy part of a finished job's result; pages call it once it is saved.

        The job stays listed with its state and progress; its `result` becomes the work's
        `lightweight(result)` view (None without one) and `result_released` turns true.
        Releasing a released job, or one without a result, changes nothing.

        Args:
            owner: The session token the job belongs to.
            job_id: The job.
            reason: "saved" (default) or "idle", kept as `job.release_reason`.

        Returns:
            The job.

        Raises:
            KeyError: If there is no such job for this owner.
            ValueError: If the job has not finished or `reason` is unknown.
        """
        if reason not in RELEASE_REASONS:
            raise ValueError(
                f"Expected reason among {list(RELEASE_REASONS)}. Received: reason={reason!r}"
            )
        job = self.get(owner, job_id)
        with self._lock:
            if not job.finished:
                raise ValueError(
                    f"Expected a finished job. Received: job_id={job_id!r} in state {job.state!r}"
                )
            released = self._release(job, reason)
        if released:
            gc.collect()  # Keras models are reference cycles: free them now, not someday.
        return job

    def _release(self, job: Job, reason: str) -> bool:
        # Called with the lock held; returns whether anything was released.
        if job.result_released or job._result is None:
            return False
        kept = None
        if job.lightweight is not None:
            try:
                kept = job.lightweight(job._result)
            except Exception as error:
                # Memory first: the result goes whole; the job says why in its message.
                job.progress.set_message(
                    f"Released the whole result: its lightweight view failed with "
                    f"{type(error).__name__}: {error}"
                )
        # One assignment: a page reading `job.result` meanwhile sees the full or the kept view.
        job._result, job.lightweight = kept, None
        job.release_reason = reason
        return True

    def _release_idle_results(self) -> None:
        # The idle sweep runs lazily at the start of `submit`, `get` and `jobs_for` rather than
        # on a timer thread: memory only grows when a job runs, and every submission sweeps
        # first, so idle results never pile up, and there is no thread to start, stop or leak
        # across Streamlit reruns and tests. Pages polling a job also sweep every second.
        if self.result_idle_seconds is None:
            return
        now = self._clock()
        with self._lock:
            released = [
                job
                for job in self._jobs.values()
                if job.finished
                and job._used_at is not None
                and now - job._used_at >= self.result_idle_seconds
                and self._release(job, RELEASED_IDLE)
            ]
        if released:
            gc.collect()

    def get(self, owner: str, job_id: str) -> Job:
        """Returns the owner's job.

        Raises:
            KeyError: If there is no such job for this owner (other owners' jobs are invisible).
        """
        self._release_idle_results()
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise KeyError(f"Expected a job of this session. Received: job_id={job_id!r}")
        return job

    def jobs_for(self, owner: str) -> list[Job]:
        """The owner's jobs, newest first."""
        self._release_idle_results()
        with self._lock:
            jobs = [job for job in self._jobs.values() if job.owner == owner]
        return sorted(jobs, key=lambda job: job.submitted_at, reverse=True)

    def queue_position(self, job_id: str) -> int | None:
        """How many jobs are ahead of a queued job, running ones included, or None if not queued."""
        with self._lock:
            if job_id not in self._queue:
                return None
            return list(self._queue).index(job_id) + len(self._running)

    def cancel(self, owner: str, job_id: str) -> Job:
        """Asks the owner's job to stop; a queued job is then never started."""
        job = self.get(owner, job_id)
        job.cancellation.cancel()
        with self._lock:
            if job.job_id in self._queue:
                self._queue.remove(job.job_id)
                self._finish(job, CANCELLED)
        return job

    def wait(self, owner: str, job_id: str, timeout: float | None = None) -> Job:
        """Blocks until the job finishes (for the CLI and tests; pages poll instead)."""
        job = self.get(owner, job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not job.finished:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Expected job {job_id} to finish within {timeout} s.")
            time.sleep(0.05)
        return job

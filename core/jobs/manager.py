"""Background jobs: training runs in worker threads that outlive page reruns and closed tabs.

A `JobManager` runs at most `max_running` jobs at once and queues up to `max_queued` more; past
that a submission is refused with a clear message, never silently dropped. Each job belongs to an
owner (one browser session's token) and is only ever listed for that owner. The worker reports
through the `core.engine.progress` listener interface into a `JobProgress`, whose `snapshot()` a
page polls; nothing here touches Streamlit.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping

from core.engine.progress import CancellationToken

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
FINISHED_STATES = (SUCCEEDED, FAILED, CANCELLED)
# Per-batch points kept for the live curve; older ones are thinned so a long run stays light.
MAX_BATCH_POINTS = 2_000


class JobProgress:
    """A thread-safe record of training progress, fed as a `core.engine.progress` listener."""

    def __init__(self):
        self._lock = threading.Lock()
        self.total_epochs = 0
        self.steps_per_epoch: int | None = None
        self.epoch = 0
        self.step = 0
        self.epoch_history: dict[str, list[float]] = collections.defaultdict(list)
        self.batch_points: list[dict[str, float]] = []
        self.message = ""
        self.images: dict | None = None

    def on_train_begin(self, total_epochs: int, steps_per_epoch: int | None) -> None:
        with self._lock:
            self.total_epochs = total_epochs
            self.steps_per_epoch = steps_per_epoch

    def on_batch_end(self, epoch: int, step: int, logs: Mapping[str, float]) -> None:
        with self._lock:
            self.epoch, self.step = epoch, step
            fraction = (epoch - 1) + (step / self.steps_per_epoch if self.steps_per_epoch else 0)
            self.batch_points.append({"epoch": fraction, **logs})
            if len(self.batch_points) > MAX_BATCH_POINTS:
                self.batch_points = self.batch_points[::2]

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        with self._lock:
            self.epoch = epoch
            self.step = self.steps_per_epoch or self.step
            for key, value in logs.items():
                self.epoch_history[key].append(value)

    def on_images(self, epoch: int, image) -> None:
        """Keeps the latest picture a run drew (e.g. a GAN's sample grid) for the page."""
        with self._lock:
            self.images = {"epoch": epoch, "image": image}

    def set_message(self, message: str) -> None:
        with self._lock:
            self.message = message

    def snapshot(self) -> dict:
        """A consistent copy: position, totals, fraction done, per-epoch and per-batch metrics."""
        with self._lock:
            total_steps = (self.steps_per_epoch or 0) * self.total_epochs
            done_steps = (self.epoch - 1) * (self.steps_per_epoch or 0) + self.step
            fraction = min(done_steps / total_steps, 1.0) if total_steps and self.epoch else 0.0
            return {
                "epoch": self.epoch,
                "step": self.step,
                "total_epochs": self.total_epochs,
                "steps_per_epoch": self.steps_per_epoch,
                "fraction": max(fraction, 0.0),
                "epoch_history": {key: list(values) for key, values in self.epoch_history.items()},
                "batch_points": list(self.batch_points),
                "message": self.message,
                "images": dict(self.images) if self.images else None,
            }


@dataclasses.dataclass
class Job:
    """One background job. Read its state through `JobManager`; only the worker writes it."""

    job_id: str
    owner: str
    kind: str
    description: str
    work: Callable[[JobProgress, CancellationToken], object]
    progress: JobProgress = dataclasses.field(default_factory=JobProgress)
    cancellation: CancellationToken = dataclasses.field(default_factory=CancellationToken)
    state: str = QUEUED
    result: object = None
    error: str | None = None
    submitted_at: float = dataclasses.field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


class JobRefused(ValueError):
    """Raised when the queue is full: the caller is told, nothing is silently dropped."""


class JobManager:
    """Runs jobs in daemon threads with a bound on concurrency and a short queue.

    Args:
        max_running: Jobs that may run at once (default 1: training saturates a small CPU).
        max_queued: Jobs that may wait (default 3); further submissions are refused.
    """

    def __init__(self, max_running: int = 1, max_queued: int = 3):
        if not isinstance(max_running, int) or max_running < 1:
            raise ValueError(f"Expected max_running >= 1. Received: max_running={max_running!r}")
        if not isinstance(max_queued, int) or max_queued < 0:
            raise ValueError(f"Expected max_queued >= 0. Received: max_queued={max_queued!r}")
        self.max_running = max_running
        self.max_queued = max_queued
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
    ) -> Job:
        """Queues `work(progress, cancellation)` for `owner`; it starts when a slot is free.

        Raises:
            JobRefused: If `max_queued` jobs are already waiting.
        """
        with self._lock:
            if len(self._running) >= self.max_running and len(self._queue) >= self.max_queued:
                raise JobRefused(
                    f"Expected a free place: LineSight is busy with {len(self._running)} running "
                    f"and {len(self._queue)} queued job(s) (limit {self.max_running} running + "
                    f"{self.max_queued} queued). Received: a new '{kind}' job; try again when "
                    "one finishes."
                )
            job = Job(uuid.uuid4().hex[:12], owner, kind, description, work)
            self._jobs[job.job_id] = job
            self._queue.append(job.job_id)
            self._start_waiting_jobs()
        return job

    def _start_waiting_jobs(self) -> None:
        # Called with the lock held.
        while self._queue and len(self._running) < self.max_running:
            job = self._jobs[self._queue.popleft()]
            if job.cancellation.cancelled:
                job.state, job.finished_at = CANCELLED, time.time()
                continue
            job.state, job.started_at = RUNNING, time.time()
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"linesight-job-{job.job_id}", daemon=True
            )
            try:
                thread.start()
            except RuntimeError as error:
                # Out of threads: the job fails visibly rather than holding its slot forever.
                job.error, job.state = f"RuntimeError: {error}", FAILED
                job.finished_at = time.time()
                continue
            self._running.add(job.job_id)

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
                job.result, job.error, job.finished_at = result, error, time.time()
                job.state = state
                self._running.discard(job.job_id)
                self._start_waiting_jobs()

    def get(self, owner: str, job_id: str) -> Job:
        """Returns the owner's job.

        Raises:
            KeyError: If there is no such job for this owner (other owners' jobs are invisible).
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise KeyError(f"Expected a job of this session. Received: job_id={job_id!r}")
        return job

    def jobs_for(self, owner: str) -> list[Job]:
        """The owner's jobs, newest first."""
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
                job.state, job.finished_at = CANCELLED, time.time()
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

"""One background job's record: its state, its progress for the page, its result and the release
of that result's heavy part.

`core.jobs.manager.JobManager` creates and updates these; pages read them through it.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping

from core.engine.progress import CancellationToken

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
# Why a result was released: the page saved it, or nobody read it for `result_idle_seconds`.
RELEASED_SAVED, RELEASED_IDLE = "saved", "idle"
FINISHED_STATES = (SUCCEEDED, FAILED, CANCELLED)
RELEASE_REASONS = (RELEASED_SAVED, RELEASED_IDLE)
DEFAULT_RESULT_IDLE_SECONDS = 30 * 60
# Per-batch points kept for the live curve; older ones are thinned so a long run stays light.
MAX_BATCH_POINTS = 2_000


class Released:
    """Stands in for a heavy object (e.g. a trained model) that a released job result let go.

    Any use raises a ValueError saying so, which a page shows as a message (e.g. "Not saved:
    ...") instead of crashing.

    Args:
        what: The object, for the message, e.g. "the trained model".
    """

    def __init__(self, what: str):
        self.what = what

    def _refuse(self):
        raise ValueError(
            f"Expected {self.what} in memory. Received: a finished job whose result was released "
            "(after saving, or unused for a while); train again to use it."
        )

    def __getattr__(self, name: str):
        # Only reached for missing attributes; private and special names stay plain misses so
        # that copy, pickle and introspection behave.
        if name.startswith("_"):
            raise AttributeError(name)
        self._refuse()

    def __call__(self, *args, **kwargs):
        self._refuse()

    def __repr__(self) -> str:
        return f"Released({self.what!r})"


RELEASED_MODEL = Released("the trained model")


def is_released(value: object) -> bool:
    """Whether `value` is a `Released` stand-in (e.g. the model of a released result)."""
    return isinstance(value, Released)


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
    """One background job. Read its state through `JobManager`; only the manager writes it.

    Once finished, `work` is None. Reading `result` counts as use: it restarts the result's idle
    time. Once released, `result` is the work's lightweight view (None without one) and
    `release_reason` says why ("saved" or "idle").
    """

    job_id: str
    owner: str
    kind: str
    description: str
    work: Callable[[JobProgress, CancellationToken], object] | None
    progress: JobProgress = dataclasses.field(default_factory=JobProgress)
    cancellation: CancellationToken = dataclasses.field(default_factory=CancellationToken)
    state: str = QUEUED
    error: str | None = None
    submitted_at: float = dataclasses.field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    lightweight: Callable[[object], object] | None = None
    release_reason: str | None = None
    _result: object = dataclasses.field(default=None, repr=False)
    _clock: Callable[[], float] = dataclasses.field(default=time.monotonic, repr=False)
    _used_at: float | None = dataclasses.field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def result(self) -> object:
        """What the work returned (None until finished); reading it restarts its idle time."""
        if self.finished:
            self._used_at = self._clock()
        return self._result

    @property
    def result_released(self) -> bool:
        """True once the heavy part of the result was dropped (`release_reason` says why)."""
        return self.release_reason is not None

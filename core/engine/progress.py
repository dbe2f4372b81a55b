"""The progress interface: training reports per batch and per epoch to any listener.

A listener is any object with some of these methods; missing ones are skipped. The CLI turns the
events into a progress bar, the job runner into snapshots that a page polls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class TrainingListener(Protocol):
    """Receives training events. Every method is optional (see `ProgressBroadcaster`)."""

    def on_train_begin(self, total_epochs: int, steps_per_epoch: int | None) -> None: ...

    def on_batch_end(self, epoch: int, step: int, logs: Mapping[str, float]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None: ...

    def on_train_end(self, logs: Mapping[str, object]) -> None: ...

    def on_images(self, epoch: int, image: object) -> None: ...


class ProgressBroadcaster:
    """Forwards each event to every listener that implements it.

    Args:
        listeners: Listener objects; `None` entries are ignored.
    """

    def __init__(self, listeners: Iterable[object | None] = ()):
        self.listeners = [listener for listener in listeners if listener is not None]

    def emit(self, event: str, *arguments) -> None:
        for listener in self.listeners:
            method = getattr(listener, event, None)
            if method is not None:
                method(*arguments)


class CancellationToken:
    """A thread-safe flag that asks a running training to stop after the current batch."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def plain_floats(logs: Mapping[str, object] | None) -> dict[str, float]:
    """Converts Keras logs (tensors, numpy scalars) to plain floats for listeners and JSON."""
    converted = {}
    for key, value in (logs or {}).items():
        try:
            converted[key] = float(value)
        except (TypeError, ValueError):
            continue
    return converted


def emit_train_end(
    listeners: Iterable[object | None],
    *,
    epochs_run: int,
    cancelled: bool,
    best_epoch: int | None,
    seconds: float,
    history: Mapping[str, list[float]],
) -> None:
    """Tells every listener that training ended, with the metrics of the best epoch."""
    best_metrics = (
        {key: values[best_epoch - 1] for key, values in history.items()} if best_epoch else {}
    )
    ProgressBroadcaster(listeners).emit(
        "on_train_end",
        {
            "epochs_run": epochs_run,
            "cancelled": cancelled,
            "best_epoch": best_epoch,
            "seconds": seconds,
            "best_metrics": best_metrics,
        },
    )

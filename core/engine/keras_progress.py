"""A Keras callback feeding `core.engine.progress` listeners and honouring cancellation."""

from __future__ import annotations

from collections.abc import Iterable

from core.engine.progress import CancellationToken, ProgressBroadcaster, plain_floats


def make_progress_callback(
    listeners: Iterable[object],
    cancellation: CancellationToken | None,
    total_epochs: int,
    steps_per_epoch: int,
):
    """Returns a `keras.callbacks.Callback` that feeds `core.engine.progress` listeners.

    Epochs and steps are reported counting from 1. The callback also asks Keras to stop after
    the current batch once `cancellation` is set, and records that in its `cancelled` attribute.
    """
    import keras  # Lazy: loads TensorFlow.

    listeners = list(listeners)
    broadcaster = ProgressBroadcaster(listeners)
    batch_broadcaster = ProgressBroadcaster(
        listener for listener in listeners if hasattr(listener, "on_batch_end")
    )

    class ProgressCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.cancelled = False
            self.epoch = 0
            self.batches_run = 0

        def _check_cancellation(self) -> None:
            if cancellation is not None and cancellation.cancelled:
                self.cancelled = True
                self.model.stop_training = True

        def on_train_begin(self, logs=None):
            broadcaster.emit("on_train_begin", total_epochs, steps_per_epoch)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1
            self._check_cancellation()

        def on_train_batch_end(self, batch, logs=None):
            # `batch` is the last batch of the execution (several with steps_per_execution).
            self.batches_run = (self.epoch - 1) * steps_per_epoch + batch + 1
            # Converting the logs costs a little per batch: only do it if someone listens.
            if batch_broadcaster.listeners:
                batch_broadcaster.emit("on_batch_end", self.epoch, batch + 1, plain_floats(logs))
            self._check_cancellation()

        def on_epoch_end(self, epoch, logs=None):
            broadcaster.emit("on_epoch_end", epoch + 1, plain_floats(logs))
            self._check_cancellation()

    return ProgressCallback()

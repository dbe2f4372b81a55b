"""The trainers' Keras fit: early stopping on the best weights, timing, and what a run leaves.

`fit_keeping_best` is the Keras fit of every trainer that stops early: it ends holding the best
weights and returns a `FitResult`, the five facts that a run's result and the listeners'
`on_train_end` event carry (`emit_train_end(listeners, **fit.fields())`). `timed_fit` is the
quiet, timed `model.fit` underneath, for trainers without early stopping (the GAN). `TrainingRun`
is the base of the run results that wrap a trainer's result: `cancelled`, and `save_model`.

Example:
    progress = make_progress_callback(listeners, cancellation, config.epochs, steps_per_epoch)
    fit = fit_keeping_best(model, train_dataset, validation_dataset, config, progress)
    fit.best_epoch, fit.history["val_loss"]
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

# ReduceLROnPlateau settings (schedule "plateau"): halve the rate, down to this floor.
PLATEAU_FACTOR = 0.5
PLATEAU_MIN_LEARNING_RATE = 1e-6


@dataclasses.dataclass
class FitResult:
    """How one training run went.

    Attributes:
        history: Per-epoch metrics as plain floats ("loss", "val_loss", ...).
        epochs_run: Epochs started (a cancelled epoch counts).
        best_epoch: Epoch (from 1) whose weights the model holds, or None if no epoch finished.
        cancelled: True if a `CancellationToken` stopped the run.
        seconds: Wall time of training.
    """

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int | None
    cancelled: bool
    seconds: float

    def fields(self) -> dict[str, Any]:
        """The five facts by name: keyword arguments of a run result or of `emit_train_end`."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


@dataclasses.dataclass
class TrainingRun:
    """The base of a run result holding a trainer's result as `training`: whether it was
    cancelled, and its registry record once saved.

    Attributes:
        record: The registry record once saved, else None (a keyword field, after the fields of
            the run result).
    """

    record: object | None = dataclasses.field(default=None, kw_only=True)

    @property
    def cancelled(self) -> bool:
        return bool(self.training.cancelled)

    def save_model(self, registry, model, name: str, metadata: dict, owner: str | None):
        """Registers `model` under `name` (a new version) with `metadata` and `owner` (see
        `ModelRegistry.save`); keeps the record as `record` and returns it."""
        self.record = registry.save(model, name, metadata, owner=owner)
        return self.record


def timed_fit(model, inputs, **fit_arguments) -> tuple[dict[str, list[float]], float]:
    """Runs `model.fit(inputs, ..., verbose=0)`; returns the history as lists of plain floats per
    metric, and the wall time in seconds.

    `inputs` is taken to be a tf.data pipeline that shuffles itself (Keras is told not to
    shuffle) unless `fit_arguments` set `shuffle`.
    """
    fit_arguments.setdefault("shuffle", False)  # The pipeline shuffles; Keras would only warn.
    started = time.perf_counter()
    history = model.fit(inputs, verbose=0, **fit_arguments)
    seconds = time.perf_counter() - started
    plain = {key: [float(value) for value in values] for key, values in history.history.items()}
    return plain, seconds


def fit_keeping_best(
    model,
    inputs,
    validation_data,
    config,
    progress,
    *,
    plateau_patience: int | None = None,
    **fit_arguments,
) -> FitResult:
    """Fits `model` with early stopping; the model ends holding the weights of its best epoch.

    The monitored loss is the validation loss, or the training loss without `validation_data`.
    After `config.early_stopping_patience` epochs without improvement the run stops (0: never
    before `config.epochs`).

    Args:
        model: A compiled `keras.Model`.
        inputs: Training data, as `timed_fit` takes it.
        validation_data: Validation data for `model.fit`, or None.
        config: The run's settings (`epochs`, `early_stopping_patience`, `schedule`).
        progress: The `core.engine.keras_progress.make_progress_callback` callback (it counts the
            epochs started and says whether the run was cancelled).
        plateau_patience: With `config.schedule == "plateau"`, epochs without improvement before
            the learning rate halves; None never lowers it here.
        **fit_arguments: More `model.fit` arguments (e.g. `y`, `batch_size`, `shuffle`).
    """
    import keras  # Lazy: loads TensorFlow.

    monitor = "loss" if validation_data is None else "val_loss"
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=monitor,
        patience=config.early_stopping_patience or config.epochs,
        restore_best_weights=True,
    )
    callbacks = [progress, early_stopping]
    if plateau_patience is not None and config.schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                factor=PLATEAU_FACTOR,
                patience=plateau_patience,
                min_lr=PLATEAU_MIN_LEARNING_RATE,
            )
        )
    history, seconds = timed_fit(
        model,
        inputs,
        validation_data=validation_data,
        epochs=config.epochs,
        callbacks=callbacks,
        **fit_arguments,
    )
    best_epoch = None if early_stopping.best_weights is None else early_stopping.best_epoch + 1
    return FitResult(
        history=history,
        epochs_run=max(len(history.get("loss", [])), progress.epoch),
        best_epoch=best_epoch,
        cancelled=progress.cancelled,
        seconds=seconds,
    )

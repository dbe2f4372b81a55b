"""Training the image classifier across a cluster: a custom `tf.distribute` step.

Keras 3 `model.fit` fails under `MultiWorkerMirroredStrategy` ("Attempt to convert a value
(PerReplica:{...})", keras-team/keras issue 20585), so the multi-worker path runs its own loop:
`strategy.run` of a `tf.GradientTape` step on the same Keras model, optimizer and loss as the fit
path. Every decision that ends a loop (cancellation, early stopping) is taken from values reduced
across all workers, so all workers take it at the same step; a worker that left alone would hang
the others in their next collective operation. The loop works with any strategy (the default
one-device strategy included), which is how its unit tests run in one process.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np

from core.engine.fit_results import PLATEAU_FACTOR, PLATEAU_MIN_LEARNING_RATE, FitResult
from core.engine.image_config import finish_training
from core.engine.image_pipeline import config_optimizer
from core.engine.precision import precision_scope, resolve_precision
from core.engine.progress import CancellationToken, ProgressBroadcaster
from core.models.image import build_image_model

# Keras' ReduceLROnPlateau default, as on the fit path (`core.engine.fit_results`).
PLATEAU_MIN_DELTA = 1e-4


@dataclasses.dataclass
class _Patience:
    """Counts epochs without improvement of a monitored loss, like Keras' callbacks do."""

    patience: int
    min_delta: float = 0.0
    best: float = math.inf
    wait: int = 0

    def improved(self, value: float) -> bool:
        """Records `value`; True if it beats the best so far by more than `min_delta`."""
        if value < self.best - self.min_delta:
            self.best = value
            self.wait = 0
            return True
        self.wait += 1
        return False


def fit_multiworker(
    train_dataset,
    validation_dataset,
    *,
    class_names: Sequence[str],
    steps_per_epoch: int,
    config,
    listeners: Sequence[object] = (),
    cancellation: CancellationToken | None = None,
    strategy,
):
    """Builds the configured model under `strategy` and trains it with a custom distributed step.

    Called by `core.engine.image_training.fit_image_classifier` for `config.strategy ==
    "multiworker"`; every worker of the cluster calls it with the same data (the workers load
    and split alike).

    Args:
        train_dataset: Batches of (float32 images, int32 labels[, sample weights]) of
            `config.batch_size` images, reshuffled on each pass.
        validation_dataset: Batches of (images, labels), or None.
        class_names: Names of the classes (at least 2).
        steps_per_epoch: Global batches per epoch (one pass over the training data).
        config: The validated `ImageTrainingConfig`; `batch_size` is the global batch, split
            across all replicas of all workers. `steps_per_execution` does not apply: the loop
            runs one step per call.
        listeners: `core.engine.progress` listeners (on this worker).
        cancellation: Token that stops training; a cancellation on any worker stops all of
            them. The workers agree on it through the next step's all-reduce, so one more
            batch runs (none when it comes during an epoch's last batch).
        strategy: The `tf.distribute.Strategy`, made before TensorFlow's first operation.

    Returns:
        An `ImageTrainingResult` (via `core.engine.image_config.finish_training`); its model holds
        the weights of the best epoch by validation loss (training loss without validation).

    Raises:
        ValueError: The global batch is smaller than the number of replicas.
    """
    import keras  # Lazy: loads TensorFlow.
    import tensorflow as tf  # Lazy: loads TensorFlow.

    listeners = list(listeners)
    replicas = strategy.num_replicas_in_sync
    global_batch_size = config.batch_size
    if global_batch_size < replicas:
        raise ValueError(
            f"Expected batch_size >= the {replicas} replicas of the cluster (it is the global "
            f"batch, split across replicas). Received: batch_size={global_batch_size}"
        )
    policy = resolve_precision(config.precision)
    with strategy.scope(), precision_scope(policy):
        model = build_image_model(
            config.model,
            (*config.image_size, config.channels),
            len(class_names),
            augmentation=config.augmentation,
            seed=config.seed,
        )
        optimizer = config_optimizer(config, steps_per_epoch)
        if policy == "mixed_float16":
            # What `compile` does for the fit path: scale the loss so float16 gradients
            # do not underflow.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)

    weighted = len(train_dataset.element_spec) == 3
    training_batches = iter(
        strategy.experimental_distribute_dataset(
            _full_batch_stream(train_dataset, global_batch_size, tf)
        )
    )
    train_step = _make_train_step(model, optimizer, strategy, global_batch_size, weighted, tf)
    evaluate = _make_evaluation(model, tf) if validation_dataset is not None else None
    agree = _make_agreement(strategy, tf)

    broadcaster = ProgressBroadcaster(listeners)
    batch_broadcaster = ProgressBroadcaster(
        listener for listener in listeners if hasattr(listener, "on_batch_end")
    )
    monitor = "val_loss" if validation_dataset is not None else "loss"
    patience = config.early_stopping_patience or config.epochs
    early_stopping = _Patience(patience)
    plateau = _Patience(max(2, patience // 3), min_delta=PLATEAU_MIN_DELTA)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if evaluate is not None:
        history.update(val_loss=[], val_accuracy=[])
    best_weights, best_epoch = None, None
    cancelled = False
    batches_run = 0

    broadcaster.emit("on_train_begin", config.epochs, steps_per_epoch)
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        loss_sum = correct_sum = weight_sum = 0.0
        for step in range(1, steps_per_epoch + 1):
            asks_to_stop = float(cancellation is not None and cancellation.cancelled)
            totals = train_step(next(training_batches), tf.constant(asks_to_stop)).numpy()
            batches_run += 1
            loss_sum += float(totals[0])
            correct_sum += float(totals[1])
            weight_sum += float(totals[2])
            logs = {"loss": loss_sum / step, "accuracy": correct_sum / max(weight_sum, 1e-12)}
            if batch_broadcaster.listeners:
                batch_broadcaster.emit("on_batch_end", epoch, step, dict(logs))
            if totals[3] > 0:
                cancelled = True
                break
        # Like `model.fit`, an interrupted epoch still validates and enters the history. Each
        # worker validates alone; averaging the numbers across replicas then makes every worker
        # take the same early stopping decision even if its arithmetic differed in the last
        # bit, and a cancellation during the epoch's last batch stops all workers here.
        measured = evaluate(validation_dataset) if evaluate is not None else []
        asks_to_stop = float(cancellation is not None and cancellation.cancelled)
        *agreed, anyone_stops = agree([*measured, asks_to_stop])
        if evaluate is not None:
            logs["val_loss"], logs["val_accuracy"] = agreed
        cancelled = cancelled or anyone_stops > 0
        for key, value in logs.items():
            history[key].append(value)
        broadcaster.emit("on_epoch_end", epoch, dict(logs))
        improved = early_stopping.improved(logs[monitor])
        if improved or best_weights is None:
            best_weights, best_epoch = model.get_weights(), epoch
        if config.schedule == "plateau" and not plateau.improved(logs[monitor]):
            _maybe_lower_learning_rate(optimizer, plateau)
        if cancelled or early_stopping.wait >= patience:
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    fit = FitResult(
        history=history,
        epochs_run=len(history["loss"]),
        best_epoch=best_epoch,
        cancelled=cancelled,
        seconds=time.perf_counter() - started,
    )
    return finish_training(
        model, fit, config=config, samples=batches_run * global_batch_size, listeners=listeners
    )


def _full_batch_stream(train_dataset, global_batch_size: int, tf):
    """Re-batches the training data into an endless stream of full global batches.

    A collective operation waits for every worker, so each worker must run exactly the same
    number of steps, and no replica may receive an empty batch (batch normalization would
    average nothing). The pipeline's last batch of a pass is partial, so the batches are
    split into images, repeated and batched again with `drop_remainder=True`: every step then
    carries `global_batch_size` images, and an epoch is a fixed number of steps that runs a
    little into the next shuffled pass instead of dropping or padding images. Each worker
    builds the same dataset (same data, same seed) and the DATA auto-shard policy gives it its
    own slice of every batch; the default FILE policy cannot shard in-memory data.
    """
    stream = train_dataset.unbatch().repeat().batch(global_batch_size, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return stream.with_options(options).prefetch(tf.data.AUTOTUNE)


def _make_train_step(model, optimizer, strategy, global_batch_size: int, weighted: bool, tf):
    """Returns a `tf.function(batch, asks_to_stop)` running one step on every replica.

    It returns the sums over all replicas of [mean loss of the global batch, weighted correct
    predictions, weights, replicas asking to stop]: one small all-reduce per step.
    """
    import keras  # Lazy: loads TensorFlow.

    def replica_step(batch, asks_to_stop):
        images, labels = batch[0], batch[1]
        weights = batch[2] if weighted else tf.ones_like(labels, dtype=tf.float32)
        with tf.GradientTape() as tape:
            probabilities = model(images, training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            # Like Keras' "sum_over_batch_size": the weighted sum over the whole global batch
            # divided by its size, so the gradients summed across replicas match one device.
            loss = tf.nn.compute_average_loss(
                per_example * weights, global_batch_size=global_batch_size
            )
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled_loss = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        predicted = tf.argmax(probabilities, axis=-1, output_type=labels.dtype)
        correct = tf.cast(tf.equal(predicted, labels), tf.float32)
        return tf.stack(
            [loss, tf.reduce_sum(correct * weights), tf.reduce_sum(weights), asks_to_stop]
        )

    @tf.function
    def train_step(batch, asks_to_stop):
        totals = strategy.run(replica_step, args=(batch, asks_to_stop))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, totals, axis=None)

    return train_step


def _make_evaluation(model, tf):
    """Returns `evaluate(dataset) -> [loss, accuracy]` over a whole dataset, on this worker.

    Each worker evaluates the whole validation set on its own copy of the (identical) weights:
    no sharding, so no uneven last batch can leave one worker waiting for another.
    """
    import keras  # Lazy: loads TensorFlow.

    @tf.function
    def batch_sums(images, labels):
        probabilities = model(images, training=False)
        losses = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
        predicted = tf.argmax(probabilities, axis=-1, output_type=labels.dtype)
        correct = tf.cast(tf.equal(predicted, labels), tf.float32)
        count = tf.cast(tf.size(labels), tf.float32)
        return tf.stack([tf.reduce_sum(losses), tf.reduce_sum(correct), count])

    def evaluate(dataset) -> list[float]:
        totals = np.zeros(3)
        for images, labels, *_ in dataset:
            totals += batch_sums(images, labels).numpy()
        count = max(totals[2], 1.0)
        return [float(totals[0] / count), float(totals[1] / count)]

    return evaluate


def _make_agreement(strategy, tf):
    """Returns `agree(values) -> values averaged over all replicas` (a list of floats)."""

    @tf.function
    def average(values):
        per_replica = strategy.run(lambda: tf.identity(values))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    def agree(values: list[float]) -> list[float]:
        return [float(value) for value in average(tf.constant(values, tf.float32)).numpy()]

    return agree


def _maybe_lower_learning_rate(optimizer, plateau: _Patience) -> None:
    """Halves the learning rate once the loss stalled `plateau.patience` epochs (the fit path's
    ReduceLROnPlateau)."""
    if plateau.wait < plateau.patience:
        return
    rate = float(np.asarray(optimizer.learning_rate))
    if rate > PLATEAU_MIN_LEARNING_RATE:
        optimizer.learning_rate = max(rate * PLATEAU_FACTOR, PLATEAU_MIN_LEARNING_RATE)
    plateau.wait = 0

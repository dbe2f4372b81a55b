"""Input checks, class weights, the tf.data pipeline and the optimizer for image training.

The pipeline keeps images as uint8 in memory (4x smaller than float32), shuffles and batches them,
and converts each whole batch to float32 in one operation: cheaper than converting image by image
or feeding float numpy arrays to `model.fit`. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import numpy as np

OPTIMIZERS = ("adam", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "plateau")


def check_image_arrays(
    images: object,
    labels: object,
    number_of_classes: int,
    name: str = "images",
    expected_shape: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Checks a labelled image set once, at the training boundary.

    Args:
        images: uint8 array (count, height, width, channels); (count, height, width) is read as
            one channel.
        labels: Integer class indices, one per image, in [0, number_of_classes).
        number_of_classes: The number of class names.
        name: What to call the images in error messages ("images", "validation images").
        expected_shape: If given, the (height, width, channels) every image must have.

    Returns:
        `(images, labels)` as a 4-D uint8 array and a 1-D int32 array.

    Raises:
        TypeError: The images are not a uint8 array.
        ValueError: Shapes disagree, the set is empty, or a label is out of range.
    """
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        received = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
        raise TypeError(
            f"Expected {name} as a uint8 numpy array (count, height, width, channels). "
            f"Received: dtype={received}"
        )
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"Expected {name} with shape (count, height, width, channels) and count >= 1. "
            f"Received: shape={images.shape}"
        )
    if expected_shape is not None and images.shape[1:] != tuple(expected_shape):
        raise ValueError(
            f"Expected {name} of shape (count, {', '.join(map(str, expected_shape))}) "
            "matching config.image_size and config.channels. "
            f"Received: shape={images.shape}"
        )
    label_array = np.asarray(labels)
    if label_array.ndim != 1 or label_array.shape[0] != images.shape[0]:
        raise ValueError(
            f"Expected one label per image ({images.shape[0]} {name}). "
            f"Received: labels with shape {label_array.shape}"
        )
    if not np.issubdtype(label_array.dtype, np.integer):
        raise ValueError(
            f"Expected integer class indices as labels. Received: labels.dtype={label_array.dtype}"
        )
    out_of_range = (label_array < 0) | (label_array >= number_of_classes)
    if np.any(out_of_range):
        position = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(
            f"Expected labels in the range [0, {number_of_classes - 1}]. "
            f"Received: labels[{position}]={int(label_array[position])}"
        )
    return images, label_array.astype(np.int32)


def compute_class_weights(labels: np.ndarray, number_of_classes: int) -> dict[int, float]:
    """Balanced class weights: `count / (classes_present * count_of_class)`.

    A rare class then weighs as much in the loss as a common one; the weights average to 1 over
    the samples. Classes absent from `labels` get weight 1.0 (they never occur in the loss).

    Args:
        labels: 1-D integer class indices.
        number_of_classes: The total number of classes.

    Returns:
        A dict mapping every class index to its weight.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=number_of_classes)
    present = int(np.count_nonzero(counts))
    total = int(counts.sum())
    return {
        index: (total / (present * int(count)) if count else 1.0)
        for index, count in enumerate(counts)
    }


def make_image_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None = None,
    class_weights: dict[int, float] | None = None,
):
    """Builds a batched `tf.data.Dataset` of (float32 images, int32 labels[, sample weights]).

    Args:
        images: uint8 array (count, height, width, channels).
        labels: int32 array (count,).
        batch_size: Images per batch.
        shuffle: Reshuffle every epoch (training) or keep the order (validation).
        seed: Shuffle seed.
        class_weights: If given, each element also carries the weight of its class.

    Returns:
        The dataset: cached, shuffled, batched, cast to float32 per batch, prefetched.
    """
    import tensorflow as tf  # Lazy: loads TensorFlow.

    tensors = (images, labels)
    if class_weights is not None:
        weight_table = np.array(
            [class_weights[index] for index in range(len(class_weights))], dtype=np.float32
        )
        tensors = (images, labels, weight_table[labels])
    dataset = tf.data.Dataset.from_tensor_slices(tensors).cache()
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def to_float(batch_images, *rest):
        return (tf.cast(batch_images, tf.float32), *rest)

    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_training_datasets(
    images: np.ndarray,
    labels: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray] | None,
    number_of_classes: int,
    batch_size: int,
    *,
    seed: int,
    class_weighting: bool,
):
    """Returns `(training dataset, validation dataset or None)` for checked arrays.

    Training batches carry balanced class weights when `class_weighting` is on; validation is
    unweighted, in order, in batches of at least 64 (no gradients, so bigger is cheaper).
    """
    weights = compute_class_weights(labels, number_of_classes) if class_weighting else None
    training = make_image_dataset(
        images, labels, batch_size, shuffle=True, seed=seed, class_weights=weights
    )
    if validation is None:
        return training, None
    return training, make_image_dataset(*validation, max(batch_size, 64), shuffle=False)


def config_optimizer(config, steps_per_epoch: int):
    """`make_optimizer` as a run's config names it (`optimizer`, `learning_rate`, `schedule`),
    its schedule spread over `config.epochs` epochs of `steps_per_epoch` steps."""
    return make_optimizer(
        config.optimizer,
        config.learning_rate,
        config.schedule,
        total_steps=config.epochs * steps_per_epoch,
    )


def make_optimizer(optimizer: str, learning_rate: float, schedule: str, total_steps: int):
    """Returns a Keras optimizer.

    Args:
        optimizer: "adam", "sgd" (Nesterov momentum 0.9) or "rmsprop".
        learning_rate: The initial learning rate.
        schedule: "cosine" decays it to 1 % over `total_steps`; "constant" and "plateau" keep it
            fixed here ("plateau" is a callback that lowers it during training).
        total_steps: Training steps over all epochs.
    """
    import keras  # Lazy: loads TensorFlow.

    rate = learning_rate
    if schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=max(1, total_steps), alpha=0.01
        )
    if optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    if optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate)
    return keras.optimizers.Adam(rate)

"""Numeric precision of training: float32 everywhere, or mixed float16 on a GPU.

Mixed precision (`mixed_float16`) computes layers in float16 and keeps the weights and the
softmax output in float32; it roughly doubles throughput on GPUs with tensor cores and slows a
CPU down, so `"auto"` turns it on only when TensorFlow sees a GPU. Keras keeps the dtype policy
per thread, so a training job that sets it does not change the pages' thread or another job.

Example:
    >>> with precision_scope(resolve_precision("auto")):
    ...     model = build_image_model("defect_cnn", (64, 64, 1), 6)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

PRECISIONS = ("auto", "float32", "mixed_float16")


def gpu_available() -> bool:
    """Whether TensorFlow sees at least one GPU."""
    import tensorflow as tf  # Lazy: loads TensorFlow.

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(precision: str = "auto") -> str:
    """Returns the Keras dtype policy to train with: "float32" or "mixed_float16".

    Args:
        precision: "auto" (mixed_float16 when a GPU is present, else float32), "float32" or
            "mixed_float16" (forced, e.g. to test that code path on a CPU). Default: "auto".

    Raises:
        ValueError: If `precision` is not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"Expected precision to be one of {list(PRECISIONS)}. Received: precision={precision!r}"
        )
    if precision == "auto":
        return "mixed_float16" if gpu_available() else "float32"
    return precision


@contextlib.contextmanager
def precision_scope(policy: str) -> Iterator[None]:
    """Sets this thread's Keras dtype policy for the block, then restores the previous one."""
    import keras  # Lazy: loads TensorFlow.

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)

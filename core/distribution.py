"""Distribution strategies for training: one device, mirrored replicas, or a multi-worker cluster.

TensorFlow's own engine does the work (`tf.distribute`); this module only picks and describes it.
"auto" mirrors over the GPUs of this machine when there are several and otherwise uses the default
one-device strategy; "mirrored" mirrors over every GPU, or over every logical CPU device when
there is no GPU (how the code path is tested on CPU); "multiworker" joins the cluster described by
the `TF_CONFIG` environment variable. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import json
import os

STRATEGIES = ("auto", "mirrored", "multiworker")


def cluster_role(environment: dict[str, str] | None = None) -> dict:
    """Reads this process's place in the cluster from `TF_CONFIG`.

    Args:
        environment: Variables to read; None reads `os.environ`.

    Returns:
        {"workers": count, "task_type": str or None, "task_index": int, "is_chief": bool};
        one worker and chief when `TF_CONFIG` is not set.

    Raises:
        ValueError: `TF_CONFIG` is set but is not JSON with a "cluster" and a "task".
    """
    environment = os.environ if environment is None else environment
    text = environment.get("TF_CONFIG", "").strip()
    if not text:
        return {"workers": 1, "task_type": None, "task_index": 0, "is_chief": True}
    try:
        config = json.loads(text)
        cluster = config["cluster"]
        task = config["task"]
        task_type = str(task["type"])
        task_index = int(task.get("index", 0))
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            'Expected TF_CONFIG as JSON like {"cluster": {"worker": ["host:port", ...]}, '
            f'"task": {{"type": "worker", "index": 0}}}}. Received: TF_CONFIG={text[:200]!r}'
        ) from None
    is_chief = task_type == "chief" or (
        task_type == "worker" and task_index == 0 and not cluster.get("chief")
    )
    return {
        "workers": workers,
        "task_type": task_type,
        "task_index": task_index,
        "is_chief": is_chief,
    }


def is_chief(environment: dict[str, str] | None = None) -> bool:
    """True for the process that saves and registers (always, outside a cluster)."""
    return cluster_role(environment)["is_chief"]


def make_strategy(name: str = "auto"):
    """Returns the `tf.distribute.Strategy` that `name` asks for.

    Args:
        name: One of `STRATEGIES`.

    Returns:
        The strategy; its `num_replicas_in_sync` says how many replicas share each batch.

    Raises:
        ValueError: Unknown name, or "multiworker" without a usable `TF_CONFIG`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Expected strategy to be one of {list(STRATEGIES)}. Received: {name=}")
    import tensorflow as tf

    if name == "multiworker":
        # Before anything that initialises TensorFlow's runtime (listing logical devices does):
        # collective operations can only be configured at startup.
        require_cluster()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy([device.name for device in gpus])
        return tf.distribute.get_strategy()
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def require_cluster(environment: dict[str, str] | None = None) -> dict:
    role = cluster_role(environment)
    if role["task_type"] is None:
        raise ValueError(
            "Expected the TF_CONFIG environment variable to describe the cluster for "
            "strategy='multiworker' (see the README, 'Training on a cluster'). "
            "Received: TF_CONFIG unset"
        )
    return role

"""Distribution strategies for training: one device, mirrored replicas, or a multi-worker cluster.

TensorFlow's own engine does the work (`tf.distribute`); this module only picks and describes it.
"auto" mirrors over the GPUs of this machine when there are several and otherwise uses the default
one-device strategy; "mirrored" mirrors over every GPU, or over every logical CPU device when
there is no GPU (how the code path is tested on CPU); "multiworker" joins the cluster described by
the `TF_CONFIG` environment variable, for example on the first of two machines:

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}'

Worker 0 (or the task of type "chief", if the cluster names one) is the chief: it saves and
registers the model. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

STRATEGIES = ("auto", "mirrored", "multiworker")
# Task types that train under MultiWorkerMirroredStrategy ("ps" and "evaluator" do not).
TRAINING_TASK_TYPES = ("chief", "worker")

_TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
)


def cluster_role(environment: Mapping[str, str] | None = None) -> dict:
    """Reads this process's place in the cluster from `TF_CONFIG`.

    Args:
        environment: Variables to read; None reads `os.environ`.

    Returns:
        {"workers": count of chief and worker tasks, "task_type": str or None,
        "task_index": int, "is_chief": bool}; one worker, the chief, when `TF_CONFIG` is not set.

    Raises:
        ValueError: `TF_CONFIG` is set but is not JSON with a "cluster" of address lists and a
            "task" whose type and index name one of them.

    Example:
        >>> cluster_role({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:1"]}, '
        ...                             '"task": {"type": "worker", "index": 1}}'})["is_chief"]
        False
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
        task_index = task.get("index", 0)
        tasks = {name: list(addresses) for name, addresses in cluster.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            f"Expected TF_CONFIG as JSON like {_TF_CONFIG_EXAMPLE}. "
            f"Received: TF_CONFIG={text[:200]!r}"
        ) from None
    addresses = tasks.get(task_type, [])
    if isinstance(task_index, str) and task_index.isdigit():
        task_index = int(task_index)  # TensorFlow's own resolver accepts "1" too.
    if isinstance(task_index, bool) or not isinstance(task_index, int):
        raise ValueError(
            f"Expected the TF_CONFIG task index as an integer. Received: index={task_index!r}"
        )
    if not 0 <= task_index < len(addresses):
        raise ValueError(
            f"Expected the TF_CONFIG task to name one of the {len(addresses)} {task_type!r} "
            f"addresses of the cluster (index from 0). "
            f"Received: type={task_type!r}, index={task_index}, cluster={tasks}"
        )
    is_chief = task_type == "chief" or (
        task_type == "worker" and task_index == 0 and not tasks.get("chief")
    )
    return {
        "workers": len(tasks.get("worker", [])) + len(tasks.get("chief", [])),
        "task_type": task_type,
        "task_index": task_index,
        "is_chief": is_chief,
    }


def is_chief(environment: Mapping[str, str] | None = None) -> bool:
    """True for the process that saves and registers (always, outside a cluster)."""
    return cluster_role(environment)["is_chief"]


def require_cluster(environment: Mapping[str, str] | None = None) -> dict:
    """Returns `cluster_role(environment)` if it describes a training task of a cluster.

    Raises:
        ValueError: `TF_CONFIG` is unset or malformed, or this task does not train (e.g. "ps").
    """
    role = cluster_role(environment)
    if role["task_type"] is None:
        raise ValueError(
            "Expected the TF_CONFIG environment variable to describe the cluster for "
            f"strategy='multiworker', e.g. {_TF_CONFIG_EXAMPLE} (see the README, 'Training on "
            "a cluster'). Received: TF_CONFIG unset"
        )
    if role["task_type"] not in TRAINING_TASK_TYPES:
        raise ValueError(
            f"Expected the TF_CONFIG task type to be one of {list(TRAINING_TASK_TYPES)} for "
            f"strategy='multiworker'. Received: type={role['task_type']!r}"
        )
    return role


def make_strategy(name: str = "auto"):
    """Returns the `tf.distribute.Strategy` that `name` asks for.

    Call it before TensorFlow runs its first operation: "multiworker" configures collective
    operations, which TensorFlow only allows at startup.

    Args:
        name: One of `STRATEGIES`. Defaults to "auto".

    Returns:
        The strategy; its `num_replicas_in_sync` says how many replicas share each batch.

    Raises:
        ValueError: Unknown name, or "multiworker" without a usable `TF_CONFIG`.
        RuntimeError: "multiworker" after TensorFlow already started in this process.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Expected strategy to be one of {list(STRATEGIES)}. Received: strategy={name!r}"
        )
    if name == "multiworker":
        require_cluster()
    import tensorflow as tf  # Lazy: loads TensorFlow.

    if name == "multiworker":
        # Before anything that initialises TensorFlow's runtime (listing logical devices does):
        # collective operations can only be configured at startup.
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise RuntimeError(
                "Expected strategy='multiworker' to be made before TensorFlow's first "
                "operation; train in a fresh process, e.g. `python -m core train image "
                f"--strategy multiworker`. Received: {error}"
            ) from error
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy([device.name for device in gpus])
        return tf.distribute.get_strategy()
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])

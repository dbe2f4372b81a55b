"""Tests for core/engine/distribution.py: reading TF_CONFIG and choosing a strategy."""

import json

import pytest

from core.engine.distribution import (
    STRATEGIES,
    cluster_role,
    is_chief,
    make_strategy,
    require_cluster,
)

TWO_WORKERS = ["127.0.0.1:20001", "127.0.0.1:20002"]


def tf_config(cluster: dict, task_type: str = "worker", index: object = 0) -> dict[str, str]:
    return {
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})
    }


# cluster_role and is_chief.


def test_without_tf_config_the_process_is_a_lone_chief():
    assert cluster_role({}) == {"workers": 1, "task_type": None, "task_index": 0, "is_chief": True}
    assert cluster_role({"TF_CONFIG": "  "})["is_chief"] is True
    assert is_chief({}) is True


@pytest.mark.parametrize(
    ("cluster", "task_type", "index", "expected_chief"),
    [
        ({"worker": TWO_WORKERS}, "worker", 0, True),
        ({"worker": TWO_WORKERS}, "worker", 1, False),
        ({"chief": ["127.0.0.1:20000"], "worker": TWO_WORKERS}, "chief", 0, True),
        ({"chief": ["127.0.0.1:20000"], "worker": TWO_WORKERS}, "worker", 0, False),
    ],
    ids=["worker-0", "worker-1", "chief", "worker-0-beside-a-chief"],
)
def test_the_chief_is_the_chief_task_or_else_worker_0(cluster, task_type, index, expected_chief):
    environment = tf_config(cluster, task_type, index)

    role = cluster_role(environment)

    assert role["task_type"] == task_type
    assert role["task_index"] == index
    assert role["is_chief"] is expected_chief
    assert is_chief(environment) is expected_chief
    assert role["workers"] == len(cluster["worker"]) + len(cluster.get("chief", []))


def test_cluster_role_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config({"worker": TWO_WORKERS}, index=1)["TF_CONFIG"])
    assert cluster_role()["task_index"] == 1
    assert is_chief() is False
    monkeypatch.delenv("TF_CONFIG")
    assert is_chief() is True


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"cluster": {"worker": ["a:1"]}}', '{"task": {"type": "worker"}}'],
    ids=["not-json", "a-list", "no-task", "no-cluster"],
)
def test_malformed_tf_config_is_refused_with_an_example(text):
    with pytest.raises(ValueError) as caught:
        cluster_role({"TF_CONFIG": text})

    assert str(caught.value) == (
        'Expected TF_CONFIG as JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": 0}}. '
        f"Received: TF_CONFIG={text!r}"
    )


def test_a_task_outside_the_cluster_is_refused():
    with pytest.raises(ValueError) as caught:
        cluster_role(tf_config({"worker": TWO_WORKERS}, index=2))

    assert str(caught.value) == (
        "Expected the TF_CONFIG task to name one of the 2 'worker' addresses of the cluster "
        "(index from 0). Received: type='worker', index=2, "
        f"cluster={{'worker': {TWO_WORKERS}}}"
    )
    with pytest.raises(ValueError, match="one of the 0 'chief' addresses"):
        cluster_role(tf_config({"worker": TWO_WORKERS}, task_type="chief"))


def test_a_task_index_may_be_a_string_of_digits_as_tensorflow_accepts():
    assert cluster_role(tf_config({"worker": TWO_WORKERS}, index="1"))["task_index"] == 1


@pytest.mark.parametrize("index", ["one", 1.0, True])
def test_a_task_index_must_be_an_integer(index):
    with pytest.raises(ValueError) as caught:
        cluster_role(tf_config({"worker": TWO_WORKERS}, index=index))

    assert str(caught.value) == (
        f"Expected the TF_CONFIG task index as an integer. Received: index={index!r}"
    )


# require_cluster.


def test_require_cluster_returns_the_role_of_a_training_task():
    role = require_cluster(tf_config({"worker": TWO_WORKERS}, index=1))

    assert role == {"workers": 2, "task_type": "worker", "task_index": 1, "is_chief": False}


def test_require_cluster_refuses_a_missing_tf_config():
    with pytest.raises(ValueError) as caught:
        require_cluster({})

    assert str(caught.value) == (
        "Expected the TF_CONFIG environment variable to describe the cluster for "
        'strategy=\'multiworker\', e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": 0}} (see the README, \'Training on a cluster\'). '
        "Received: TF_CONFIG unset"
    )


def test_require_cluster_refuses_tasks_that_do_not_train():
    environment = tf_config({"worker": TWO_WORKERS, "ps": ["127.0.0.1:20003"]}, "ps", 0)

    with pytest.raises(ValueError) as caught:
        require_cluster(environment)

    assert str(caught.value) == (
        "Expected the TF_CONFIG task type to be one of ['chief', 'worker'] for "
        "strategy='multiworker'. Received: type='ps'"
    )


# make_strategy.


def test_make_strategy_refuses_an_unknown_name():
    with pytest.raises(ValueError) as caught:
        make_strategy("parameter_server")

    assert str(caught.value) == (
        f"Expected strategy to be one of {list(STRATEGIES)}. Received: strategy='parameter_server'"
    )


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)

    with pytest.raises(ValueError, match="Received: TF_CONFIG unset"):
        make_strategy("multiworker")


def test_auto_uses_the_default_strategy_without_several_gpus():
    tf = pytest.importorskip("tensorflow")
    if len(tf.config.list_logical_devices("GPU")) > 1:
        pytest.skip("this machine has several GPUs")

    strategy = make_strategy("auto")

    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_mirrored_without_gpus_mirrors_over_the_logical_cpu_devices():
    tf = pytest.importorskip("tensorflow")
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("this machine has a GPU")

    strategy = make_strategy("mirrored")

    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))


def test_multiworker_after_tensorflow_started_asks_for_a_fresh_process(monkeypatch):
    tf = pytest.importorskip("tensorflow")
    tf.config.list_logical_devices()  # Initialises TensorFlow's runtime, as earlier tests do.
    monkeypatch.setenv("TF_CONFIG", tf_config({"worker": TWO_WORKERS})["TF_CONFIG"])

    with pytest.raises(RuntimeError) as caught:
        make_strategy("multiworker")

    assert str(caught.value) == (
        "Expected strategy='multiworker' to be made before TensorFlow's first operation; "
        "train in a fresh process, e.g. `python -m core train image --strategy multiworker`. "
        "Received: Collective ops must be configured at program startup"
    )

"""Tests for core/registry/store.py, core/registry/metadata.py and core/registry/reading.py.

Export tests live in tests/unit/deploy/test_export.py.
"""

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from core.registry.store import (
    ModelRegistry,
    dataset_fingerprint,
    parse_model_reference,
    resolve_registry_directory,
    validate_metadata,
)
from tests.conftest import REPOSITORY_ROOT
from tests.helpers.registry import SAMPLE, make_metadata, make_model


def complete_metadata(**overrides) -> dict:
    """Metadata as stored on disk, with the keys `save` fills in."""
    return make_metadata(
        **{
            "created_at": "2025-01-02T03:04:05+00:00",
            "tensorflow_version": "2.21.0",
            "keras_version": "3.15.1",
            **overrides,
        }
    )


def save_in_subprocess(directory, barrier, results):
    """Runs in a spawned process: saves a model under the shared name 'pump'."""
    registry = ModelRegistry(directory)
    model = make_model(seed=os.getpid() % 1000)
    barrier.wait(timeout=300)
    results.put(registry.save(model, "pump", make_metadata()).version)


# Locating the registry and naming models.


def test_resolve_registry_directory_prefers_explicit_then_environment_then_default(monkeypatch):
    monkeypatch.setenv("LINESIGHT_REGISTRY", "/from/environment")
    assert str(resolve_registry_directory("/explicit")) == "/explicit"
    assert str(resolve_registry_directory()) == "/from/environment"
    monkeypatch.delenv("LINESIGHT_REGISTRY")
    assert str(resolve_registry_directory()) == "registry"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("pump", ("pump", None)),
        ("pump:3", ("pump", 3)),
        ("line-2.v_1:latest", ("line-2.v_1", None)),
    ],
)
def test_parse_model_reference(reference, expected):
    assert parse_model_reference(reference) == expected


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("pump:0", "positive integer version (or 'latest'). Received: reference='pump:0'"),
        ("pump:x", "positive integer version (or 'latest'). Received: reference='pump:x'"),
        ("../etc", "starting with a letter or digit. Received: name='../etc'"),
        (".hidden", "Received: name='.hidden'"),
        ("a/b", "Received: name='a/b'"),
        ("", "Received: name=''"),
        ("x" * 65, "Expected a model name of 1 to 64 letters"),
        ("pompe\u00e9", "Received: name='pompe\u00e9'"),
    ],
)
def test_parse_model_reference_rejects_unsafe_or_malformed(reference, message):
    with pytest.raises(ValueError, match="Expected a model") as raised:
        parse_model_reference(reference)
    assert message in str(raised.value)


def test_save_refuses_invalid_name(tmp_path):
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ValueError, match=r"Received: name='\.\./escape'"):
        registry.save(make_model(), "../escape", make_metadata())
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(
        ValueError, match=r"Expected the metadata to be a dict. Received: metadata=\[\]"
    ):
        registry.save(make_model(), "pump", [])


# Metadata.


def test_validate_metadata_normalizes_numpy_values_and_tuples():
    metadata = complete_metadata(
        input_shape=(np.int64(4),),
        metrics={"accuracy": np.float32(0.75), "confusion": np.eye(2, dtype="int64")},
        history={"loss": [np.float64(0.5)]},
        notes="first try",
        extra={"seed": 7},
    )
    validated = validate_metadata(metadata)
    assert validated["input_shape"] == [4]
    assert validated["metrics"] == {"accuracy": 0.75, "confusion": [[1, 0], [0, 1]]}
    assert validated["history"] == {"loss": [0.5]}
    json.dumps(validated)
    assert metadata["input_shape"] == (np.int64(4),), "the input must not be modified"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"task": "regression"}, "Expected metadata['task'] to be one of ['image_classification'"),
        ({"task": "regression"}, "Received: task='regression'"),
        ({"classes": "good,bad"}, "Expected metadata['classes'] to be a list of class names"),
        ({"classes": [1, 2]}, "Received: classes=[1, 2]"),
        ({"input_shape": []}, "Expected metadata['input_shape'] to be a non-empty list"),
        ({"input_shape": [4, 0]}, "Received: input_shape=[4, 0]"),
        ({"input_shape": "4"}, "Received: input_shape='4'"),
        ({"preprocessing": None}, "Expected metadata['preprocessing'] to be a dict"),
        ({"metrics": [0.5]}, "Expected metadata['metrics'] to be a dict. Received: metrics=[0.5]"),
        ({"history": {"loss": 0.5}}, "Expected metadata['history'] to be a dict of lists"),
        ({"history": {"loss": ["x"]}}, "Received: history={'loss': ['x']}"),
        ({"dataset_fingerprint": 12}, "Expected metadata['dataset_fingerprint'] to be a string"),
        ({"created_at": "yesterday"}, "Expected metadata['created_at'] to be an ISO 8601"),
        ({"keras_version": ""}, "Expected metadata['keras_version'] to be a string"),
        ({"version": 0}, "Expected metadata['version'] to be a positive integer"),
        ({"owner": 5}, "Expected metadata['owner'] to be a string. Received: owner=5"),
        ({"extra": []}, "Expected metadata['extra'] to be a dict"),
        ({"metrics": {"when": object()}}, "Expected metadata that can be written as JSON"),
        ({"colour": "red"}, "(put anything else under 'extra'). Received: unknown keys ['colour']"),
    ],
)
def test_validate_metadata_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError) as raised:
        validate_metadata(complete_metadata(**overrides))
    assert message in str(raised.value)


def test_validate_metadata_names_missing_keys():
    metadata = complete_metadata()
    del metadata["history"], metadata["task"]
    with pytest.raises(ValueError, match=r"Received: missing keys \['task', 'history'\]"):
        validate_metadata(metadata)


def test_dataset_fingerprint_ignores_order_and_sees_labels_and_content():
    items = [("a.png", "good"), ("b.png", "scratch")]
    fingerprint = dataset_fingerprint(items)
    assert fingerprint.startswith("sha256:") and len(fingerprint) == 7 + 64
    assert dataset_fingerprint(reversed(items)) == fingerprint
    assert dataset_fingerprint([("a.png", "scratch"), ("b.png", "scratch")]) != fingerprint
    with_content = dataset_fingerprint([("a.png", "good", b"1"), ("b.png", "scratch", b"2")])
    assert with_content != fingerprint
    assert with_content != dataset_fingerprint(
        [("a.png", "good", b"1"), ("b.png", "scratch", b"3")]
    )
    with pytest.raises(ValueError, match=r"Received: item=\('a.png',\)"):
        dataset_fingerprint([("a.png",)])


# Saving, listing, loading.


def test_save_list_get_load_round_trip(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    model = make_model()
    first = registry.save(model, "pump", make_metadata())
    second = registry.save(make_model(seed=1), "pump", make_metadata(owner="line 3"))
    other = registry.save(make_model(), "camera", make_metadata())

    assert (first.reference, second.reference, other.reference) == ("pump:1", "pump:2", "camera:1")
    assert [record.reference for record in registry.list()] == ["camera:1", "pump:1", "pump:2"]
    assert registry.problems() == []
    assert registry.names() == ["camera", "pump"]
    assert registry.get("pump").version == 2
    assert registry.get("pump:1").metadata == first.metadata
    assert registry.get("pump", 1).path == tmp_path / "registry" / "pump" / "1"

    import keras
    import tensorflow

    loaded, metadata = registry.load("pump:1")
    np.testing.assert_allclose(loaded.predict(SAMPLE, verbose=0), model.predict(SAMPLE, verbose=0))
    assert metadata["name"] == "pump" and metadata["version"] == 1
    assert metadata["keras_version"] == keras.__version__
    assert metadata["tensorflow_version"] == tensorflow.__version__
    assert metadata["created_at"].endswith("+00:00")
    assert registry.load("pump")[1]["owner"] == "line 3"
    on_disk = json.loads((first.path / "metadata.json").read_text())
    assert on_disk == first.metadata


def test_get_lists_known_names_and_versions(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.save(make_model(), "pump", make_metadata())
    with pytest.raises(ValueError, match=r"known names: \['pump'\]. Received: name='fan'"):
        registry.get("fan")
    with pytest.raises(ValueError, match=r"known versions: \[1\]. Received: version=4"):
        registry.get("pump:4")
    with pytest.raises(ValueError, match="Expected the version once"):
        registry.get("pump:1", version=2)


def test_save_checks_input_shape_against_the_model(tmp_path):
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ValueError, match=r"model 'pump' \[4\]. Received: input_shape=\[5\]"):
        registry.save(make_model(), "pump", make_metadata(input_shape=[5]))
    assert registry.list() == []


def test_listing_does_not_import_tensorflow(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.save(make_model(), "pump", make_metadata())
    script = (
        "import sys\n"
        "from core.registry.store import ModelRegistry\n"
        f"records = ModelRegistry({str(tmp_path)!r}).list()\n"
        "print(len(records), 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY_ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["1", "False", "False"]


def test_list_skips_incomplete_and_invalid_entries(tmp_path):
    registry = ModelRegistry(tmp_path)
    good = registry.save(make_model(), "pump", make_metadata())
    (tmp_path / "pump" / "2").mkdir()
    (tmp_path / "pump" / "2" / "metadata.json").write_text(json.dumps(complete_metadata()))
    (tmp_path / "pump" / "3").mkdir()
    (tmp_path / "pump" / "3" / "model.keras").write_bytes(good.model_path.read_bytes())
    (tmp_path / "pump" / "3" / "metadata.json").write_text(
        json.dumps(complete_metadata(task="poetry"))
    )
    (tmp_path / "pump" / "draft").mkdir()
    (tmp_path / "bad name").mkdir()
    (tmp_path / ".staging" / "leftover").mkdir(parents=True)

    assert [record.reference for record in registry.list()] == ["pump:1"]
    problems = {problem.name: problem.reason for problem in registry.problems()}
    assert set(problems) == {"bad name", "pump/2", "pump/3", "pump/draft"}
    assert "Expected model.keras and metadata.json" in problems["pump/2"]
    assert "Received: task='poetry'" in problems["pump/3"]
    assert "positive integer. Received: name='draft'" in problems["pump/draft"]
    with pytest.raises(ValueError, match=r"known versions: \[1\]. Received: version=3 \(Expected"):
        registry.get("pump:3")


def test_concurrent_saves_from_threads_get_distinct_versions(tmp_path):
    registry = ModelRegistry(tmp_path)
    models = [make_model(seed=index) for index in range(8)]
    barrier = threading.Barrier(len(models))
    versions, errors = [], []

    def save(model):
        try:
            barrier.wait(timeout=60)
            versions.append(registry.save(model, "pump", make_metadata()).version)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=save, args=(model,)) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(versions) == list(range(1, 9))
    assert [record.version for record in registry.list()] == list(range(1, 9))
    for version in range(1, 9):
        model, metadata = registry.load("pump", version)
        assert metadata["version"] == version
        assert model.predict(SAMPLE, verbose=0).shape == (2, 2)
    assert list((tmp_path / ".staging").iterdir()) == []


@pytest.mark.slow
def test_concurrent_saves_from_spawned_processes_get_distinct_versions(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(8), context.Queue()
    processes = [
        context.Process(target=save_in_subprocess, args=(str(tmp_path), barrier, results))
        for _ in range(8)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    assert [process.exitcode for process in processes] == [0] * 8
    versions = sorted(results.get(timeout=10) for _ in processes)

    registry = ModelRegistry(tmp_path)
    assert versions == list(range(1, 9))
    assert [record.reference for record in registry.list()] == [f"pump:{v}" for v in versions]
    for version in versions:
        assert registry.load("pump", version)[1]["version"] == version


def test_claim_retries_when_another_writer_takes_the_version(tmp_path, monkeypatch):
    registry = ModelRegistry(tmp_path)
    real_rename = os.rename
    calls = []

    def rename_after_a_rival(source, target):
        if not calls:
            # Another writer claims the same version number just before this one.
            os.makedirs(target)
            (tmp_path / "pump" / "1" / "model.keras").write_bytes(b"rival")
        calls.append(target)
        return real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename_after_a_rival)
    record = registry.save(make_model(), "pump", make_metadata())
    assert [os.path.basename(target) for target in calls] == ["1", "2"]
    assert record.version == 2 and record.metadata["version"] == 2
    assert json.loads((record.path / "metadata.json").read_text())["version"] == 2


@pytest.mark.parametrize("operation", ["replace", "rename"])
def test_fault_before_the_final_rename_leaves_only_complete_models(
    tmp_path, monkeypatch, operation
):
    registry = ModelRegistry(tmp_path)
    model = make_model()
    registry.save(model, "pump", make_metadata())

    def fail(*arguments, **keywords):
        raise OSError("injected fault: disk full")

    monkeypatch.setattr(os, operation, fail)
    with pytest.raises(OSError, match="injected fault"):
        registry.save(make_model(seed=3), "pump", make_metadata())
    monkeypatch.undo()

    assert [record.reference for record in registry.list()] == ["pump:1"]
    assert registry.problems() == []
    assert list((tmp_path / ".staging").iterdir()) == []
    loaded, _ = registry.load("pump")
    np.testing.assert_allclose(loaded.predict(SAMPLE, verbose=0), model.predict(SAMPLE, verbose=0))
    assert registry.save(make_model(), "pump", make_metadata()).version == 2


def test_save_removes_staging_leftovers_older_than_an_hour(tmp_path):
    old, recent = tmp_path / ".staging" / "old", tmp_path / ".staging" / "recent"
    old.mkdir(parents=True)
    recent.mkdir()
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    ModelRegistry(tmp_path).save(make_model(), "pump", make_metadata())
    assert sorted(path.name for path in (tmp_path / ".staging").iterdir()) == ["recent"]


# Lambda layers.


def make_lambda_model():
    import keras

    inputs = keras.Input(shape=(4,))
    doubled = keras.layers.Lambda(lambda tensor: tensor * 2)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(doubled))


def test_load_refuses_a_lambda_layer_saved_into_the_registry_layout(tmp_path):
    version_directory = tmp_path / "sneaky" / "1"
    version_directory.mkdir(parents=True)
    make_lambda_model().save(version_directory / "model.keras")
    (version_directory / "metadata.json").write_text(json.dumps(complete_metadata()))
    registry = ModelRegistry(tmp_path)

    assert [record.reference for record in registry.list()] == ["sneaky:1"]
    with pytest.raises(ValueError) as raised:
        registry.load("sneaky")
    assert str(raised.value).startswith(
        "Refusing to load model 'sneaky:1': it contains a Lambda layer (arbitrary Python code), "
        "which LineSight does not load."
    )
    assert f"Received: path='{version_directory / 'model.keras'}'" in str(raised.value)


def test_save_refuses_a_lambda_layer(tmp_path):
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ValueError, match="Refusing to save model 'sneaky': it contains a Lambda"):
        registry.save(make_lambda_model(), "sneaky", make_metadata())
    assert registry.list() == []
    assert list((tmp_path / ".staging").iterdir()) == []


def test_load_reports_a_corrupt_model_file(tmp_path):
    version_directory = tmp_path / "pump" / "1"
    version_directory.mkdir(parents=True)
    (version_directory / "model.keras").write_bytes(b"not a zip")
    (version_directory / "metadata.json").write_text(json.dumps(complete_metadata()))
    with pytest.raises(
        ValueError, match="Expected a model file Keras can load safely for 'pump:1'"
    ):
        ModelRegistry(tmp_path).load("pump:1")


# Deleting.


def test_delete_one_version_then_all(tmp_path):
    registry = ModelRegistry(tmp_path)
    for _ in range(4):
        registry.save(make_model(), "pump", make_metadata())
    registry.save(make_model(), "camera", make_metadata())

    deleted = registry.delete("pump:2")
    assert [record.reference for record in deleted] == ["pump:2"]
    assert [record.reference for record in registry.delete("pump:latest")] == ["pump:4"]
    assert [record.reference for record in registry.list()] == ["camera:1", "pump:1", "pump:3"]
    deleted = registry.delete("pump")
    assert [record.reference for record in deleted] == ["pump:1", "pump:3"]
    assert [record.reference for record in registry.list()] == ["camera:1"]
    assert not (tmp_path / "pump").exists()
    assert list((tmp_path / ".trash").iterdir()) == []
    with pytest.raises(ValueError, match=r"known names: \['camera'\]. Received: name='pump'"):
        registry.delete("pump")
    with pytest.raises(ValueError, match=r"known versions: \[1\]. Received: version=2"):
        registry.delete("camera", 2)
    registry.delete("camera", 1)
    assert registry.list() == [] and not (tmp_path / "camera").exists()

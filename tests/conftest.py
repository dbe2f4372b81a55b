"""Shared test configuration.

A test run writes nothing into the checkout: for the whole run (and the processes it starts) the
model registry, Hypothesis's example database and ruff's cache live in one temporary folder,
removed at the end. Tests that need a registry of their own still use `isolated_registry`.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

# Keep TensorFlow quiet and on CPU in every test process.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

SCRATCH_KEY = pytest.StashKey[tuple[Path, pytest.MonkeyPatch]]()


def pytest_configure(config):
    scratch = Path(tempfile.mkdtemp(prefix="linesight-tests-"))
    environment = pytest.MonkeyPatch()
    # Always: a test must never add models to the developer's own registry (or ./registry).
    environment.setenv("LINESIGHT_REGISTRY", str(scratch / "registry"))
    # Unless the developer chose a place: Hypothesis would write .hypothesis/ and ruff (run by the
    # style test) .ruff_cache/ into the checkout.
    for variable, folder in {
        "HYPOTHESIS_STORAGE_DIRECTORY": "hypothesis",
        "RUFF_CACHE_DIR": "ruff",
    }.items():
        if not os.environ.get(variable):
            environment.setenv(variable, str(scratch / folder))
    config.stash[SCRATCH_KEY] = (scratch, environment)


def pytest_unconfigure(config):
    scratch, environment = config.stash.get(SCRATCH_KEY, (None, None))
    if scratch is None:
        return
    environment.undo()
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def repository_root() -> Path:
    return REPOSITORY_ROOT


@pytest.fixture
def isolated_registry(tmp_path, monkeypatch) -> Path:
    """Points LINESIGHT_REGISTRY at an empty temporary folder for one test."""
    directory = tmp_path / "registry"
    monkeypatch.setenv("LINESIGHT_REGISTRY", str(directory))
    return directory

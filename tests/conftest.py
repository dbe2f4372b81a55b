"""Shared test configuration."""

import os
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

# Keep TensorFlow quiet and on CPU in every test process.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def repository_root() -> Path:
    return REPOSITORY_ROOT


@pytest.fixture
def isolated_registry(tmp_path, monkeypatch) -> Path:
    """Points LINESIGHT_REGISTRY at an empty temporary folder for one test."""
    directory = tmp_path / "registry"
    monkeypatch.setenv("LINESIGHT_REGISTRY", str(directory))
    return directory

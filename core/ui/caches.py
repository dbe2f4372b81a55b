"""Engine objects shared across users: the registry, the job manager, loaded predictors and
inspected data.

`st.cache_resource` holds the registry handle, the job manager and loaded predictors (immutable
once loaded); `st.cache_data` entries are keyed by the bundled data or by uploaded bytes.
"""

from __future__ import annotations

import os

import streamlit as st

from core.access import policy as access
from core.data import bundled
from core.data.inspection import inspect_path
from core.data.inspection import inspect_uploads as inspect
from core.demo.models import ensure_demo_models
from core.inference.verdicts import with_operating_point
from core.jobs.job import DEFAULT_RESULT_IDLE_SECONDS
from core.jobs.manager import JobManager
from core.registry.store import ModelRegistry, resolve_registry_directory
from core.workflows.image import load_predictor
from core.workflows.series import load_series_predictor

MAX_RUNNING_JOBS_VARIABLE = "LINESIGHT_MAX_RUNNING_JOBS"
MAX_QUEUED_JOBS_VARIABLE = "LINESIGHT_MAX_QUEUED_JOBS"
RESULT_IDLE_SECONDS_VARIABLE = "LINESIGHT_RESULT_IDLE_SECONDS"


@st.cache_resource(show_spinner=False)
def _registry(directory: str):
    registry = ModelRegistry(directory)
    ensure_demo_models(registry)
    return registry


def registry():
    """The model registry (LINESIGHT_REGISTRY or ./registry), demo models registered once."""
    return _registry(str(resolve_registry_directory()))


@st.cache_resource(show_spinner=False)
def job_manager():
    """The process-wide job manager; its bounds come from LINESIGHT_MAX_RUNNING/QUEUED_JOBS, and
    how long a finished job's unread result stays in memory from LINESIGHT_RESULT_IDLE_SECONDS."""
    return JobManager(
        max_running=int(os.environ.get(MAX_RUNNING_JOBS_VARIABLE, "1")),
        max_queued=int(os.environ.get(MAX_QUEUED_JOBS_VARIABLE, "3")),
        result_idle_seconds=float(
            os.environ.get(RESULT_IDLE_SECONDS_VARIABLE, DEFAULT_RESULT_IDLE_SECONDS)
        ),
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _predictor(registry_directory: str, reference: str, modified: float):
    # `modified` is part of the cache key: a re-saved version is loaded again.

    return load_predictor(ModelRegistry(registry_directory), reference, operating_point=False)


def predictor(reference: str):
    """A warmed-up image predictor (classifier or anomaly model) and metadata, cached per
    version; the version's stored operating point, read afresh, decides its verdicts."""
    record = registry().get(reference)
    modified = record.model_path.stat().st_mtime
    loaded, metadata = _predictor(str(registry().directory), record.reference, modified)
    return with_operating_point(loaded, record), metadata


@st.cache_resource(show_spinner=False, max_entries=8)
def _series_predictor(registry_directory: str, reference: str, modified: float):
    return load_series_predictor(ModelRegistry(registry_directory), reference)


def series_predictor(reference: str):
    """A `SeriesPredictor` (model, scaler, settings) for a registered series model, cached."""
    record = registry().get(reference)
    modified = record.model_path.stat().st_mtime
    return _series_predictor(str(registry().directory), record.reference, modified)


@st.cache_data(show_spinner=False)
def sample_image_grid(images_per_class: int = 6):
    return bundled.sample_image_grid(images_per_class)


@st.cache_data(show_spinner=False)
def sample_sensor_frame(split: str = "train"):
    return bundled.sample_sensor_frame(split)


@st.cache_data(show_spinner=False, max_entries=32)
def _inspect_uploads(files: tuple[tuple[str, bytes], ...]) -> dict:
    return inspect(list(files))


def inspect_uploads(files: tuple[tuple[str, bytes], ...]) -> dict:
    """`core.data.inspection.inspect_uploads` of the files within their upload limits.

    A file beyond the limit of its type is listed under `rejected` with the `check_upload`
    message and never parsed; the others are inspected (and cached by their bytes).
    """
    accepted, refused = access.accept_uploads(files)
    report = (
        _inspect_uploads(tuple(accepted))
        if accepted
        else {"image_archives": [], "images": None, "series": [], "rejected": []}
    )
    return {**report, "rejected": [item.as_dict() for item in refused] + report["rejected"]}


@st.cache_data(show_spinner=False)
def inspect_sample_data() -> dict:
    directory = bundled.sample_data_directory()
    images = inspect_path(directory / "images", kind="images")
    sensors = inspect_path(directory / "sensors" / "train.csv", kind="series")
    return {
        "image_archives": [images | {"name": "sample_data/images"}],
        "images": None,
        "series": [sensors | {"name": "sample_data/sensors/train.csv"}],
        "rejected": [],
    }

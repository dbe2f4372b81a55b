"""The one bridge between `core` and Streamlit: cached, session-safe access to the engine.

Everything cached here with `st.cache_data` is derived from the bundled sample data or from bytes
the user uploaded (keyed by those bytes), never shared mutable state.
"""

from __future__ import annotations

import streamlit as st

from core.data import bundled


@st.cache_data(show_spinner=False)
def sample_image_grid(images_per_class: int = 6):
    return bundled.sample_image_grid(images_per_class)


@st.cache_data(show_spinner=False)
def sample_sensor_frame(split: str = "train"):
    return bundled.sample_sensor_frame(split)


@st.cache_data(show_spinner=False, max_entries=32)
def inspect_uploads(files: tuple[tuple[str, bytes], ...]) -> dict:
    from core.data.inspection import inspect_uploads as inspect

    return inspect(list(files))


@st.cache_data(show_spinner=False)
def inspect_sample_data() -> dict:
    from core.data.inspection import inspect_path

    directory = bundled.sample_data_directory()
    images = inspect_path(directory / "images", kind="images")
    sensors = inspect_path(directory / "sensors" / "train.csv", kind="series")
    return {
        "image_archives": [images | {"name": "sample_data/images"}],
        "images": None,
        "series": [sensors | {"name": "sample_data/sensors/train.csv"}],
        "rejected": [],
    }

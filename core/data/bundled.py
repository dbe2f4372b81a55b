"""Read access to the bundled `sample_data/` for demos (home page, walkthroughs)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

SAMPLE_DATA_ENVIRONMENT_VARIABLE = "LINESIGHT_SAMPLE_DATA"


def sample_data_directory() -> Path:
    """Returns the bundled sample data folder (overridable with `LINESIGHT_SAMPLE_DATA`)."""
    override = os.environ.get(SAMPLE_DATA_ENVIRONMENT_VARIABLE)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent.parent / "sample_data"


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            "Expected the bundled sample data (regenerate it with `python -m core sample-data`). "
            f"Received: missing path='{path}'"
        )
    return path


def sample_image_grid(images_per_class: int = 6) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Returns the first images of each sample class, for a per-class grid.

    Args:
        images_per_class: How many images to return per class (default 6).

    Returns:
        A mapping from class name to a list of (file name, uint8 grayscale array).

    Raises:
        ValueError: If `images_per_class` is not positive.
        FileNotFoundError: If the sample images are missing.
    """
    if images_per_class < 1:
        raise ValueError(
            f"Expected a positive number of images per class. Received: "
            f"images_per_class={images_per_class}"
        )
    images_directory = _require(sample_data_directory() / "images")
    grid = {}
    for class_directory in sorted(path for path in images_directory.iterdir() if path.is_dir()):
        files = sorted(class_directory.glob("*.png"))[:images_per_class]
        grid[class_directory.name] = [
            (file.name, np.asarray(Image.open(file).convert("L"))) for file in files
        ]
    return grid


def sample_sensor_frame(split: str = "train") -> pd.DataFrame:
    """Returns the bundled sensor table `sensors/<split>.csv` ("train", "test" or "live")."""
    if split not in ("train", "test", "live"):
        raise ValueError(
            f"Expected split to be one of ('train', 'test', 'live'). Received: split={split!r}"
        )
    return pd.read_csv(_require(sample_data_directory() / "sensors" / f"{split}.csv"))


def spot_check_files() -> list[Path]:
    """Returns the held-aside spot-check images."""
    return sorted(_require(sample_data_directory() / "spot_check").glob("*.png"))

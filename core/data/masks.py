"""Defect masks: per-pixel ground truth for pixel-level anomaly metrics.

A mask is an image with the same relative name as the image it belongs to, under its own folder:
the mask of `crack/crack_000.png` is `<mask_directory>/crack/crack_000.png`. A pixel is a defect
when its gray value is at least half of full scale (128 of 255); masks that only hold 0 and 1
are read as 0 and 255. The bundled sample data has masks for every defect image and none for
`ok` (see `sample_data/README.md`). Only numpy and pillow are used: no TensorFlow.

Example:

    dataset = load_images(sample_data_directory() / "images", image_size=(64, 64))
    masks, has_mask = load_masks(bundled_mask_directory(), dataset.filenames, (64, 64))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from core.data.bundled import sample_data_directory
from core.data.validation import describe_value

# Resized masks are bilinear blends of 0 and 1; a pixel stays a defect when at least half of it was.
RESIZED_MASK_THRESHOLD = 0.5
_FULL_SCALE = 255.0


def bundled_mask_directory() -> Path:
    """Returns the bundled sample masks folder, `<sample data>/masks` (it may not exist)."""
    return sample_data_directory() / "masks"


def load_masks(
    mask_directory: str | os.PathLike,
    filenames: Sequence[str],
    image_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Loads the defect mask of each image, where one exists.

    Args:
        mask_directory: Folder the mask files are relative to.
        filenames: Relative image names, such as `ImageDataset.filenames`
            (`"crack/crack_000.png"`); the mask of each is `<mask_directory>/<filename>`.
        image_size: (height, width) to resize every mask to (bilinear, then thresholded at 0.5).

    Returns:
        `(masks, has_mask)`: a bool array `(N, height, width)`, True on defect pixels, and a bool
        array `(N,)`, True where a mask file exists. Images without a mask file get an
        all-False mask and `has_mask` False.

    Raises:
        TypeError: If `mask_directory` is not a path or `filenames` is not a sequence of strings.
        ValueError: If `mask_directory` is not an existing folder, `image_size` is not two
            positive integers, a filename leaves the folder, or a mask file cannot be read.
    """
    directory = _check_directory(mask_directory)
    names = _check_filenames(filenames)
    height, width = _check_image_size(image_size)
    masks = np.zeros((len(names), height, width), dtype=bool)
    has_mask = np.zeros(len(names), dtype=bool)
    for index, name in enumerate(names):
        path = directory / name
        if not path.exists():
            continue
        masks[index] = _read_mask(name, path, (height, width))
        has_mask[index] = True
    return masks, has_mask


def _check_directory(mask_directory: object) -> Path:
    if not isinstance(mask_directory, str | os.PathLike):
        raise TypeError(
            "Expected mask_directory to be a str or os.PathLike. "
            f"Received: mask_directory={describe_value(mask_directory)}"
        )
    directory = Path(mask_directory)
    if not directory.is_dir():
        raise ValueError(
            "Expected mask_directory to be an existing folder. "
            f"Received: mask_directory={describe_value(str(directory))}"
        )
    return directory


def _check_filenames(filenames: object) -> list[str]:
    if not isinstance(filenames, Sequence) or isinstance(filenames, str | bytes):
        raise TypeError(
            "Expected filenames to be a sequence of relative file names. "
            f"Received: filenames={describe_value(filenames)}"
        )
    names = []
    for name in filenames:
        if not isinstance(name, str) or not name:
            raise TypeError(
                "Expected each filename to be a non-empty string. "
                f"Received: filename={describe_value(name)}"
            )
        # A relative name must stay inside the mask folder, whatever the data set says.
        parts = PurePosixPath(name.replace("\\", "/"))
        if parts.is_absolute() or ".." in parts.parts or Path(name).is_absolute():
            raise ValueError(
                "Expected each filename to be relative and inside the mask folder. "
                f"Received: filename={describe_value(name)}"
            )
        names.append(name)
    return names


def _check_image_size(image_size: object) -> tuple[int, int]:
    if not (
        isinstance(image_size, tuple | list)
        and len(image_size) == 2
        and all(_is_positive_integer(side) for side in image_size)
    ):
        raise ValueError(
            "Expected image_size to be (height, width) with two positive integers. "
            f"Received: image_size={describe_value(image_size)}"
        )
    return int(image_size[0]), int(image_size[1])


def _is_positive_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value > 0


def _read_mask(name: str, path: Path, size: tuple[int, int]) -> np.ndarray:
    """Reads one mask file as bool `(height, width)`; raises ValueError naming the file."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.float32)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(
            "Expected a readable mask image (0 = background, 255 = defect). "
            f"Received: file={describe_value(name)} ({type(error).__name__})"
        ) from error
    if pixels.size and pixels.max() <= 1.0:
        # Masks stored as 0 and 1 (label images) rather than 0 and 255.
        pixels = pixels * _FULL_SCALE
    defect = (pixels >= _FULL_SCALE / 2).astype(np.float32)
    height, width = size
    if defect.shape != (height, width):
        resized = Image.fromarray(defect).resize((width, height), Image.Resampling.BILINEAR)
        defect = np.asarray(resized)
    return defect >= RESIZED_MASK_THRESHOLD

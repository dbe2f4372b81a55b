"""Heatmap helpers: peak, colormap and overlay of an explanation on its image (numpy only)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.data.validation import describe_value

COLORMAPS = ("jet", "hot")


def _check_heatmap(heatmap) -> np.ndarray:
    array = np.asarray(heatmap, dtype=np.float32)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"Expected a heatmap of shape (H, W). Received: heatmap.shape={np.shape(heatmap)}"
        )
    return array


def heatmap_peak(heatmap) -> tuple[int, int]:
    """Returns `(row, column)` of the heatmap's maximum (the first one on ties).

    Raises:
        ValueError: If `heatmap` is not a non-empty 2-D array.
    """
    array = _check_heatmap(heatmap)
    row, column = np.unravel_index(int(np.argmax(array)), array.shape)
    return int(row), int(column)


def apply_colormap(values, colormap: str = "jet") -> np.ndarray:
    """Maps values in [0, 1] to uint8 RGB colours (`(..., 3)`) with a numpy colormap.

    Raises:
        ValueError: If `colormap` is not one of `COLORMAPS`.
    """
    scaled = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    if colormap == "jet":
        # Piecewise-linear approximation of matplotlib's "jet": blue, cyan, yellow, red.
        channels = [np.clip(1.5 - np.abs(4.0 * scaled - offset), 0.0, 1.0) for offset in (3, 2, 1)]
    elif colormap == "hot":
        channels = [np.clip(3.0 * scaled - offset, 0.0, 1.0) for offset in (0, 1, 2)]
    else:
        raise ValueError(
            f"Expected colormap to be one of {COLORMAPS}. "
            f"Received: colormap={describe_value(colormap)}"
        )
    return np.round(np.stack(channels, axis=-1) * 255.0).astype(np.uint8)


def _resize_heatmap(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    # A float32 array becomes a 32-bit float ("F") image, resized without rounding.
    resized = Image.fromarray(heatmap).resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def heatmap_overlay(image, heatmap, *, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
    """Blends a coloured heatmap over an image.

    Args:
        image: Pixels `(H, W)`, `(H, W, 1)` or `(H, W, 3)`, 0-255 (uint8 or float).
        heatmap: Values in [0, 1], `(h, w)`; resized (bilinear) to the image when the sizes differ,
            so the overlay can be drawn on the original, full-resolution upload.
        alpha: Weight of the heatmap colour, in [0, 1]. Default: 0.45.
        colormap: One of `COLORMAPS`. Default: "jet".

    Returns:
        uint8 RGB array `(H, W, 3)`.

    Raises:
        ValueError: If the image or heatmap has the wrong shape, or `alpha` is outside [0, 1].
    """
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    if (
        pixels.ndim != 3
        or pixels.shape[-1] not in (1, 3)
        or not np.issubdtype(pixels.dtype, np.number)
    ):
        raise ValueError(
            "Expected an image of shape (H, W), (H, W, 1) or (H, W, 3). "
            f"Received: image.shape={pixels.shape}, dtype={pixels.dtype}"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"Expected alpha in [0, 1]. Received: alpha={describe_value(alpha)}")
    values = _check_heatmap(heatmap)
    height, width = pixels.shape[:2]
    if values.shape != (height, width):
        values = _resize_heatmap(values, height, width)
    rgb = np.broadcast_to(np.clip(pixels.astype(np.float32), 0, 255), (height, width, 3))
    colours = apply_colormap(values, colormap).astype(np.float32)
    blended = (1.0 - alpha) * rgb + alpha * colours
    return np.round(blended).astype(np.uint8)

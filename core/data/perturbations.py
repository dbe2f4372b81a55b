"""Controlled changes of images, as a line camera drifts: brightness, contrast, blur, rotation,
shift and noise, each at two severities.

The lamp ages (brightness, contrast), the lens gets dirty (blur), a fixture is bumped (small
rotation, shift), the sensor gets noisy. Perturbations are pure numpy (no SciPy), seeded, and work
on uint8 images `(N, H, W, C)`; `core.decisions.robustness` re-scores a model under each.

Example:

    darker = perturb(images, "brightness_down", severity=2, seed=0)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from core.data.validation import describe_value

__all__ = [
    "PERTURBATIONS",
    "SEVERITIES",
    "Perturbation",
    "apply_perturbation",
    "check_images",
    "perturb",
]


SEVERITIES = (1, 2)


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """One kind of controlled change.

    Attributes:
        name: What a chart calls the kind, e.g. "Blur".
        label: What a table calls one severity, with `{amount}` for its amount.
        amounts: The amount at severity 1 and 2 (an amount of 0 leaves the images unchanged).
        unit: The unit of the amount, for explanations.
    """

    name: str
    label: str
    amounts: tuple[float, float]
    unit: str

    def describe(self, severity: int) -> str:
        amount = self.amounts[severity - 1]
        return self.label.format(amount=f"{amount:g}")


PERTURBATIONS = {
    "brightness_up": Perturbation("Brighter", "Brighter +{amount}", (25, 50), "grey levels"),
    "brightness_down": Perturbation("Darker", "Darker -{amount}", (25, 50), "grey levels"),
    "contrast": Perturbation(
        "Lower contrast", "Contrast -{amount}", (0.3, 0.6), "share removed about the mean"
    ),
    "blur": Perturbation("Blur", "Blur σ {amount} px", (1.0, 2.0), "Gaussian sigma, pixels"),
    "rotation": Perturbation("Rotation", "Rotation ±{amount}°", (5, 10), "degrees, random sign"),
    "shift": Perturbation("Shift", "Shift ±{amount} px", (2, 4), "pixels per axis, random signs"),
    "noise": Perturbation("Noise", "Noise σ {amount}", (4, 8), "Gaussian sigma, grey levels"),
}


def check_images(images) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim != 4 or array.dtype != np.uint8 or 0 in array.shape[1:]:
        raise ValueError(
            "Expected uint8 images of shape (N, height, width, channels). "
            f"Received: images.shape={array.shape}, dtype={array.dtype}"
        )
    return array


def _check_kind(kind) -> Perturbation:
    if not isinstance(kind, str) or kind not in PERTURBATIONS:
        raise ValueError(
            f"Expected a perturbation among {list(PERTURBATIONS)}. "
            f"Received: kind={describe_value(kind)}"
        )
    return PERTURBATIONS[kind]


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def _reflect(index: np.ndarray, size: int) -> np.ndarray:
    """Maps integer indexes into [0, size) by mirroring about the edge pixels (no repeat)."""
    if size == 1:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    index = np.abs(index) % period
    return np.where(index > size - 1, period - index, index)


def _gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    result = images.astype(np.float32)
    # Separable: blur the rows, then the columns, with mirrored borders.
    for axis in (1, 2):
        size = result.shape[axis]
        taken = [
            np.take(result, _reflect(np.arange(size) + offset, size), axis=axis)
            for offset in range(-radius, radius + 1)
        ]
        result = sum(weight * part for weight, part in zip(kernel, taken, strict=True))
    return result


def _rotate(images: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Rotates each image by its angle about the centre, bilinear, mirrored borders."""
    count, height, width, _ = images.shape
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    centre_row, centre_column = (height - 1) / 2, (width - 1) / 2
    radians = np.deg2rad(degrees)[:, None, None]
    cosine, sine = np.cos(radians), np.sin(radians)
    # Each output pixel reads the input at the inversely rotated position.
    source_row = centre_row + cosine * (rows - centre_row) - sine * (columns - centre_column)
    source_column = centre_column + sine * (rows - centre_row) + cosine * (columns - centre_column)
    top, left = np.floor(source_row), np.floor(source_column)
    row_weight = (source_row - top)[..., None]
    column_weight = (source_column - left)[..., None]
    top, left = top.astype(np.int64), left.astype(np.int64)
    batch = np.arange(count)[:, None, None]
    pixels = images.astype(np.float32)

    def read(row_index, column_index):
        return pixels[batch, _reflect(row_index, height), _reflect(column_index, width)]

    upper = read(top, left) * (1 - column_weight) + read(top, left + 1) * column_weight
    lower = read(top + 1, left) * (1 - column_weight) + read(top + 1, left + 1) * column_weight
    return upper * (1 - row_weight) + lower * row_weight


def _shift(images: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Moves each image by its (rows, columns) offset; the uncovered border is mirrored."""
    _, height, width, _ = images.shape
    result = np.empty_like(images)
    for index, (row_offset, column_offset) in enumerate(offsets):
        rows = _reflect(np.arange(height) - row_offset, height)
        columns = _reflect(np.arange(width) - column_offset, width)
        result[index] = images[index][rows][:, columns]
    return result


def apply_perturbation(images, kind: str, amount: float, *, seed: int = 0) -> np.ndarray:
    """Applies one perturbation with an explicit amount (0 leaves the images unchanged).

    Args:
        images: uint8 array `(N, H, W, C)`.
        kind: A key of `PERTURBATIONS`.
        amount: In the perturbation's unit (`PERTURBATIONS[kind].unit`), >= 0.
        seed: Seed of the random parts (rotation and shift signs, noise). Default: 0.

    Returns:
        A new uint8 array of the same shape.

    Raises:
        ValueError: If the images, kind or amount are invalid.
    """
    array = check_images(images)
    _check_kind(kind)
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount >= 0:
        raise ValueError(
            f"Expected a perturbation amount >= 0. Received: amount={describe_value(amount)}"
        )
    if kind == "contrast" and amount > 1:
        raise ValueError(
            "Expected a contrast amount in [0, 1] (the share of contrast removed). "
            f"Received: amount={amount}"
        )
    if amount == 0:
        return array.copy()
    generator = np.random.default_rng(seed)
    count = len(array)
    pixels = array.astype(np.float32)
    if kind == "brightness_up":
        return _to_uint8(pixels + amount)
    if kind == "brightness_down":
        return _to_uint8(pixels - amount)
    if kind == "contrast":
        mean = pixels.mean(axis=(1, 2, 3), keepdims=True)
        return _to_uint8(mean + (pixels - mean) * (1 - amount))
    if kind == "blur":
        return _to_uint8(_gaussian_blur(array, float(amount)))
    if kind == "rotation":
        signs = generator.choice([-1.0, 1.0], size=count)
        return _to_uint8(_rotate(array, signs * amount))
    if kind == "shift":
        offsets = generator.choice([-1, 1], size=(count, 2)) * round(amount)
        return _shift(array, offsets)
    return _to_uint8(pixels + generator.normal(0.0, amount, size=pixels.shape))


def perturb(images, kind: str, severity: int, *, seed: int = 0) -> np.ndarray:
    """Applies a perturbation of `PERTURBATIONS` at severity 1 (mild) or 2 (strong).

    Args:
        images: uint8 array `(N, H, W, C)`.
        kind: A key of `PERTURBATIONS`, e.g. "blur".
        severity: 1 or 2.
        seed: Seed of the random parts. Default: 0.

    Returns:
        A new uint8 array of the same shape.

    Raises:
        ValueError: If the images, kind or severity are invalid.
    """
    perturbation = _check_kind(kind)
    if severity not in SEVERITIES or isinstance(severity, bool):
        raise ValueError(
            f"Expected a severity among {list(SEVERITIES)}. "
            f"Received: severity={describe_value(severity)}"
        )
    return apply_perturbation(images, kind, perturbation.amounts[severity - 1], seed=seed)

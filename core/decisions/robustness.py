"""Robustness check: re-score a model's test split under controlled changes of the images.

A line camera drifts: the lamp ages (brightness, contrast), the lens gets dirty (blur), a fixture
is bumped (small rotation, shift), the sensor gets noisy. Each perturbation here imitates one of
these at two severities; the check reports the accuracy under each and the share of predictions
that flip against the clean images. Perturbations are pure numpy (no SciPy), seeded and work on
uint8 images `(N, H, W, C)`; the check takes any `images -> class indices` callable, so it is
model-agnostic. `run_robustness` applies it to a registered image model and stores the result
with the version (`core.registry.attachments.ROBUSTNESS`).

Example:

    result = robustness_check(lambda x: model_labels(x), images, labels, ["ok", "crack"])
    result["rows"][0]   # {"perturbation": "brightness_up", "severity": 1, "accuracy": ...}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from core.data.validation import describe_value
from core.inference.verdicts import decision_summary
from core.workflows.image_test_split import (
    ImageTestSplit,
    image_predictor,
    load_test_split,
    predicted_labels,
)

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


def _check_images(images) -> np.ndarray:
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
    array = _check_images(images)
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


def _predicted(predict_labels: Callable, images: np.ndarray, class_count: int) -> np.ndarray:
    predicted = np.asarray(predict_labels(images))
    if (
        predicted.shape != (len(images),)
        or not np.issubdtype(predicted.dtype, np.integer)
        or (predicted.size and (predicted.min() < 0 or predicted.max() >= class_count))
    ):
        raise ValueError(
            f"Expected predict_labels to return one class index in [0, {class_count}) per image "
            f"({len(images)}). Received: shape={predicted.shape}, dtype={predicted.dtype}"
        )
    return predicted


def robustness_check(
    predict_labels: Callable[[np.ndarray], np.ndarray],
    images,
    labels: Sequence[int],
    class_names: Sequence[str],
    *,
    seed: int = 0,
) -> dict:
    """Scores clean and perturbed images: accuracy and the share of flipped predictions.

    Args:
        predict_labels: Maps uint8 images `(N, H, W, C)` to N integer class indexes.
        images: uint8 array `(N, H, W, C)`, N >= 1 (the test split).
        labels: The true class index of each image.
        class_names: The names of the class indexes.
        seed: Seed of the random perturbations. Default: 0.

    Returns:
        `{"test_count", "clean_accuracy", "class_names", "seed", "rows"}`; each row holds
        `perturbation`, `severity`, `amount`, `label`, `accuracy`, `accuracy_change` (against
        the clean accuracy) and `flip_share` (share of images whose prediction differs from
        the clean one).

    Raises:
        ValueError: If the inputs do not fit together or `predict_labels` returns something
            else than one class index per image.
    """
    array = _check_images(images)
    names = list(class_names) if not isinstance(class_names, str) else []
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(
            "Expected class_names to be a non-empty list of strings. "
            f"Received: class_names={describe_value(class_names)}"
        )
    truth = np.asarray(labels)
    if (
        len(array) == 0
        or truth.shape != (len(array),)
        or not np.issubdtype(truth.dtype, np.integer)
        or truth.min() < 0
        or truth.max() >= len(names)
    ):
        raise ValueError(
            f"Expected at least one image and one class index in [0, {len(names)}) per image. "
            f"Received: {len(array)} images, labels={describe_value(truth.tolist())}"
        )
    clean = _predicted(predict_labels, array, len(names))
    clean_accuracy = float((clean == truth).mean())
    rows = []
    for kind, perturbation in PERTURBATIONS.items():
        for severity in SEVERITIES:
            predicted = _predicted(
                predict_labels, perturb(array, kind, severity, seed=seed), len(names)
            )
            accuracy = float((predicted == truth).mean())
            rows.append(
                {
                    "perturbation": kind,
                    "severity": severity,
                    "amount": perturbation.amounts[severity - 1],
                    "label": perturbation.describe(severity),
                    "accuracy": accuracy,
                    "accuracy_change": accuracy - clean_accuracy,
                    "flip_share": float((predicted != clean).mean()),
                }
            )
    return {
        "test_count": len(array),
        "clean_accuracy": clean_accuracy,
        "class_names": names,
        "seed": seed,
        "rows": rows,
    }


def robustness_result(record, predictor, split: ImageTestSplit, *, created_by=None) -> dict:
    """Runs `robustness_check` on a test split, stores it with the version and returns it."""
    from core.registry.attachments import ROBUSTNESS, write_json_attachment
    from core.registry.metadata import now_iso

    result = robustness_check(
        lambda images: predicted_labels(predictor, images),
        split.images,
        split.labels,
        split.class_names,
    )
    result = {
        "model": record.reference,
        **result,
        "decision": decision_summary(predictor),
        "data_matches_training": split.matches_training,
        "created_at": now_iso(),
        "created_by": created_by,
        "data": split.data,
    }
    write_json_attachment(record, ROBUSTNESS, result)
    return result


def run_robustness(registry, reference: str, data=None, *, created_by: str | None = None) -> dict:
    """Re-scores a registered image model's test split under every perturbation; stores it.

    Args:
        registry: A `ModelRegistry`.
        reference: "name", "name:version" or "name:latest" of an image classifier or image
            anomaly model.
        data: The labelled images it was trained on (see `load_test_split`); None uses the
            training folder recorded in the metadata. Default: None.
        created_by: Who ran it, recorded in the result. Default: None.

    Returns:
        The `robustness.json` content (contract C3): `model`, `test_count`, `clean_accuracy`,
        `rows`, `created_at`, `created_by`, `data`, plus `class_names`, `seed`, `decision`
        and `data_matches_training`.

    Raises:
        ValueError: If the model is unknown or not an image model, or the data is missing or
            does not fit (see `load_test_split`).
    """
    record = registry.get(reference)
    split = load_test_split(record, data)
    model, metadata = registry.load(record.reference)
    predictor = image_predictor(model, metadata, record)
    return robustness_result(record, predictor, split, created_by=created_by)

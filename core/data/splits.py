"""Train, validation and test splits: stratified by class for images, by unit for series.

Both functions are deterministic for a given seed and return sorted arrays, so a split can be
recorded by its seed and fractions alone, and `recorded_split` cuts it again from that record.

Example:

    train, validation, test = stratified_split(dataset.labels, seed=0)
    x_train, y_train = dataset.images[train], dataset.labels[train]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from core.data.validation import describe_value

# The settings of `stratified_split` that a model's training config records.
SPLIT_SETTINGS = ("validation_fraction", "test_fraction", "seed")


def stratified_split(
    labels: Sequence | np.ndarray,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits item indexes so that every class keeps its share in each split.

    Each class is shuffled and cut on its own: its validation and test parts are its size times
    the fraction, rounded, but at least one item when the fraction is above zero; the rest is
    training data. So every class appears in every non-empty split.

    Args:
        labels: One class label (int or str) per item, 1-D.
        validation_fraction: Share of each class for validation, in [0, 1). Defaults to 0.15.
        test_fraction: Share of each class for test, in [0, 1). Defaults to 0.15.
        seed: Seed of the shuffle. Defaults to 0.

    Returns:
        (train, validation, test): sorted int64 index arrays, disjoint, covering every item.

    Raises:
        ValueError: If the fractions are invalid, `labels` is empty or not 1-D, or a class has
            fewer items than there are non-empty splits (3 with the default fractions).
    """
    _check_fractions(validation_fraction, test_fraction)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            "Expected a non-empty 1-D sequence of labels. "
            f"Received: labels with shape={labels.shape}"
        )
    minimum = _minimum_items(validation_fraction, test_fraction)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    too_small = [
        (label, count) for label, count in zip(classes, counts, strict=True) if count < minimum
    ]
    if too_small:
        described = ", ".join(
            f"{describe_value(label.item())}: {count}" for label, count in too_small
        )
        raise ValueError(
            f"Expected at least {minimum} items per class so that each class appears in every "
            f"split. Received: class counts {{{described}}}"
        )
    generator = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for class_index in range(len(classes)):
        indexes = generator.permutation(np.flatnonzero(inverse == class_index))
        for part, piece in zip(
            parts, _cut(indexes, validation_fraction, test_fraction), strict=True
        ):
            part.append(piece)
    return tuple(np.sort(np.concatenate(part)).astype(np.int64) for part in parts)


def recorded_split(
    labels: Sequence | np.ndarray, training_config: Mapping
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`stratified_split` with the fractions and seed a training config records (the defaults
    for those it does not): on the same data, the very split the model was trained on.

    Args:
        labels: One class label per item, as in training.
        training_config: A model's recorded training config, e.g. its metadata's
            `training_config`.

    Returns:
        (train, validation, test), as `stratified_split` returns them.
    """
    settings = {key: training_config[key] for key in SPLIT_SETTINGS if key in training_config}
    return stratified_split(labels, **settings)


def split_units(
    units: Sequence | np.ndarray,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits the distinct units (machines, engines) so that no unit is in two splits.

    Windows cut from one unit's series are strongly correlated; keeping each unit whole in one
    split is what makes the validation and test scores honest.

    Args:
        units: Unit ids, 1-D; repeats are allowed (e.g. one id per row) and counted once.
        validation_fraction: Share of units for validation, in [0, 1). Defaults to 0.15.
        test_fraction: Share of units for test, in [0, 1). Defaults to 0.15.
        seed: Seed of the shuffle. Defaults to 0.

    Returns:
        (train_units, validation_units, test_units): sorted arrays of distinct unit ids. Each
        non-empty split gets at least one unit.

    Raises:
        ValueError: If the fractions are invalid, `units` is not 1-D, or there are fewer distinct
            units than non-empty splits (3 with the default fractions).
    """
    _check_fractions(validation_fraction, test_fraction)
    units = np.asarray(units)
    if units.ndim != 1:
        raise ValueError(f"Expected a 1-D sequence of unit ids. Received: shape={units.shape}")
    distinct = np.unique(units)
    minimum = _minimum_items(validation_fraction, test_fraction)
    if len(distinct) < minimum:
        raise ValueError(
            f"Expected at least {minimum} distinct units, so that no unit is in two splits. "
            f"Received: units={describe_value(distinct.tolist())} ({len(distinct)} distinct)"
        )
    shuffled = np.random.default_rng(seed).permutation(distinct)
    return tuple(np.sort(part) for part in _cut(shuffled, validation_fraction, test_fraction))


def _cut(
    items: np.ndarray, validation_fraction: float, test_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cuts shuffled items into train, validation and test, each non-empty split >= 1 item."""
    total = len(items)
    test_count = _share(total, test_fraction)
    validation_count = _share(total, validation_fraction)
    # Rounding up small splits can leave training empty; take the surplus back from the larger.
    while total - test_count - validation_count < 1:
        if validation_count >= test_count and validation_count > 1:
            validation_count -= 1
        else:
            test_count -= 1
    train_count = total - test_count - validation_count
    return (
        items[:train_count],
        items[train_count : train_count + validation_count],
        items[train_count + validation_count :],
    )


def _share(total: int, fraction: float) -> int:
    return 0 if fraction == 0 else max(1, round(total * fraction))


def _minimum_items(validation_fraction: float, test_fraction: float) -> int:
    return 1 + (validation_fraction > 0) + (test_fraction > 0)


def _check_fractions(validation_fraction: object, test_fraction: object) -> None:
    for name, fraction in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not math.isfinite(fraction)
            or not 0 <= fraction < 1
        ):
            raise ValueError(
                f"Expected `{name}` to be a number in [0, 1). Received: {name}={fraction!r}"
            )
    if validation_fraction + test_fraction >= 1:
        raise ValueError(
            "Expected `validation_fraction + test_fraction` below 1, leaving data to train on. "
            f"Received: validation_fraction={validation_fraction!r}, "
            f"test_fraction={test_fraction!r}"
        )

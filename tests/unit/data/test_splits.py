"""Tests for core/data/splits.py: stratified image splits and unit-wise series splits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.splits import split_units, stratified_split

LABELS = np.repeat(["crazing", "pitted", "scratch"], [3, 20, 100])


def test_stratified_split_keeps_every_class_in_every_split():
    train, validation, test = stratified_split(LABELS, seed=1)
    for part in (train, validation, test):
        assert set(LABELS[part]) == {"crazing", "pitted", "scratch"}
    counts = {
        name: [int((LABELS[part] == name).sum()) for part in (train, validation, test)]
        for name in ("crazing", "pitted", "scratch")
    }
    assert counts == {"crazing": [1, 1, 1], "pitted": [14, 3, 3], "scratch": [70, 15, 15]}


def test_stratified_split_is_a_sorted_partition():
    train, validation, test = stratified_split(LABELS)
    combined = np.concatenate([train, validation, test])
    assert sorted(combined.tolist()) == list(range(len(LABELS)))
    for part in (train, validation, test):
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)


def test_stratified_split_is_deterministic_per_seed():
    first = stratified_split(LABELS, seed=3)
    again = stratified_split(LABELS, seed=3)
    other = stratified_split(LABELS, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_stratified_split_with_integer_labels_and_no_test_split():
    labels = np.array([0, 1] * 10, dtype=np.int32)
    train, validation, test = stratified_split(labels, validation_fraction=0.2, test_fraction=0)
    assert (len(train), len(validation), len(test)) == (16, 4, 0)
    assert sorted(labels[validation].tolist()) == [0, 0, 1, 1]


def test_stratified_split_keeps_training_data_when_fractions_round_up():
    train, validation, test = stratified_split(
        ["a"] * 3, validation_fraction=0.45, test_fraction=0.45
    )
    assert (len(train), len(validation), len(test)) == (1, 1, 1)


def test_class_with_too_few_items_raises():
    with pytest.raises(ValueError) as error:
        stratified_split(["a", "a", "b", "b", "b", "c"])
    assert str(error.value) == (
        "Expected at least 3 items per class so that each class appears in every split. "
        "Received: class counts {'a': 2, 'c': 1}"
    )
    train, validation, test = stratified_split(["a", "a", "b", "b"], test_fraction=0)
    assert (len(train), len(validation), len(test)) == (2, 2, 0)


@pytest.mark.parametrize("labels", [[], [[0, 1], [1, 0]]])
def test_empty_or_2d_labels_raise(labels):
    with pytest.raises(ValueError) as error:
        stratified_split(labels)
    assert str(error.value) == (
        "Expected a non-empty 1-D sequence of labels. "
        f"Received: labels with shape={np.asarray(labels).shape}"
    )


@pytest.mark.parametrize("function", [stratified_split, split_units])
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"validation_fraction": -0.1},
            "Expected `validation_fraction` to be a number in [0, 1). "
            "Received: validation_fraction=-0.1",
        ),
        (
            {"test_fraction": 1.0},
            "Expected `test_fraction` to be a number in [0, 1). Received: test_fraction=1.0",
        ),
        (
            {"test_fraction": float("nan")},
            "Expected `test_fraction` to be a number in [0, 1). Received: test_fraction=nan",
        ),
        (
            {"test_fraction": True},
            "Expected `test_fraction` to be a number in [0, 1). Received: test_fraction=True",
        ),
        (
            {"test_fraction": "0.2"},
            "Expected `test_fraction` to be a number in [0, 1). Received: test_fraction='0.2'",
        ),
        (
            {"validation_fraction": 0.5, "test_fraction": 0.5},
            "Expected `validation_fraction + test_fraction` below 1, leaving data to train on. "
            "Received: validation_fraction=0.5, test_fraction=0.5",
        ),
    ],
)
def test_bad_fractions_raise(function, options, expected):
    with pytest.raises(ValueError) as error:
        function(list(range(30)), **options)
    assert str(error.value) == expected


def test_split_units_keeps_each_unit_in_one_split():
    units = np.repeat(np.arange(1, 21), 5)  # 20 engines, five rows each.
    train, validation, test = split_units(units, seed=2)
    assert (len(train), len(validation), len(test)) == (14, 3, 3)
    assert not set(train) & set(validation)
    assert not set(train) & set(test)
    assert not set(validation) & set(test)
    assert sorted(np.concatenate([train, validation, test]).tolist()) == list(range(1, 21))
    assert all(np.all(np.diff(part) > 0) for part in (train, validation, test))


def test_split_units_is_deterministic_and_accepts_strings():
    units = [f"press-{index}" for index in range(10)]
    first = split_units(units, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, split_units(units, seed=5), strict=True))
    assert all(len(part) >= 1 for part in first)
    assert first[0].dtype.kind == "U"


def test_split_units_needs_three_units():
    with pytest.raises(ValueError) as error:
        split_units([7, 7, 8])
    assert str(error.value) == (
        "Expected at least 3 distinct units, so that no unit is in two splits. "
        "Received: units=[7, 8] (2 distinct)"
    )
    parts = split_units([7, 8, 9])
    assert [len(part) for part in parts] == [1, 1, 1]
    assert sorted(np.concatenate(parts).tolist()) == [7, 8, 9]


def test_split_units_rejects_2d_input():
    with pytest.raises(ValueError) as error:
        split_units([[1, 2], [3, 4]])
    assert str(error.value) == "Expected a 1-D sequence of unit ids. Received: shape=(2, 2)"


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=3, max_value=40), min_size=1, max_size=6),
    validation_fraction=st.floats(min_value=0.0, max_value=0.45),
    test_fraction=st.floats(min_value=0.0, max_value=0.45),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_stratified_split_properties(counts, validation_fraction, test_fraction, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    parts = stratified_split(
        labels, validation_fraction=validation_fraction, test_fraction=test_fraction, seed=seed
    )
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))
    fractions = (1.0, validation_fraction, test_fraction)
    for part, fraction in zip(parts, fractions, strict=True):
        expected_classes = set(range(len(counts))) if fraction > 0 else set()
        assert set(labels[part].tolist()) == expected_classes


@settings(max_examples=60, deadline=None)
@given(
    unit_count=st.integers(min_value=3, max_value=60),
    repeats=st.integers(min_value=1, max_value=4),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_split_units_properties(unit_count, repeats, seed):
    parts = split_units(np.repeat(np.arange(unit_count), repeats), seed=seed)
    assert sorted(np.concatenate(parts).tolist()) == list(range(unit_count))
    assert all(len(part) >= 1 for part in parts)

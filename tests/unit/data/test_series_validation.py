"""Tests for core/data/series_validation.py: the checks behind `dataset_from_frame`."""

import numpy as np
import pandas as pd
import pytest

from core.data import series, series_validation


def test_flagged_rows_returns_positions_of_true():
    mask = pd.Series([False, True, False, True])
    assert series_validation.flagged_rows(mask).tolist() == [1, 3]


def test_coerce_numbers_flags_text_but_not_empty_values():
    values = pd.Series(["1.5", " 2 ", "abc", None])
    numbers, bad = series_validation.coerce_numbers(values)
    assert numbers.iloc[:2].tolist() == [1.5, 2.0]
    assert bad.tolist() == [False, False, True, False]


def test_coerce_numbers_reads_booleans_as_floats():
    numbers, bad = series_validation.coerce_numbers(pd.Series([True, False]))
    assert numbers.tolist() == [1.0, 0.0]
    assert not bad.any()


def test_describe_bad_lists_at_most_three_examples_with_rows():
    values = pd.Series(["a", "1", "b", "c", "d"])
    bad = pd.Series([True, False, True, True, True])
    text = series_validation.describe_bad("speed", values, bad)
    assert text == "'speed': 4 value(s) such as 'a' (row 1), 'b' (row 3), 'c' (row 4)"


def test_time_values_reads_numbers_and_dates():
    numbers, is_datetime = series_validation.time_values(pd.Series(["1", "2"]), "time")
    assert numbers.tolist() == [1, 2] and not is_datetime
    stamps, is_datetime = series_validation.time_values(
        pd.Series(["2024-01-01 00:00", "2024-01-01 00:01"]), "time"
    )
    assert is_datetime and stamps.iloc[1] == pd.Timestamp("2024-01-01 00:01")


def test_time_values_refuses_text():
    with pytest.raises(ValueError, match=r"Expected numbers or dates/times in the time column"):
        series_validation.time_values(pd.Series(["1", "soon"]), "time")


def test_unit_values_makes_whole_numbers_int_and_text_stripped():
    assert series_validation.unit_values(pd.Series([1.0, 2.0]), "unit").dtype == np.int64
    assert series_validation.unit_values(pd.Series([" M1", "M2 "]), "unit").tolist() == [
        "M1",
        "M2",
    ]


def test_unit_values_refuses_empty_ids():
    with pytest.raises(ValueError, match=r"column 'unit' is empty on 1 row\(s\), first at row 2"):
        series_validation.unit_values(pd.Series([1.0, np.nan]), "unit")


def test_check_mapping_refuses_a_column_with_two_roles():
    frame = pd.DataFrame({"unit": [1], "time": [1], "sensor": [0.5]})
    mapping = series.ColumnMapping(unit="unit", time="time", sensors=["sensor", "time"])
    with pytest.raises(ValueError, match=r"one role. Received: \['time'\] repeated"):
        series_validation.check_mapping(frame, mapping)


def test_check_order_refuses_repeated_and_backward_time():
    units = pd.Series([1, 1, 2])
    with pytest.raises(ValueError, match=r"unit=1 has cycle=3 on rows 1 and 2"):
        series_validation.check_order(units, pd.Series([3, 3, 1]), "cycle")
    with pytest.raises(ValueError, match=r"row 2 has cycle=2 after 5 at row 1"):
        series_validation.check_order(units, pd.Series([5, 2, 1]), "cycle")


def test_natural_key_orders_digit_runs_as_numbers():
    assert sorted(["M10", "M2", "M1"], key=series_validation.natural_key) == ["M1", "M2", "M10"]


def test_window_problem_lists_short_units_or_refuses_all_short():
    lengths = pd.Series({1: 3, 2: 10})
    assert series_validation.window_problem(lengths, 3) is None
    assert series_validation.window_problem(lengths, 5) == (
        "1 of 2 units are shorter than the window of 5 rows and give no full window: "
        "unit 1 (3 rows)."
    )
    with pytest.raises(ValueError, match=r"the longest unit \(2\) has 10 rows"):
        series_validation.window_problem(lengths, 11)

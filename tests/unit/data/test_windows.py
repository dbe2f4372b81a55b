"""Tests for core/data/windows.py: RUL targets and window cutting."""

import numpy as np
import pandas as pd
import pytest

from core.data.windows import (
    DEFAULT_RUL_CAP,
    last_windows,
    make_windows,
    rul_targets,
)


def tiny_frame() -> pd.DataFrame:
    """Unit 1 has 5 rows (cycles 1-5), unit 2 has 3 rows (cycles 1-3)."""
    return pd.DataFrame({"unit": [1, 1, 1, 1, 1, 2, 2, 2], "cycle": [1, 2, 3, 4, 5, 1, 2, 3]})


def row_features(frame: pd.DataFrame) -> np.ndarray:
    # Feature 0 is the row position, feature 1 ten times it: each window shows which rows it holds.
    positions = np.arange(len(frame), dtype="float32")
    return np.stack([positions, positions * 10], axis=1)


def window_rows(windows) -> list[list[int]]:
    return windows.inputs[:, :, 0].astype(int).tolist()


def test_rul_targets_count_down_to_the_last_cycle_and_are_capped():
    frame = tiny_frame()
    assert rul_targets(frame, cap=None).tolist() == [4, 3, 2, 1, 0, 2, 1, 0]
    assert rul_targets(frame, cap=2).tolist() == [2, 2, 2, 1, 0, 2, 1, 0]
    assert rul_targets(frame).dtype == np.float32
    assert DEFAULT_RUL_CAP == 125


def test_rul_targets_use_a_rul_column_when_present():
    frame = tiny_frame().assign(rul=[50, 40, 30, 20, 10, 200, 199, 198])
    assert rul_targets(frame, cap=125).tolist() == [50, 40, 30, 20, 10, 125, 125, 125]


def test_rul_targets_reject_a_bad_cap():
    with pytest.raises(ValueError, match=r"Expected cap to be a positive number or None\. "):
        rul_targets(tiny_frame(), cap=0)


def test_windows_end_at_every_row_and_never_cross_units():
    frame = tiny_frame()
    windows = make_windows(row_features(frame), frame, window=3)
    assert window_rows(windows) == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [5, 6, 7]]
    assert windows.units.tolist() == [1, 1, 1, 2]
    assert windows.end_cycles.tolist() == [3, 4, 5, 3]
    assert windows.end_rows.tolist() == [2, 3, 4, 7]
    assert windows.inputs.shape == (4, 3, 2) and windows.inputs.dtype == np.float32
    assert windows.inputs[0, :, 1].tolist() == [0, 10, 20]
    assert windows.targets is None and windows.problems == []


def test_stride_steps_back_from_the_last_row():
    frame = tiny_frame()
    windows = make_windows(row_features(frame), frame, window=2, stride=2)
    assert window_rows(windows) == [[1, 2], [3, 4], [6, 7]]
    assert windows.end_cycles.tolist() == [3, 5, 3]


def test_short_units_are_front_padded_with_their_first_row_and_reported():
    frame = tiny_frame()
    targets = rul_targets(frame, cap=3)
    windows = make_windows(row_features(frame), frame, window=4, targets=targets)
    assert window_rows(windows) == [[0, 1, 2, 3], [1, 2, 3, 4], [5, 5, 6, 7]]
    assert windows.targets.tolist() == [1, 0, 0]
    assert windows.problems == [
        "Unit 2 has 3 rows, fewer than the window of 4: padded by repeating its first row."
    ]


def test_short_units_can_be_skipped_and_are_reported():
    frame = tiny_frame()
    windows = make_windows(row_features(frame), frame, window=4, short_units="skip")
    assert windows.units.tolist() == [1, 1]
    assert windows.problems == ["Unit 2 has 3 rows, fewer than the window of 4: skipped."]


def test_every_unit_too_short_with_skip_is_an_error():
    frame = tiny_frame()
    with pytest.raises(ValueError, match=r"Received: the longest unit has 5 rows"):
        make_windows(row_features(frame), frame, window=6, short_units="skip")
    with pytest.raises(ValueError, match=r"Expected at least one unit with window=6 rows"):
        last_windows(row_features(frame), frame, window=6, short_units="skip")


def test_last_windows_give_one_window_per_unit_at_its_last_row():
    frame = tiny_frame()
    windows = last_windows(row_features(frame), frame, window=4, targets=rul_targets(frame))
    assert window_rows(windows) == [[1, 2, 3, 4], [5, 5, 6, 7]]
    assert windows.end_cycles.tolist() == [5, 3]
    assert windows.targets.tolist() == [0, 0]
    assert len(windows.problems) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"window": 1}, "Expected window to be an integer >= 2. Received: window=1"),
        ({"window": 3, "stride": 0}, "Expected stride to be an integer >= 1. Received: stride=0"),
        (
            {"window": 3, "short_units": "drop"},
            "Expected short_units to be one of ['pad', 'skip']. Received: short_units='drop'",
        ),
        (
            {"window": 3, "targets": np.zeros(3)},
            "Expected one target per frame row (8). Received: 3 targets",
        ),
    ],
)
def test_window_arguments_are_checked(arguments, message):
    frame = tiny_frame()
    with pytest.raises(ValueError) as error:
        make_windows(row_features(frame), frame, **arguments)
    assert str(error.value) == message


def test_features_must_align_with_the_frame():
    frame = tiny_frame()
    with pytest.raises(ValueError, match=r"Received: features with shape=\(3, 2\)"):
        make_windows(np.zeros((3, 2)), frame, window=2)


def test_sensor_scaler_is_re_exported_from_its_own_module():
    from core.data import scaling, windows

    assert windows.SensorScaler is scaling.SensorScaler
    assert windows.BY_CONDITION_CHOICES == ("auto", True, False)

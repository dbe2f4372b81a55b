"""Sensor series to model inputs: RUL targets and fixed-length windows.

Pure numpy/pandas (no TensorFlow). A `SeriesDataset.frame` is sorted by unit then cycle, so every
unit is one contiguous block of rows; windows are cut inside those blocks and never cross units.
Each unit's last window always ends at its last row (the cycle that matters for "how long is
left"), and earlier windows step back from there by `stride`. The features usually come from
`SensorScaler` (`core.data.scaling`, re-exported here).

Example:
    scaler = SensorScaler().fit(train.frame, train.sensor_columns, train.setting_columns)
    windows = make_windows(scaler.transform(train.frame), train.frame, window=30,
                           targets=rul_targets(train.frame))
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from core.data.scaling import BY_CONDITION_CHOICES, SensorScaler, _require_columns
from core.data.validation import describe_value

__all__ = [
    "BY_CONDITION_CHOICES",
    "DEFAULT_RUL_CAP",
    "SHORT_UNIT_CHOICES",
    "SensorScaler",
    "WindowSet",
    "last_windows",
    "make_windows",
    "rul_targets",
]

DEFAULT_RUL_CAP = 125
SHORT_UNIT_CHOICES = ("pad", "skip")


def rul_targets(frame: pd.DataFrame, cap: float | None = DEFAULT_RUL_CAP) -> np.ndarray:
    """Remaining useful life of every row, piecewise linear: constant `cap` early in life.

    Args:
        frame: Canonical series frame (columns `unit`, `cycle`, optional `rul`).
        cap: Upper limit of the target, or None for no cap. Defaults to 125 cycles.

    Returns:
        float32 array, one value per row: `frame["rul"]` when present, else the unit's last cycle
        minus the row's cycle (the unit ran to failure), clipped to `cap`.

    Raises:
        ValueError: If `frame` lacks `unit`/`cycle` or `cap` is not a positive number.
    """
    _require_columns(frame, ["unit", "cycle"])
    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, int | float) or not cap > 0
    ):
        raise ValueError(f"Expected cap to be a positive number or None. Received: cap={cap!r}")
    if "rul" in frame.columns:
        values = frame["rul"].to_numpy(dtype="float64")
    else:
        cycles = frame["cycle"].astype("float64")
        values = (cycles.groupby(frame["unit"], sort=False).transform("max") - cycles).to_numpy()
    if cap is not None:
        values = np.minimum(values, cap)
    return values.astype("float32")


@dataclasses.dataclass
class WindowSet:
    """Fixed-length windows cut from a series, with what each one ends on.

    Attributes:
        inputs: float32 (n, window, features).
        targets: float32 (n,) target at each window's last row, or None.
        units: (n,) unit id of each window.
        end_cycles: (n,) cycle of each window's last row.
        end_rows: (n,) position (0-based) of each window's last row in the frame.
        problems: Sentences about units padded or skipped.
    """

    inputs: np.ndarray
    targets: np.ndarray | None
    units: np.ndarray
    end_cycles: np.ndarray
    end_rows: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    problems: list[str] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inputs)


def _check_window_arguments(features, frame, window, stride, targets, short_units) -> np.ndarray:
    _require_columns(frame, ["unit", "cycle"])
    for name, value, minimum in (("window", window, 2), ("stride", stride, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
            raise ValueError(
                f"Expected {name} to be an integer >= {minimum}. Received: {name}={value!r}"
            )
    if short_units not in SHORT_UNIT_CHOICES:
        raise ValueError(
            f"Expected short_units to be one of {list(SHORT_UNIT_CHOICES)}. "
            f"Received: short_units={short_units!r}"
        )
    features = np.asarray(features, dtype="float32")
    if features.ndim != 2 or len(features) != len(frame):
        raise ValueError(
            "Expected features as a 2-D array with one row per frame row "
            f"({len(frame)}). Received: features with shape={features.shape}"
        )
    if targets is not None and len(targets) != len(frame):
        raise ValueError(
            f"Expected one target per frame row ({len(frame)}). Received: {len(targets)} targets"
        )
    return features


def _unit_blocks(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) row positions of each contiguous block of one unit."""
    units = frame["unit"].to_numpy()
    changes = np.flatnonzero(units[1:] != units[:-1]) + 1
    starts = np.concatenate([[0], changes]).astype(np.int64)
    ends = np.concatenate([changes, [len(units)]]).astype(np.int64)
    return starts, ends


def _cut(features, frame, window, targets, window_ends, window_starts, problems) -> WindowSet:
    offsets = np.arange(window) - (window - 1)
    # Rows before a unit's first row are replaced by that first row: front padding.
    rows = np.maximum(window_ends[:, np.newaxis] + offsets, window_starts[:, np.newaxis])
    count, width = len(window_ends), features.shape[1]
    inputs = features[rows] if count else np.zeros((0, window, width), "float32")
    return WindowSet(
        inputs=inputs.astype("float32"),
        targets=None if targets is None else np.asarray(targets, "float32")[window_ends],
        units=frame["unit"].to_numpy()[window_ends],
        end_cycles=frame["cycle"].to_numpy()[window_ends],
        end_rows=window_ends,
        problems=problems,
    )


def _short_unit_problem(unit, length, window, short_units) -> str:
    action = "padded by repeating its first row" if short_units == "pad" else "skipped"
    shown = describe_value(unit.item() if isinstance(unit, np.generic) else unit)
    return f"Unit {shown} has {length} rows, fewer than the window of {window}: {action}."


def make_windows(
    features: np.ndarray,
    frame: pd.DataFrame,
    *,
    window: int,
    stride: int = 1,
    targets: np.ndarray | None = None,
    short_units: str = "pad",
) -> WindowSet:
    """Cuts every unit into windows of `window` rows, stepping back from its last row by `stride`.

    Args:
        features: (rows, features) array aligned with `frame` (e.g. `SensorScaler.transform`).
        frame: Canonical frame, sorted by unit (only `unit` and `cycle` are read).
        window: Rows per window, >= 2.
        stride: Rows between the ends of consecutive windows of a unit. Defaults to 1.
        targets: One value per row; each window takes the value at its last row. Defaults to None.
        short_units: For units shorter than `window`: "pad" (the default) gives one window ending
            at the last row, front-padded with the first row; "skip" leaves them out. Either way
            each is reported in `problems`.

    Returns:
        A `WindowSet` ordered by unit, then end cycle.

    Raises:
        ValueError: On bad arguments, or when every unit is shorter than the window with "skip".
    """
    features = _check_window_arguments(features, frame, window, stride, targets, short_units)
    block_starts, block_ends = _unit_blocks(frame) if len(frame) else (np.zeros(0, int),) * 2
    all_ends, all_starts, problems = [], [], []
    for start, end in zip(block_starts, block_ends, strict=True):
        length = end - start
        if length < window:
            problems.append(
                _short_unit_problem(frame["unit"].iat[start], length, window, short_units)
            )
            if short_units == "skip":
                continue
            ends = np.array([end - 1])
        else:
            ends = np.arange(end - 1, start + window - 2, -stride)[::-1]
        all_ends.append(ends)
        all_starts.append(np.full(len(ends), start))
    if not all_ends:
        raise ValueError(
            f"Expected at least one unit with window={window} rows or more (short_units='skip'). "
            f"Received: the longest unit has {int((block_ends - block_starts).max(initial=0))} rows"
        )
    window_ends = np.concatenate(all_ends).astype(np.int64)
    window_starts = np.concatenate(all_starts).astype(np.int64)
    return _cut(features, frame, window, targets, window_ends, window_starts, problems)


def last_windows(
    features: np.ndarray,
    frame: pd.DataFrame,
    *,
    window: int,
    short_units: str = "pad",
    targets: np.ndarray | None = None,
) -> WindowSet:
    """One window per unit, ending at its last row (the test-set "RUL at the last cycle").

    Args and Raises: as `make_windows` (stride does not apply).

    Returns:
        A `WindowSet` with one window per kept unit, in unit order.
    """
    features = _check_window_arguments(features, frame, window, 1, targets, short_units)
    block_starts, block_ends = _unit_blocks(frame) if len(frame) else (np.zeros(0, int),) * 2
    lengths = block_ends - block_starts
    problems = [
        _short_unit_problem(frame["unit"].iat[start], length, window, short_units)
        for start, length in zip(block_starts, lengths, strict=True)
        if length < window
    ]
    keep = lengths >= window if short_units == "skip" else np.ones(len(lengths), dtype=bool)
    if not keep.any():
        raise ValueError(
            f"Expected at least one unit with window={window} rows or more (short_units='skip'). "
            f"Received: the longest unit has {int(lengths.max(initial=0))} rows"
        )
    return _cut(
        features, frame, window, targets, block_ends[keep] - 1, block_starts[keep], problems
    )

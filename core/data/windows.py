"""Sensor series to model inputs: RUL targets, per-sensor scaling and fixed-length windows.

Pure numpy/pandas (no TensorFlow). A `SeriesDataset.frame` is sorted by unit then cycle, so every
unit is one contiguous block of rows; windows are cut inside those blocks and never cross units.
Each unit's last window always ends at its last row (the cycle that matters for "how long is
left"), and earlier windows step back from there by `stride`.

Example:
    scaler = SensorScaler().fit(train.frame, train.sensor_columns, train.setting_columns)
    windows = make_windows(scaler.transform(train.frame), train.frame, window=30,
                           targets=rul_targets(train.frame))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

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
BY_CONDITION_CHOICES = ("auto", True, False)
# Settings whose z-scores all lie within this distance of a centre form one operating condition.
_CONDITION_RADIUS = 0.25
# A sensor is "near constant" (caret's nearZeroVar rule): its most common value is more than 19
# times as frequent as the second (95/5) and it has few distinct values (< 10 % of rows). C-MAPSS
# FD001 sensor 6 (21.60 or 21.61) is one: it carries quantisation noise, not degradation.
_FREQUENCY_RATIO = 95 / 5
_UNIQUE_SHARE = 0.10


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


def _require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"Expected a pandas DataFrame. Received: frame={describe_value(frame)}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"Expected the columns {list(columns)}. Received: missing={missing}, "
            f"available={[str(column) for column in frame.columns]}"
        )


def _near_constant(values: np.ndarray) -> bool:
    """Whether one sensor's values (1-D, NaN ignored) are constant or near-zero-variance."""
    values = values[np.isfinite(values)]
    if values.size < 2:
        return True
    if not np.std(values) > 1e-9 * max(np.max(np.abs(values)), 1.0):
        return True
    _, counts = np.unique(values, return_counts=True)
    if counts.size < 2 or counts.size / values.size >= _UNIQUE_SHARE:
        return False
    top_two = np.sort(counts)[-2:]
    return bool(top_two[1] / top_two[0] > _FREQUENCY_RATIO)


def _find_conditions(settings: np.ndarray, max_conditions: int) -> np.ndarray | None:
    """Centres (in setting units) of 2..max_conditions tight clusters, or None if none form."""
    scale = settings.std(axis=0)
    varying = scale > 1e-9 * np.maximum(np.abs(settings).max(axis=0), 1.0)
    if not varying.any():
        return None
    scaled = (settings[:, varying] - settings[:, varying].mean(axis=0)) / scale[varying]
    unassigned = np.ones(len(scaled), dtype=bool)
    members = []
    # Leader clustering: at most max_conditions + 1 passes, each vectorised over all rows.
    while unassigned.any():
        if len(members) == max_conditions:
            return None
        leader = scaled[np.flatnonzero(unassigned)[0]]
        close = unassigned & (np.linalg.norm(scaled - leader, axis=1) <= _CONDITION_RADIUS)
        members.append(close)
        unassigned &= ~close
    if len(members) < 2:
        return None
    return np.stack([settings[mask].mean(axis=0) for mask in members])


class SensorScaler:
    """Per-sensor z-score scaling, optionally per operating condition; drops constant sensors.

    Follows the scikit-learn contract: `__init__` stores the settings, `fit` learns the attributes
    ending in "_" from training rows only, `transform` applies them to any rows.

    Args:
        by_condition: "auto" (the default) scales per operating condition when the setting columns
            form 2 to `max_conditions` tight clusters (as in C-MAPSS FD002/FD004), True requires
            such clusters, False always scales globally.
        max_conditions: Most clusters counted as operating conditions. Defaults to 6.

    Attributes (after `fit`):
        feature_columns_: Kept sensor columns, in order: the model's features.
        dropped_sensors_: Sensors constant (or near-zero-variance) on the fitting rows, in every
            condition.
        setting_columns_: Setting columns used to find conditions.
        condition_centers_: (conditions, settings) array of centres, or None for one condition.
        setting_scales_: Standard deviation of each setting (distance units), or None.
        means_, stds_: (conditions, features) arrays; one row when there is one condition.
    """

    def __init__(self, by_condition: bool | str = "auto", max_conditions: int = 6):
        self.by_condition = by_condition
        self.max_conditions = max_conditions

    def _check_parameters(self) -> None:
        if not (self.by_condition == "auto" or isinstance(self.by_condition, bool)):
            raise ValueError(
                "Expected by_condition to be 'auto', True or False. "
                f"Received: by_condition={self.by_condition!r}"
            )
        count = self.max_conditions
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise ValueError(
                f"Expected max_conditions to be an integer >= 2. Received: max_conditions={count!r}"
            )

    def fit(
        self,
        frame: pd.DataFrame,
        sensor_columns: Sequence[str],
        setting_columns: Sequence[str] = (),
    ) -> SensorScaler:
        """Learns conditions, kept sensors, means and standard deviations from `frame`.

        Args:
            frame: Training rows only (the caller keeps validation and test units out).
            sensor_columns: Sensor columns of `frame`.
            setting_columns: Operating-setting columns, for per-condition scaling. Defaults to ().

        Returns:
            self.

        Raises:
            ValueError: Bad parameters, no sensor, missing columns, no rows, every sensor
                constant, or by_condition=True without clustered settings.
        """
        self._check_parameters()
        sensor_columns, setting_columns = list(sensor_columns), list(setting_columns)
        if not sensor_columns:
            raise ValueError(
                f"Expected at least one sensor column. Received: sensor_columns={sensor_columns}"
            )
        _require_columns(frame, [*sensor_columns, *setting_columns])
        if len(frame) == 0:
            raise ValueError("Expected at least one row to fit the scaler. Received: 0 rows")
        sensors = frame[sensor_columns].to_numpy(dtype="float64")
        centers = None
        if self.by_condition is not False and setting_columns:
            settings = frame[setting_columns].to_numpy(dtype="float64")
            centers = _find_conditions(settings, self.max_conditions)
        if self.by_condition is True and centers is None:
            raise ValueError(
                f"Expected the settings to form 2 to {self.max_conditions} operating conditions "
                f"for by_condition=True. Received: setting_columns={setting_columns} without "
                "such clusters"
            )
        self.setting_columns_ = setting_columns if centers is not None else []
        self.condition_centers_ = centers
        self.setting_scales_ = None
        if centers is not None:
            scales = frame[setting_columns].to_numpy(dtype="float64").std(axis=0)
            self.setting_scales_ = np.where(scales > 0, scales, 1.0)
        conditions = self._conditions(frame)
        count = 1 if centers is None else len(centers)
        flat = np.array(
            [
                [
                    _near_constant(sensors[conditions == index, column])
                    for column in range(sensors.shape[1])
                ]
                for index in range(count)
            ]
        ).all(axis=0)
        self.dropped_sensors_ = [
            name for name, drop in zip(sensor_columns, flat, strict=True) if drop
        ]
        self.feature_columns_ = [
            name for name, drop in zip(sensor_columns, flat, strict=True) if not drop
        ]
        if not self.feature_columns_:
            raise ValueError(
                "Expected at least one sensor that varies on the training rows. "
                f"Received: every sensor is constant: {sensor_columns}"
            )
        kept = sensors[:, ~flat]
        means, stds = np.zeros((count, kept.shape[1])), np.ones((count, kept.shape[1]))
        for index in range(count):
            rows = kept[conditions == index]
            if len(rows):
                means[index] = np.nanmean(rows, axis=0)
                spread = np.nanstd(rows, axis=0)
                # A sensor flat in one condition only: centre it there, leave its scale at 1.
                stds[index] = np.where(spread > 1e-12, spread, 1.0)
        self.means_, self.stds_ = means, stds
        return self

    def _conditions(self, frame: pd.DataFrame) -> np.ndarray:
        """Index of the nearest operating condition of each row (all 0 for one condition)."""
        if self.condition_centers_ is None:
            return np.zeros(len(frame), dtype=np.int64)
        settings = frame[self.setting_columns_].to_numpy(dtype="float64") / self.setting_scales_
        centers = self.condition_centers_ / self.setting_scales_
        distances = np.linalg.norm(settings[:, np.newaxis, :] - centers[np.newaxis], axis=2)
        return np.argmin(distances, axis=1)

    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_columns_"):
            raise ValueError("Expected a fitted SensorScaler: call fit() first. Received: unfitted")

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Scales the kept sensors of `frame`.

        Returns:
            float32 array (rows, len(feature_columns_)); missing values become 0 (the mean).

        Raises:
            ValueError: If the scaler is not fitted or `frame` lacks a kept sensor or a setting
                column needed to find the operating condition (the message names them).
        """
        self._check_fitted()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"Expected a pandas DataFrame. Received: frame={describe_value(frame)}")
        needed = [*self.feature_columns_, *self.setting_columns_]
        missing = [column for column in needed if column not in frame.columns]
        if missing:
            raise ValueError(
                f"Expected the columns the model was trained on: {needed}. Received: a frame "
                f"missing {missing}"
            )
        conditions = self._conditions(frame)
        values = frame[self.feature_columns_].to_numpy(dtype="float64")
        scaled = (values - self.means_[conditions]) / self.stds_[conditions]
        return np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0).astype("float32")

    def to_config(self) -> dict:
        """Returns the parameters and fitted attributes as plain JSON values."""
        self._check_fitted()
        centers = self.condition_centers_
        return {
            "by_condition": self.by_condition,
            "max_conditions": self.max_conditions,
            "feature_columns": list(self.feature_columns_),
            "dropped_sensors": list(self.dropped_sensors_),
            "setting_columns": list(self.setting_columns_),
            "condition_centers": None if centers is None else centers.tolist(),
            "setting_scales": None if centers is None else self.setting_scales_.tolist(),
            "means": self.means_.tolist(),
            "stds": self.stds_.tolist(),
        }

    @classmethod
    def from_config(cls, config: dict) -> SensorScaler:
        """Rebuilds a fitted scaler from `to_config()` output.

        Raises:
            ValueError: If a key is missing.
        """
        keys = ["by_condition", "max_conditions", "feature_columns", "dropped_sensors"]
        keys += ["setting_columns", "condition_centers", "setting_scales", "means", "stds"]
        missing = [key for key in keys if key not in config]
        if missing:
            raise ValueError(f"Expected the scaler keys {keys}. Received: missing={missing}")
        scaler = cls(config["by_condition"], config["max_conditions"])
        scaler.feature_columns_ = list(config["feature_columns"])
        scaler.dropped_sensors_ = list(config["dropped_sensors"])
        scaler.setting_columns_ = list(config["setting_columns"])
        centers = config["condition_centers"]
        scaler.condition_centers_ = None if centers is None else np.asarray(centers, "float64")
        scales = config["setting_scales"]
        scaler.setting_scales_ = None if scales is None else np.asarray(scales, "float64")
        scaler.means_ = np.asarray(config["means"], "float64")
        scaler.stds_ = np.asarray(config["stds"], "float64")
        return scaler


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

"""Per-sensor scaling of sensor series: `SensorScaler`, optionally per operating condition.

Pure numpy/pandas (no TensorFlow). The scaler follows the scikit-learn contract: it is fitted on
training units only, drops sensors that are constant (or near-zero-variance) there, finds operating
conditions when the setting columns form tight clusters (as in C-MAPSS FD002/FD004), z-scores each
kept sensor per condition, and round-trips through `to_config()`/`from_config()` beside the model.

Example:
    scaler = SensorScaler().fit(train.frame, train.sensor_columns, train.setting_columns)
    features = scaler.transform(test.frame)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.data.series_validation import require_columns as _require_columns
from core.data.validation import describe_value

__all__ = ["BY_CONDITION_CHOICES", "SensorScaler"]

BY_CONDITION_CHOICES = ("auto", True, False)
# Settings whose z-scores all lie within this distance of a centre form one operating condition.
_CONDITION_RADIUS = 0.25
# A sensor is "near constant" (caret's nearZeroVar rule): its most common value is more than 19
# times as frequent as the second (95/5) and it has few distinct values (< 10 % of rows). C-MAPSS
# FD001 sensor 6 (21.60 or 21.61) is one: it carries quantisation noise, not degradation.
_FREQUENCY_RATIO = 95 / 5
_UNIQUE_SHARE = 0.10


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

"""Tests for core/data/scaling.py: constant sensors, operating conditions and the saved config."""

import json

import numpy as np
import pandas as pd
import pytest

from core.data.scaling import SensorScaler


def sensor_frame(rows_per_unit: int = 50, units: int = 4, seed: int = 0) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    count = rows_per_unit * units
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(1, units + 1), rows_per_unit),
            "cycle": np.tile(np.arange(1, rows_per_unit + 1), units),
            "setting_1": generator.normal(0, 0.002, count),
            "flat": np.full(count, 14.62),
            # Two quantised levels, one of them rare: near-zero variance, dropped.
            "quantised": np.where(np.arange(count) % 50 == 0, 21.60, 21.61),
            "temperature": generator.normal(640, 2, count),
            "pressure": generator.normal(9000, 20, count),
        }
    )


def test_scaler_drops_constant_sensors_and_standardises_the_rest():
    frame = sensor_frame()
    scaler = SensorScaler().fit(
        frame, ["flat", "quantised", "temperature", "pressure"], ["setting_1"]
    )
    assert scaler.dropped_sensors_ == ["flat", "quantised"]
    assert scaler.feature_columns_ == ["temperature", "pressure"]
    assert scaler.condition_centers_ is None  # Noise around one setting is one condition.
    scaled = scaler.transform(frame)
    assert scaled.shape == (len(frame), 2) and scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(scaled.std(axis=0), 1, atol=1e-4)


def test_scaler_learns_only_from_the_rows_it_is_fitted_on():
    frame = sensor_frame()
    training = frame[frame["unit"] <= 3]
    scaler = SensorScaler().fit(training, ["temperature", "pressure"])
    expected_means = training[["temperature", "pressure"]].mean().to_numpy()
    np.testing.assert_allclose(scaler.means_[0], expected_means)
    test = frame[frame["unit"] == 4].copy()
    before = scaler.transform(test)
    test.loc[test.index[0], "temperature"] += 100  # Changing a test row moves only that row.
    after = scaler.transform(test)
    np.testing.assert_allclose(scaler.means_[0], expected_means)
    np.testing.assert_allclose(after[1:], before[1:])
    assert after[0, 0] > before[0, 0]


def six_condition_frame(seed: int = 0) -> pd.DataFrame:
    """Settings at 6 operating points (like C-MAPSS FD002); sensors shift with the point."""
    generator = np.random.default_rng(seed)
    centers = np.array(
        [
            [0, 0, 100],
            [10, 0.25, 100],
            [20, 0.7, 100],
            [25, 0.62, 60],
            [35, 0.84, 100],
            [42, 0.84, 100],
        ]
    )
    condition = generator.integers(0, 6, 600)
    settings = centers[condition] + generator.normal(0, 0.002, (600, 3))
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(1, 7), 100),
            "cycle": np.tile(np.arange(1, 101), 6),
            "setting_1": settings[:, 0],
            "setting_2": settings[:, 1],
            "setting_3": settings[:, 2],
            "by_point": 500 + 30 * condition + generator.normal(0, 1, 600),
            "only_point": 100.0 + 5 * condition,  # Varies with the condition, flat within it.
            "condition": condition,
        }
    )


def test_scaler_normalises_per_operating_condition_when_settings_form_clusters():
    frame = six_condition_frame()
    settings = ["setting_1", "setting_2", "setting_3"]
    scaler = SensorScaler().fit(frame, ["by_point", "only_point"], settings)
    assert scaler.condition_centers_.shape == (6, 3)
    assert scaler.dropped_sensors_ == ["only_point"]
    scaled = scaler.transform(frame)[:, 0]
    per_condition = pd.Series(scaled).groupby(frame["condition"])
    np.testing.assert_allclose(per_condition.mean(), 0, atol=1e-5)
    np.testing.assert_allclose(per_condition.std(ddof=0), 1, atol=1e-4)
    assert scaler.means_.shape == (6, 1)

    global_scaler = SensorScaler(by_condition=False).fit(
        frame, ["by_point", "only_point"], settings
    )
    assert global_scaler.condition_centers_ is None
    assert global_scaler.feature_columns_ == ["by_point", "only_point"]
    assert (
        pd.Series(global_scaler.transform(frame)[:, 0]).groupby(frame["condition"]).std().max()
        < 0.1
    )


def test_by_condition_true_requires_clustered_settings():
    frame = sensor_frame()
    with pytest.raises(ValueError, match=r"Expected the settings to form 2 to 6 operating"):
        SensorScaler(by_condition=True).fit(frame, ["temperature"], ["setting_1"])


@pytest.mark.parametrize(
    ("scaler", "message"),
    [
        (
            SensorScaler(by_condition="yes"),
            "Expected by_condition to be 'auto', True or False. Received: by_condition='yes'",
        ),
        (
            SensorScaler(max_conditions=1),
            "Expected max_conditions to be an integer >= 2. Received: max_conditions=1",
        ),
    ],
)
def test_scaler_parameters_are_checked_at_fit(scaler, message):
    with pytest.raises(ValueError) as error:
        scaler.fit(sensor_frame(), ["temperature"])
    assert str(error.value) == message


def test_scaler_rejects_no_sensor_and_all_constant_sensors():
    frame = sensor_frame()
    with pytest.raises(ValueError, match=r"Received: sensor_columns=\[\]"):
        SensorScaler().fit(frame, [])
    with pytest.raises(ValueError, match=r"Received: every sensor is constant: \['flat'\]"):
        SensorScaler().fit(frame, ["flat"])


def test_transform_names_missing_columns():
    frame = sensor_frame()
    scaler = SensorScaler().fit(frame, ["temperature", "pressure"])
    with pytest.raises(ValueError) as error:
        scaler.transform(frame.drop(columns=["pressure"]))
    assert str(error.value) == (
        "Expected the columns the model was trained on: ['temperature', 'pressure']. "
        "Received: a frame missing ['pressure']"
    )
    with pytest.raises(ValueError, match=r"Expected a fitted SensorScaler"):
        SensorScaler().transform(frame)


@pytest.mark.parametrize("make_frame", [sensor_frame, six_condition_frame])
def test_scaler_config_round_trips_through_json(make_frame):
    frame = make_frame()
    sensors = ["temperature", "pressure"] if "temperature" in frame else ["by_point"]
    settings = [column for column in frame.columns if column.startswith("setting")]
    scaler = SensorScaler().fit(frame, sensors, settings)
    restored = SensorScaler.from_config(json.loads(json.dumps(scaler.to_config())))
    assert restored.to_config() == scaler.to_config()
    np.testing.assert_array_equal(restored.transform(frame), scaler.transform(frame))
    with pytest.raises(ValueError, match=r"Received: missing=\['means'\]"):
        SensorScaler.from_config(
            {key: value for key, value in scaler.to_config().items() if key != "means"}
        )

"""Synthetic run-to-failure sensor data in the style of NASA's C-MAPSS turbofan set.

Every machine runs at a single operating condition (the three settings carry only small noise,
like C-MAPSS FD001). A hidden wear level rises roughly exponentially from a small initial value to
1 at failure; it drives 11 of the 14 sensors with different signs and strengths, which depend on the
failure mode (`bearing_wear` mostly moves temperatures and shaft speed, `seal_leak` mostly moves
pressures and the bypass ratio). Three sensors are constant and carry no information.

Only numpy and pandas are used: the home page must render without TensorFlow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.data.validation import describe_value

SETTING_COLUMNS = ("setting_1", "setting_2", "setting_3")
SENSOR_COLUMNS = tuple(f"sensor_{number:02d}" for number in range(1, 15))
FAILURE_MODES = ("bearing_wear", "seal_leak")
ANOMALY_KINDS = ("spike", "level_shift", "stuck", "noise_burst")
MINIMUM_LIFETIME = 120
MAXIMUM_LIFETIME = 320
DECIMALS = 4

# Per sensor: healthy level, noise standard deviation, and the change at failure for each mode.
# A zero noise marks a constant sensor.
_SENSOR_PROFILES = {
    "sensor_01": (518.67, 0.0, 0.0, 0.0),
    "sensor_02": (642.5, 0.5, 1.9, 0.9),
    "sensor_03": (1590.0, 6.0, 26.0, 11.0),
    "sensor_04": (1405.0, 9.0, 38.0, 18.0),
    "sensor_05": (14.62, 0.0, 0.0, 0.0),
    "sensor_06": (553.4, 0.9, -1.6, -4.0),
    "sensor_07": (2388.1, 0.07, 0.28, 0.08),
    "sensor_08": (9050.0, 20.0, 75.0, 4.0),
    "sensor_09": (47.45, 0.27, 0.8, 1.7),
    "sensor_10": (1.3, 0.0, 0.0, 0.0),
    "sensor_11": (521.9, 0.75, -1.2, -3.2),
    "sensor_12": (8.43, 0.035, 0.03, 0.24),
    "sensor_13": (392.0, 1.5, 4.5, 1.8),
    "sensor_14": (38.8, 0.18, -0.3, -0.95),
}
CONSTANT_SENSORS = tuple(name for name, profile in _SENSOR_PROFILES.items() if profile[1] == 0.0)
INFORMATIVE_SENSORS = tuple(name for name in SENSOR_COLUMNS if name not in CONSTANT_SENSORS)


def simulate_run_to_failure(
    unit_count: int, rng: np.random.Generator, first_unit: int = 1
) -> pd.DataFrame:
    """Simulates machines that each run until they fail.

    Args:
        unit_count: How many machines to simulate.
        rng: The random generator that decides everything.
        first_unit: Number of the first machine. Defaults to 1.

    Returns:
        A long-format frame with columns `unit`, `cycle`, the settings, the sensors and
        `failure_mode`; the last row of each unit is the cycle it failed on.

    Raises:
        ValueError: If `unit_count` is not a positive integer.
    """
    _check_positive_integer("unit_count", unit_count)
    frames = [
        _simulate_unit(rng, unit, _draw_lifetime(rng))
        for unit in range(first_unit, first_unit + unit_count)
    ]
    return pd.concat(frames, ignore_index=True)


def simulate_test_fleet(
    unit_count: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulates machines observed up to some cycle before they fail.

    Args:
        unit_count: How many machines to simulate; they are numbered from 1.
        rng: The random generator that decides everything.

    Returns:
        `(readings, remaining)`: readings in the same columns as `simulate_run_to_failure`, cut off
        between 35 % and 90 % of each lifetime, and a frame with columns `unit` and `rul`, the true
        number of cycles left after each unit's last row.

    Raises:
        ValueError: If `unit_count` is not a positive integer.
    """
    _check_positive_integer("unit_count", unit_count)
    frames = []
    remaining = []
    for unit in range(1, unit_count + 1):
        lifetime = _draw_lifetime(rng)
        observed = round(lifetime * rng.uniform(0.35, 0.9))
        frames.append(_simulate_unit(rng, unit, lifetime).iloc[:observed])
        remaining.append({"unit": unit, "rul": lifetime - observed})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(remaining)


def simulate_live_series(
    rng: np.random.Generator, cycle_count: int = 400, anomaly_count: int = 6
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulates one slowly wearing machine with injected sensor anomalies.

    Args:
        rng: The random generator that decides everything.
        cycle_count: Number of cycles to record. Defaults to 400.
        anomaly_count: Number of non-overlapping anomalous stretches. Defaults to 6.

    Returns:
        `(series, anomalies)`: the series with columns `cycle`, the settings and the sensors (no
        unit, no failure mode: nobody knows yet), and a frame with columns `start_cycle`,
        `end_cycle` (inclusive), `kind` (one of `ANOMALY_KINDS`) and `sensors` (affected sensor
        names joined by `;`).

    Raises:
        ValueError: If `cycle_count` or `anomaly_count` is not a positive integer, or there are
            too few cycles for the anomalies.
    """
    _check_positive_integer("cycle_count", cycle_count)
    _check_positive_integer("anomaly_count", anomaly_count)
    if cycle_count < 60 * anomaly_count + 20:
        raise ValueError(
            "Expected at least 60 cycles per anomaly plus 20 clean ones at the start. "
            f"Received: cycle_count={cycle_count}, anomaly_count={anomaly_count}"
        )
    # The machine is still far from failure at the end of the recording.
    lifetime = int(cycle_count * rng.uniform(1.4, 1.7))
    unit = _simulate_unit(rng, 1, lifetime, noise=False).iloc[:cycle_count]
    series = unit.drop(columns=["unit", "failure_mode"]).reset_index(drop=True)
    noise_levels = {name: _SENSOR_PROFILES[name][1] for name in INFORMATIVE_SENSORS}
    for name, level in noise_levels.items():
        series[name] += rng.normal(0.0, level, size=cycle_count)

    kinds = list(ANOMALY_KINDS) * (anomaly_count // len(ANOMALY_KINDS) + 1)
    kinds = [str(kind) for kind in rng.permutation(kinds[:anomaly_count])]
    slot_length = (cycle_count - 20) // anomaly_count
    records = []
    for index, kind in enumerate(kinds):
        duration = _anomaly_duration(rng, kind)
        # Each stretch starts at least 15 clean cycles after its slot begins, so a detector (and a
        # test) always sees normal readings just before it.
        slot_start = 20 + index * slot_length
        start_index = slot_start + 15 + int(rng.integers(0, slot_length - duration - 15))
        end_index = start_index + duration - 1
        count = int(rng.integers(1, 3))
        affected = sorted(str(name) for name in rng.choice(INFORMATIVE_SENSORS, count, False))
        for name in affected:
            _inject_anomaly(rng, series, name, kind, start_index, end_index, noise_levels[name])
        records.append(
            {
                "start_cycle": int(series["cycle"].iloc[start_index]),
                "end_cycle": int(series["cycle"].iloc[end_index]),
                "kind": kind,
                "sensors": ";".join(affected),
            }
        )
    series[list(INFORMATIVE_SENSORS)] = _round(series[list(INFORMATIVE_SENSORS)])
    return series, pd.DataFrame(records)


def _check_positive_integer(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"Expected {name} to be a positive integer. Received: {name}={describe_value(value)}"
        )


def _draw_lifetime(rng: np.random.Generator) -> int:
    """Lifetimes between 120 and 320 cycles, most of them around 200."""
    span = MAXIMUM_LIFETIME - MINIMUM_LIFETIME
    return MINIMUM_LIFETIME + round(span * rng.beta(2.0, 2.5))


def _simulate_unit(
    rng: np.random.Generator, unit: int, lifetime: int, noise: bool = True
) -> pd.DataFrame:
    """One machine from its first cycle to its failure at cycle `lifetime`."""
    cycles = np.arange(1, lifetime + 1)
    failure_mode = str(rng.choice(FAILURE_MODES))
    mode_index = FAILURE_MODES.index(failure_mode)
    # Wear grows exponentially-ish from a small initial value and reaches 1 at failure; a larger
    # steepness keeps the machine healthy-looking for longer and fails it more abruptly.
    initial_wear = rng.uniform(0.0, 0.12)
    steepness = rng.uniform(2.5, 6.0)
    progress = cycles / lifetime
    wear = initial_wear + (1.0 - initial_wear) * np.expm1(steepness * progress) / np.expm1(
        steepness
    )
    frame = pd.DataFrame({"unit": unit, "cycle": cycles})
    frame["setting_1"] = rng.normal(0.0, 0.0022, size=lifetime)
    frame["setting_2"] = rng.normal(0.0, 0.0003, size=lifetime)
    frame["setting_3"] = 100.0
    for name in SENSOR_COLUMNS:
        level, deviation, *responses = _SENSOR_PROFILES[name]
        if deviation == 0.0:
            frame[name] = level
            continue
        # Machines differ a little from one another even when new.
        offset = rng.normal(0.0, 0.6 * deviation)
        values = level + offset + responses[mode_index] * wear
        if noise:
            values = values + rng.normal(0.0, deviation, size=lifetime)
        frame[name] = values
    frame["failure_mode"] = failure_mode
    float_columns = [*SETTING_COLUMNS, *SENSOR_COLUMNS]
    frame[float_columns] = _round(frame[float_columns])
    return frame


def _round(frame: pd.DataFrame) -> pd.DataFrame:
    # Adding 0.0 turns the -0.0 that rounding leaves behind into 0.0, which reads better in a CSV.
    return frame.round(DECIMALS) + 0.0


def _anomaly_duration(rng: np.random.Generator, kind: str) -> int:
    if kind == "spike":
        return int(rng.integers(1, 4))
    if kind == "level_shift":
        return int(rng.integers(15, 41))
    if kind == "stuck":
        return int(rng.integers(12, 31))
    return int(rng.integers(8, 21))


def _inject_anomaly(
    rng: np.random.Generator,
    series: pd.DataFrame,
    name: str,
    kind: str,
    start_index: int,
    end_index: int,
    noise_level: float,
) -> None:
    """Corrupts `series[name]` between two row positions, both inclusive, in place."""
    values = series[name].to_numpy(copy=True)
    stretch = slice(start_index, end_index + 1)
    length = end_index - start_index + 1
    sign = rng.choice([-1.0, 1.0])
    if kind == "spike":
        values[stretch] += sign * noise_level * rng.uniform(8.0, 14.0, size=length)
    elif kind == "level_shift":
        values[stretch] += sign * noise_level * rng.uniform(5.0, 8.0)
    elif kind == "stuck":
        # A stuck sensor repeats its last good reading.
        values[stretch] = values[start_index - 1]
    else:
        values[stretch] += rng.normal(0.0, 5.0 * noise_level, size=length)
    series[name] = values

"""Tests for core/engine/series_training.py: configuration, training, evaluation and prediction."""

import dataclasses
import json

import keras
import numpy as np
import pandas as pd
import pytest

from core.data.series import dataset_from_frame, detect_column_mapping
from core.data.series_loading import load_series
from core.data.windows import SensorScaler, rul_targets
from core.engine import series_training
from core.engine.progress import CancellationToken
from core.engine.series_training import (
    FAILURE_CLASS_NAMES,
    SeriesRunResult,
    SeriesTrainingConfig,
    column_labels,
    predict_series,
    train_series_model,
)
from core.models.series import build_series_model
from tests.conftest import REPOSITORY_ROOT

SENSORS = REPOSITORY_ROOT / "sample_data" / "sensors"


@pytest.fixture(scope="module")
def sample_train():
    return load_series(SENSORS / "train.csv")


@pytest.fixture(scope="module")
def sample_test():
    final_rul = pd.read_csv(SENSORS / "test_rul.csv").set_index("unit")["rul"]
    return load_series(SENSORS / "test.csv"), final_rul


def small_dataset(units: int = 4, rows: int = 12):
    generator = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(1, units + 1), rows),
            "cycle": np.tile(np.arange(1, rows + 1), units),
            "temperature": generator.normal(600, 3, units * rows),
            "pressure": generator.normal(9000, 20, units * rows),
        }
    )
    return dataset_from_frame(frame, detect_column_mapping(frame))


def units_of(dataset, units):
    frame = dataset.frame[dataset.frame["unit"].isin(units)].reset_index(drop=True)
    return dataclasses.replace(dataset, frame=frame)


class Recorder:
    """Records listener events; optionally cancels after a given batch of the first epoch."""

    def __init__(self, token=None, cancel_at_step=None):
        self.events, self.token, self.cancel_at_step = [], token, cancel_at_step

    def on_train_begin(self, total_epochs, steps_per_epoch):
        self.events.append(("train_begin", total_epochs, steps_per_epoch))

    def on_batch_end(self, epoch, step, logs):
        self.events.append(("batch", epoch, step))
        if self.token is not None and step == self.cancel_at_step:
            self.token.cancel()

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch", epoch, sorted(logs)))

    def on_train_end(self, logs):
        self.events.append(("train_end", logs["epochs_run"], logs["cancelled"]))


# Configuration.


def test_default_config_is_valid_and_round_trips():
    config = SeriesTrainingConfig().validate()
    assert (config.task, config.window, config.rul_cap, config.horizon) == ("rul", 30, 125, 30)
    assert SeriesTrainingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"task": "forecast"},
            "Expected `task` to be one of ['rul', 'failure', 'anomaly']. Received: task='forecast'",
        ),
        (
            {"model": "transformer"},
            "Expected `model` to be one of ['lstm', 'gru', 'conv1d', 'seed_rnn']. "
            "Received: model='transformer'",
        ),
        ({"window": 1}, "Expected `window` to be an integer >= 2. Received: window=1"),
        ({"stride": 0}, "Expected `stride` to be an integer >= 1. Received: stride=0"),
        (
            {"short_units": "drop"},
            "Expected `short_units` to be one of ['pad', 'skip']. Received: short_units='drop'",
        ),
        (
            {"label_source": "file"},
            "Expected `label_source` to be one of ['rul', 'column']. Received: label_source='file'",
        ),
        (
            {"rul_cap": 0},
            "Expected `rul_cap` to be a positive number or None. Received: rul_cap=0",
        ),
    ],
)
def test_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError) as error:
        SeriesTrainingConfig(**changes).validate()
    assert str(error.value) == message


def test_config_from_dict_names_unknown_keys():
    with pytest.raises(ValueError, match=r"Received unknown keys: \['colour'\]"):
        SeriesTrainingConfig.from_dict({"colour": "red"})


def test_column_labels_read_binary_values_and_words():
    values = pd.Series(["failure", "normal", "Failing", "ok", "1", "0", "TRUE"])
    assert column_labels(values).tolist() == [1, 0, 1, 0, 1, 0, 1]
    assert column_labels(pd.Series([0.0, 1.0, 1.0])).tolist() == [0, 1, 1]
    with pytest.raises(ValueError) as error:
        column_labels(pd.Series(["bearing_wear", "normal", "seal_leak"]))
    assert str(error.value).endswith("Received: label values ['bearing_wear', 'seal_leak']")


# Errors at the boundary (no training needed).


def test_training_rejects_what_is_not_a_dataset():
    with pytest.raises(TypeError, match=r"Expected a SeriesDataset .* Received: dataset="):
        train_series_model(pd.DataFrame())


def test_training_rejects_a_dataset_without_sensors():
    dataset = small_dataset()
    dataset.sensor_columns = []
    with pytest.raises(ValueError, match=r"Expected a dataset with at least one sensor column"):
        train_series_model(dataset)


def test_training_rejects_too_few_units_for_the_splits():
    with pytest.raises(ValueError, match=r"Expected at least 3 distinct units.*\(2 distinct\)"):
        train_series_model(small_dataset(units=2))


def test_training_rejects_units_all_shorter_than_the_window_when_skipping():
    config = SeriesTrainingConfig(window=20, short_units="skip")
    with pytest.raises(ValueError) as error:
        train_series_model(small_dataset(units=6), config)
    assert str(error.value) == (
        "Expected at least one unit with window=20 rows or more (short_units='skip'). "
        "Received: the longest unit has 12 rows"
    )


def test_failure_from_a_label_column_needs_a_label_column():
    config = SeriesTrainingConfig(task="failure", label_source="column", window=5)
    with pytest.raises(ValueError, match=r"Expected a `label` column for label_source='column'"):
        train_series_model(small_dataset(units=6), config)


def test_predict_names_missing_feature_columns():
    dataset = small_dataset()
    scaler = SensorScaler().fit(dataset.frame, ["temperature", "pressure"])
    model = build_series_model("seed_rnn", 5, 2)
    dataset.frame = dataset.frame.drop(columns=["pressure"])
    dataset.sensor_columns = ["temperature"]
    with pytest.raises(ValueError, match=r"Received: a frame missing \['pressure'\]"):
        predict_series(model, scaler, SeriesTrainingConfig(window=5), dataset)


# Training (slow).


@pytest.mark.slow
def test_rul_training_reports_progress_evaluates_and_predicts(sample_train, tmp_path):
    config = SeriesTrainingConfig(epochs=2, seed=1)
    recorder = Recorder()
    result = train_series_model(sample_train, config, listeners=[recorder])

    assert isinstance(result, SeriesRunResult) and not result.cancelled
    assert result.epochs_run == 2 and result.best_epoch in (1, 2)
    assert set(result.history) >= {"loss", "val_loss", "mae", "val_mae"}
    splits = [set(result.train_units), set(result.validation_units), set(result.test_units)]
    assert sum(map(len, splits)) == 64 and not (splits[0] & splits[1] or splits[0] & splits[2])
    # The scaler saw the training units only.
    frame = sample_train.frame
    training_rows = frame[frame["unit"].isin(result.train_units)]
    expected = SensorScaler().fit(
        training_rows, sample_train.sensor_columns, sample_train.setting_columns
    )
    np.testing.assert_allclose(result.scaler.means_, expected.means_)
    assert result.scaler.dropped_sensors_ == ["sensor_01", "sensor_05", "sensor_10"]
    assert any("Dropped 3 sensor(s)" in problem for problem in result.problems)

    evaluation = result.evaluation
    json.dumps(evaluation, allow_nan=False)
    assert evaluation["count"] == len(result.test_units) == len(evaluation["per_unit"])
    assert evaluation["score"] == evaluation["nasa_score"] and evaluation["rmse"] >= 0
    assert evaluation["all_cycles"]["count"] == len(result.predictions)
    predictions = result.predictions
    assert list(predictions.columns[:4]) == ["unit", "cycle", "true", "predicted"]
    assert predictions["predicted"].between(0, 125).all()
    last = predictions[predictions["last_cycle"]]
    assert last["true_rul"].tolist() == [0.0] * len(result.test_units)  # Ran to failure.

    steps_per_epoch = recorder.events[0][2]
    assert recorder.events[0] == ("train_begin", 2, steps_per_epoch) and steps_per_epoch > 1
    assert recorder.events[-1] == ("train_end", 2, False)
    epochs = [event for event in recorder.events if event[0] == "epoch"]
    assert [event[1] for event in epochs] == [1, 2] and "val_loss" in epochs[0][2]
    batches = [event for event in recorder.events if event[0] == "batch" and event[1] == 1]
    assert len(batches) == steps_per_epoch

    path = tmp_path / "rul.keras"
    result.model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    test_dataset = units_of(sample_train, result.test_units)
    predicted = predict_series(reloaded, result.scaler, result.config, test_dataset)
    assert list(predicted.columns) == ["unit", "cycle", "predicted"]
    np.testing.assert_allclose(
        predicted["predicted"], predictions["predicted"], rtol=1e-4, atol=1e-3
    )


@pytest.mark.slow
def test_failure_training_labels_windows_by_horizon(sample_train):
    config = SeriesTrainingConfig(task="failure", epochs=2, horizon=30)
    result = train_series_model(sample_train, config)

    assert set(result.history) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    predictions = result.predictions
    assert {"probability", "predicted", "true"} <= set(predictions.columns)
    assert predictions["probability"].between(0, 1).all()
    assert predictions["true"].tolist() == (predictions["true_rul"] <= 30).astype(int).tolist()
    evaluation = result.evaluation
    json.dumps(evaluation, allow_nan=False)
    assert evaluation["class_names"] == FAILURE_CLASS_NAMES == ["healthy", "failing"]
    matrix = np.array(evaluation["confusion_matrix"])
    assert matrix.shape == (2, 2) and matrix.sum() == len(predictions)
    assert matrix[1].sum() == predictions["true"].sum()
    assert {"precision", "recall", "f1", "accuracy", "roc_auc"} <= set(evaluation)

    test_dataset = units_of(sample_train, result.test_units)
    predicted = predict_series(result.model, result.scaler, result.config, test_dataset)
    assert list(predicted.columns) == ["unit", "cycle", "predicted", "probability", "failing"]


@pytest.mark.slow
def test_cancellation_stops_after_the_current_batch_and_still_evaluates(sample_train):
    token = CancellationToken()
    recorder = Recorder(token, cancel_at_step=3)
    result = train_series_model(
        sample_train, SeriesTrainingConfig(epochs=5), listeners=[recorder], cancellation=token
    )
    assert result.cancelled and result.epochs_run == 1 and result.best_epoch == 1
    batches = [event for event in recorder.events if event[0] == "batch"]
    assert batches[-1] == ("batch", 1, 3)
    assert recorder.events[-1] == ("train_end", 1, True)
    assert result.evaluation["count"] == len(result.test_units)


@pytest.mark.slow
def test_trained_rul_model_beats_the_training_mean_on_the_sample_test_set(
    sample_train, sample_test
):
    test_dataset, final_rul = sample_test
    config = SeriesTrainingConfig(epochs=12, early_stopping_patience=4)
    result = train_series_model(sample_train, config, test=(test_dataset, final_rul))

    assert result.test_units == test_dataset.units()
    assert len(result.train_units) + len(result.validation_units) == 64  # No internal test split.
    truth = final_rul.loc[test_dataset.units()].to_numpy(dtype=float)
    training_mean = rul_targets(sample_train.frame).mean()
    baseline_rmse = float(np.sqrt(np.mean((truth - training_mean) ** 2)))
    assert result.evaluation["count"] == 16
    assert result.evaluation["rmse"] < baseline_rmse


def test_anomaly_task_is_handed_to_the_anomaly_engine(monkeypatch):
    calls = []

    def fake_detector(dataset, config, *, listeners=(), cancellation=None):
        calls.append((dataset, config.task, list(listeners), cancellation))
        return "anomaly result"

    monkeypatch.setattr(series_training, "train_anomaly_detector", fake_detector)
    dataset, token = small_dataset(), CancellationToken()
    config = SeriesTrainingConfig(task="anomaly")
    assert train_series_model(dataset, config, cancellation=token) == "anomaly result"
    assert calls == [(dataset, "anomaly", [], token)]

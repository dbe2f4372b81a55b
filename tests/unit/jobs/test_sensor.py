"""Tests for core/jobs/sensor.py: settings, configs, background training and saved-model scoring."""

import types

import numpy as np
import pandas as pd
import pytest

from core.data import sensor_sources as sources
from core.engine.series_training import SeriesTrainingConfig
from core.jobs import image as image_jobs
from core.jobs import sensor as sensor_jobs
from core.jobs.manager import JobManager
from core.registry.metadata import validate_model_name
from tests.helpers.jobs import holding_the_slot, wait_for_job


def fleet_source(units: int = 3, cycles: int = 12, rul_column: bool = False):
    rows = []
    for unit in range(1, units + 1):
        for cycle in range(1, cycles + 1):
            row = {"unit": unit, "cycle": cycle, "temperature": 20.0 + cycle * unit}
            if rul_column:
                row["rul"] = 100 * unit + cycles - cycle
            rows.append(row)
    data = pd.DataFrame(rows).to_csv(index=False).encode()
    return sources.upload_source("pumps.csv", data)


class FakePredictor:
    """A `SeriesPredictor` stand-in: RUL = 50 - cycle, probability cycle / 20 + 0.01."""

    def __init__(self, task: str = "rul", threshold: float | None = None, **config):
        self.config = SeriesTrainingConfig(task=task, window=4, **config)
        self.threshold = threshold

    def predict(self, dataset):
        frame = dataset.frame
        if self.config.task == "anomaly":
            score = frame["cycle"].to_numpy("float64") / 10
            return pd.DataFrame(
                {
                    "unit": frame["unit"],
                    "cycle": frame["cycle"],
                    "score": score,
                    "flagged": score > self.threshold,
                    "predicted": score,
                }
            )
        rows = frame[frame["cycle"] >= self.config.window]
        predictions = pd.DataFrame({"unit": rows["unit"], "cycle": rows["cycle"]})
        if self.config.task == "rul":
            predictions["predicted"] = 50.0 - rows["cycle"]
        else:
            probability = rows["cycle"].to_numpy("float64") / 20 + 0.01
            predictions["predicted"] = probability
            predictions["probability"] = probability
            predictions["failing"] = probability >= 0.5
        return predictions.reset_index(drop=True)


def test_number_settings_list_the_horizon_only_for_failure():
    names = [setting["name"] for setting in sensor_jobs.number_settings("rul")]
    assert names == ["window", "epochs", "batch_size", "learning_rate"]
    failure = sensor_jobs.number_settings("failure")
    assert failure[-1]["name"] == "horizon"
    assert failure[-1]["options"]["min_value"] == 1


def test_training_defaults_come_from_the_config():
    defaults = sensor_jobs.training_defaults()
    config = SeriesTrainingConfig()
    assert defaults["model"] == config.model
    assert defaults["window"] == config.window
    assert defaults["epochs"] == config.epochs
    assert defaults["tasks"] == ["rul", "failure", "anomaly"]
    assert defaults["autoencoder"] in defaults["autoencoders"]
    for setting in sensor_jobs.number_settings("failure"):
        assert setting["name"] in defaults


def test_training_config_applies_choices_and_keeps_defaults():
    config = sensor_jobs.training_config(
        task="failure", model="gru", window=20.0, epochs=3, horizon=15, learning_rate=None
    )
    assert (config.task, config.model, config.window, config.epochs) == ("failure", "gru", 20, 3)
    assert isinstance(config.window, int)
    assert config.horizon == 15
    assert config.learning_rate == SeriesTrainingConfig().learning_rate


def test_training_config_rejects_unknown_or_invalid_choices():
    with pytest.raises(ValueError, match=r"Expected choices among \['task'.*\['seed_of_doom'\]"):
        sensor_jobs.training_config(seed_of_doom=1)
    with pytest.raises(
        ValueError, match=r"Expected `window` to be an integer >= 2\. Received: window=1"
    ):
        sensor_jobs.training_config(window=1)
    with pytest.raises(ValueError, match="Expected `model` to be one of"):
        sensor_jobs.training_config(model="transformer")


def test_make_training_work_checks_the_config_before_queueing():
    config = SeriesTrainingConfig(epochs=0)
    with pytest.raises(ValueError, match="Expected `epochs` to be an integer >= 1"):
        sensor_jobs.make_training_work(fleet_source(), config)


def test_training_work_cancelled_while_reading_returns_nothing():
    work = sensor_jobs.make_training_work(fleet_source(), SeriesTrainingConfig(epochs=1))
    messages = []
    progress = types.SimpleNamespace(set_message=messages.append)
    assert work(progress, types.SimpleNamespace(cancelled=True)) is None
    assert messages == ["Reading upload pumps.csv"]


def test_training_work_refuses_a_bad_truth_file_before_anything_is_queued():
    evaluation = sources.uploaded_evaluation_data(
        ("test.csv", sources.sample_source("test.csv").data), ("rul.csv", b"unit,rul\n1,x\n")
    )
    with pytest.raises(ValueError, match="Expected a CSV with columns unit,rul"):
        sensor_jobs.make_training_work(
            sources.sample_source(), SeriesTrainingConfig(epochs=1), evaluation=evaluation
        )


def test_submit_training_queues_a_series_job_with_a_valid_name():
    manager = JobManager(max_running=1, max_queued=1)
    with holding_the_slot(manager, "train-image", owner="me", hold=10, timeout=10):
        job = sensor_jobs.submit_training(
            manager, "me", fleet_source(), {"task": "rul", "model": "lstm", "epochs": 2}
        )
        try:
            assert job.kind == sensor_jobs.JOB_KIND
            assert job.description == "rul, lstm, 2 epochs on upload pumps.csv"
            assert sensor_jobs.series_jobs(manager, "me") == [job], "image jobs are left out"
            assert sensor_jobs.series_jobs(manager, "someone else") == []
            labels = image_jobs.job_labels([job])
            assert labels[job.job_id].endswith(": rul, lstm, 2 epochs on upload pumps.csv")
        finally:
            manager.cancel("me", job.job_id)


def test_suggested_model_name_is_valid_for_any_file_name():
    name = sensor_jobs.suggested_model_name(fleet_source(), SeriesTrainingConfig(model="lstm"))
    assert name == "pumps-rul-lstm"
    config = SeriesTrainingConfig(task="anomaly", model="conv1d")
    source = sources.upload_source("Pump data (März) 2024!.csv", b"a,b\n1,2\n")
    name = sensor_jobs.suggested_model_name(source, config)
    assert name == "Pump-data-M-rz-2024-anomaly-conv1d"
    validate_model_name(name)
    long = sources.upload_source("x" * 200 + ".csv", b"a,b\n1,2\n")
    validate_model_name(sensor_jobs.suggested_model_name(long, config))


def test_progress_text_shows_epoch_and_batch_or_the_message():
    snapshot = {"total_epochs": 5, "epoch": 2, "step": 10, "steps_per_epoch": 40, "message": ""}
    assert sensor_jobs.progress_text(snapshot) == "Epoch 2 of 5, batch 10 of 40"
    reading = snapshot | {"total_epochs": 0, "message": "Reading sample train.csv"}
    assert sensor_jobs.progress_text(reading) == "Reading sample train.csv"
    assert sensor_jobs.progress_text(reading | {"message": ""}) == "Starting..."


def test_saved_series_models_lists_series_models_newest_first():
    def record(name, version, task, metrics):
        metadata = {"task": task, "metrics": metrics}
        return types.SimpleNamespace(
            name=name, version=version, reference=f"{name}:{version}", metadata=metadata
        )

    registry = types.SimpleNamespace(
        list=lambda: [
            record("pump", 1, "series_rul", {"rmse": 20.04}),
            record("pump", 2, "series_rul", {"rmse": 14.0}),
            record("demo-defect-cnn", 1, "classification", {"accuracy": 0.9}),
            record("alarm", 1, "series_failure", {"f1": 0.812}),
            record("live", 1, "series_anomaly", {}),
        ]
    )
    models = sensor_jobs.saved_series_models(registry)
    assert [model["reference"] for model in models] == ["alarm:1", "live:1", "pump:2", "pump:1"]
    assert models[0] == {
        "reference": "alarm:1",
        "task": "failure",
        "label": "alarm:1 (failure, F1 0.81)",
    }
    assert models[2]["label"] == "pump:2 (rul, RMSE 14.0)"
    assert models[1]["label"] == "live:1 (anomaly)"


def test_score_saved_model_rul_with_a_truth_file():
    dataset = sources.load_dataset(fleet_source())
    truth = sources.upload_source("rul.csv", b"unit,rul\n1,10\n2,20\n3,30\n")
    run = sensor_jobs.score_saved_model(FakePredictor(), dataset, reference="pump:1", truth=truth)
    assert (run.task, run.description, run.model_reference) == ("rul", "pump:1", "pump:1")
    last = run.predictions[run.predictions["last_cycle"]]
    assert list(last["true_rul"]) == [10.0, 20.0, 30.0]
    assert list(last["predicted"]) == [38.0, 38.0, 38.0]
    first = run.predictions.iloc[0]
    assert (first["cycle"], first["true_rul"]) == (4, 18.0), "truth grows back from the last row"
    assert run.evaluation["count"] == 3
    assert run.evaluation["mae"] == pytest.approx((28 + 18 + 8) / 3)
    assert run.evaluation["score"] == run.evaluation["nasa_score"]
    assert [row["unit"] for row in run.evaluation["per_unit"]] == [1, 2, 3]


def test_score_saved_model_rul_caps_the_true_curve_and_reads_a_rul_column():
    dataset = sources.load_dataset(fleet_source(rul_column=True))
    run = sensor_jobs.score_saved_model(FakePredictor(rul_cap=150), dataset, reference="pump:1")
    last = run.predictions[run.predictions["last_cycle"]]
    assert list(last["true_rul"]) == [100.0, 200.0, 300.0]
    assert list(last["true"]) == [100.0, 150.0, 150.0]


def test_score_saved_model_without_truth_only_predicts():
    dataset = sources.load_dataset(fleet_source())
    run = sensor_jobs.score_saved_model(FakePredictor(), dataset, reference="pump:1")
    assert run.evaluation == {}
    assert list(run.predictions.columns) == ["unit", "cycle", "predicted"]


def test_score_saved_model_needs_a_truth_for_every_unit():
    dataset = sources.load_dataset(fleet_source())
    truth = sources.upload_source("rul.csv", b"unit,rul\n1,10\n")
    with pytest.raises(ValueError, match=r"Expected a true RUL for every unit.*\[2, 3\]"):
        sensor_jobs.score_saved_model(FakePredictor(), dataset, reference="p:1", truth=truth)


def test_score_saved_model_failure_builds_the_confusion_matrix():
    dataset = sources.load_dataset(fleet_source())
    truth = sources.upload_source("rul.csv", b"unit,rul\n1,0\n2,30\n3,30\n")
    predictor = FakePredictor("failure", horizon=5)
    run = sensor_jobs.score_saved_model(predictor, dataset, reference="alarm:1", truth=truth)
    predictions = run.predictions
    assert set(predictions["predicted"]) == {0, 1}
    assert "failing" not in predictions.columns
    # Unit 1 fails within 5 cycles from cycle 7 on; predictions say "failing" from cycle 10.
    assert list(predictions[predictions["unit"] == 1]["true"]) == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    matrix = np.array(run.evaluation["confusion_matrix"])
    assert matrix.sum() == len(predictions)
    assert matrix[1, 1] == 3 and matrix[1, 0] == 3
    assert run.evaluation["class_names"] == ["healthy", "failing"]
    assert run.evaluation["recall"] == pytest.approx(0.5)


def test_score_saved_model_anomaly_evaluates_the_known_stretches():
    dataset = sources.load_dataset(fleet_source(units=1))
    truth = sources.upload_source("labels.csv", b"start_cycle,end_cycle,kind\n10,12,spike\n")
    predictor = FakePredictor("anomaly", threshold=0.95)
    run = sensor_jobs.score_saved_model(predictor, dataset, reference="live:1", truth=truth)
    assert run.threshold == 0.95
    assert list(run.predictions[run.predictions["flagged"]]["cycle"]) == [10, 11, 12]
    assert run.detection["events_found"] == 1
    assert run.detection["event_precision"] == 1.0
    assert list(run.labels["kind"]) == ["spike"]


@pytest.mark.slow
def test_training_work_runs_in_a_job_and_evaluates_on_the_bundled_test_data():
    config = sensor_jobs.training_config(task="rul", model="conv1d", epochs=1, window=20)
    work = sensor_jobs.make_training_work(
        sources.sample_source("train.csv"),
        config,
        evaluation=sources.sample_evaluation_data("rul"),
    )
    manager = JobManager()
    job = manager.submit("me", sensor_jobs.JOB_KIND, work)
    job = wait_for_job(manager, job, timeout=300, state="succeeded")
    snapshot = job.progress.snapshot()
    assert snapshot["total_epochs"] == 1
    assert snapshot["message"] == "Finished"
    run = job.result
    assert run.description == (
        "rul, conv1d on sample train.csv, evaluated on test.csv + test_rul.csv"
    )
    assert run.evaluation["count"] == 16, "one value per bundled test unit"
    assert run.training.test_units == list(range(1, 17))
    assert run.predictions["last_cycle"].sum() == 16
    assert run.suggested_name == "train-rul-conv1d"

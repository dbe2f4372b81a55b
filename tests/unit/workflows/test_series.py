"""Tests for core/workflows/series.py and the series CLI: files in, registered models, scores
out."""

import json

import numpy as np
import pandas as pd
import pytest

from core.cli.main import main
from core.data.bundled import sample_data_directory
from core.data.truth_files import read_final_rul
from core.engine.series_training import SeriesTrainingConfig
from core.registry.store import ModelRegistry
from core.workflows.series import (
    load_series_predictor,
    read_series,
    run_series_training,
    save_series_run,
)

SENSORS = sample_data_directory() / "sensors"


def last_json_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# --- read_final_rul ------------------------------------------------------------------------------


def test_read_final_rul_reads_a_unit_rul_csv():
    rul = read_final_rul(SENSORS / "test_rul.csv")
    expected = pd.read_csv(SENSORS / "test_rul.csv")
    assert rul.index.tolist() == expected["unit"].tolist()
    assert rul.tolist() == expected["rul"].astype(float).tolist()


def test_read_final_rul_matches_a_nasa_file_to_units_by_position():
    rul = read_final_rul(b"112\n98\n\n69\n", name="RUL_FD001.txt", units=[7, 8, 9])
    assert rul.to_dict() == {7: 112.0, 8: 98.0, 9: 69.0}
    assert read_final_rul(b"5\n6\n").index.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("data", "units", "message"),
    [
        (b"unit,rul\n1,12\n2,-3\n", None, "value='-3'"),
        (b"12\nsoon\n", None, "value='soon'"),
        (b"12\n13\n", [1, 2, 3], "(3 units) in 'rul.txt'. Received: 2 values"),
        (b"", None, "Expected a CSV with columns unit,rul"),
    ],
)
def test_read_final_rul_rejects_bad_files(data, units, message):
    with pytest.raises(ValueError, match="Expected") as error:
        read_final_rul(data, name="rul.txt", units=units)
    assert message in str(error.value)


def test_read_final_rul_and_read_series_name_a_missing_path(tmp_path):
    with pytest.raises(ValueError, match="no such file") as error:
        read_final_rul(tmp_path / "nothing.txt")
    assert "Received: rul=" in str(error.value)
    with pytest.raises(ValueError, match="no such file or directory"):
        read_series(tmp_path / "missing.csv")


# --- train, register, reload, score --------------------------------------------------------------


@pytest.fixture(scope="module")
def rul_run():
    config = SeriesTrainingConfig(task="rul", model="conv1d", epochs=3, test_fraction=0.0)
    return run_series_training(
        SENSORS / "train.csv",
        config,
        test_data=SENSORS / "test.csv",
        test_rul=SENSORS / "test_rul.csv",
    )


@pytest.mark.slow
def test_a_registered_rul_model_predicts_like_the_trained_one(rul_run, tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    record = save_series_run(rul_run, registry, "pump-rul")
    assert record.reference == "pump-rul:1"
    metadata = record.metadata
    assert metadata["task"] == "series_rul"
    assert metadata["input_shape"] == [rul_run.config.window, len(rul_run.scaler.feature_columns_)]
    assert metadata["metrics"]["count"] == 16  # The 16 external test units.
    assert metadata["dataset_fingerprint"].startswith("sha256:")
    # The constant sensors of the sample are dropped and recorded with the model.
    assert set(metadata["preprocessing"]["dropped_sensors"]) >= {"sensor_01", "sensor_05"}

    predictor = load_series_predictor(registry, "pump-rul")
    test = read_series(SENSORS / "test.csv")
    reloaded = predictor.predict(test)
    from core.engine.series_training import predict_series

    original = predict_series(rul_run.model, rul_run.scaler, rul_run.config, test)
    np.testing.assert_allclose(reloaded["predicted"], original["predicted"], rtol=1e-5, atol=1e-4)


def test_loading_an_image_model_as_a_series_model_is_refused(tmp_path):
    from tests.helpers.registry import make_metadata, make_model

    registry = ModelRegistry(tmp_path / "registry")
    registry.save(make_model(), "camera", make_metadata())
    with pytest.raises(ValueError, match="Expected a sensor-series model") as error:
        load_series_predictor(registry, "camera")
    assert "task='image_classification'" in str(error.value)


@pytest.mark.slow
def test_cli_trains_and_evaluates_rul_and_anomaly_models(tmp_path, capsys):
    common = ["--registry", str(tmp_path / "registry"), "--json"]
    train = ["train", "series", "--data", str(SENSORS / "train.csv"), "--task", "rul"]
    train += ["--model", "gru", "--window", "20", "--epochs", "1", "--name", "fleet"]
    assert main(train + common) == 0
    trained = last_json_line(capsys)
    assert trained["reference"] == "fleet:1"
    assert trained["task"] == "rul"
    assert trained["metrics"]["rmse"] > 0

    evaluate = ["evaluate", "--model", "fleet", "--data", str(SENSORS / "test.csv")]
    assert main([*evaluate, "--rul", str(SENSORS / "test_rul.csv"), *common]) == 0
    evaluated = last_json_line(capsys)
    assert evaluated["metrics"]["count"] == 16
    assert len(evaluated["per_unit"]) == 16

    anomaly = ["train", "series", "--data", str(SENSORS / "train.csv"), "--task", "anomaly"]
    assert main([*anomaly, "--model", "conv1d", "--epochs", "2", "--name", "watch", *common]) == 0
    assert last_json_line(capsys)["metrics"]["threshold"] > 0
    live = ["evaluate", "--model", "watch", "--data", str(SENSORS / "live.csv")]
    assert main([*live, "--anomalies", str(SENSORS / "live_anomalies.csv"), *common]) == 0
    scored = last_json_line(capsys)
    assert scored["metrics"]["events_total"] == 6
    assert 0 <= scored["metrics"]["event_recall"] <= 1

    # An anomaly model cannot be scored without the known stretches: a clear error, exit 2.
    assert main([*live, *common]) == 2
    assert "Expected known anomalous stretches" in last_json_line(capsys)["error"]


def test_cli_refuses_rul_without_test_data(tmp_path, capsys):
    arguments = ["train", "series", "--data", str(SENSORS / "train.csv")]
    arguments += ["--rul", str(SENSORS / "test_rul.csv"), "--registry", str(tmp_path), "--json"]
    assert main(arguments) == 2
    assert last_json_line(capsys)["error"].startswith("Expected --test with --rul.")

"""AppTest for the sensor monitor page: data, column roles, training jobs, results, saved models."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from core import ui
from core.registry.store import ModelRegistry
from tests.conftest import REPOSITORY_ROOT
from tests.helpers.jobs import TRAINING_TIMEOUT_SECONDS, holding_the_slot, rerun_until

PAGE = "pages/sensor_monitor.py"
SENSORS = REPOSITORY_ROOT / "sample_data" / "sensors"


@pytest.fixture
def open_page(open_session):
    """Opens the sensor monitor in fresh sessions; their jobs are cancelled afterwards."""
    return lambda: open_session(PAGE)


@pytest.fixture
def busy_manager():
    """Fills the running slot of the shared job manager with another session's job."""
    manager = ui.job_manager()
    with holding_the_slot(manager, "train-series"):
        yield manager


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def keyed(elements, prefix: str):
    return next(element for element in elements if (element.key or "").startswith(prefix))


def figures(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def titled(app: AppTest, start: str) -> dict:
    """The chart whose title starts with `start`."""
    for figure in figures(app):
        title = figure["layout"].get("title") or {}
        if (title.get("text") or "").startswith(start):
            return figure
    raise AssertionError(f"no chart titled {start!r}")


def metrics(app: AppTest) -> dict:
    return {metric.label: metric.value for metric in app.metric}


def frame_with(app: AppTest, column: str):
    """The data frame shown with `column` (AppTest does not expose a data frame's key)."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def train(app: AppTest, task: str, marker: str, evaluate_on: str = "Held-out units") -> None:
    """Starts a one-epoch training of `task` and waits for the results subheader `marker`."""
    app.radio(key="sensor_monitor_task").set_value(task).run()
    app.number_input(key="sensor_monitor_epochs").set_value(1)
    app.radio(key="sensor_monitor_test").set_value(evaluate_on)
    app.button(key="sensor_monitor_start").click().run()
    assert not app.error, texts(app.error)
    assert "3. Training" in texts(app.header)
    rerun_until(
        app,
        lambda app: marker in texts(app.subheader),
        timeout=TRAINING_TIMEOUT_SECONDS,
        what="training",
    )
    assert metrics(app)["Epochs"] == "1"


def test_page_shows_the_sample_with_detected_roles_and_sensor_curves(open_page):
    app = open_page()
    assert app.title[0].value == "Sensor monitor"
    assert "Dataset: sample train.csv" in texts(app.subheader)
    shown = metrics(app)
    assert (shown["Units"], shown["Rows"], shown["Constant sensors"]) == ("64", "12927", "3")
    assert keyed(app.selectbox, "sensor_monitor_map_").value == "unit"
    assert keyed(app.multiselect, "sensor_monitor_map_").value[:2] == ["sensor_01", "sensor_02"]
    curves = figures(app)[0]
    assert len(curves["data"]) == 6, "six varying sensors are drawn by default"
    assert "sensor_01" not in [trace["name"] for trace in curves["data"]], "constant: left out"
    assert app.button(key="sensor_monitor_start")

    # Back from another page: the chosen sample file is still there.
    app.selectbox(key="sensor_monitor_sample_file").set_value("test.csv").run()
    app.switch_page("pages/home.py").run()
    app.switch_page(PAGE).run()
    assert "Dataset: sample test.csv" in texts(app.subheader)


def test_a_bad_upload_shows_a_clear_error(open_page):
    app = open_page()
    app.radio(key="sensor_monitor_source").set_value("Upload a file").run()
    assert any("Upload a sensor file" in text for text in texts(app.info))
    app.file_uploader(key="sensor_monitor_upload").set_value(
        ("readings.csv", b"unit,cycle,temperature\n", "text/csv")
    ).run()
    assert not app.exception, app.exception
    errors = texts(app.error)
    assert any(
        "Expected at least one data row" in text and "readings.csv" in text for text in errors
    )
    assert "2. Model" not in texts(app.header)

    app.file_uploader(key="sensor_monitor_upload").set_value(
        ("readings.parquet", b"not parquet at all", "application/octet-stream")
    ).run()
    assert any("Expected a Parquet file" in text for text in texts(app.error))
    assert not app.exception, app.exception


def test_a_wrong_column_role_shows_the_reason(open_page):
    app = open_page()
    # Without the unit column all 64 machines become one, whose cycles then repeat.
    keyed(app.selectbox, "sensor_monitor_map_").select_index(0).run()  # "(none)"
    assert not app.exception, app.exception
    assert any(
        "Expected each time value at most once per unit" in text for text in texts(app.error)
    )
    assert "2. Model" not in texts(app.header)


def test_a_queued_job_survives_a_page_switch_and_cancels(open_page, busy_manager):
    app = open_page()
    app.number_input(key="sensor_monitor_epochs").set_value(2)
    app.radio(key="sensor_monitor_test").set_value("Bundled test data")
    app.button(key="sensor_monitor_start").click().run()
    assert any("Queued: 1 job ahead" in text for text in texts(app.info))
    jobs = frame_with(app, "job")
    assert list(jobs["data"]) == ["rul, conv1d, 2 epochs on sample train.csv"]

    # Back from another page: the settings and the job are still there.
    app.switch_page("pages/home.py").run()
    app.switch_page(PAGE).run()
    assert app.number_input(key="sensor_monitor_epochs").value == 2
    assert app.radio(key="sensor_monitor_test").value == "Bundled test data"
    assert any("Queued: 1 job ahead" in text for text in texts(app.info))

    app.button(key="sensor_monitor_cancel").click().run()
    assert any("Cancelled before the first epoch" in text for text in texts(app.warning))
    assert frame_with(app, "job")["state"][0] == "cancelled"


def test_evaluating_on_an_upload_needs_the_test_file(open_page):
    app = open_page()
    app.radio(key="sensor_monitor_test").set_value("Upload test data").run()
    app.button(key="sensor_monitor_start").click().run()
    assert any("Expected a test (or live) sensor file" in text for text in texts(app.error))
    assert "3. Training" not in texts(app.header)


@pytest.mark.slow
def test_uploaded_fleet_trains_one_epoch_and_shows_rul_and_maintenance(
    open_page, isolated_registry
):
    app = open_page()
    app.radio(key="sensor_monitor_source").set_value("Upload a file").run()
    data = (SENSORS / "train.csv").read_bytes()
    app.file_uploader(key="sensor_monitor_upload").set_value(("fleet.csv", data, "text/csv")).run()
    assert "Dataset: upload fleet.csv" in texts(app.subheader)
    train(app, "rul", "Maintenance plan", evaluate_on="Bundled test data")

    shown = metrics(app)
    assert shown["Units"] == "16", "the 16 bundled test units are evaluated"
    assert {"RMSE", "MAE", "NASA score"} <= set(shown)
    rul = next(
        f
        for f in figures(app)
        if f["layout"]["yaxis"].get("title", {}).get("text") == "RUL (cycles)"
    )
    assert any(trace["name"].endswith("predicted RUL") for trace in rul["data"])
    assert any(trace["name"].endswith(" true") for trace in rul["data"])
    identity = [f for f in figures(app) if f["data"][0].get("name") == "perfect prediction"]
    assert len(identity) == 1, "predicted against true RUL with the identity line"
    assert titled(app, "RMSE")["data"][0]["type"] == "histogram"

    table = frame_with(app, "predicted_rul")
    assert len(table) == 16
    assert list(table["predicted_rul"]) == sorted(table["predicted_rul"])
    window_slider = keyed(app.slider, "sensor_monitor_run_")
    due = int(table["due"].sum())
    assert titled(app, f"{due} of 16 units due within {window_slider.value} cycles")
    window_slider.set_value(200).run()
    wide = frame_with(app, "predicted_rul")
    assert wide["due"].all(), "every predicted RUL is within 200 cycles"
    assert titled(app, "16 of 16 units due within 200 cycles")

    keyed(app.text_input, "sensor_monitor_name").set_value("apptest-rul")
    keyed(app.button, "sensor_monitor_save").click().run()
    assert not app.error, texts(app.error)
    assert any("apptest-rul:1" in text for text in texts(app.success))
    record = ModelRegistry(isolated_registry).get("apptest-rul:1")
    assert record.metadata["task"] == "series_rul"


@pytest.mark.slow
def test_failure_training_shows_the_confusion_matrix(open_page):
    app = open_page()
    train(app, "failure", "Failure within 30 cycles", evaluate_on="Bundled test data")
    heatmaps = [f for f in figures(app) if f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 1
    assert heatmaps[0]["data"][0]["x"] == ["healthy", "failing"]
    assert sum(map(sum, heatmaps[0]["data"][0]["z"])) > 0
    assert {"Accuracy", "Precision", "Recall", "F1"} <= set(metrics(app))
    probability = next(f for f in figures(app) if "failure probability" in json.dumps(f["layout"]))
    assert probability["data"]
    ranking = frame_with(app, "probability")
    assert len(ranking) == 16
    assert list(ranking["probability"]) == sorted(ranking["probability"], reverse=True)


@pytest.mark.slow
def test_anomaly_training_on_the_live_series_shows_the_timeline(open_page):
    app = open_page()
    train(app, "anomaly", "Anomalies", evaluate_on="Bundled test data")
    timeline = titled(app, "unit 1:")
    assert timeline["layout"]["yaxis"]["title"]["text"] == "anomaly score"
    threshold = [
        shape for shape in timeline["layout"]["shapes"] if shape.get("y0") == shape.get("y1")
    ]
    assert threshold, "the threshold line is drawn"
    injected = [annotation["text"] for annotation in timeline["layout"]["annotations"]]
    assert {"spike", "level_shift", "stuck", "noise_burst"} <= set(injected)
    assert {"Event precision", "Event recall"} <= set(metrics(app))
    stretches = frame_with(app, "start_cycle")
    assert list(stretches.columns) == [
        "unit", "start_cycle", "end_cycle", "peak_score", "cycles", "injected"
    ]  # fmt: skip
    assert any("flagged stretch(es) above the threshold" in text for text in texts(app.caption))


@pytest.mark.slow
def test_a_saved_model_scores_the_test_units(open_page, isolated_registry):
    from core.engine.series_training import SeriesTrainingConfig
    from core.workflows.series import run_series_training, save_series_run

    result = run_series_training(
        str(SENSORS / "train.csv"), SeriesTrainingConfig(model="conv1d", epochs=1, window=20)
    )
    save_series_run(result, ModelRegistry(isolated_registry), "pump-rul")

    app = open_page()
    app.selectbox(key="sensor_monitor_sample_file").set_value("test.csv").run()
    app.radio(key="sensor_monitor_mode").set_value("Use a saved model").run()
    assert not app.exception, app.exception
    assert not app.error, texts(app.error)
    # The bundled RUL demo model is preselected; the engineer picks the model just saved.
    assert app.selectbox(key="sensor_monitor_saved").value == "demo-rul:1"
    app.selectbox(key="sensor_monitor_saved").set_value("pump-rul:1").run()
    assert "3. Results" in texts(app.header)
    assert any("test_rul.csv" in text for text in texts(app.caption))
    assert metrics(app)["Units"] == "16"
    assert "Maintenance plan" in texts(app.subheader)
    assert len(frame_with(app, "predicted_rul")) == 16
    assert not [
        button for button in app.button if (button.key or "").startswith("sensor_monitor_save")
    ]

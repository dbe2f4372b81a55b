"""AppTest for the spot-check page: uploads in, predictions, probabilities and heatmaps out."""

import io
import json
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from core.data import bundled
from tests.conftest import REPOSITORY_ROOT

APP = str(REPOSITORY_ROOT / "app.py")
PAGE = "pages/spot_check.py"


@pytest.fixture(scope="module")
def sample_png() -> tuple[str, bytes]:
    files = bundled.spot_check_files()
    if not files:
        pytest.fail("Expected bundled spot-check images in sample_data/spot_check")
    return files[0].name, files[0].read_bytes()


def open_page(isolated_registry) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def grid_image_counts(app: AppTest) -> list[int]:
    """How many pictures each `st.image` call drew (2 when a heatmap sits beside the image)."""
    return [len(element.value) for element in app.get("image")]


def predictions_table(app: AppTest):
    tables = [table.value for table in app.dataframe if "predicted" in table.value.columns]
    assert len(tables) == 1
    return tables[0]


def rejected_table(app: AppTest):
    return next(table.value for table in app.dataframe if "reason" in table.value.columns)


def test_the_demo_model_is_preselected_and_nothing_runs_without_files(isolated_registry):
    app = open_page(isolated_registry)
    model = app.selectbox(key="spot_check_model")
    assert model.value.startswith("demo-defect-cnn:")
    # Every image classifier is offered, with its test accuracy.
    assert any(option.startswith("demo-seed-cnn:1 (test accuracy") for option in model.options)
    uploader = app.file_uploader(key="spot_check_upload")
    assert uploader.accept_multiple_files
    assert set(uploader.allowed_type) >= {".png", ".jpg", ".zip", ".tiff", ".bmp"}
    assert "Upload images above" in app.info[0].value
    assert not app.get("plotly_chart")


def test_upload_shows_prediction_probabilities_rejections_overlay_and_csv(
    isolated_registry, sample_png
):
    app = open_page(isolated_registry)
    name, data = sample_png
    app.file_uploader(key="spot_check_upload").set_value(
        [(name, data, "image/png"), ("broken.png", b"\x89PNG broken", "image/png")]
    ).run()
    assert not app.exception, app.exception

    table = predictions_table(app)
    assert table["name"].tolist() == [name]
    classes = [column.removeprefix("p_") for column in table.columns if column.startswith("p_")]
    assert len(classes) >= 2
    assert table["predicted"].iloc[0] in classes
    assert 0.0 < table["confidence"].iloc[0] <= 1.0

    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert sorted(figure["data"][0]["y"]) == sorted(classes)
    assert sum(figure["data"][0]["x"]) == pytest.approx(1.0, abs=1e-3)

    assert "1 file(s) could not be read" in app.error[0].value
    rejected = rejected_table(app)
    assert rejected["name"].tolist() == ["broken.png"]
    assert rejected["reason"].iloc[0].startswith("Expected")

    # Overlay on (the default): image and heatmap side by side, in the grid and the close-up.
    assert grid_image_counts(app) == [2, 1, 1]
    captions = [caption for element in app.get("image") for caption in element.captions]
    assert any(caption.startswith("Grad-CAM of") for caption in captions)
    app.toggle(key="spot_check_overlay").set_value(False).run()
    assert not app.exception, app.exception
    assert grid_image_counts(app) == [1, 1]

    download = app.get("download_button")
    assert len(download) == 1
    assert download[0].proto.label == "Download all 1 predictions (CSV)"


def test_sample_images_filters_and_sorting(isolated_registry):
    app = open_page(isolated_registry)
    app.toggle(key="spot_check_samples").set_value(True).run()
    assert not app.exception, app.exception
    count = len(bundled.spot_check_files())
    table = predictions_table(app)
    assert len(table) == count
    assert table["confidence"].is_monotonic_increasing  # Least confident first by default.

    app.selectbox(key="spot_check_sort").set_value("Name").run()
    assert predictions_table(app)["name"].tolist() == sorted(table["name"])

    predicted = table["predicted"].iloc[0]
    app.multiselect(key="spot_check_classes").set_value([predicted]).run()
    assert set(predictions_table(app)["predicted"]) == {predicted}

    app.slider(key="spot_check_max_confidence").set_value(0.0).run()
    assert predictions_table(app).empty
    assert f"0 of {count} predictions shown." in [caption.value for caption in app.caption]


def test_a_large_zip_shows_a_grid_of_the_first_images_and_all_rows(isolated_registry, sample_png):
    name, data = sample_png
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(30):
            archive.writestr(f"batch/{index:02d}_{name}", data)
        archive.writestr("../outside.png", data)
    app = open_page(isolated_registry)
    app.file_uploader(key="spot_check_upload").set_value(
        ("batch.zip", buffer.getvalue(), "application/zip")
    ).run()
    assert not app.exception, app.exception
    assert len(predictions_table(app)) == 30
    assert "The first 24 of 30 images; the table below lists them all." in [
        caption.value for caption in app.caption
    ]
    # 24 grid cells with a heatmap each, then the close-up image and its heatmap.
    assert grid_image_counts(app) == [2] * 24 + [1, 1]
    rejected = rejected_table(app)
    assert rejected["name"].tolist() == ["batch.zip/../outside.png"]


def test_a_stored_operating_point_decides_the_verdicts(isolated_registry):
    """Threshold 0 on the defect score: every part is rejected, whatever the top class."""
    from core.registry.attachments import OPERATING_POINT, write_json_attachment
    from core.registry.store import ModelRegistry

    app = open_page(isolated_registry)  # Registers the demo models in the isolated registry.
    app.toggle(key="spot_check_samples").set_value(True).run()
    before = predictions_table(app)
    assert "most probable class" in " ".join(caption.value for caption in app.caption)
    assert "ok" in set(before["predicted"])  # The bundled ok parts pass without a threshold.

    record = ModelRegistry(isolated_registry).get(app.selectbox(key="spot_check_model").value)
    write_json_attachment(record, OPERATING_POINT, {"threshold": 0.0, "good_class": "ok"})
    app.run()
    assert not app.exception, app.exception
    after = predictions_table(app)
    captions = " ".join(caption.value for caption in app.caption)
    assert "stored operating point: a defect when 1 - p(ok) >= 0" in captions
    assert "ok" not in set(after["predicted"])
    assert {"defect_score", "threshold"} <= set(after.columns)
    assert (after["threshold"] == 0.0).all()


def test_an_image_anomaly_model_gives_scores_verdicts_and_anomaly_maps(isolated_registry):
    app = open_page(isolated_registry)
    model = app.selectbox(key="spot_check_model")
    option = next(item for item in model.options if item.startswith("demo-image-anomaly:1"))
    assert "(anomaly model, test AUROC 0." in option
    model.set_value(option.split(" ")[0]).run()
    app.toggle(key="spot_check_samples").set_value(True).run()
    assert not app.exception, app.exception

    table = predictions_table(app)
    assert len(table) == len(bundled.spot_check_files())
    assert {"score", "threshold", "p_ok", "p_anomaly"} <= set(table.columns)
    assert set(table["predicted"]) <= {"ok", "anomaly"}
    # The verdict is the score against the threshold, row by row.
    flagged = table["score"] >= table["threshold"]
    assert (flagged == (table["predicted"] == "anomaly")).all()
    # Most defect parts are flagged and most ok parts pass (AUROC 0.98 on the sample's test split).
    is_ok = table["name"].str.startswith("ok_")
    assert flagged[~is_ok].mean() >= 0.75 and flagged[is_ok].mean() <= 0.5
    captions = [caption for element in app.get("image") for caption in element.captions]
    assert any(caption.startswith("Anomaly map of") for caption in captions)
    assert "anomaly score >=" in " ".join(caption.value for caption in app.caption)

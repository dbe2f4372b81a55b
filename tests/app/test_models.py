"""AppTest for the models page: registry table, comparison, export buttons, deletion."""

import json

from streamlit.testing.v1 import AppTest

from core.demo.models import DEMO_IMAGE_MODEL, bundled_demo_models
from tests.conftest import REPOSITORY_ROOT

APP = str(REPOSITORY_ROOT / "app.py")
PAGE = "pages/models.py"


def open_page(isolated_registry) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def registry_frame(app: AppTest):
    return next(table.value for table in app.dataframe if "class_counts" in table.value.columns)


def figures(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def test_table_lists_the_demo_models_with_metrics_and_data(isolated_registry):
    app = open_page(isolated_registry)
    table = registry_frame(app)
    demo_names = sorted(bundled_demo_models())
    assert DEMO_IMAGE_MODEL in demo_names
    assert sorted(table["model"]) == [f"{name}:1" for name in demo_names]
    assert table["demo"].all()
    assert set(table["task"]) == {
        "image_classification", "series_rul", "series_failure", "series_anomaly", "gan",
        "image_anomaly",
    }  # fmt: skip
    images = table[table["task"] == "image_classification"]
    assert images["accuracy"].between(0, 1).all()
    assert images["macro_f1"].between(0, 1).all()
    assert (images["images"] > 0).all()
    assert images["classes"].str.contains(",").all()
    assert table.loc[table["task"] == "series_rul", "rmse"].gt(0).all()
    assert table["created"].notna().all()


def test_the_two_demo_models_are_compared_side_by_side(isolated_registry):
    app = open_page(isolated_registry)
    assert len(app.multiselect(key="models_compare").value) == 2
    comparison = next(table.value for table in app.dataframe if table.value.index.name == "model")
    assert len(comparison) == 2
    assert {"accuracy", "macro_f1", "architecture"} <= set(comparison.columns)
    drawn = figures(app)
    heatmaps = [figure for figure in drawn if figure["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 2
    titles = sorted(figure["layout"]["title"]["text"] for figure in heatmaps)
    assert titles == sorted(app.multiselect(key="models_compare").value)
    curves = [figure for figure in drawn if figure["data"][0]["type"] == "scatter"]
    assert len(curves) == 2

    app.multiselect(key="models_compare").set_value([]).run()
    assert not figures(app)
    assert "Choose two or more models" in app.info[0].value


def test_export_offers_keras_at_once_and_converts_the_other_formats_on_demand(isolated_registry):
    app = open_page(isolated_registry)
    labels = [button.proto.label for button in app.get("download_button")]
    assert labels == ["Keras (.keras)"]
    assert app.button(key="models_prepare_savedmodel").label == (
        "Prepare TensorFlow SavedModel (.zip)"
    )

    app.button(key="models_prepare_tflite").click().run()
    assert not app.exception, app.exception
    downloads = {button.proto.label: button for button in app.get("download_button")}
    assert list(downloads) == ["Keras (.keras)", "TensorFlow Lite (.tflite)"]
    # Only one converted file is kept per session: preparing another replaces it.
    app.button(key="models_prepare_savedmodel").click().run()
    labels = [button.proto.label for button in app.get("download_button")]
    assert labels == ["Keras (.keras)", "TensorFlow SavedModel (.zip)"]


def test_delete_needs_confirmation_then_removes_the_model(isolated_registry):
    app = open_page(isolated_registry)
    target = "demo-seed-cnn"
    app.selectbox(key="models_delete_target").set_value(f"{target} (all versions)").run()
    assert not app.get("checkbox")
    app.button(key="models_delete").click().run()
    assert not app.exception, app.exception
    assert "permanently deletes" in app.warning[0].value
    preview = next(
        table.value for table in app.dataframe if list(table.value.columns)[:2] == ["model", "task"]
    )
    assert preview["model"].tolist() == [f"{target}:1"]
    confirm = app.button(key="models_delete_confirm")
    assert confirm.disabled
    assert (isolated_registry / target).is_dir()

    app.checkbox(key=f"models_delete_confirmed_{target}").check().run()
    app.button(key="models_delete_confirm").click().run()
    assert not app.exception, app.exception
    assert app.success[0].value == f"Deleted {target}:1."
    assert not (isolated_registry / target).exists()
    assert f"{target}:1" not in registry_frame(app)["model"].tolist()
    assert not app.get("checkbox")  # The confirmation is gone with the model.


def test_int8_export_calibrates_on_the_training_folder_or_says_what_it_needs(isolated_registry):
    app = open_page(isolated_registry)
    app.selectbox(key="models_export_model").set_value(f"{DEMO_IMAGE_MODEL}:1").run()
    assert "sample_data/images" in app.caption[-1].value or any(
        "sample_data/images" in caption.value for caption in app.caption
    )
    app.button(key="models_prepare_tflite-int8").click().run()
    assert not app.exception, app.exception
    downloads = {button.proto.label: button for button in app.get("download_button")}
    assert list(downloads) == ["Keras (.keras)", "TensorFlow Lite int8"]

    # A model whose training data is not on this server needs an uploaded zip.
    metadata_path = isolated_registry / DEMO_IMAGE_MODEL / "1" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["extra"]["dataset"]["source"] = "line3-upload.zip"
    metadata_path.write_text(json.dumps(metadata))
    app = open_page(isolated_registry)
    app.selectbox(key="models_export_model").set_value(f"{DEMO_IMAGE_MODEL}:1").run()
    app.button(key="models_prepare_tflite-int8").click().run()
    assert not app.exception, app.exception
    assert "Not exported: Expected the model's training images on this server" in (
        app.error[0].value
    )
    assert "source='line3-upload.zip'" in app.error[0].value

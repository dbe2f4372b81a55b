"""AppTest for the anomaly training page: choices, background training, results, saving."""

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.registry.store import ModelRegistry
from tests.helpers.jobs import TRAINING_TIMEOUT_SECONDS, rerun_until

PAGE = "pages/train_anomaly.py"


def png_bytes(value: int, seed: int) -> bytes:
    generator = np.random.default_rng(seed)
    pixels = np.clip(value + generator.integers(-25, 25, (24, 24)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def parts_zip(counts: dict[str, int]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (class_name, count) in enumerate(counts.items()):
            for number in range(count):
                archive.writestr(
                    f"parts/{class_name}/{number:02d}.png", png_bytes(30 + 90 * index, number)
                )
    return buffer.getvalue()


@pytest.fixture
def open_page(open_session):
    """Opens the anomaly training page in fresh sessions; their jobs are cancelled afterwards."""
    return lambda: open_session(PAGE)


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def wait_until_finished(app: AppTest, expect_errors: bool = False) -> None:
    """Reruns the page until the results are drawn (or, with `expect_errors`, an error)."""
    rerun_until(
        app,
        lambda app: (
            "Sample anomaly maps" in texts(app.subheader) or (expect_errors and bool(app.error))
        ),
        timeout=TRAINING_TIMEOUT_SECONDS,
        what="training",
        interval=0.5,
    )


def keyed(elements, prefix: str):
    return next(element for element in elements if (element.key or "").startswith(prefix))


def upload_zip(app: AppTest, counts: dict[str, int]) -> None:
    app.radio(key="train_anomaly_source").set_value("Zip of class folders").run()
    app.file_uploader(key="train_anomaly_zip").set_value(
        ("parts.zip", parts_zip(counts), "application/zip")
    ).run()
    assert not app.exception, app.exception


def test_page_proposes_ok_as_the_good_class_and_the_feature_gaussian_method(open_page):
    app = open_page()
    assert app.title[0].value == "Train an anomaly model"
    assert "good parts" in app.markdown[0].value
    assert "Dataset: sample images (sample_data/images)" in texts(app.subheader)
    assert app.selectbox(key="train_anomaly_good_class").value == "ok"
    method = app.radio(key="train_anomaly_method")
    assert (method.value, method.options) == (
        "feature-gaussian",
        ["feature-gaussian", "autoencoder"],
    )
    assert app.radio(key="train_anomaly_size").value == 64
    assert not [field for field in app.number_input if field.key == "train_anomaly_epochs"]

    # Epochs only matter to the autoencoder.
    method.set_value("autoencoder").run()
    assert app.number_input(key="train_anomaly_epochs").value == 100


@pytest.mark.slow
def test_training_on_the_sample_shows_metrics_and_maps_and_saves_to_the_registry(
    open_page, isolated_registry
):
    app = open_page()
    app.radio(key="train_anomaly_size").set_value(32)
    app.button(key="train_anomaly_start").click().run()
    assert not app.error, texts(app.error)
    assert "3. Training" in texts(app.header)

    wait_until_finished(app)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert 0.8 < float(metrics["Image AUROC"]) <= 1.0
    assert 0.5 < float(metrics["Pixel AUROC"]) <= 1.0, "the sample's masks give a pixel AUROC"
    assert float(metrics["Threshold"]) > 0
    assert metrics["False-reject rate"].endswith("%")
    assert metrics["Defect recall"].endswith("%")
    assert any(
        "Threshold: quantile 0.99 of the scores of the" in text for text in texts(app.caption)
    )

    figures = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    boxes = [figure for figure in figures if figure["data"][0]["type"] == "box"]
    assert len(boxes) == 1
    assert [trace["name"] for trace in boxes[0]["data"]][-1] == "ok", "good parts on top"
    assert boxes[0]["layout"]["shapes"][0]["x0"] == pytest.approx(float(metrics["Threshold"]), 1e-3)
    roc = next(figure for figure in figures if "ROC" in figure["layout"]["title"]["text"])
    assert metrics["Image AUROC"] in roc["layout"]["title"]["text"]
    matrix = next(figure for figure in figures if figure["data"][0]["type"] == "heatmap")
    assert matrix["data"][0]["x"] == ["ok", "anomaly"]
    assert sum(map(sum, matrix["data"][0]["z"])) == 120, "the sample's test part"
    assert "Confusion matrix" in texts(app.subheader)
    # The 5 class thumbnail rows, then three galleries of anomaly maps.
    assert len(app.image) == 5 + 3

    # A name the registry refuses shows the reason and keeps the result for another try.
    keyed(app.text_input, "train_anomaly_name").set_value("bad name!")
    keyed(app.button, "train_anomaly_save").click().run()
    assert any("Not saved: Expected a model name" in text for text in texts(app.error))
    assert keyed(app.text_input, "train_anomaly_name")

    keyed(app.text_input, "train_anomaly_name").set_value("apptest-anomaly")
    keyed(app.button, "train_anomaly_save").click().run()
    assert not app.error, texts(app.error)
    assert any("apptest-anomaly:1" in text for text in texts(app.success))
    assert any("Spot check page" in text for text in texts(app.caption))
    record = ModelRegistry(isolated_registry).get("apptest-anomaly")
    assert record.metadata["task"] == "image_anomaly"
    assert record.metadata["classes"] == ["ok", "anomaly"]
    assert record.metadata["input_shape"] == [32, 32, 1]
    assert f"{record.metadata['metrics']['image_auroc']:.3f}" == metrics["Image AUROC"]
    assert record.metadata["extra"]["masks"].endswith("masks")


@pytest.mark.slow
def test_good_images_alone_train_a_detector_whose_auroc_is_unknown(open_page):
    """A line without defect photos: the threshold comes from good parts, and the page says
    that how well defects are caught cannot be measured yet."""
    app = open_page()
    upload_zip(app, {"ok": 20})
    assert app.selectbox(key="train_anomaly_good_class").value == "ok"
    app.radio(key="train_anomaly_size").set_value(32)
    app.button(key="train_anomaly_start").click().run()
    assert not app.error, texts(app.error)
    wait_until_finished(app)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Image AUROC"] == "unknown" and metrics["Defect recall"] == "unknown"
    assert float(metrics["Threshold"]) > 0
    assert any("No defect images in the data" in text for text in texts(app.info))


def test_too_few_good_images_fail_the_job_with_the_reason(open_page):
    app = open_page()
    upload_zip(app, {"dent": 10, "good": 3})
    # Without an "ok" class the first class is proposed; the user picks the good one.
    assert app.selectbox(key="train_anomaly_good_class").value == "dent"
    app.selectbox(key="train_anomaly_good_class").set_value("good").run()
    app.button(key="train_anomaly_start").click().run()
    wait_until_finished(app, expect_errors=True)
    (error,) = texts(app.error)
    assert error.startswith(
        "Training failed: ValueError: Expected at least 2 good training images of class 'good' "
        "after the split. Received: 1 of 3"
    )


@pytest.mark.slow
def test_the_autoencoder_trains_for_the_chosen_epochs_and_shows_its_loss_curve(open_page):
    app = open_page()
    app.radio(key="train_anomaly_size").set_value(32)
    app.radio(key="train_anomaly_method").set_value("autoencoder").run()
    app.number_input(key="train_anomaly_epochs").set_value(3)
    app.button(key="train_anomaly_start").click().run()
    jobs = next(frame.value for frame in app.dataframe if "job" in frame.value.columns)
    assert jobs["data"][0] == (
        "autoencoder, 32 px, good class 'ok' on sample images (sample_data/images)"
    )
    wait_until_finished(app)
    assert any("autoencoder learnt 112 good 'ok' images in 3 epochs" in text
               for text in texts(app.caption))  # fmt: skip
    figures = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    curves = [figure for figure in figures if figure["data"][0].get("name") == "train loss"]
    assert len(curves) == 1
    assert [trace["name"] for trace in curves[0]["data"]] == ["train loss", "validation loss"]
    assert 0 < float(next(m.value for m in app.metric if m.label == "Image AUROC")) <= 1

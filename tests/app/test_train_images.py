"""AppTest for the image training page: data sources, background training, results, saving."""

import io
import json
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import ui
from core.registry.store import ModelRegistry
from tests.helpers.jobs import TRAINING_TIMEOUT_SECONDS, holding_the_slot, rerun_until

PAGE = "pages/train_images.py"


def png_bytes(value: int, seed: int) -> bytes:
    generator = np.random.default_rng(seed)
    pixels = np.clip(value + generator.integers(-25, 25, (24, 24)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def parts_zip(per_class: int = 8) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, class_name in enumerate(("ok", "dent", "scratch")):
            for number in range(per_class):
                archive.writestr(
                    f"parts/{class_name}/{number:02d}.png", png_bytes(30 + 90 * index, number)
                )
    return buffer.getvalue()


@pytest.fixture
def open_page(open_session):
    """Opens the training page in fresh sessions; their jobs are cancelled afterwards."""
    return lambda: open_session(PAGE)


@pytest.fixture
def busy_manager():
    """Fills the running slot of the shared job manager with another session's job."""
    manager = ui.job_manager()
    with holding_the_slot(manager, "train-image", description="other.zip"):
        yield manager


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def cell_caption(app: AppTest) -> str:
    return next(text for text in texts(app.caption) if "test image(s) of class" in text)


def frame_with(app: AppTest, column: str):
    """The data frame shown with `column` (AppTest does not expose a data frame's key)."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def keyed(elements, prefix: str):
    return next(element for element in elements if (element.key or "").startswith(prefix))


def test_page_shows_the_sample_dataset_summary_and_default_settings(open_page):
    app = open_page()
    assert app.title[0].value == "Train an image model"
    assert "Dataset: sample images (sample_data/images)" in texts(app.subheader)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert int(metrics["Classes"]) >= 2
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["data"][0]["type"] == "bar"
    assert len(app.image) == int(metrics["Classes"]), "one thumbnail row per class"
    assert app.radio(key="train_images_model").options == ["defect_cnn", "seed_cnn"]


@pytest.mark.slow
def test_training_on_the_sample_shows_results_and_saves_to_the_registry(
    open_page, isolated_registry
):
    app = open_page()
    app.radio(key="train_images_model").set_value("seed_cnn")
    app.radio(key="train_images_size").set_value(32)
    app.number_input(key="train_images_epochs").set_value(1)
    app.button(key="train_images_start").click().run()
    assert not app.error, texts(app.error)
    assert "3. Training" in texts(app.header)

    rerun_until(
        app,
        lambda app: "Confusion matrix" in texts(app.subheader),
        timeout=TRAINING_TIMEOUT_SECONDS,
        what="training",
    )
    assert not app.exception, app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Epochs"] == "1"
    figures = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    heatmaps = [figure for figure in figures if figure["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 1
    class_names = heatmaps[0]["data"][0]["x"]
    assert len(class_names) == int(metrics["Classes"])
    curves = [figure for figure in figures if "loss" in json.dumps(figure["layout"])]
    assert curves, "expected the loss and accuracy curves"
    per_class = frame_with(app, "precision")
    assert list(per_class["class"]) == class_names

    # The fallback pickers choose a cell; a diagonal cell holds that class's correct images.
    keyed(app.selectbox, "train_images_true").set_value(class_names[0])
    keyed(app.selectbox, "train_images_predicted").set_value(class_names[0]).run()
    diagonal = int(heatmaps[0]["data"][0]["z"][0][0])
    assert cell_caption(app).startswith(f"{diagonal} test image(s) of class **{class_names[0]}**")

    # A name the registry refuses shows the reason and keeps the result for another try.
    keyed(app.text_input, "train_images_name").set_value("bad name!")
    keyed(app.button, "train_images_save").click().run()
    assert any("Not saved: Expected a model name" in text for text in texts(app.error))
    assert "Confusion matrix" in texts(app.subheader)

    keyed(app.text_input, "train_images_name").set_value("apptest-seed")
    keyed(app.button, "train_images_save").click().run()
    assert not app.error, texts(app.error)
    assert any("apptest-seed:1" in text for text in texts(app.success))
    names = [record.name for record in ModelRegistry(isolated_registry).list()]
    assert "apptest-seed" in names


def test_an_uploaded_zip_of_class_folders_shows_its_summary(open_page):
    app = open_page()
    app.radio(key="train_images_source").set_value("Zip of class folders").run()
    assert any("Upload your data" in text for text in texts(app.info))
    app.file_uploader(key="train_images_zip").set_value(
        ("parts.zip", parts_zip(), "application/zip")
    ).run()
    assert not app.exception, app.exception
    assert "Dataset: zip parts.zip" in texts(app.subheader)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert (metrics["Images"], metrics["Classes"]) == ("24", "3")
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["data"][0]["x"] == ["dent", "ok", "scratch"]
    assert any("has 8 images" in text for text in texts(app.warning))
    assert app.button(key="train_images_start")


def test_a_bad_zip_shows_a_clear_error_and_no_start_button(open_page):
    app = open_page()
    app.radio(key="train_images_source").set_value("Zip of class folders").run()
    app.file_uploader(key="train_images_zip").set_value(
        ("broken.zip", b"this is not an archive", "application/zip")
    ).run()
    assert not app.exception, app.exception
    errors = texts(app.error)
    assert any("Expected a .zip archive" in text and "broken.zip" in text for text in errors)
    assert not [button for button in app.button if button.key == "train_images_start"]


def test_images_with_a_manifest_show_their_summary(open_page):
    app = open_page()
    app.radio(key="train_images_source").set_value("Images + CSV manifest").run()
    images = [
        (f"{number:02d}.png", png_bytes(40 + 150 * (number % 2), number)) for number in range(6)
    ]
    rows = "\n".join(
        f"{name},{'ok' if index % 2 == 0 else 'dent'}" for index, (name, _) in enumerate(images)
    )
    app.file_uploader(key="train_images_manifest_images").set_value(
        [(name, data, "image/png") for name, data in images]
    )
    app.file_uploader(key="train_images_manifest").set_value(
        ("labels.csv", f"filename,label\n{rows}\n".encode(), "text/csv")
    ).run()
    assert not app.exception, app.exception
    assert "Dataset: manifest labels.csv + 6 images" in texts(app.subheader)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert (metrics["Images"], metrics["Classes"]) == ("6", "2")


def test_a_queued_job_shows_its_position_survives_a_page_switch_and_cancels(
    open_page, busy_manager
):
    app = open_page()
    app.radio(key="train_images_source").set_value("Zip of class folders").run()
    app.file_uploader(key="train_images_zip").set_value(
        ("parts.zip", parts_zip(), "application/zip")
    ).run()
    app.radio(key="train_images_model").set_value("seed_cnn")
    app.button(key="train_images_start").click().run()
    assert any("Queued: 1 job ahead" in text for text in texts(app.info))
    jobs = frame_with(app, "job")
    assert len(jobs) == 1 and jobs["data"][0].startswith("seed_cnn, ")
    assert jobs["data"][0].endswith(" on zip parts.zip")
    assert "other.zip" not in " ".join(jobs["data"]), "another session's job must stay hidden"

    # Back from another page: the upload, the choices and the job are still there.
    app.switch_page("pages/home.py").run()
    app.switch_page(PAGE).run()
    assert app.radio(key="train_images_source").value == "Zip of class folders"
    assert app.radio(key="train_images_model").value == "seed_cnn"
    assert "Dataset: zip parts.zip" in texts(app.subheader)
    assert any("Queued: 1 job ahead" in text for text in texts(app.info))

    app.button(key="train_images_cancel").click().run()
    assert any("Cancelled before the first epoch" in text for text in texts(app.warning))
    assert frame_with(app, "job")["state"][0] == "cancelled"


def test_a_full_queue_refuses_with_a_message(open_page, busy_manager):
    release = threading.Event()
    waiting = [
        busy_manager.submit(
            "another-session", "train-image", lambda progress, cancel: release.wait(60)
        )
        for _ in range(busy_manager.max_queued)
    ]
    try:
        app = open_page()
        app.button(key="train_images_start").click().run()
        errors = texts(app.error)
        assert any(text.startswith("Not started: Expected a free place") for text in errors)
        assert "3. Training" not in texts(app.header), "no job of this session exists"
    finally:
        for job in waiting:
            busy_manager.cancel("another-session", job.job_id)
        release.set()

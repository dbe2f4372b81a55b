"""AppTest for the "Synthetic images" page: train a GAN, save, generate, download, experiment."""

import io
import json
import threading
import zipfile

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core import ui
from core.data import image_sources
from core.data.images import load_image_zip
from core.engine import gan_training
from core.jobs import gan as gan_jobs
from core.registry.store import ModelRegistry
from tests.helpers.jobs import JOB_TIMEOUT_SECONDS, holding_the_slot, rerun_until
from tests.unit.jobs.test_gan import parts_zip

PAGE = "pages/synthetic.py"
SAMPLE_CLASSES = ["crack", "inclusion", "ok", "pit", "scratch"]


@pytest.fixture
def open_page(open_session):
    """Opens the page in fresh sessions; their jobs are cancelled afterwards."""
    return lambda: open_session(PAGE, timeout=180)


@pytest.fixture
def offered_files(monkeypatch):
    """Records the bytes of every file the page hands to Streamlit (images, downloads)."""
    files = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return files


@pytest.fixture
def busy_manager():
    """Fills the running slot of the shared job manager with another session's job."""
    manager = ui.job_manager()
    with holding_the_slot(manager, "train-image"):
        yield manager


@pytest.fixture
def saved_gan(isolated_registry):
    """A one-epoch 32-pixel GAN of the sample, registered as 'fixture-gan'."""
    config = gan_training.GanTrainingConfig(image_size=32, epochs=1, per_class=8)
    dataset = image_sources.sample_image_source().load((32, 32), 1)
    result = gan_training.run_gan_training(dataset, config)
    return gan_training.save_gan_run(result, ModelRegistry(isolated_registry), "fixture-gan")


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def keyed(elements, prefix: str):
    return next(element for element in elements if (element.key or "").startswith(prefix))


def figures(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def image_captions(app: AppTest) -> list[str]:
    return [image.caption for element in app.image for image in element.proto.imgs]


def test_page_shows_its_sections_and_the_sample_class_counts(open_page, isolated_registry):
    app = open_page()
    assert app.title[0].value == "Synthetic images"
    assert texts(app.header) == ["1. Data", "2. Train a GAN", "3. Generate", "4. Does it help?"]
    assert "Dataset: sample images (sample_data/images)" in texts(app.subheader)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Classes"] == "5"
    counts = figures(app)[0]
    assert counts["data"][0]["type"] == "bar" and counts["data"][0]["x"] == SAMPLE_CLASSES
    assert app.radio(key="synthetic_size").options == ["32", "64", "96", "128"]
    assert app.radio(key="synthetic_size").value == 64
    assert app.button(key="synthetic_train")
    # Sections 3 and 4 offer the registered GANs (a bundled demo GAN, if any), newest first.
    gans = [record.reference for record in gan_jobs.gan_models(ModelRegistry(isolated_registry))]
    if gans:
        assert keyed(app.selectbox, "synthetic_generate_gan").value == gans[0]
        assert app.button(key="synthetic_benefit_run")
    else:
        infos = texts(app.info)
        assert any("save it to the registry to generate images" in text for text in infos)


@pytest.mark.slow
def test_train_save_generate_and_download(open_page, isolated_registry, offered_files):
    app = open_page()
    app.radio(key="synthetic_size").set_value(32)
    app.number_input(key="synthetic_epochs").set_value(1)
    app.number_input(key="synthetic_per_class").set_value(8)
    app.button(key="synthetic_train").click().run()
    assert not app.error, texts(app.error)

    rerun_until(
        app,
        lambda app: "Save to registry" in [button.label for button in app.button],
        timeout=JOB_TIMEOUT_SECONDS,
        what="training",
    )
    captions = image_captions(app)
    assert captions == [
        "Sample grid after epoch 1. Rows, top to bottom: crack, inclusion, ok, pit, scratch."
    ]
    metrics = {metric.label: metric.value for metric in app.metric}
    assert (metrics["Epochs"], metrics["Training images"], metrics["Held out"]) == (
        "1",
        "40",
        "200",
    )
    losses = next(figure for figure in figures(app) if "GAN training" in json.dumps(figure))
    names = {trace["name"] for trace in losses["data"]}
    assert {"discriminator loss (epoch)", "generator loss (epoch)"} <= names

    assert keyed(app.text_input, "synthetic_name").value == "sample-gan32"
    keyed(app.text_input, "synthetic_name").set_value("bad name!")
    keyed(app.button, "synthetic_save").click().run()
    assert any("Not saved: Expected a model name" in text for text in texts(app.error))
    keyed(app.text_input, "synthetic_name").set_value("apptest-gan")
    keyed(app.button, "synthetic_save").click().run()
    assert not app.error, texts(app.error)
    assert any("apptest-gan:1" in text for text in texts(app.success))
    record = ModelRegistry(isolated_registry).get("apptest-gan")
    assert record.metadata["task"] == "gan" and record.metadata["classes"] == SAMPLE_CLASSES

    # The GAN just saved is the one to generate with.
    assert keyed(app.selectbox, "synthetic_generate_gan").value == "apptest-gan:1"
    app.number_input(key="synthetic_generate_count").set_value(3)
    app.button(key="synthetic_generate").click().run()
    assert not app.exception, app.exception
    assert not app.error, texts(app.error)
    assert any("15 images from **apptest-gan:1**" in text for text in texts(app.success))
    button = app.get("download_button")[0]
    assert button.proto.label == "Download zip"
    file_id = button.proto.url.rsplit("/", 1)[-1].split(".")[0]
    data = offered_files[file_id]
    assert isinstance(data, bytes)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        folders = sorted({name.split("/")[0] for name in archive.namelist()})
    assert folders == SAMPLE_CLASSES
    dataset = load_image_zip(data, name="synthetic-apptest-gan.zip", image_size=(32, 32))
    assert dataset.class_counts() == dict.fromkeys(SAMPLE_CLASSES, 3)
    assert len(app.image) == 1 + len(SAMPLE_CLASSES), "the grid and one preview row per class"


@pytest.mark.slow
def test_the_experiment_compares_baseline_and_augmented(open_page, saved_gan):
    app = open_page()
    assert keyed(app.selectbox, "synthetic_benefit_gan").value == "fixture-gan:1"
    for key, value in (
        ("synthetic_real_per_class", 3),
        ("synthetic_synthetic_per_class", 4),
        ("synthetic_training_steps", 4),
    ):
        app.number_input(key=key).set_value(value)
    app.button(key="synthetic_benefit_run").click().run()
    assert not app.error, texts(app.error)
    rerun_until(
        app,
        lambda app: "Notes" in texts(app.subheader),
        timeout=JOB_TIMEOUT_SECONDS,
        what="the experiment",
    )

    metrics = {metric.label: metric.value for metric in app.metric}
    assert {"Accuracy, real only", "Accuracy, real + synthetic", "Difference"} <= set(metrics)
    assert metrics["Difference"].endswith(" points")
    assert "Fidelity" in texts(app.subheader)
    table = next(frame.value for frame in app.dataframe if "augmented recall" in frame.value)
    assert list(table["class"]) == SAMPLE_CLASSES
    comparison = next(figure for figure in figures(app) if figure["data"][0]["type"] == "bar"
                      and "Recall per class" in figure["layout"]["title"]["text"])  # fmt: skip
    assert [trace["name"] for trace in comparison["data"]] == [
        "real only (3/class)",
        "real + synthetic (4/class)",
    ]
    fidelity = next(figure for figure in figures(app) if figure["data"][0]["type"] == "heatmap")
    assert len(fidelity["data"][0]["z"]) == len(SAMPLE_CLASSES)
    notes = " ".join(texts(app.markdown))
    assert "fidelity judge" in notes
    assert app.get("download_button")[0].proto.label == "Download report (JSON)"


@pytest.mark.slow
def test_an_experiment_the_engine_refuses_shows_why(open_page, isolated_registry):
    # A GAN of two other classes cannot be tested on the sample's five.
    config = gan_training.GanTrainingConfig(image_size=32, epochs=1)
    dataset = image_sources.zip_image_source("parts.zip", parts_zip(4)).load((32, 32), 1)
    result = gan_training.run_gan_training(dataset, config)
    gan_training.save_gan_run(result, ModelRegistry(isolated_registry), "parts-gan")
    app = open_page()
    assert keyed(app.selectbox, "synthetic_benefit_gan").value == "parts-gan:1"
    app.button(key="synthetic_benefit_run").click().run()
    rerun_until(
        app,
        lambda app: bool(app.error),
        timeout=JOB_TIMEOUT_SECONDS,
        what="the experiment",
        allow_errors=True,
    )
    assert not app.exception, app.exception
    (error,) = texts(app.error)
    assert error.startswith("The experiment could not run: Expected the data's classes")
    assert "ValueError" not in error and "Traceback" not in error


def test_a_bad_zip_shows_a_clear_error_and_no_train_button(open_page):
    app = open_page()
    app.radio(key="synthetic_source").set_value("Zip of class folders").run()
    app.file_uploader(key="synthetic_zip").set_value(
        ("broken.zip", b"this is not an archive", "application/zip")
    ).run()
    assert not app.exception, app.exception
    errors = texts(app.error)
    assert any("Expected a .zip archive" in text and "broken.zip" in text for text in errors)
    assert not [button for button in app.button if button.key == "synthetic_train"]


def test_a_queued_training_shows_its_place_and_cancels(open_page, busy_manager):
    app = open_page()
    app.radio(key="synthetic_size").set_value(32)
    app.button(key="synthetic_train").click().run()
    assert any("Queued: 1 job ahead" in text for text in texts(app.info))
    app.button(key="synthetic_cancel_training").click().run()
    assert not app.exception, app.exception
    assert any("Cancelled before the first epoch" in text for text in texts(app.warning))


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
        app.button(key="synthetic_train").click().run()
        errors = texts(app.error)
        assert any(text.startswith("Not started: Expected a free place") for text in errors)
    finally:
        for job in waiting:
            busy_manager.cancel("another-session", job.job_id)
        release.set()


def test_a_bad_file_in_a_zip_is_listed_and_the_rest_is_used(open_page):
    good = zipfile.ZipFile(io.BytesIO(parts_zip()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in good.namelist():
            archive.writestr(name, good.read(name))
        archive.writestr(f"{name.split('/')[0]}/corrupt.png", b"not an image")
    app = open_page()
    app.radio(key="synthetic_source").set_value("Zip of class folders").run()
    app.file_uploader(key="synthetic_zip").set_value(
        ("parts.zip", buffer.getvalue(), "application/zip")
    ).run()
    assert not app.exception, app.exception
    assert [expander.label for expander in app.expander] == ["1 file(s) could not be used"]
    rejected = app.expander[0].dataframe[0].value
    assert rejected["name"].str.endswith("corrupt.png").all()
    assert rejected["reason"].str.contains("Expected").all()
    assert [button.key for button in app.button if button.key == "synthetic_train"]

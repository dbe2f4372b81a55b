"""Tests for core/jobs/image.py: data sources, summaries, configs, background work and results."""

import io
import types
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.charts import training as charts_training
from core.data import image_sources
from core.data.images import ImageDataset
from core.engine.image_training import ImageTrainingConfig
from core.jobs import image as image_jobs
from core.jobs.manager import JobManager
from core.metrics.evaluation import evaluate_classification
from core.registry.metadata import validate_model_name
from tests.helpers.jobs import holding_the_slot, wait_for_job

CLASSES = ("ok", "scratch")


def png_bytes(value: int, size: int = 20, seed: int = 0) -> bytes:
    generator = np.random.default_rng(seed)
    pixels = np.clip(value + generator.integers(-20, 20, (size, size)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def class_files(per_class: int = 12) -> list[tuple[str, bytes]]:
    return [
        (f"{class_name}/{number:03d}.png", png_bytes(40 + 160 * index, seed=number))
        for index, class_name in enumerate(CLASSES)
        for number in range(per_class)
    ]


def zip_bytes(files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def sample_directory(tmp_path, monkeypatch):
    for name, data in class_files(6):
        path = tmp_path / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    monkeypatch.setenv("LINESIGHT_SAMPLE_DATA", str(tmp_path))
    return tmp_path


def test_zip_source_loads_at_any_size_and_summarises():
    data = zip_bytes(class_files(5))
    source = image_sources.zip_image_source("parts.zip", data)
    assert source.kind == "zip"
    assert source.file_names == ("parts.zip",)
    assert source.description == "zip parts.zip"
    dataset = source.load((16, 16), 1)
    assert dataset.images.shape == (10, 16, 16, 1)
    assert dataset.class_names == list(CLASSES)

    summary = image_sources.dataset_summary(source, thumbnails_per_class=3)
    assert summary["description"] == "zip parts.zip"
    assert summary["report"]["class_counts"] == {"ok": 5, "scratch": 5}
    assert summary["report"]["images"] == 10
    assert any("at least 20" in warning for warning in summary["report"]["warnings"])
    assert list(summary["thumbnails"]) == list(CLASSES)
    name, image = summary["thumbnails"]["scratch"][0]
    assert name.startswith("scratch/")
    assert image.shape == (*image_sources.THUMBNAIL_SIZE, 3)
    assert len(summary["thumbnails"]["ok"]) == 3


def test_zip_source_fingerprint_follows_content():
    first = image_sources.zip_image_source("a.zip", zip_bytes(class_files(2)))
    again = image_sources.zip_image_source("a.zip", zip_bytes(class_files(2)))
    other = image_sources.zip_image_source("a.zip", zip_bytes(class_files(3)))
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint != other.fingerprint


def test_zip_source_refuses_bytes_that_are_not_a_zip():
    with pytest.raises(ValueError, match=r"Expected a \.zip archive .*name='notes\.zip'"):
        image_sources.zip_image_source("notes.zip", b"just some text")


def test_zip_source_refuses_a_name_that_is_not_text():
    with pytest.raises(TypeError, match="Expected each upload as a \\(name, bytes\\) pair"):
        image_sources.zip_image_source(None, b"PK")


def test_zip_without_class_folders_fails_with_the_reason():
    source = image_sources.zip_image_source("flat.zip", zip_bytes([("a.png", png_bytes(10))]))
    with pytest.raises(ValueError, match="Expected at least one readable image inside a class"):
        image_sources.dataset_summary(source)


def test_sample_source_reads_the_bundled_images(sample_directory):
    source = image_sources.sample_image_source()
    assert source.kind == "sample"
    assert source.file_names == ()
    dataset = source.load((12, 12), 1)
    assert dataset.class_counts() == {"ok": 6, "scratch": 6}
    assert dataset.source == "sample_data/images"


def test_sample_source_missing_says_how_to_regenerate(tmp_path, monkeypatch):
    monkeypatch.setenv("LINESIGHT_SAMPLE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="python -m core sample-data"):
        image_sources.sample_image_source()


def test_manifest_source_places_flat_uploads_and_reports_what_it_skips():
    images = [
        (name.split("/")[1].replace(".png", f"_{name[0]}.png"), data)
        for name, data in class_files(4)
    ]
    rows = ["filename,label"]
    rows += [f"{name},{'ok' if name.endswith('_o.png') else 'scratch'}" for name, _ in images[1:]]
    rows.append("folder/missing.png,ok")
    manifest = ("labels.csv", "\n".join(rows).encode())
    source = image_sources.manifest_image_source([*images, manifest], "labels.csv")
    assert source.kind == "manifest"
    assert source.file_names[0] == "labels.csv"
    dataset = source.load((10, 10), 1)
    assert len(dataset) == 7
    assert dataset.source == "labels.csv"
    reasons = {item.name: item.reason for item in dataset.rejected}
    assert "not in the manifest" in reasons[images[0][0]]
    assert "the uploaded images" in reasons["folder/missing.png"]
    assert "linesight-manifest" not in reasons["folder/missing.png"]


def test_manifest_rows_may_name_files_by_relative_path():
    images = [("001.png", png_bytes(30)), ("002.png", png_bytes(220))]
    manifest = ("m.csv", b"filename,label\nok/001.png,ok\nscratch/002.png,scratch\n")
    dataset = image_sources.manifest_image_source([*images, manifest], "m.csv").load((8, 8), 1)
    assert dataset.filenames == ["ok/001.png", "scratch/002.png"]
    assert dataset.rejected == []


def test_manifest_without_columns_fails_with_the_manifest_name():
    source = image_sources.manifest_image_source(
        [("a.png", png_bytes(1)), ("m.csv", b"name,class\na.png,ok\n")], "m.csv"
    )
    expected = r"columns filename,label\. Received: columns=\['name', 'class'\] in 'm\.csv'"
    with pytest.raises(ValueError, match=expected):
        source.load((8, 8), 1)


def test_manifest_source_needs_the_manifest_and_images():
    with pytest.raises(ValueError, match=r"Expected a \.csv manifest .*manifest_name='m\.csv'"):
        image_sources.manifest_image_source([("a.png", png_bytes(1))], "m.csv")
    with pytest.raises(ValueError, match="Expected images to go with the manifest"):
        image_sources.manifest_image_source([("m.csv", b"filename,label\n")], "m.csv")
    with pytest.raises(TypeError, match="Expected a list of"):
        image_sources.manifest_image_source("m.csv", "m.csv")


def test_training_defaults_come_from_the_config():
    defaults = image_jobs.training_defaults()
    config = ImageTrainingConfig()
    assert defaults["model"] == config.model
    assert defaults["epochs"] == config.epochs
    assert defaults["learning_rate"] == config.learning_rate
    assert defaults["image_size"] == config.image_size[0]
    assert defaults["image_size"] in defaults["image_sizes"]
    assert "seed_cnn" in defaults["models"]
    assert defaults["augmentation"] == config.augmentation.enabled


def test_training_config_applies_choices_and_keeps_defaults():
    assert image_jobs.training_config() == ImageTrainingConfig()
    config = image_jobs.training_config(
        model="seed_cnn", epochs=2, image_size=32, augmentation=False, validation_fraction=0.2
    )
    assert config.model == "seed_cnn"
    assert config.epochs == 2
    assert config.image_size == (32, 32)
    assert config.augmentation.enabled is False
    assert config.validation_fraction == 0.2
    assert config.batch_size == ImageTrainingConfig().batch_size


def test_training_config_rejects_an_unknown_optimizer_or_choice():
    with pytest.raises(ValueError, match="Received: optimizer='adagrad'"):
        image_jobs.training_config(optimizer="adagrad")
    with pytest.raises(ValueError, match=r"Expected choices among .*Received: \['seed'\]"):
        image_jobs.training_config(seed=3)


def test_make_training_work_checks_the_config_before_queueing():
    source = image_sources.zip_image_source("a.zip", zip_bytes(class_files(2)))
    with pytest.raises(ValueError, match="Received: epochs=0"):
        image_jobs.make_training_work(source, ImageTrainingConfig(epochs=0))


@pytest.mark.parametrize(
    ("position", "text"), [(None, ""), (0, "0 jobs ahead"), (1, "1 job ahead"), (2, "2 jobs ahead")]
)
def test_queue_text(position, text):
    assert image_jobs.queue_text(position) == text


def test_suggested_model_name_is_a_valid_registry_name(sample_directory):
    config = ImageTrainingConfig(model="seed_cnn")
    source = image_sources.zip_image_source("My parts (v2).zip", zip_bytes(class_files(1)))
    name = image_jobs.suggested_model_name(source, config)
    assert name == "My-parts-v2-seed_cnn"
    validate_model_name(name)  # Raises when the registry would refuse it.
    assert image_jobs.suggested_model_name(image_sources.sample_image_source(), config) == (
        "sample-seed_cnn"
    )


def test_job_rows_list_state_and_queue_position():
    manager = JobManager(max_running=1, max_queued=2)
    with holding_the_slot(manager, "train-image", owner="me", description="one", hold=5) as first:
        second = manager.submit(
            "me", "train-image", lambda progress, cancel: None, description="two"
        )
        rows = image_jobs.job_rows(manager, manager.jobs_for("me"))
        by_job = {row["job"]: row for row in rows}
        assert by_job[first.job_id]["state"] == "running"
        assert by_job[second.job_id]["queue"] == "1 job ahead"
        assert by_job[second.job_id]["data"] == "two"
    wait_for_job(manager, second, timeout=10)


def fake_result():
    """A finished run without training: 6 test images, two of them misclassified."""
    images = np.arange(8 * 4 * 4, dtype=np.uint8).reshape(8, 4, 4, 1)
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 1], dtype=np.int32)
    dataset = ImageDataset(
        images=images,
        labels=labels,
        class_names=list(CLASSES),
        filenames=[f"image_{index}.png" for index in range(8)],
        original_sizes=[(4, 4)] * 8,
        rejected=[],
        source="fake",
    )
    test_indices = np.array([0, 1, 2, 3, 4, 5])
    # Test item 1 (ok) is predicted scratch; item 4 (scratch) is predicted ok.
    probabilities = np.array(
        [[0.9, 0.1], [0.3, 0.7], [0.8, 0.2], [0.1, 0.9], [0.6, 0.4], [0.2, 0.8]]
    )
    evaluation = evaluate_classification(
        labels[test_indices], probabilities, list(CLASSES),
        item_names=[dataset.filenames[index] for index in test_indices],
    )  # fmt: skip
    training = types.SimpleNamespace(
        epochs_run=1, best_epoch=1, cancelled=False, seconds=1.5, history={"loss": [0.5]}
    )
    return types.SimpleNamespace(
        training=training,
        evaluation=evaluation,
        dataset=dataset,
        train_indices=np.array([6, 7]),
        validation_indices=np.array([], dtype=int),
        test_indices=test_indices,
    )


def test_confusion_cell_items_return_the_images_behind_each_cell():
    result = fake_result()
    correct_ok = image_jobs.confusion_cell_items(result, "ok", "ok")
    assert [name for name, _ in correct_ok] == ["image_0.png", "image_2.png"]
    ok_as_scratch = image_jobs.confusion_cell_items(result, "ok", "scratch")
    assert [name for name, _ in ok_as_scratch] == ["image_1.png"]
    assert np.array_equal(ok_as_scratch[0][1], result.dataset.images[1][..., 0])
    assert len(image_jobs.confusion_cell_items(result, "scratch", "scratch", limit=1)) == 1
    total = sum(
        len(image_jobs.confusion_cell_items(result, true, predicted))
        for true in CLASSES
        for predicted in CLASSES
    )
    assert total == len(result.test_indices)


def test_confusion_cell_items_refuse_an_unknown_class():
    with pytest.raises(ValueError, match=r"Expected `true_class` to be one of .*'dent'"):
        image_jobs.confusion_cell_items(fake_result(), "dent", "ok")


def test_misclassified_items_and_summary():
    result = fake_result()
    items = image_jobs.misclassified_items(result, limit=5)
    assert [item["name"] for item in items] == ["image_1.png", "image_4.png"]
    assert items[0]["true"] == "ok" and items[0]["predicted"] == "scratch"
    assert items[0]["confidence"] == pytest.approx(0.7)
    assert items[0]["image"].shape == (4, 4)
    assert len(image_jobs.misclassified_items(result, limit=1)) == 1
    summary = image_jobs.result_summary(result)
    assert summary["test_count"] == 6
    assert summary["confusion_matrix"] == [[2, 1], [1, 2]]
    assert summary["misclassified_count"] == 2
    assert image_jobs.default_confusion_cell(result) == ("ok", "scratch")


def test_selectable_confusion_matrix_outlines_the_chosen_cell():
    figure = charts_training.selectable_confusion_matrix(
        [[2, 1], [1, 2]], list(CLASSES), selected=("scratch", "ok")
    )
    shape = figure.layout.shapes[0]
    assert (shape.x0, shape.y0) == (-0.5, 0.5)
    assert list(figure.data[0].x) == list(CLASSES)
    with pytest.raises(ValueError, match="Expected the selected classes among"):
        charts_training.selectable_confusion_matrix([[1]], ["ok"], selected=("ok", "dent"))


@pytest.mark.slow
def test_training_work_runs_in_a_job_and_reports_progress():
    source = image_sources.zip_image_source("parts.zip", zip_bytes(class_files(12)))
    config = image_jobs.training_config(model="seed_cnn", epochs=2, image_size=16, batch_size=8)
    manager = JobManager()
    job = manager.submit("me", "train-image", image_jobs.make_training_work(source, config))
    job = wait_for_job(manager, job, timeout=300, state="succeeded")
    snapshot = job.progress.snapshot()
    assert snapshot["total_epochs"] == 2
    assert len(snapshot["epoch_history"]["loss"]) == 2
    assert snapshot["batch_points"]
    assert snapshot["message"] == "Finished"
    result = job.result
    assert result.dataset.images.shape[1:] == (16, 16, 1)
    assert result.evaluation["count"] == len(result.test_indices)
    cells = sum(
        len(image_jobs.confusion_cell_items(result, true, predicted))
        for true in CLASSES
        for predicted in CLASSES
    )
    assert cells == result.evaluation["count"]


def test_training_work_cancelled_while_loading_returns_nothing():
    source = image_sources.zip_image_source("parts.zip", zip_bytes(class_files(2)))
    work = image_jobs.make_training_work(source, image_jobs.training_config(model="seed_cnn"))
    cancellation = types.SimpleNamespace(cancelled=True)
    messages = []
    progress = types.SimpleNamespace(set_message=messages.append)
    assert work(progress, cancellation) is None
    assert messages == ["Loading zip parts.zip"]

"""Tests for core/jobs/image_anomaly.py: widget choices, the background work and the results
views."""

import io
import threading
import types
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.data.image_sources import ImageSource, sample_image_source, zip_image_source
from core.data.masks import bundled_mask_directory
from core.engine.progress import CancellationToken
from core.jobs import image_anomaly as anomaly_jobs
from core.jobs.job import JobProgress
from core.jobs.manager import JobManager
from core.registry.metadata import validate_model_name
from core.workflows.image_anomaly import ImageAnomalyConfig, ImageAnomalyRunResult
from tests.helpers.jobs import finish_jobs


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def parts_zip(good: int = 30, per_defect: int = 10) -> bytes:
    """Good parts are smooth gray; a 'spot' part has a bright square, a 'line' part a stripe."""
    generator = np.random.default_rng(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for class_name, count in (("ok", good), ("spot", per_defect), ("line", per_defect)):
            for number in range(count):
                pixels = np.clip(120 + generator.normal(0, 6, (32, 32)), 0, 255).astype(np.uint8)
                if class_name == "spot":
                    row, column = generator.integers(4, 24, 2)
                    pixels[row : row + 6, column : column + 6] = 250
                elif class_name == "line":
                    pixels[:, generator.integers(4, 28)] = 10
                archive.writestr(f"parts/{class_name}/{number:02d}.png", png_bytes(pixels))
    return buffer.getvalue()


def fake_result(scores, labels, threshold=1.0) -> ImageAnomalyRunResult:
    """A finished run without a model: enough for the summary, the table and the groups."""
    labels = np.asarray(labels)
    class_names = ["ok", "pit", "scratch"]
    count = len(labels)
    dataset = types.SimpleNamespace(
        class_names=class_names,
        labels=np.r_[labels, [0, 0, 0, 1]],
        filenames=[f"image_{index}.png" for index in range(count + 4)],
        images=np.zeros((count + 4, 16, 16, 1), dtype=np.uint8),
    )
    metrics = {
        "image_auroc": 0.9,
        "threshold": threshold,
        "false_reject_rate": 0.25,
        "defect_recall": 0.75,
        "test_count": count,
        "defect_class_auroc": {"pit": 0.8, "scratch": 1.0},
        "evaluation": {"class_names": ["ok", "anomaly"], "confusion_matrix": [[3, 1], [1, 3]]},
    }
    return ImageAnomalyRunResult(
        model=None,
        config=ImageAnomalyConfig(image_size=16),
        dataset=dataset,
        train_indices=np.arange(count, count + 4),
        validation_indices=np.array([], dtype=np.int64),
        test_indices=np.arange(count),
        threshold=threshold,
        score_scale=0.5,
        validation_scores=np.array([0.1, 0.2]),
        test_scores=np.asarray(scores, dtype=np.float32),
        metrics=metrics,
        history={},
        epochs_run=1,
        best_epoch=1,
        cancelled=False,
        seconds=1.5,
    )


# Test images: four good parts (one over the threshold), two pits, two scratches (one missed).
SCORES = [0.2, 0.5, 0.3, 1.5, 2.0, 3.0, 0.9, 1.2]
LABELS = [0, 0, 0, 0, 1, 1, 2, 2]


def test_default_good_class_prefers_ok_then_the_first_class():
    assert anomaly_jobs.default_good_class(["crack", "ok", "pit"]) == "ok"
    assert anomaly_jobs.default_good_class(["good", "bad"]) == "good"
    assert anomaly_jobs.default_good_class([]) is None


def test_defaults_list_the_default_method_first_and_propose_the_good_class():
    defaults = anomaly_jobs.anomaly_defaults(["crack", "ok"])
    assert defaults["method"] == "feature-gaussian"
    assert defaults["methods"] == ["feature-gaussian", "autoencoder"]
    assert defaults["image_size"] == 64 and 64 in defaults["image_sizes"]
    assert all(size % 8 == 0 for size in defaults["image_sizes"])
    assert defaults["good_class"] == "ok"
    assert anomaly_jobs.anomaly_defaults(["good", "bad"])["good_class"] == "good"
    assert anomaly_jobs.anomaly_defaults()["good_class"] == "ok"


def test_anomaly_config_takes_the_page_choices():
    config = anomaly_jobs.anomaly_config(
        method="autoencoder",
        good_class="good",
        image_size=32,
        epochs=7,
        class_names=["bad", "good"],
    )
    assert (config.method, config.good_class, config.image_size, config.epochs) == (
        "autoencoder", "good", 32, 7,
    )  # fmt: skip
    default = anomaly_jobs.anomaly_config(method="feature-gaussian", good_class="ok", image_size=64)
    assert default.epochs == ImageAnomalyConfig().epochs


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        (
            {"method": "pca"},
            "Expected `method` to be one of ['autoencoder', 'feature-gaussian']. "
            "Received: method='pca'",
        ),
        ({"image_size": 30}, "Received: input_shape=(30, 30, 1)"),
        ({"epochs": 0}, "Expected `epochs` to be an integer >= 1. Received: epochs=0"),
        (
            {"good_class": "good"},
            "Expected the good class to be one of the classes of the data ['crack', 'ok']. "
            "Received: good_class='good'",
        ),
    ],
)
def test_anomaly_config_rejects_bad_choices_with_the_reason(choices, message):
    arguments = {
        "method": "feature-gaussian",
        "good_class": "ok",
        "image_size": 64,
        "class_names": ["crack", "ok"],
        **choices,
    }
    with pytest.raises(ValueError) as caught:
        anomaly_jobs.anomaly_config(**arguments)
    assert message in str(caught.value)


def test_the_sample_uses_the_bundled_masks_and_uploads_none():
    config = ImageAnomalyConfig()
    work = anomaly_jobs.make_anomaly_work(sample_image_source(), config)
    assert work.masks == str(bundled_mask_directory())
    assert work.config is config
    uploaded = anomaly_jobs.make_anomaly_work(
        zip_image_source("parts.zip", parts_zip(2, 1)), config
    )
    assert uploaded.masks is None
    chosen = anomaly_jobs.make_anomaly_work(sample_image_source(), config, masks="elsewhere")
    assert chosen.masks == "elsewhere"


def test_make_anomaly_work_checks_the_config_before_queueing():
    with pytest.raises(ValueError, match=r"Expected `method` to be one of .* Received: method='x'"):
        anomaly_jobs.make_anomaly_work(sample_image_source(), ImageAnomalyConfig(method="x"))


def test_work_cancelled_while_loading_returns_none():
    cancellation = CancellationToken()

    def load(image_size, channels):
        cancellation.cancel()
        dataset = zip_image_source("parts.zip", parts_zip(4, 2)).load(image_size, channels)
        return dataset

    source = ImageSource("zip", "zip parts.zip", ("parts.zip",), "abc", load)
    progress = JobProgress()
    work = anomaly_jobs.make_anomaly_work(source, ImageAnomalyConfig(image_size=16))
    assert work(progress, cancellation) is None
    assert progress.snapshot()["message"] == "Loading zip parts.zip"


def test_anomaly_jobs_lists_only_this_sessions_anomaly_jobs():
    manager = JobManager(max_running=1, max_queued=5)
    release = threading.Event()

    def wait(progress, cancellation):
        return release.wait(10)

    mine = manager.submit("me", anomaly_jobs.JOB_KIND, wait, description="mine")
    manager.submit("me", "train-image", wait, description="classifier")
    manager.submit("other", anomaly_jobs.JOB_KIND, wait, description="theirs")
    try:
        assert [job.job_id for job in anomaly_jobs.anomaly_jobs(manager, "me")] == [mine.job_id]
        rows = anomaly_jobs.job_rows(manager, anomaly_jobs.anomaly_jobs(manager, "me"))
        assert rows[0]["data"] == "mine" and rows[0]["state"] == "running"
    finally:
        release.set()
        finish_jobs(manager, ("me", "other"), cancel=False, timeout=10)


def test_progress_text_names_the_phase_of_each_method():
    progress = JobProgress()
    gaussian = types.SimpleNamespace(
        progress=progress, work=anomaly_jobs.AnomalyWork(None, ImageAnomalyConfig())
    )
    assert anomaly_jobs.progress_text(gaussian) == "Starting..."
    progress.set_message("Loading sample images")
    assert anomaly_jobs.progress_text(gaussian) == "Loading sample images"
    progress.on_train_begin(1, 7)
    progress.on_batch_end(1, 3, {"images": 64.0})
    assert anomaly_jobs.progress_text(gaussian) == (
        "Extracting features of the good images: batch 3 of 7"
    )
    autoencoder = types.SimpleNamespace(
        progress=progress,
        work=anomaly_jobs.AnomalyWork(None, ImageAnomalyConfig(method="autoencoder")),
    )
    assert anomaly_jobs.progress_text(autoencoder) == "Epoch 1 of at most 1, batch 3 of 7"


def test_suggested_model_names_are_valid_registry_names():
    config = ImageAnomalyConfig()
    name = anomaly_jobs.suggested_model_name(sample_image_source(), config)
    assert name == "sample-anomaly-feature-gaussian"
    long_name = "line 3 / parts (" + "x" * 80 + ").zip"
    source = zip_image_source(long_name, parts_zip(2, 1))
    suggested = anomaly_jobs.suggested_model_name(source, ImageAnomalyConfig(method="autoencoder"))
    assert suggested.endswith("-anomaly-autoencoder") and len(suggested) == 64
    assert validate_model_name(suggested) == suggested


def test_result_summary_gathers_the_headline_numbers():
    summary = anomaly_jobs.result_summary(fake_result(SCORES, LABELS))
    assert summary["image_auroc"] == 0.9
    assert summary["pixel_auroc"] is None
    assert summary["threshold"] == 1.0
    assert (
        summary["threshold_rule"] == "quantile 0.99 of the scores of the 2 good validation images"
    )
    assert (summary["false_reject_rate"], summary["defect_recall"]) == (0.25, 0.75)
    assert summary["defect_class_auroc"] == {"pit": 0.8, "scratch": 1.0}
    assert summary["class_names"] == ["ok", "anomaly"]
    assert summary["confusion_matrix"] == [[3, 1], [1, 3]]
    assert (summary["test_count"], summary["good_train"], summary["good_validation"]) == (8, 3, 2)
    assert (summary["seconds"], summary["method"], summary["defect_classes"]) == (
        1.5, "feature-gaussian", ["pit", "scratch"],
    )  # fmt: skip


def test_score_table_sorts_the_test_images_by_score_with_verdicts():
    rows = anomaly_jobs.score_table(fake_result(SCORES, LABELS))
    assert [row["score"] for row in rows] == pytest.approx(sorted(SCORES, reverse=True))
    assert list(rows[0]) == ["image", "true class", "score", "verdict", "right"]
    by_image = {row["image"]: row for row in rows}
    assert by_image["image_3.png"] == {
        "image": "image_3.png", "true class": "ok", "score": 1.5, "verdict": "anomaly",
        "right": False,
    }  # fmt: skip
    assert by_image["image_6.png"]["verdict"] == "ok" and not by_image["image_6.png"]["right"]
    assert by_image["image_5.png"]["right"] and by_image["image_0.png"]["right"]
    # A score exactly at the threshold is an anomaly.
    at_threshold = anomaly_jobs.score_table(fake_result(SCORES, LABELS, threshold=1.2))
    assert next(row for row in at_threshold if row["score"] == pytest.approx(1.2))["verdict"] == (
        "anomaly"
    )


def test_score_groups_put_the_good_class_first():
    groups = anomaly_jobs.score_groups(fake_result(SCORES, LABELS))
    assert list(groups) == ["ok", "pit", "scratch"]
    assert groups["ok"] == pytest.approx([0.2, 0.5, 0.3, 1.5])
    assert groups["scratch"] == pytest.approx([0.9, 1.2])


@pytest.mark.parametrize("limit", [0, -1, 2.0, True, None])
def test_sample_maps_rejects_a_bad_limit(limit):
    with pytest.raises(ValueError) as caught:
        anomaly_jobs.sample_maps(fake_result(SCORES, LABELS), limit)
    assert str(caught.value).startswith("Expected `limit` to be a positive integer. Received:")


@pytest.fixture(scope="module")
def trained():
    """A feature-gaussian run on a small synthetic zip at 32 px, through the job's work."""
    source = zip_image_source("parts.zip", parts_zip())
    config = anomaly_jobs.anomaly_config(
        method="feature-gaussian",
        good_class="ok",
        image_size=32,
        class_names=["line", "ok", "spot"],
    )
    progress = JobProgress()
    result = anomaly_jobs.make_anomaly_work(source, config)(progress, CancellationToken())
    return result, progress


@pytest.mark.slow
def test_the_work_trains_on_good_images_and_reports_progress(trained):
    result, progress = trained
    snapshot = progress.snapshot()
    assert snapshot["message"] == "Finished"
    assert snapshot["total_epochs"] == 1 and snapshot["fraction"] == 1.0
    summary = anomaly_jobs.result_summary(result)
    assert summary["pixel_auroc"] is None, "an upload has no masks"
    assert summary["image_auroc"] > 0.8, "bright spots and dark lines are easy to find"
    assert set(summary["defect_class_auroc"]) == {"line", "spot"}
    assert summary["test_count"] == len(anomaly_jobs.score_table(result))


@pytest.mark.slow
def test_sample_maps_overlay_the_chosen_test_images(trained):
    result, _ = trained
    groups = anomaly_jobs.sample_maps(result, limit=2)
    assert [group["title"] for group in groups] == [
        "Defects with the highest scores",
        "Defects with the lowest scores (the hardest to catch)",
        "Good parts (ok) with the highest scores",
    ]
    items = [item for group in groups for item in group["items"]]
    assert len(items) == 6 and len({item["name"] for item in items}) == 6
    dataset = result.dataset
    for item in items:
        assert item["overlay"].shape == (32, 32, 3) and item["overlay"].dtype == np.uint8
        own = dataset.images[dataset.filenames.index(item["name"])][..., 0]
        np.testing.assert_array_equal(item["image"], own)
        assert item["verdict"] == ("anomaly" if item["score"] >= result.threshold else "ok")
    highest, lowest, good = (group["items"] for group in groups)
    assert highest[0]["score"] >= highest[1]["score"] >= lowest[0]["score"]
    assert all(item["true_class"] == "ok" for item in good)
    assert all(item["true_class"] != "ok" for item in highest + lowest)

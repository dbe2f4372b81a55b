"""Tests for core/jobs/gan.py: configs from the page, background GAN and experiment work, tables."""

import io
import types
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.data import image_sources
from core.engine.gan_generation import images_to_zip
from core.engine.gan_training import GanRunResult, GanTrainingConfig
from core.jobs import gan as gan_jobs
from core.jobs.manager import JobManager
from core.registry.metadata import validate_model_name
from tests.helpers.jobs import holding_the_slot, wait_for_job

CLASSES = ("dent", "ok")


def png_bytes(value: int, seed: int, size: int = 20) -> bytes:
    generator = np.random.default_rng(seed)
    pixels = np.clip(value + generator.integers(-20, 20, (size, size)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def parts_zip(per_class: int = 8) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, class_name in enumerate(CLASSES):
            for number in range(per_class):
                archive.writestr(
                    f"{class_name}/{number:02d}.png", png_bytes(50 + 150 * index, number)
                )
    return buffer.getvalue()


def fake_record(name, version, created_at, task="gan", image_size=32):
    metadata = {
        "task": task,
        "created_at": created_at,
        "classes": list(CLASSES),
        "preprocessing": {"image_size": [image_size, image_size], "channels": 1},
    }
    return types.SimpleNamespace(
        name=name, version=version, reference=f"{name}:{version}", metadata=metadata
    )


class FakeRegistry:
    def __init__(self, records):
        self.records = records

    def list(self):
        return list(self.records)

    def get(self, reference):
        for record in self.records:
            if reference in (record.reference, record.name):
                return record
        raise ValueError(f"Expected the name of a model. Received: name={reference!r}")


def report_of(classes=CLASSES):
    return {
        "gan": "parts-gan32:1",
        "classes": list(classes),
        "real_per_class": 20,
        "synthetic_per_class": 100,
        "baseline": {
            "accuracy": 0.6,
            "macro_f1": 0.55,
            "per_class_recall": {"dent": 0.5, "ok": 0.7},
        },
        "augmented": {
            "accuracy": 0.7,
            "macro_f1": 0.68,
            "per_class_recall": {"dent": 0.75, "ok": 0.65},
        },
        "difference": {
            "accuracy": 0.1,
            "macro_f1": 0.13,
            "per_class_recall": {"dent": 0.25, "ok": -0.05},
        },
        "fidelity": {
            "judge_test_accuracy": 0.9,
            "agreement": 0.8,
            "per_class_agreement": {"dent": 0.9, "ok": 0.7},
            "confusion": [[90, 10], [30, 70]],
        },
        "notes": ["the GAN trained on 120 real images per class, the baseline on 20"],
    }


def test_page_image_sizes_match_the_gan_model():
    from core.models.gan import IMAGE_SIZES

    assert gan_jobs.PAGE_IMAGE_SIZES == IMAGE_SIZES
    defaults = gan_jobs.gan_training_defaults()
    assert defaults["image_size"] == 64
    assert defaults["image_sizes"] == [32, 64, 96, 128]
    assert defaults["per_class"] is None
    assert defaults["epochs"] == GanTrainingConfig().epochs


def test_training_config_takes_the_page_choices_and_keeps_defaults_for_none():
    config = gan_jobs.gan_training_config(
        image_size=32, epochs=3, per_class=None, holdout_fraction=0.2, seed=5, batch_size=None
    )
    assert (config.image_size, config.epochs, config.per_class) == (32, 3, None)
    assert (config.holdout_fraction, config.seed, config.batch_size) == (0.2, 5, 32)
    assert gan_jobs.gan_training_config(per_class=10).per_class == 10


def test_training_config_names_unknown_and_invalid_choices():
    with pytest.raises(ValueError) as unknown:
        gan_jobs.gan_training_config(epochs=2, learning_rate=0.1, model="x")
    assert str(unknown.value) == (
        "Expected GAN training choices among ['image_size', 'epochs', 'batch_size', "
        "'per_class', 'holdout_fraction', 'seed']. Received: ['learning_rate', 'model']"
    )
    with pytest.raises(ValueError, match=r"Expected `image_size` to be one of \[32, 64, 96, 128\]"):
        gan_jobs.gan_training_config(image_size=48)
    with pytest.raises(ValueError, match=r"Expected `epochs` to be an integer >= 1. Received: "):
        gan_jobs.gan_training_config(epochs=0)
    with pytest.raises(ValueError, match=r"Received: holdout_fraction=1.0"):
        gan_jobs.gan_training_config(holdout_fraction=1.0)


def test_training_work_checks_the_config_before_queueing():
    source = image_sources.zip_image_source("parts.zip", parts_zip(2))
    with pytest.raises(ValueError, match="Expected `epochs` to be an integer >= 1"):
        gan_jobs.make_gan_training_work(source, GanTrainingConfig(epochs=0))


@pytest.mark.slow
def test_a_one_epoch_gan_job_finishes_with_a_grid_in_the_snapshot():
    source = image_sources.zip_image_source("parts.zip", parts_zip(8))
    config = gan_jobs.gan_training_config(image_size=32, epochs=1, batch_size=8)
    manager = JobManager()
    job = manager.submit(
        "me", gan_jobs.GAN_JOB_KIND, gan_jobs.make_gan_training_work(source, config)
    )
    wait_for_job(manager, job, timeout=300, state="succeeded")
    assert isinstance(job.result, GanRunResult)
    snapshot = job.progress.snapshot()
    assert snapshot["message"] == "Finished"
    assert snapshot["images"]["epoch"] == 1
    assert snapshot["images"]["image"].shape == (2 * 32, 8 * 32)
    assert set(snapshot["epoch_history"]) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    assert snapshot["batch_points"] and "g_loss" in snapshot["batch_points"][0]

    summary = gan_jobs.gan_result_summary(job.result)
    assert summary["class_names"] == list(CLASSES)
    assert summary["epochs_run"] == 1 and not summary["cancelled"]
    assert summary["training_images"] + summary["holdout_images"] == 16
    assert summary["holdout_images"] == 4  # 25 % of each class of 8.
    assert summary["grid"].shape == (64, 256)
    assert np.isfinite(summary["final_d_loss"]) and np.isfinite(summary["final_g_loss"])
    assert gan_jobs.gan_jobs(manager, "me") == [job]


def test_a_job_cancelled_while_loading_returns_nothing():
    source = image_sources.zip_image_source("parts.zip", parts_zip(2))
    work = gan_jobs.make_gan_training_work(source, GanTrainingConfig(image_size=32, epochs=1))
    progress = types.SimpleNamespace(set_message=lambda text: None)
    assert work(progress, types.SimpleNamespace(cancelled=True)) is None


def test_gan_jobs_lists_only_this_page_s_kinds_of_one_owner():
    manager = JobManager(max_running=1, max_queued=5)

    def queued(progress, cancellation):
        """Never runs: the blocker holds the only slot until these jobs are cancelled."""

    with holding_the_slot(manager, "train-image", owner="me", hold=30, timeout=30):
        gan = manager.submit("me", gan_jobs.GAN_JOB_KIND, queued)
        benefit = manager.submit("me", gan_jobs.BENEFIT_JOB_KIND, queued)
        other = manager.submit("someone-else", gan_jobs.GAN_JOB_KIND, queued)
        try:
            assert gan_jobs.gan_jobs(manager, "me") == [benefit, gan]
            assert gan_jobs.gan_jobs(manager, "me", gan_jobs.BENEFIT_JOB_KIND) == [benefit]
            assert gan_jobs.gan_jobs(manager, "me", gan_jobs.GAN_JOB_KIND) == [gan]
            expected = r"Expected kind among \['train-gan', 'gan-benefit'\]"
            with pytest.raises(ValueError, match=expected):
                gan_jobs.gan_jobs(manager, "me", "train-image")
        finally:
            for owner, job in (("me", gan), ("me", benefit), ("someone-else", other)):
                manager.cancel(owner, job.job_id)


def test_suggested_names_are_valid_registry_names():
    config = GanTrainingConfig(image_size=32)
    zip_source = image_sources.zip_image_source("steel parts (v2).zip", parts_zip(1))
    assert gan_jobs.suggested_gan_name(zip_source, config) == "steel-parts-v2-gan32"
    long_source = image_sources.zip_image_source("x" * 90 + ".zip", parts_zip(1))
    long_name = gan_jobs.suggested_gan_name(long_source, GanTrainingConfig(image_size=128))
    assert len(long_name) == 64 and long_name.endswith("-gan128")
    for name in ("steel-parts-v2-gan32", long_name):
        validate_model_name(name)


def test_grid_caption_and_labelled_grid():
    assert gan_jobs.grid_caption(3, ["dent", "ok"]) == (
        "Sample grid after epoch 3. Rows, top to bottom: dent, ok."
    )
    grid = np.zeros((64, 256), dtype=np.uint8)
    labelled = gan_jobs.labelled_grid(grid, ["dent", "ok"])
    assert labelled.dtype == np.uint8
    assert labelled.shape == (64 * 2, 256 * 2 + gan_jobs.LABEL_MARGIN)
    assert labelled[:, : gan_jobs.LABEL_MARGIN].min() == 0, "the class names are written"
    with pytest.raises(ValueError, match=r"one row of images per class \(3\)"):
        gan_jobs.labelled_grid(grid, ["a", "b", "c"])


def test_gan_models_keeps_gans_newest_first():
    registry = FakeRegistry(
        [
            fake_record("alpha", 1, "2026-01-01T10:00:00+00:00"),
            fake_record("classifier", 1, "2026-03-01T10:00:00+00:00", task="classification"),
            fake_record("alpha", 2, "2026-02-01T10:00:00+00:00"),
            fake_record("beta", 1, "2026-01-15T10:00:00+00:00"),
        ]
    )
    references = [record.reference for record in gan_jobs.gan_models(registry)]
    assert references == ["alpha:2", "beta:1", "alpha:1"]


def test_benefit_work_checks_its_settings_and_the_model_before_queueing(tmp_path):
    source = image_sources.zip_image_source("parts.zip", parts_zip(2))
    registry = FakeRegistry(
        [fake_record("parts-gan32", 1, "2026-01-01T10:00:00+00:00"),
         fake_record("classifier", 1, "2026-01-01T10:00:00+00:00", task="classification")]
    )  # fmt: skip
    with pytest.raises(ValueError) as zero:
        gan_jobs.make_benefit_work(source, registry, "parts-gan32:1", real_per_class=0)
    assert str(zero.value) == (
        "Expected real_per_class to be an integer >= 1. Received: real_per_class=0"
    )
    with pytest.raises(ValueError, match=r"Expected seed to be an integer >= 0. Received: seed=-1"):
        gan_jobs.make_benefit_work(source, registry, "parts-gan32:1", seed=-1)
    with pytest.raises(ValueError) as classifier:
        gan_jobs.make_benefit_work(source, registry, "classifier:1")
    assert str(classifier.value) == (
        "Expected a GAN (task 'gan'). Received: model='classifier:1' with task='classification'"
    )
    with pytest.raises(ValueError, match="Expected the name of a model in the registry"):
        gan_jobs.make_benefit_work(source, tmp_path / "empty-registry", "missing")


def test_benefit_work_loads_the_data_at_the_gan_size_and_runs_the_experiment(monkeypatch):
    calls = {}

    def fake_run_gan_benefit(data, registry, reference, **options):
        calls.update(data=data, registry=registry, reference=reference, **options)
        options["listeners"][0].set_message("Training the baseline")
        return report_of()

    monkeypatch.setattr(gan_jobs, "run_gan_benefit", fake_run_gan_benefit)
    registry = FakeRegistry([fake_record("parts-gan32", 1, "2026-01-01T10:00:00+00:00")])
    source = image_sources.zip_image_source("parts.zip", parts_zip(3))
    work = gan_jobs.make_benefit_work(
        source, registry, "parts-gan32:1", real_per_class=2, synthetic_per_class=5,
        training_steps=10, repeats=2, seed=7,
    )  # fmt: skip
    manager = JobManager()
    job = manager.submit("me", gan_jobs.BENEFIT_JOB_KIND, work)
    wait_for_job(manager, job, timeout=60, state="succeeded")
    assert job.result == report_of()
    assert calls["data"].images.shape == (6, 32, 32, 1)
    assert calls["registry"] is registry and calls["reference"] == "parts-gan32:1"
    assert (calls["real_per_class"], calls["synthetic_per_class"]) == (2, 5)
    assert (calls["training_steps"], calls["repeats"], calls["seed"]) == (10, 2, 7)
    assert calls["listeners"] == [job.progress] and calls["cancellation"] is job.cancellation
    assert job.progress.snapshot()["message"] == "Finished"


def test_benefit_rows_give_one_row_per_class():
    rows = gan_jobs.benefit_rows(report_of())
    assert rows == [
        {
            "class": "dent",
            "baseline recall": 0.5,
            "augmented recall": 0.75,
            "difference": 0.25,
            "fidelity agreement": 0.9,
        },
        {
            "class": "ok",
            "baseline recall": 0.7,
            "augmented recall": 0.65,
            "difference": -0.05,
            "fidelity agreement": 0.7,
        },
    ]
    without_extras = {key: value for key, value in report_of().items() if key != "difference"}
    without_extras.pop("fidelity")
    row = gan_jobs.benefit_rows(without_extras)[0]
    assert row["difference"] == pytest.approx(0.25) and row["fidelity agreement"] is None
    with pytest.raises(ValueError, match="Received: missing 'augmented'"):
        gan_jobs.benefit_rows({"classes": ["a"], "baseline": {"per_class_recall": {}}})


def test_failure_message_drops_the_exception_class():
    assert gan_jobs.failure_message("ValueError: Expected 3 test images") == (
        "Expected 3 test images"
    )
    assert gan_jobs.failure_message("no colon here") == "no colon here"
    assert gan_jobs.failure_message("Note: not an error class") == "Note: not an error class"
    assert gan_jobs.failure_message(None) == "unknown error"


def test_zip_preview_shows_the_first_images_of_each_class():
    images = np.stack([np.full((8, 8, 1), value, dtype=np.uint8) for value in range(0, 60, 10)])
    labels = np.array([0, 0, 0, 1, 1, 1])
    data = images_to_zip(images, labels, list(CLASSES))
    preview = gan_jobs.zip_preview(data, per_class=2)
    assert list(preview) == list(CLASSES)
    assert [name for name, _ in preview["ok"]] == ["synthetic_00001.png", "synthetic_00002.png"]
    assert preview["ok"][0][1].shape == (8, 8) and preview["ok"][0][1][0, 0] == 30
    with pytest.raises(ValueError, match=r"Expected a zip archive\. Received: 5 bytes"):
        gan_jobs.zip_preview(b"hello")


def test_benefit_settings_default_to_the_experiment_s_own_defaults():
    import inspect

    from core.decisions.gan_benefit import run_gan_benefit

    parameters = inspect.signature(run_gan_benefit).parameters
    for name, label, default, minimum, maximum in gan_jobs.BENEFIT_SETTINGS:
        assert parameters[name].default == default, name
        assert minimum <= default <= maximum and label
    assert [setting[2] for setting in gan_jobs.BENEFIT_SETTINGS[:2]] == [20, 100]


def test_describe_gan_names_its_size_and_classes():
    record = fake_record("parts-gan32", 3, "2026-01-01T10:00:00+00:00")
    assert gan_jobs.describe_gan(record) == "parts-gan32:3 (32 px, 2 classes)"


def test_grid_display_names_rows_by_class_or_by_number_when_the_names_do_not_fit():
    grid = np.zeros((2 * 16, 8 * 16), dtype=np.uint8)
    image, caption = gan_jobs.grid_display(grid, 2, ["dent", "ok"])
    assert caption == "Sample grid after epoch 2. Rows, top to bottom: dent, ok."
    assert image.shape[0] == 2 * 16 * 4  # Enlarged to at least GRID_DISPLAY_WIDTH.
    _, stale = gan_jobs.grid_display(grid, 1, ["a", "b", "c"])
    assert stale == "Sample grid after epoch 1. Rows, top to bottom: class 1, class 2."

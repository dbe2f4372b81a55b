"""Tests for core/decisions/gan_benefit.py (with core/decisions/gan_benefit_data.py) on a tiny
3-class set of patterns."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from core.data.images import load_images
from core.decisions.gan_benefit_data import (
    check_arguments,
    choose_real_subset,
    epochs_for_steps,
    load_benefit_data,
    mean_summary,
    summary_difference,
)
from core.registry.store import dataset_fingerprint

SIZE = 32
CLASSES = ("dots", "horizontal", "vertical")
IMAGES_PER_CLASS = 12


def pattern_image(label: int, generator: np.random.Generator) -> np.ndarray:
    """Horizontal or vertical stripes, or a grid of dots, with noise."""
    stripes = (np.arange(SIZE) // 4 % 2) * 150.0
    if label == 0:
        pixels = np.outer(stripes, stripes) / 150.0
    elif label == 1:
        pixels = np.tile(stripes[:, None], (1, SIZE))
    else:
        pixels = np.tile(stripes, (SIZE, 1))
    return np.clip(pixels + generator.normal(50, 20, (SIZE, SIZE)), 0, 255).astype(np.uint8)


def write_pattern_folder(root, per_class: int = IMAGES_PER_CLASS):
    """Writes `per_class` PNG images of each of `CLASSES` into class folders under `root`."""
    generator = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            buffer = io.BytesIO()
            Image.fromarray(pattern_image(label, generator)).save(buffer, format="PNG")
            (root / name / f"{name}_{index:02d}.png").write_bytes(buffer.getvalue())
    return root


@pytest.fixture(scope="module")
def pattern_folder(tmp_path_factory):
    return write_pattern_folder(tmp_path_factory.mktemp("patterns") / "patterns")


@pytest.fixture(scope="module")
def pattern_dataset(pattern_folder):
    return load_images(pattern_folder, image_size=(SIZE, SIZE), channels=1)


def gan_metadata(dataset, training_files, **changes) -> dict:
    """The fields of GAN metadata that the data checks read."""
    metadata = {
        "task": "gan",
        "classes": list(dataset.class_names),
        "preprocessing": {"image_size": [SIZE, SIZE], "channels": 1},
        "dataset_fingerprint": dataset_fingerprint(
            zip(dataset.filenames, (dataset.class_names[i] for i in dataset.labels), strict=True)
        ),
        "extra": {"training_files": list(training_files)},
    }
    metadata.update(changes)
    return metadata


def test_test_set_is_every_image_the_gan_did_not_train_on(pattern_dataset):
    names = pattern_dataset.filenames
    training_files = [name for name in names if not name.endswith(("_00.png", "_01.png"))]
    prepared = load_benefit_data(pattern_dataset, gan_metadata(pattern_dataset, training_files))
    test_names = {names[index] for index in prepared.test_indices}
    assert len(test_names) == 2 * len(CLASSES)
    assert not test_names & set(training_files)
    assert prepared.trained_mask.sum() == len(training_files)
    assert prepared.notes == []


def test_test_set_is_the_gans_held_out_list_when_it_has_one(pattern_dataset):
    names = pattern_dataset.filenames
    training_files = [name for name in names if name.endswith(("_00.png", "_01.png"))]
    holdout_files = [name for name in names if name.endswith(("_10.png", "_11.png"))]
    metadata = gan_metadata(pattern_dataset, training_files)
    metadata["extra"]["holdout_files"] = holdout_files
    prepared = load_benefit_data(pattern_dataset, metadata)
    assert {names[index] for index in prepared.test_indices} == set(holdout_files)
    # The images neither trained on nor held out stay out of the test set (the judge's pool).
    assert (~prepared.test_mask & ~prepared.trained_mask).sum() == 8 * len(CLASSES)


def test_other_data_than_the_gans_adds_a_note(pattern_dataset):
    names = pattern_dataset.filenames[::2]
    metadata = gan_metadata(pattern_dataset, names, dataset_fingerprint="sha256:" + "1" * 64)
    prepared = load_benefit_data(pattern_dataset, metadata)
    assert len(prepared.notes) == 1
    assert "differ from the data the GAN was trained on" in prepared.notes[0]


def test_refuses_data_the_gan_trained_on_entirely(pattern_dataset):
    all_but_one = pattern_dataset.filenames[1:]
    with pytest.raises(ValueError) as error:
        load_benefit_data(pattern_dataset, gan_metadata(pattern_dataset, all_but_one))
    message = str(error.value)
    assert "Expected at least 2 images per class that the GAN did not train on" in message
    assert "`python -m core train gan --holdout 0.25`" in message
    assert "Received: unseen images per class {'dots': 1, 'horizontal': 0, 'vertical': 0}" in (
        message
    )


def test_refuses_classes_other_than_the_gans(pattern_dataset):
    metadata = gan_metadata(pattern_dataset, [], classes=["dots", "scratch"])
    with pytest.raises(ValueError) as error:
        load_benefit_data(pattern_dataset, metadata)
    assert str(error.value) == (
        "Expected the data's classes to equal the GAN's classes ['dots', 'scratch']. "
        "Received: data classes ['dots', 'horizontal', 'vertical']"
    )


def test_refuses_images_of_another_size(pattern_folder, pattern_dataset):
    metadata = gan_metadata(pattern_dataset, [])
    metadata["preprocessing"]["image_size"] = [64, 64]
    with pytest.raises(ValueError, match=r"Expected grayscale images of 64x64 pixels, the GAN's"):
        load_benefit_data(pattern_dataset, metadata)
    # A path is loaded at the GAN's size instead, so it passes the check.
    assert load_benefit_data(pattern_folder, metadata).dataset.images.shape[1:] == (64, 64, 1)


def test_real_subset_prefers_gan_seen_images_and_never_takes_test_images():
    labels = np.repeat([0, 1], 10)
    test_mask = np.zeros(20, bool)
    test_mask[[0, 1, 10, 11]] = True
    trained_mask = np.zeros(20, bool)
    trained_mask[[2, 3, 4, 12, 13, 14, 15, 16, 17, 18]] = True
    chosen, available = choose_real_subset(labels, test_mask, trained_mask, 5, 0, 2)
    assert available == {0: 8, 1: 8}
    assert not test_mask[chosen].any()
    class_0 = chosen[labels[chosen] == 0]
    class_1 = chosen[labels[chosen] == 1]
    assert len(class_0) == 5 and {2, 3, 4} <= set(class_0), "all 3 seen images, then 2 others"
    assert trained_mask[class_1].all(), "7 seen images: the 5 chosen are all seen ones"
    again, _ = choose_real_subset(labels, test_mask, trained_mask, 5, 0, 2)
    other_seed, _ = choose_real_subset(labels, test_mask, trained_mask, 5, 1, 2)
    assert np.array_equal(chosen, again)
    assert not np.array_equal(chosen, other_seed)
    few, _ = choose_real_subset(labels, test_mask, trained_mask, 50, 0, 2)
    assert len(few) == 16


@pytest.mark.parametrize(
    ("images", "batch_size", "steps", "expected"),
    [(100, 32, 600, (150, 4)), (600, 32, 600, (32, 19)), (1, 32, 7, (7, 1)), (64, 32, 1, (1, 2))],
)
def test_equal_steps_give_each_arm_its_epochs(images, batch_size, steps, expected):
    epochs, steps_per_epoch = epochs_for_steps(images, batch_size, steps)
    assert (epochs, steps_per_epoch) == expected
    assert epochs * steps_per_epoch >= steps > (epochs - 1) * steps_per_epoch


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((0, 100, 600, 1, 0), "Expected real_per_class to be an integer >= 1. Received: "),
        ((20, 5001, 600, 1, 0), "Expected synthetic_per_class to be an integer in [1, 5000]."),
        ((20, 100, 0, 1, 0), "Expected training_steps to be an integer in [1, 100000]."),
        ((20, 100, 600, 2.0, 0), "Expected repeats to be an integer in [1, 20]. Received: "),
        ((20, 100, 600, 1, -1), "Expected seed to be an integer >= 0. Received: seed=-1"),
    ],
)
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError) as error:
        check_arguments(*arguments)
    assert str(error.value).startswith(message)


def test_means_and_differences_over_runs():
    runs = [
        {"accuracy": 0.5, "macro_f1": 0.4, "per_class_recall": {"a": 1.0, "b": 0.0}},
        {"accuracy": 0.7, "macro_f1": 0.6, "per_class_recall": {"a": 0.5, "b": 0.5}},
    ]
    baseline = mean_summary(runs, ["a", "b"])
    assert (baseline["accuracy"], baseline["macro_f1"]) == pytest.approx((0.6, 0.5))
    assert baseline["per_class_recall"] == pytest.approx({"a": 0.75, "b": 0.25})
    augmented = mean_summary(runs[1:], ["a", "b"])
    difference = summary_difference(augmented, baseline)
    assert difference["accuracy"] == pytest.approx(0.1)
    assert difference["per_class_recall"] == pytest.approx({"a": -0.25, "b": 0.25})
    assert mean_summary([], ["a"]) is None
    assert summary_difference(None, baseline) is None


@pytest.fixture(scope="module")
def trained_gan(pattern_folder, tmp_path_factory):
    """A 1-epoch GAN on the patterns, 3 of 12 images per class held out, in a fresh registry."""
    from core.engine.gan_training import GanTrainingConfig, run_gan_training, save_gan_run
    from core.registry.store import ModelRegistry

    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    config = GanTrainingConfig(image_size=SIZE, epochs=1, batch_size=8, latent_dim=16)
    result = run_gan_training(pattern_folder, config)
    record = save_gan_run(result, registry, "patterns-gan")
    return registry, record


class Recorder:
    """Records phase messages and training starts; cancels on a chosen phase."""

    def __init__(self, cancellation=None, cancel_on: str | None = None):
        self.messages = []
        self.trainings = []
        self.cancellation = cancellation
        self.cancel_on = cancel_on

    def set_message(self, text):
        self.messages.append(text)
        if self.cancel_on and text.startswith(self.cancel_on):
            self.cancellation.cancel()

    def on_train_begin(self, total_epochs, steps_per_epoch):
        self.trainings.append((total_epochs, steps_per_epoch))


@pytest.mark.slow
def test_tiny_run_reports_every_contract_key(pattern_folder, trained_gan):
    from core.decisions.gan_benefit import run_gan_benefit

    registry, record = trained_gan
    recorder = Recorder()
    report = run_gan_benefit(
        pattern_folder,
        registry,
        "patterns-gan",
        real_per_class=4,
        synthetic_per_class=10,
        training_steps=3,
        repeats=2,
        seed=5,
        listeners=[recorder],
    )
    json.dumps(report, allow_nan=False)
    assert report["gan"] == record.reference == "patterns-gan:1"
    assert report["classes"] == list(CLASSES)
    assert report["image_size"] == SIZE
    assert (report["real_per_class"], report["synthetic_per_class"]) == (4, 10)
    assert report["training_steps"] == 3
    assert report["gan_trained_per_class"] == dict.fromkeys(CLASSES, 9)
    assert report["test_per_class"] == dict.fromkeys(CLASSES, 3)
    assert report["test_count"] == 9
    held_out = set(record.metadata["extra"]["holdout_files"])
    assert not held_out & set(record.metadata["extra"]["training_files"])
    assert len(held_out) == report["test_count"], "the test set is exactly the held-out images"
    for arm in ("baseline", "augmented"):
        assert 0 <= report[arm]["accuracy"] <= 1
        assert 0 <= report[arm]["macro_f1"] <= 1
        assert set(report[arm]["per_class_recall"]) == set(CLASSES)
        assert all(0 <= value <= 1 for value in report[arm]["per_class_recall"].values())
    difference = report["difference"]
    assert difference["accuracy"] == pytest.approx(
        report["augmented"]["accuracy"] - report["baseline"]["accuracy"]
    )
    for name in CLASSES:
        assert difference["per_class_recall"][name] == pytest.approx(
            report["augmented"]["per_class_recall"][name]
            - report["baseline"]["per_class_recall"][name]
        )
    assert [run["seed"] for run in report["runs"]] == [5, 6]
    assert report["baseline"]["accuracy"] == pytest.approx(
        np.mean([run["baseline_accuracy"] for run in report["runs"]])
    )
    first = report["runs"][0]
    assert (first["baseline_images"], first["augmented_images"]) == (12, 42)
    assert (first["baseline_epochs"], first["augmented_epochs"]) == (3, 2)
    assert first["baseline_steps"] >= 3 and first["augmented_steps"] >= 3
    fidelity = report["fidelity"]
    assert 0 <= fidelity["judge_test_accuracy"] <= 1
    assert 0 <= fidelity["agreement"] <= 1
    assert set(fidelity["per_class_agreement"]) == set(CLASSES)
    assert [sum(row) for row in fidelity["confusion"]] == [10, 10, 10]
    assert fidelity["judge_training_images"] == 27
    assert report["cancelled"] is False
    assert report["seconds"] > 0
    assert any("The GAN trained on 9 real images per class, the baseline on 4" in note
               for note in report["notes"])  # fmt: skip
    assert any("ran about 3 gradient steps" in note for note in report["notes"])
    assert recorder.messages[1:] == [
        "Arm (a) run 1 of 2: real only",
        "Arm (b) run 1 of 2: real + synthetic",
        "Arm (a) run 2 of 2: real only",
        "Arm (b) run 2 of 2: real + synthetic",
        "Fidelity judge: training on 27 real images",
        "Done",
    ]
    assert recorder.trainings == [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cancel_on", "runs", "has_fidelity"), [("Arm (a)", 0, False), ("Fidelity", 1, False)]
)
def test_cancelled_run_returns_what_finished(
    pattern_folder, trained_gan, cancel_on, runs, has_fidelity
):
    from core.decisions.gan_benefit import run_gan_benefit
    from core.engine.progress import CancellationToken

    registry, _ = trained_gan
    cancellation = CancellationToken()
    recorder = Recorder(cancellation, cancel_on)
    report = run_gan_benefit(
        pattern_folder,
        registry,
        "patterns-gan",
        real_per_class=4,
        synthetic_per_class=2,
        training_steps=2,
        listeners=[recorder],
        cancellation=cancellation,
    )
    assert report["cancelled"] is True
    assert len(report["runs"]) == runs
    assert (report["fidelity"] is not None) == has_fidelity
    assert (report["baseline"] is None) == (runs == 0)
    assert (report["difference"] is None) == (runs == 0)
    assert f"Cancelled: {runs} of 1 runs finished, no fidelity check" in report["notes"][-1]
    assert recorder.messages[-1] == "Cancelled"


@pytest.mark.slow
def test_refuses_a_model_that_is_not_a_gan(pattern_folder, tmp_path):
    from core.decisions.gan_benefit import run_gan_benefit
    from core.registry.store import ModelRegistry
    from tests.helpers.registry import make_metadata, make_model

    registry = ModelRegistry(tmp_path / "registry")
    registry.save(make_model(), "classifier", make_metadata())
    with pytest.raises(ValueError) as error:
        run_gan_benefit(pattern_folder, registry, "classifier")
    assert str(error.value) == (
        "Expected a GAN (task 'gan'). Received: model='classifier:1' with "
        "task='image_classification'"
    )

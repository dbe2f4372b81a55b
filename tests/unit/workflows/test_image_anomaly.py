"""Tests for core/workflows/image_anomaly.py (with core/engine/image_anomaly_fitting.py and
core/metrics/image_anomaly.py): config, real tiny runs of both methods, threshold, metrics,
masks, metadata and the registry round trip."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

from core.data.images import ImageDataset  # noqa: E402
from core.engine.progress import CancellationToken  # noqa: E402
from core.inference.image_anomaly import ImageAnomalyPredictor  # noqa: E402
from core.metrics.image_anomaly import anomaly_threshold, pixel_auroc  # noqa: E402
from core.registry.metadata import validate_metadata  # noqa: E402
from core.registry.store import ModelRegistry  # noqa: E402
from core.workflows.image_anomaly import (  # noqa: E402
    ImageAnomalyConfig,
    image_anomaly_metadata,
    run_image_anomaly_training,
    save_image_anomaly_run,
)

SIZE = 32
CLASSES = ("blob", "ok", "streak")
# Top-left corner and size of the dark defect in each defect image.
DEFECT_AT = {"blob": (slice(10, 18), slice(12, 20)), "streak": (slice(4, 28), slice(15, 18))}


def surface(generator: np.random.Generator) -> np.ndarray:
    """A good part: a gray level, a gentle gradient and sensor noise."""
    rows = np.linspace(0, 1, SIZE)[:, None]
    image = 120 + 20 * generator.uniform(-1, 1) * rows + generator.normal(0, 6, (SIZE, SIZE))
    return image


def make_parts(per_class: int = 14, seed: int = 0) -> tuple[ImageDataset, np.ndarray]:
    """A labelled data set of 32 px parts, and the true defect mask of each image."""
    generator = np.random.default_rng(seed)
    images, labels, names, masks = [], [], [], []
    for label, name in enumerate(CLASSES):
        for index in range(per_class):
            image = surface(generator)
            mask = np.zeros((SIZE, SIZE), dtype=bool)
            if name in DEFECT_AT:
                mask[DEFECT_AT[name]] = True
                image[mask] = 30
            images.append(np.clip(image, 0, 255).astype(np.uint8)[..., None])
            labels.append(label)
            names.append(f"{name}/{name}_{index:03d}.png")
            masks.append(mask)
    dataset = ImageDataset(
        np.stack(images),
        np.array(labels, dtype=np.int32),
        list(CLASSES),
        names,
        [(SIZE, SIZE)] * len(names),
        [],
        "parts",
    )
    return dataset, np.stack(masks)


def write_masks(folder, dataset: ImageDataset, masks: np.ndarray) -> None:
    """Writes a PNG mask (white = defect) for every defect image, named like the image."""
    for name, label, mask in zip(dataset.filenames, dataset.labels, masks, strict=True):
        if CLASSES[label] == "ok":
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def tiny_config(**changes) -> ImageAnomalyConfig:
    return ImageAnomalyConfig(
        **{"image_size": SIZE, "epochs": 3, "batch_size": 8, "validation_fraction": 0.2,
           "test_fraction": 0.2, **changes}
    )  # fmt: skip


@pytest.fixture(scope="module")
def parts():
    return make_parts()


@pytest.fixture(scope="module")
def gaussian_run(parts, tmp_path_factory):
    dataset, masks = parts
    folder = tmp_path_factory.mktemp("masks")
    write_masks(folder, dataset, masks)
    return run_image_anomaly_training(dataset, tiny_config(), masks=folder)


@pytest.fixture(scope="module")
def autoencoder_run(parts):
    return run_image_anomaly_training(parts[0], tiny_config(method="autoencoder"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "autoencodr"}, "Expected `method` to be one of ['autoencoder', "),
        ({"good_class": "anomaly"}, "Expected `good_class` to be a class name other than"),
        ({"image_size": 30}, "Expected `input_shape` to be (height, width, channels) with sides"),
        ({"image_size": "64"}, "Expected `image_size` to be an integer. Received: image_size="),
        ({"channels": 2}, "Expected `channels` to be 1 or 3. Received: channels=2"),
        ({"epochs": 0}, "Expected `epochs` to be an integer >= 1. Received: epochs=0"),
        ({"learning_rate": 0}, "Expected `learning_rate` to be a number in (0, 1]"),
        ({"flips": "yes"}, "Expected `flips` to be True or False. Received: flips='yes'"),
        ({"threshold_quantile": 0.2}, "Expected `threshold_quantile` to be a number in [0.5, 1]"),
        ({"validation_fraction": 0}, "Expected `validation_fraction` to be a number in (0, 1)"),
        ({"test_fraction": 0.6, "validation_fraction": 0.5}, "Expected `validation_fraction + "),
    ],
)
def test_config_names_the_bad_field(changes, message):
    with pytest.raises(ValueError) as error:
        ImageAnomalyConfig(**changes).validate()
    assert message in str(error.value)


def test_config_round_trips_and_rejects_unknown_keys():
    config = ImageAnomalyConfig(method="autoencoder", epochs=7)
    assert ImageAnomalyConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"Received unknown keys: \['colour'\]"):
        ImageAnomalyConfig.from_dict({"colour": 1})


def test_threshold_is_the_quantile_and_scale_the_spread():
    scores = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    threshold, scale = anomaly_threshold(scores, 0.9)
    assert threshold == pytest.approx(np.quantile(scores, 0.9)) == pytest.approx(7.6)
    assert scale == pytest.approx(np.std(scores))
    assert anomaly_threshold(np.array([5.0, 5.0]), 0.99) == (5.0, 0.5)
    with pytest.raises(ValueError, match="Expected at least one finite score of a good"):
        anomaly_threshold(np.array([]), 0.99)


def test_pixel_auroc_ranks_defect_pixels():
    masks = np.zeros((2, 2, 2), dtype=bool)
    masks[0, 0, 0] = True
    maps = np.array([[[0.9, 0.1], [0.2, 0.3]], [[0.5, 0.4], [0.0, 0.1]]])
    assert pixel_auroc(maps, masks) == 1.0
    assert pixel_auroc(-maps, masks) == 0.0
    with pytest.raises(ValueError, match=r"Received: maps.shape=\(2, 2, 2\), masks.shape=\(2, 4\)"):
        pixel_auroc(maps, masks.reshape(2, 4))


def test_unknown_good_class_lists_the_classes(parts):
    with pytest.raises(ValueError) as error:
        run_image_anomaly_training(parts[0], tiny_config(good_class="good"))
    assert str(error.value) == (
        "Expected the good class to be one of the classes found in the data "
        "['blob', 'ok', 'streak'] (the data must hold defect-free images). "
        "Received: good_class='good'"
    )


def test_data_without_good_images_or_without_defects_is_refused(parts):
    dataset = parts[0]
    defects_only = dataclasses.replace(
        dataset, labels=np.where(dataset.labels == 1, 0, dataset.labels).astype(np.int32)
    )
    defects_only.class_names = ["blob", "missing", "streak"]
    keep = dataset.labels == 1
    good_only = ImageDataset(
        dataset.images[keep], np.zeros(keep.sum(), np.int32), ["ok"],
        [name for name, kept in zip(dataset.filenames, keep, strict=True) if kept],
        [(SIZE, SIZE)] * int(keep.sum()), [], "ok-only",
    )  # fmt: skip
    without_good = ImageDataset(
        dataset.images[~keep], dataset.labels[~keep] // 2, ["blob", "streak"],
        [name for name, kept in zip(dataset.filenames, keep, strict=True) if not kept],
        [(SIZE, SIZE)] * int((~keep).sum()), [], "defects-only",
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"classes found in the data \['blob', 'streak'\]"):
        run_image_anomaly_training(without_good, tiny_config())
    # Good parts alone train a detector and set its threshold; with no defect to test on, the
    # image AUROC and defect recall are unknown, not made up.
    result = run_image_anomaly_training(good_only, tiny_config())
    assert result.metrics["image_auroc"] is None and result.metrics["defect_recall"] is None
    assert 0.0 <= result.metrics["false_reject_rate"] <= 1.0
    assert result.threshold > 0


def test_masks_without_any_defect_mask_are_refused(parts, tmp_path):
    with pytest.raises(ValueError) as error:
        run_image_anomaly_training(parts[0], tiny_config(), masks=tmp_path)
    assert "Expected defect masks (white = defect) for some defect test images" in str(error.value)
    assert "Received: 0 of 6 defect test images have a mask" in str(error.value)


def test_images_of_another_size_are_refused(parts):
    with pytest.raises(ValueError, match=r"Expected images of 64x64 pixels with 1 channel"):
        run_image_anomaly_training(parts[0], tiny_config(image_size=64))


@pytest.mark.slow
def test_feature_gaussian_run_separates_defects_and_sets_the_threshold(gaussian_run, parts):
    result = gaussian_run
    dataset = parts[0]
    assert (len(result.train_indices), len(result.validation_indices)) == (24, 9)
    is_good = dataset.labels[result.test_indices] == 1
    assert result.test_scores[~is_good].mean() > result.test_scores[is_good].mean()
    assert result.metrics["image_auroc"] > 0.9
    assert result.metrics["pixel_auroc"] > 0.8
    assert result.metrics["pixel_auroc_images"] == len(result.test_indices)
    good_validation = result.validation_indices[dataset.labels[result.validation_indices] == 1]
    assert len(result.validation_scores) == len(good_validation) == 3
    assert result.threshold == pytest.approx(np.quantile(result.validation_scores, 0.99))
    assert result.metrics["threshold"] == result.threshold
    flagged = result.test_scores >= result.threshold
    assert result.metrics["false_reject_rate"] == pytest.approx(flagged[is_good].mean())
    assert result.metrics["defect_recall"] == pytest.approx(flagged[~is_good].mean())
    evaluation = result.metrics["evaluation"]
    assert evaluation["class_names"] == ["ok", "anomaly"]
    assert np.sum(evaluation["confusion_matrix"]) == len(result.test_indices)
    assert sorted(result.metrics["defect_class_auroc"]) == ["blob", "streak"]
    assert (result.epochs_run, result.history) == (1, {})


@pytest.mark.slow
def test_autoencoder_run_trains_on_good_images_and_separates_defects(autoencoder_run, parts):
    result = autoencoder_run
    is_good = parts[0].labels[result.test_indices] == 1
    assert result.test_scores[~is_good].mean() > result.test_scores[is_good].mean()
    assert result.epochs_run == 3 and len(result.history["val_loss"]) == 3
    assert result.best_epoch in (1, 2, 3)
    assert result.threshold == pytest.approx(np.quantile(result.validation_scores, 0.99))
    assert "pixel_auroc" not in result.metrics


@pytest.mark.slow
@pytest.mark.parametrize("run", ["gaussian_run", "autoencoder_run"])
def test_metadata_validates_and_round_trips_through_the_registry(run, request, tmp_path):
    result = request.getfixturevalue(run)
    metadata = image_anomaly_metadata(result)
    assert validate_metadata({**metadata, "created_at": "2026-01-01T00:00:00+00:00",
                              "tensorflow_version": "2", "keras_version": "3"})  # fmt: skip
    assert metadata["classes"] == ["ok", "anomaly"]
    assert metadata["input_shape"] == [SIZE, SIZE, 1]
    config = metadata["training_config"]
    assert config["method"] == result.config.method and config["good_class"] == "ok"
    assert (config["seed"], config["validation_fraction"], config["test_fraction"]) == (0, 0.2, 0.2)
    extra = metadata["extra"]
    assert extra["threshold"] == result.threshold and extra["score_scale"] > 0
    assert (extra["good_class"], extra["defect_classes"]) == ("ok", ["blob", "streak"])
    assert extra["dataset"]["split"] == {"train": 24, "validation": 9, "test": 9}

    registry = ModelRegistry(tmp_path / "registry")
    record = save_image_anomaly_run(result, registry, "parts-anomaly", owner="lena")
    assert result.record is record and record.metadata["task"] == "image_anomaly"
    model, loaded = registry.load("parts-anomaly")
    predictor = ImageAnomalyPredictor.from_registry_record(model, loaded)
    images = result.dataset.images[result.test_indices]
    np.testing.assert_allclose(predictor.scores(images), result.test_scores, rtol=1e-5)
    assert predictor.threshold == result.threshold


@pytest.mark.slow
def test_progress_and_cancellation(parts):
    class Recorder:
        def __init__(self):
            self.events = []

        def on_train_begin(self, total_epochs, steps_per_epoch):
            self.events.append(("begin", total_epochs, steps_per_epoch))

        def on_epoch_end(self, epoch, logs):
            self.events.append(("epoch", epoch))

        def on_train_end(self, logs):
            self.events.append(("end", logs["epochs_run"], logs["cancelled"]))

    recorder = Recorder()
    token = CancellationToken()
    token.cancel()
    result = run_image_anomaly_training(
        parts[0],
        tiny_config(method="autoencoder", epochs=5),
        listeners=[recorder],
        cancellation=token,
    )
    assert result.cancelled and result.epochs_run == 1
    assert recorder.events[0] == ("begin", 5, 1), "8 good training images, batches of 8"
    assert recorder.events[-1] == ("end", 1, True)

"""Tests for core/engine/image_streaming.py (with core/workflows/image_streamed.py): tf.data from
files, the streaming run and `should_stream`."""

import io

import numpy as np
import pytest
from PIL import Image

from core.data.image_files import load_image_files
from core.data.images import load_images
from core.data.splits import stratified_split
from core.engine.image_pipeline import compute_class_weights
from core.engine.image_streaming import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    estimate_decoded_bytes,
    make_file_dataset,
    predict_image_files,
    should_stream,
)
from core.engine.image_training import ImageTrainingConfig
from core.registry.metadata import image_dataset_fingerprint
from core.registry.store import ModelRegistry
from core.workflows.image import save_image_run
from core.workflows.image_streamed import run_streaming_image_training

SIZE = 16


def stripe_image(label: int, generator: np.random.Generator) -> np.ndarray:
    pattern = (np.arange(SIZE) // 2 % 2) * 160.0
    grid = np.tile(pattern[:, None], (1, SIZE)) if label == 0 else np.tile(pattern, (SIZE, 1))
    return np.clip(grid + generator.normal(40, 30, (SIZE, SIZE)), 0, 255).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_stripes(root, per_class: int) -> None:
    generator = np.random.default_rng(0)
    for label, class_name in enumerate(("horizontal", "vertical")):
        (root / class_name).mkdir(parents=True)
        for index in range(per_class):
            pixels = stripe_image(label, generator)
            (root / class_name / f"{class_name}_{index}.png").write_bytes(png_bytes(pixels))


@pytest.fixture
def stripes_folder(tmp_path):
    root = tmp_path / "stripes"
    write_stripes(root, per_class=30)
    return root


@pytest.fixture
def small_folder(tmp_path):
    """Ten 20x12 RGB images in two classes: 6 'a', 4 'b'."""
    generator = np.random.default_rng(1)
    root = tmp_path / "small"
    for class_name, count in (("a", 6), ("b", 4)):
        (root / class_name).mkdir(parents=True)
        for index in range(count):
            pixels = generator.integers(0, 256, (12, 20, 3), dtype=np.uint8)
            (root / class_name / f"{index}.png").write_bytes(png_bytes(pixels))
    return root


def tiny_config(**changes) -> ImageTrainingConfig:
    values = {"model": "seed_cnn", "epochs": 3, "batch_size": 8, "image_size": (SIZE, SIZE)}
    return ImageTrainingConfig(**{**values, **changes})


def test_batches_hold_the_in_memory_loader_pixels(small_folder):
    files = load_image_files(small_folder, image_size=(8, 10), channels=3)
    in_memory = load_images(small_folder, image_size=(8, 10), channels=3)
    weights = compute_class_weights(files.labels, 2)
    dataset = make_file_dataset(
        files.paths,
        files.labels,
        4,
        image_size=(8, 10),
        channels=3,
        shuffle=False,
        class_weights=weights,
    )
    assert dataset.element_spec[0].shape.as_list() == [None, 8, 10, 3]
    batches = list(dataset)
    assert [len(batch[0]) for batch in batches] == [4, 4, 2]
    images, labels, sample_weights = batches[0]
    assert images.dtype.name == "float32"
    assert labels.dtype.name == "int32"
    np.testing.assert_array_equal(images.numpy(), in_memory.images[:4].astype(np.float32))
    pixels = np.concatenate([batch[0].numpy() for batch in batches])
    np.testing.assert_array_equal(pixels, in_memory.images.astype(np.float32))
    np.testing.assert_array_equal(
        np.concatenate([batch[1].numpy() for batch in batches]), in_memory.labels
    )
    np.testing.assert_allclose(sample_weights.numpy(), [10 / 12] * 4)
    np.testing.assert_allclose(batches[-1][2].numpy(), [10 / 8] * 2)


def test_pipeline_starts_from_file_paths(small_folder, monkeypatch):
    import tensorflow as tf

    sliced = []
    from_tensor_slices = tf.data.Dataset.from_tensor_slices

    def recording_slices(tensors, name=None):
        sliced.append(tensors)
        return from_tensor_slices(tensors, name=name)

    monkeypatch.setattr(tf.data.Dataset, "from_tensor_slices", recording_slices)
    files = load_image_files(small_folder, image_size=(8, 10))
    make_file_dataset(files.paths, files.labels, 4, image_size=(8, 10), channels=1, shuffle=True)
    ((paths, labels),) = sliced
    assert paths.dtype == tf.string
    assert paths.shape == (10,)
    assert [path.decode() for path in paths.numpy()] == files.paths
    assert labels.shape == (10,)


def test_shuffle_is_seeded_and_changes_each_epoch(small_folder):
    files = load_image_files(small_folder, image_size=(8, 10))

    def epoch_orders(seed):
        dataset = make_file_dataset(
            files.paths, np.arange(10), 10, image_size=(8, 10), channels=1, shuffle=True, seed=seed
        )
        return [next(iter(dataset))[1].numpy().tolist() for _ in range(2)]

    first, second = epoch_orders(seed=3)
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second
    assert epoch_orders(seed=3) == [first, second]


def test_a_file_broken_after_the_check_stops_with_its_reason(small_folder):
    import tensorflow as tf

    files = load_image_files(small_folder, image_size=(8, 10))
    (small_folder / "a" / "0.png").write_bytes(b"")
    dataset = make_file_dataset(files.paths, None, 4, image_size=(8, 10), channels=1, shuffle=False)
    with pytest.raises(tf.errors.OpError, match=r"Expected a non-empty image file\. Received: "):
        list(dataset)


class MeanPredictor:
    """Stands in for an `ImagePredictor`: 'probabilities' carry each image's mean pixel."""

    class_names = ("dark", "light")
    image_size = (8, 10)
    channels = 1

    def __init__(self):
        self.batch_sizes = []

    def predict_arrays(self, images):
        self.batch_sizes.append(len(images))
        assert images.dtype == np.uint8
        light = images.mean(axis=(1, 2, 3)) / 255.0
        return np.stack([1 - light, light], axis=1).astype(np.float32)


def test_predict_image_files_keeps_order_in_small_batches(small_folder):
    files = load_image_files(small_folder, image_size=(8, 10))
    in_memory = load_images(small_folder, image_size=(8, 10))
    predictor = MeanPredictor()
    probabilities = predict_image_files(predictor, files.paths, batch_size=4)
    assert predictor.batch_sizes == [4, 4, 2]
    np.testing.assert_allclose(
        probabilities[:, 1], in_memory.images.mean(axis=(1, 2, 3)) / 255.0, rtol=1e-5
    )
    assert predict_image_files(predictor, []).shape == (0, 2)


def test_should_stream_compares_the_decoded_size_with_the_budget(small_folder, tmp_path):
    config = ImageTrainingConfig(image_size=(8, 10), channels=3)
    assert estimate_decoded_bytes(small_folder, config) == 10 * 8 * 10 * 3
    assert should_stream(small_folder, config, memory_budget_bytes=2400) is False
    assert should_stream(small_folder, config, memory_budget_bytes=2399) is True
    assert should_stream(small_folder, config) is False
    assert DEFAULT_MEMORY_BUDGET_BYTES == 256 * 1024**2
    archive = tmp_path / "parts.zip"
    archive.write_bytes(b"PK\x03\x04")
    assert should_stream(archive, config, memory_budget_bytes=1) is False
    with pytest.raises(ValueError) as error:
        should_stream(small_folder, config, memory_budget_bytes=0)
    assert str(error.value) == (
        "Expected memory_budget_bytes as an integer >= 1. Received: memory_budget_bytes=0"
    )
    with pytest.raises(ValueError, match=r"^Expected a folder of class subfolders"):
        should_stream(tmp_path / "nowhere", config)


@pytest.mark.slow
def test_streaming_run_trains_evaluates_and_registers(stripes_folder, tmp_path):
    config = tiny_config()
    result = run_streaming_image_training(stripes_folder, config)
    in_memory = load_images(stripes_folder, image_size=(SIZE, SIZE))
    assert not hasattr(result.dataset, "images")
    assert result.training.epochs_run == 3
    assert set(result.training.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    expected_split = stratified_split(
        in_memory.labels,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    for indices, expected in zip(
        (result.train_indices, result.validation_indices, result.test_indices),
        expected_split,
        strict=True,
    ):
        np.testing.assert_array_equal(indices, expected)
    assert result.evaluation["count"] == len(result.test_indices) == 8
    assert result.evaluation["accuracy"] >= 0.8
    misclassified = {item["name"] for item in result.evaluation["misclassified"]}
    assert misclassified <= {result.dataset.filenames[index] for index in result.test_indices}

    record = save_image_run(result, ModelRegistry(tmp_path / "registry"), "stripes")
    assert record.reference == "stripes:1"
    assert record.metadata["dataset_fingerprint"] == image_dataset_fingerprint(in_memory)
    assert record.metadata["extra"]["dataset"]["split"] == {
        "train": 44,
        "validation": 8,
        "test": 8,
    }
    assert record.metadata["metrics"]["test_count"] == 8

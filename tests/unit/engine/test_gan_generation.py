"""Tests for core/engine/gan_generation.py: grids, seeded generation, the class-folder zip."""

import io
import zipfile

import numpy as np
import pytest

from tests.helpers.registry import make_metadata, make_model

keras = pytest.importorskip("keras")

from core.data.images import load_image_zip  # noqa: E402
from core.engine.gan_generation import (  # noqa: E402
    generate_images,
    generate_zip,
    images_to_zip,
    load_generator,
    sample_grid,
)
from core.models.gan import build_generator  # noqa: E402
from core.registry.store import ModelRegistry  # noqa: E402

CLASSES = ["ok", "pit", "scratch"]


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)
    return build_generator(latent_dim=8, number_of_classes=3, image_size=32)


@pytest.fixture
def registry_with_gan(tmp_path, generator):
    registry = ModelRegistry(tmp_path / "registry")
    metadata = make_metadata(
        task="gan",
        classes=CLASSES,
        input_shape=[8],
        preprocessing={"image_size": [32, 32], "channels": 1, "latent_dim": 8},
    )
    registry.save(generator, "surface-gan", metadata)
    return registry


def test_generate_images_is_class_by_class_and_seeded(generator):
    images, labels = generate_images(generator, [2, 0], per_class=3, seed=5)
    assert images.shape == (6, 32, 32, 1) and images.dtype == np.uint8
    assert labels.tolist() == [2, 2, 2, 0, 0, 0]
    again, _ = generate_images(generator, [2, 0], per_class=3, seed=5)
    other, _ = generate_images(generator, [2, 0], per_class=3, seed=6)
    assert np.array_equal(images, again)
    assert not np.array_equal(images, other)


def test_generate_images_in_several_batches_matches_one_batch(generator):
    one, _ = generate_images(generator, [0, 1], per_class=5, seed=1)
    several, _ = generate_images(generator, [0, 1], per_class=5, seed=1, batch_size=3)
    assert np.abs(one.astype(int) - several.astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"per_class": 0}, "Expected per_class to be a positive integer. Received: per_class=0"),
        ({"class_indices": [0, 3]}, "Expected class indices in [0, 3). Received: [3]"),
    ],
)
def test_generate_images_refuses_bad_requests(generator, arguments, message):
    values = {"class_indices": [0], "per_class": 2, **arguments}
    with pytest.raises(ValueError) as error:
        generate_images(generator, values["class_indices"], values["per_class"])
    assert str(error.value) == message


def test_sample_grid_has_one_row_per_class(generator):
    grid = sample_grid(generator, 3, columns=4)
    assert grid.shape == (3 * 32, 4 * 32) and grid.dtype == np.uint8
    images, _ = generate_images(generator, [0, 1, 2], per_class=4, seed=1234)
    assert np.array_equal(grid[32:64, 32:64], images[4 + 1, :, :, 0])  # class 1, column 1


def test_zip_uses_class_folders_the_image_loader_accepts(generator):
    images, labels = generate_images(generator, [0, 2], per_class=3)
    data = images_to_zip(images, labels, CLASSES)
    names = sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert names[0] == "ok/synthetic_00001.png" and names[-1] == "scratch/synthetic_00003.png"
    dataset = load_image_zip(data, name="synthetic.zip", image_size=(32, 32), channels=1)
    assert dataset.class_counts() == {"ok": 3, "scratch": 3}
    assert dataset.rejected == []
    assert np.array_equal(dataset.images[0], images[0])  # PNG is lossless


def test_generate_zip_from_the_registry(registry_with_gan):
    data, counts = generate_zip(registry_with_gan, "surface-gan", 2, classes=["pit"])
    assert counts == {"pit": 2}
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == [
        "pit/synthetic_00001.png",
        "pit/synthetic_00002.png",
    ]
    data, counts = generate_zip(registry_with_gan, "surface-gan:1", 1, seed=3)
    assert counts == {"ok": 1, "pit": 1, "scratch": 1}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"per_class": 0},
            "Expected per_class to be an integer in [1, 5000]. Received: per_class=0",
        ),
        (
            {"per_class": 2, "classes": ["dent"]},
            "Expected classes among ['ok', 'pit', 'scratch']. Received: unknown classes ['dent']",
        ),
    ],
)
def test_generate_zip_refuses_bad_requests(registry_with_gan, arguments, message):
    with pytest.raises(ValueError) as error:
        generate_zip(registry_with_gan, "surface-gan", **arguments)
    assert str(error.value) == message


def test_load_generator_refuses_a_classifier(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    registry.save(make_model(), "classifier", make_metadata())
    with pytest.raises(ValueError) as error:
        load_generator(registry, "classifier")
    assert str(error.value) == (
        "Expected a GAN (task 'gan'). Received: model='classifier' with task='image_classification'"
    )


def test_bundled_demo_gan_generates_every_sample_class(tmp_path):
    from core.data.bundled import sample_data_directory
    from core.demo.models import DEMO_GAN_MODEL, ensure_demo_models

    registry = ModelRegistry(tmp_path / "registry")
    ensure_demo_models(registry)
    data, counts = generate_zip(registry, DEMO_GAN_MODEL, 2)
    classes = sorted(path.name for path in (sample_data_directory() / "images").iterdir())
    assert counts == dict.fromkeys(classes, 2)
    dataset = load_image_zip(data, name="demo.zip", image_size=(64, 64), channels=1)
    assert dataset.class_counts() == dict.fromkeys(classes, 2)
    metadata = registry.get(DEMO_GAN_MODEL).metadata
    assert metadata["extra"]["holdout_files"], "the demo GAN holds images out for the experiment"

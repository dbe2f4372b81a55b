"""Tests for core/data/masks.py: loading defect masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import bundled, images, masks


def _write_mask(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)


@pytest.fixture
def mask_directory(tmp_path) -> Path:
    block = np.zeros((8, 8), dtype=np.uint8)
    block[2:6, 4:8] = 255
    _write_mask(tmp_path / "crack" / "crack_000.png", block)
    return tmp_path


def test_load_masks_shapes_and_missing_files(mask_directory):
    loaded, has_mask = masks.load_masks(
        mask_directory, ["crack/crack_000.png", "ok/ok_000.png"], (8, 8)
    )
    assert loaded.shape == (2, 8, 8)
    assert loaded.dtype == bool
    assert has_mask.tolist() == [True, False]
    expected = np.zeros((8, 8), dtype=bool)
    expected[2:6, 4:8] = True
    np.testing.assert_array_equal(loaded[0], expected)
    assert not loaded[1].any()


def test_load_masks_resizes_to_height_and_width(mask_directory):
    loaded, _ = masks.load_masks(mask_directory, ["crack/crack_000.png"], (16, 4))
    assert loaded.shape == (1, 16, 4)
    # The block covers rows 2-5 of 8 and the right half: rows 4-11 of 16, columns 2-3 of 4.
    assert loaded[0, 4:12, 2:].all()
    assert loaded[0].sum() == 16
    shrunk, _ = masks.load_masks(mask_directory, ["crack/crack_000.png"], [4, 4])
    assert shrunk[0].tolist() == [
        [False, False, False, False],
        [False, False, True, True],
        [False, False, True, True],
        [False, False, False, False],
    ]


def test_load_masks_reads_zero_one_and_colour_masks(tmp_path):
    labels = np.zeros((6, 6), dtype=np.uint8)
    labels[0, 0] = 1
    _write_mask(tmp_path / "a.png", labels)
    colour = np.zeros((6, 6, 3), dtype=np.uint8)
    colour[5, 5] = (255, 255, 255)
    colour[0, 0] = (40, 40, 40)
    _write_mask(tmp_path / "b.png", colour)
    loaded, has_mask = masks.load_masks(tmp_path, ("a.png", "b.png"), (6, 6))
    assert has_mask.tolist() == [True, True]
    assert np.argwhere(loaded[0]).tolist() == [[0, 0]]
    assert np.argwhere(loaded[1]).tolist() == [[5, 5]]


def test_load_masks_without_filenames(mask_directory):
    loaded, has_mask = masks.load_masks(mask_directory, [], (3, 5))
    assert loaded.shape == (0, 3, 5)
    assert has_mask.shape == (0,)


def test_load_masks_names_an_unreadable_file(mask_directory):
    (mask_directory / "pit").mkdir()
    (mask_directory / "pit" / "pit_000.png").write_bytes(b"not a png")
    with pytest.raises(ValueError) as error:
        masks.load_masks(mask_directory, ["crack/crack_000.png", "pit/pit_000.png"], (8, 8))
    assert str(error.value) == (
        "Expected a readable mask image (0 = background, 255 = defect). "
        "Received: file='pit/pit_000.png' (UnidentifiedImageError)"
    )


def test_load_masks_rejects_bad_arguments(mask_directory):
    with pytest.raises(TypeError) as error:
        masks.load_masks(42, [], (8, 8))
    assert str(error.value) == (
        "Expected mask_directory to be a str or os.PathLike. Received: mask_directory=42"
    )
    missing = mask_directory / "nowhere"
    with pytest.raises(ValueError) as error:
        masks.load_masks(missing, [], (8, 8))
    assert str(error.value) == (
        f"Expected mask_directory to be an existing folder. Received: mask_directory='{missing}'"
    )
    with pytest.raises(TypeError) as error:
        masks.load_masks(mask_directory, "crack/crack_000.png", (8, 8))
    assert str(error.value) == (
        "Expected filenames to be a sequence of relative file names. "
        "Received: filenames='crack/crack_000.png'"
    )
    with pytest.raises(TypeError) as error:
        masks.load_masks(mask_directory, ["a.png", 3], (8, 8))
    assert str(error.value) == (
        "Expected each filename to be a non-empty string. Received: filename=3"
    )
    for name in ("../secret.png", "/etc/passwd", "crack\\..\\..\\x.png"):
        with pytest.raises(ValueError) as error:
            masks.load_masks(mask_directory, [name], (8, 8))
        assert str(error.value) == (
            "Expected each filename to be relative and inside the mask folder. "
            f"Received: filename={name!r}"
        )
    for size in ((8,), (0, 8), (8.0, 8), (True, 8), None):
        with pytest.raises(ValueError) as error:
            masks.load_masks(mask_directory, [], size)
        assert str(error.value) == (
            "Expected image_size to be (height, width) with two positive integers. "
            f"Received: image_size={size!r}"
        )


def test_bundled_mask_directory_follows_the_sample_data(monkeypatch, tmp_path):
    assert masks.bundled_mask_directory() == bundled.sample_data_directory() / "masks"
    monkeypatch.setenv(bundled.SAMPLE_DATA_ENVIRONMENT_VARIABLE, str(tmp_path))
    assert masks.bundled_mask_directory() == tmp_path / "masks"


def test_bundled_masks_line_up_with_the_bundled_image_dataset():
    dataset = images.load_images(
        bundled.sample_data_directory() / "images", image_size=(64, 64), channels=1
    )
    loaded, has_mask = masks.load_masks(masks.bundled_mask_directory(), dataset.filenames, (64, 64))
    assert loaded.shape == (len(dataset.filenames), 64, 64)
    ok_index = dataset.class_names.index("ok")
    np.testing.assert_array_equal(has_mask, dataset.labels != ok_index)
    coverage = loaded[has_mask].mean(axis=(1, 2))
    assert (coverage > 0).mean() > 0.99
    assert coverage.max() < 0.3

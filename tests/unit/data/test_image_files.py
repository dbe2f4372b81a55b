"""Tests for core/data/image_files.py: the on-disk dataset matches the in-memory loader."""

import io
import weakref

import numpy as np
import pytest
from PIL import Image

from core.data import image_files
from core.data.image_files import ImageFileDataset, count_image_files, load_image_files
from core.data.images import load_images
from core.registry.metadata import image_dataset_fingerprint


def png_bytes(value: int = 100, size=(20, 10)) -> bytes:
    """A flat grayscale PNG of `size` (width, height)."""
    buffer = io.BytesIO()
    Image.new("L", size, value).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def messy_folder(tmp_path):
    """Two classes of good PNGs, plus junk, misplaced and broken files the loaders must refuse."""
    root = tmp_path / "parts"
    for class_index, (class_name, count) in enumerate((("pit", 3), ("scratch", 2))):
        (root / class_name).mkdir(parents=True)
        for index in range(count):
            data = png_bytes(10 * (class_index + 1) + index)
            (root / class_name / f"{class_name}_{index}.png").write_bytes(data)
    (root / "scratch" / "deep").mkdir()
    (root / "scratch" / "deep" / "s.png").write_bytes(png_bytes(200, size=(12, 6)))
    (root / "scratch" / "empty.png").write_bytes(b"")
    (root / "scratch" / "renamed.png").write_text("a text file with an image name")
    noise = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    (root / "scratch" / "truncated.png").write_bytes(buffer.getvalue()[:500])
    (root / "scratch" / "notes.txt").write_text("hello")
    (root / "scratch" / ".DS_Store").write_bytes(b"junk")
    (root / "pit" / "Thumbs.db").write_bytes(b"junk")
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "pit_0.png").write_bytes(b"junk")
    (root / "loose.png").write_bytes(png_bytes())
    (root / "empty_class").mkdir()
    return root


def test_folder_matches_the_in_memory_loader(messy_folder):
    on_disk = load_image_files(messy_folder, image_size=(8, 8))
    in_memory = load_images(messy_folder, image_size=(8, 8))
    assert isinstance(on_disk, ImageFileDataset)
    assert on_disk.class_names == in_memory.class_names == ["pit", "scratch"]
    assert on_disk.filenames == in_memory.filenames
    assert on_disk.labels.dtype == np.int32
    assert on_disk.labels.tolist() == in_memory.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert on_disk.original_sizes == in_memory.original_sizes
    assert on_disk.size_counts() == {(20, 10): 5, (12, 6): 1}
    assert on_disk.rejected == in_memory.rejected
    assert on_disk.class_counts() == {"pit": 3, "scratch": 3}
    assert on_disk.source == in_memory.source == str(messy_folder)
    assert len(on_disk) == 6
    assert (on_disk.image_size, on_disk.channels) == ((8, 8), 1)
    assert on_disk.paths[-1] == str(messy_folder / "scratch" / "deep" / "s.png")


def test_folder_rejects_broken_files_with_reasons(messy_folder):
    dataset = load_image_files(messy_folder, image_size=(8, 8))
    reasons = {item.name: item.reason for item in dataset.rejected}
    assert reasons.pop("scratch/truncated.png").startswith(
        "Expected a complete PNG image; the data is corrupt or truncated ("
    )
    assert reasons == {
        "loose.png": "Expected images inside a class folder (one subfolder per class); this "
        "file is not inside one. Received: name='loose.png'",
        "scratch/empty.png": "Expected a non-empty image file. "
        "Received: name='scratch/empty.png' with 0 bytes",
        "scratch/renamed.png": "Expected a PNG, JPEG, BMP or TIFF image; the file is not a "
        "readable image. Received: name='scratch/renamed.png'",
        "scratch/notes.txt": "Expected an image file (PNG, JPEG, BMP or TIFF). "
        "Received: name='scratch/notes.txt'",
        "empty_class/": "Expected at least one PNG, JPEG, BMP or TIFF image in each class "
        "folder. Received: folder='empty_class' with none usable",
    }


def test_dataset_keeps_paths_not_pixels(messy_folder):
    dataset = load_image_files(messy_folder, image_size=(8, 8))
    in_memory = load_images(messy_folder, image_size=(8, 8))
    assert not hasattr(dataset, "images")
    for index in (0, 5):
        np.testing.assert_array_equal(dataset.read_image(index), in_memory.images[index])
    assert all(isinstance(path, str) for path in dataset.paths)
    assert all(value.nbytes < 100 for value in vars(dataset).values() if hasattr(value, "nbytes"))


def test_check_holds_one_decoded_image_at_a_time(messy_folder, monkeypatch):
    decode_image = image_files.decode_image
    previous = []
    decoded_names = []

    def tracking_decode(data, name, **options):
        # The array decoded for the last file must be gone before the next file is decoded.
        if previous:
            assert previous[-1]() is None, f"the image of {decoded_names[-1]} is still held"
        array = decode_image(data, name, **options)
        previous.append(weakref.ref(array))
        decoded_names.append(name)
        return array

    monkeypatch.setattr(image_files, "decode_image", tracking_decode)
    dataset = load_image_files(messy_folder, image_size=(8, 8))
    assert len(dataset) == 6
    assert len(decoded_names) == 6  # The three broken files raise before an array exists.
    assert previous[-1]() is None


def test_same_fingerprint_as_the_in_memory_loader(messy_folder):
    on_disk = load_image_files(messy_folder, image_size=(8, 8))
    in_memory = load_images(messy_folder, image_size=(8, 8))
    assert image_dataset_fingerprint(on_disk) == image_dataset_fingerprint(in_memory)
    assert image_dataset_fingerprint(on_disk).startswith("sha256:")


def test_manifest_folder_matches_the_in_memory_loader(tmp_path):
    (tmp_path / "images").mkdir()
    for index in range(4):
        (tmp_path / "images" / f"{index}.png").write_bytes(png_bytes(index * 40))
    (tmp_path / "images" / "bad.png").write_bytes(b"\x89PNG garbage")
    (tmp_path.parent / "outside.png").write_bytes(png_bytes())
    (tmp_path / "labels.csv").write_text(
        "filename,label\n"
        "images/0.png,ok\n"
        "images/1.png,defect\n"
        "images/2.png,ok\n"
        "images/1.png,ok\n"
        "images/3.png,\n"
        "images/missing.png,ok\n"
        "../outside.png,ok\n"
        "images/bad.png,defect\n"
    )
    on_disk = load_image_files(tmp_path, image_size=(8, 8))
    in_memory = load_images(tmp_path, image_size=(8, 8))
    assert (
        on_disk.filenames == in_memory.filenames == ["images/0.png", "images/1.png", "images/2.png"]
    )
    assert on_disk.class_names == ["defect", "ok"]
    assert on_disk.labels.tolist() == in_memory.labels.tolist() == [1, 0, 1]
    assert on_disk.rejected == in_memory.rejected
    assert on_disk.source == str(tmp_path / "labels.csv")
    reasons = {item.name: item.reason for item in on_disk.rejected}
    assert reasons["labels.csv line 6"] == (
        "Expected a filename and a label on every manifest row. "
        "Received: filename='images/3.png', label=''"
    )
    assert reasons["../outside.png"] == (
        "Expected a path inside the image folder; paths leaving it are refused. "
        "Received: filename='../outside.png'"
    )
    assert reasons["images/missing.png"].startswith("Expected the file to exist in ")
    assert image_dataset_fingerprint(on_disk) == image_dataset_fingerprint(in_memory)
    # The manifest file itself is accepted too.
    assert load_image_files(tmp_path / "labels.csv", image_size=(8, 8)).filenames == (
        on_disk.filenames
    )


def test_no_size_given_rejects_images_unlike_the_first(messy_folder):
    on_disk = load_image_files(messy_folder, image_size=None)
    in_memory = load_images(messy_folder, image_size=None)
    assert on_disk.rejected == in_memory.rejected
    reasons = {item.name: item.reason for item in on_disk.rejected}
    assert reasons["scratch/deep/s.png"] == (
        "Expected every image to be 20x10 like the first one when image_size is None. "
        "Received: name='scratch/deep/s.png' of size 12x6"
    )


def test_count_lists_candidates_without_decoding(messy_folder, monkeypatch):
    def refuse(*arguments, **options):
        raise AssertionError("count_image_files must not decode")

    monkeypatch.setattr(image_files, "decode_image", refuse)
    # Nine image-named files in class folders; junk, notes.txt and loose.png are not counted.
    assert count_image_files(messy_folder) == 9


def test_refuses_zip_and_unknown_paths(tmp_path):
    archive = tmp_path / "parts.zip"
    archive.write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError) as error:
        load_image_files(archive)
    assert str(error.value) == (
        "Expected a folder or a manifest .csv to read image files from disk; a .zip archive is "
        "loaded in memory instead (core.data.images.load_images). "
        f"Received: path={str(archive)!r}"
    )
    with pytest.raises(ValueError) as error:
        count_image_files(tmp_path / "nowhere")
    assert str(error.value) == (
        "Expected a folder of class subfolders, a folder with a labels.csv manifest "
        "(columns filename,label) or a manifest .csv. "
        f"Received: path={str(tmp_path / 'nowhere')!r}"
    )


def test_no_usable_image_and_bad_options_raise(tmp_path):
    (tmp_path / "pit").mkdir()
    (tmp_path / "pit" / "broken.png").write_bytes(b"")
    with pytest.raises(ValueError) as error:
        load_image_files(tmp_path)
    assert str(error.value) == (
        "Expected at least one readable image inside a class folder. "
        f"Received: source={str(tmp_path)!r} with 0 images loaded and 2 files rejected "
        "(pit/broken.png: Expected a non-empty image file. Received: name='pit/broken.png' "
        "with 0 bytes; pit/: Expected at least one PNG, JPEG, BMP or TIFF image in each class "
        "folder. Received: folder='pit' with none usable)"
    )
    with pytest.raises(ValueError, match=r"^Expected `channels` to be 1 \(grayscale\) or 3"):
        load_image_files(tmp_path, channels=2)


def test_oversized_and_unreadable_files_are_refused_alike(messy_folder, monkeypatch):
    from core.data import image_decoding

    (messy_folder / "pit" / "huge.png").write_bytes(png_bytes(size=(300, 300)) + bytes(5_000))
    (messy_folder / "pit" / "dangling.png").symlink_to(messy_folder / "nowhere.png")
    # One cap for both loaders: the file is refused from its size, before it is read.
    monkeypatch.setattr(image_decoding, "MAX_IMAGE_FILE_BYTES", 1_000)
    on_disk = load_image_files(messy_folder, image_size=(8, 8))
    in_memory = load_images(messy_folder, image_size=(8, 8))
    assert on_disk.rejected == in_memory.rejected
    assert on_disk.filenames == in_memory.filenames
    reasons = {item.name: item.reason for item in on_disk.rejected}
    assert reasons["pit/huge.png"].startswith(
        "Expected an image file of at most 1,000 bytes. Received: name='pit/huge.png' with "
    )
    assert reasons["pit/dangling.png"].startswith("Expected a readable file ([Errno 2] ")


def test_both_dataset_classes_share_the_counting_methods(messy_folder):
    on_disk = load_image_files(messy_folder, image_size=(8, 8))
    in_memory = load_images(messy_folder, image_size=(8, 8))
    for name in ("__len__", "class_counts", "size_counts"):
        assert getattr(type(on_disk), name) is getattr(type(in_memory), name)
    assert (len(on_disk), on_disk.class_counts(), on_disk.size_counts()) == (
        len(in_memory),
        in_memory.class_counts(),
        in_memory.size_counts(),
    )

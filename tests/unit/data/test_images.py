"""Tests for core/data/images.py: the four loaders, the dispatcher and the re-exports."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.data import image_decoding, images
from core.data.images import (
    ImageDataset,
    load_image_folder,
    load_image_manifest,
    load_image_zip,
    load_images,
    load_uploaded_images,
)

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF"}


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def gray_bytes(value: int = 100, size=(20, 10), suffix=".png") -> bytes:
    """A flat grayscale image of `size` (width, height) in the format of `suffix`."""
    return encode(Image.new("L", size, value), FORMATS[suffix])


def make_zip(entries) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def write_class_tree(root, classes=(("pit", 3), ("scratch", 2))):
    """Writes `count` flat images per class under root/<class>/, values 10 * (index + 1)."""
    for class_index, (class_name, count) in enumerate(classes):
        (root / class_name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            data = gray_bytes(10 * (class_index + 1) + index)
            (root / class_name / f"{class_name}_{index}.png").write_bytes(data)


# Loaders ----------------------------------------------------------------------------------------


def test_load_image_folder_reports_what_it_skips(tmp_path):
    write_class_tree(tmp_path)
    (tmp_path / "scratch" / "deep").mkdir()
    (tmp_path / "scratch" / "deep" / "s.jpg").write_bytes(gray_bytes(suffix=".jpg"))
    (tmp_path / "scratch" / "notes.txt").write_text("hello")
    (tmp_path / "scratch" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "scratch" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "loose.png").write_bytes(gray_bytes())
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "pit" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    dataset = load_image_folder(tmp_path, image_size=(8, 8))
    assert isinstance(dataset, ImageDataset)
    assert dataset.class_names == ["pit", "scratch"]
    assert dataset.class_counts() == {"pit": 3, "scratch": 3}
    assert dataset.images.shape == (6, 8, 8, 1)
    assert dataset.labels.dtype == np.int32
    assert dataset.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert dataset.filenames[-1] == "scratch/deep/s.jpg"
    assert dataset.size_counts() == {(20, 10): 6}
    assert dataset.source == str(tmp_path)
    assert len(dataset) == 6
    assert dataset.images[0, 0, 0, 0] == 10
    reasons = {item.name: item.reason for item in dataset.rejected}
    assert reasons.pop("pit/dangling.png").startswith("Expected a readable file ([Errno 2] ")
    assert reasons == {
        "loose.png": "Expected images inside a class folder (one subfolder per class); this "
        "file is not inside one. Received: name='loose.png'",
        "scratch/broken.png": "Expected a PNG, JPEG, BMP or TIFF image; the file is not a "
        "readable image. Received: name='scratch/broken.png'",
        "scratch/notes.txt": "Expected an image file (PNG, JPEG, BMP or TIFF). "
        "Received: name='scratch/notes.txt'",
        "empty_class/": "Expected at least one PNG, JPEG, BMP or TIFF image in each class "
        "folder. Received: folder='empty_class' with none usable",
    }


def test_folder_without_resizing_rejects_mismatched_sizes(tmp_path):
    write_class_tree(tmp_path, classes=(("pit", 2),))
    (tmp_path / "pit" / "wide.png").write_bytes(gray_bytes(size=(30, 10)))
    dataset = load_image_folder(tmp_path, image_size=None)
    assert dataset.images.shape == (2, 10, 20, 1)
    assert dataset.rejected[0].reason == (
        "Expected every image to be 20x10 like the first one when image_size is None. "
        "Received: name='pit/wide.png' of size 30x10"
    )


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError) as error:
        load_image_folder(tmp_path / "missing")
    assert str(error.value) == (
        f"Expected an existing folder. Received: path={str(tmp_path / 'missing')!r}"
    )
    (tmp_path / "pit").mkdir()
    (tmp_path / "pit" / "a.txt").write_text("x")
    with pytest.raises(ValueError) as error:
        load_image_folder(tmp_path)
    assert str(error.value).startswith(
        "Expected at least one readable image inside a class folder. "
        f"Received: source={str(tmp_path)!r} with 0 images loaded and 2 files rejected "
        "(pit/a.txt: Expected an image file"
    )


@pytest.mark.parametrize("prefix", ["", "dataset/"])
def test_load_image_zip_with_or_without_a_top_folder(prefix, tmp_path):
    data = make_zip(
        [
            (f"{prefix}pit/a.png", gray_bytes(10)),
            (f"{prefix}pit/b.bmp", gray_bytes(20, suffix=".bmp")),
            (f"{prefix}scratch/sub/c.tif", gray_bytes(30, suffix=".tif")),
            (f"{prefix}readme.png", gray_bytes()),
            ("../escape.png", gray_bytes()),
            (f"{prefix}__MACOSX/._a.png", b"junk"),
        ]
    )
    dataset = load_image_zip(data, name="parts.zip", image_size=(4, 4))
    assert dataset.class_names == ["pit", "scratch"]
    assert dataset.filenames == [
        f"{prefix}pit/a.png",
        f"{prefix}pit/b.bmp",
        f"{prefix}scratch/sub/c.tif",
    ]
    assert dataset.images[:, 0, 0, 0].tolist() == [10, 20, 30]
    assert dataset.source == "parts.zip"
    assert [item.name for item in dataset.rejected] == ["../escape.png", f"{prefix}readme.png"]
    path = tmp_path / "parts.zip"
    path.write_bytes(data)
    assert load_image_zip(path, image_size=(4, 4)).source == "parts.zip"


def test_load_image_zip_rejects_non_zip():
    with pytest.raises(ValueError, match=r"^Expected a ZIP archive \(\.zip\)"):
        load_image_zip(b"not a zip", name="x.zip")


def test_load_image_manifest(tmp_path):
    (tmp_path / "images").mkdir()
    for index in range(4):
        (tmp_path / "images" / f"{index}.png").write_bytes(gray_bytes(index * 50))
    (tmp_path.parent / "outside.png").write_bytes(gray_bytes())
    (tmp_path / "labels.csv").write_text(
        " Filename , Label \n"
        "images/0.png,pit\n"
        "images\\1.png,scratch\n"
        "images/2.png,pit\n"
        "images/0.png,scratch\n"
        "images/3.png,\n"
        "images/missing.png,pit\n"
        "../outside.png,pit\n"
        "images/notes.txt,pit\n"
    )
    (tmp_path / "images" / "notes.txt").write_text("x")
    dataset = load_image_manifest(tmp_path / "labels.csv", image_size=None)
    assert dataset.filenames == ["images/0.png", "images\\1.png", "images/2.png"]
    assert dataset.class_counts() == {"pit": 2, "scratch": 1}
    assert dataset.labels.tolist() == [0, 1, 0]
    assert dataset.images[:, 0, 0, 0].tolist() == [0, 50, 100]
    reasons = {item.name: item.reason for item in dataset.rejected}
    assert reasons == {
        "images/0.png": "Expected each file once in the manifest; this row repeats it. "
        "Received: filename='images/0.png'",
        "labels.csv line 6": "Expected a filename and a label on every manifest row. "
        "Received: filename='images/3.png', label=''",
        "images/missing.png": f"Expected the file to exist in {str(tmp_path)!r}; it was not "
        "found. Received: filename='images/missing.png'",
        "../outside.png": "Expected a path inside the image folder; paths leaving it are "
        "refused. Received: filename='../outside.png'",
        "images/notes.txt": "Expected an image file (PNG, JPEG, BMP or TIFF). "
        "Received: name='images/notes.txt'",
    }


def test_manifest_with_separate_image_directory(tmp_path):
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "a.png").write_bytes(gray_bytes())
    (tmp_path / "list.csv").write_text("filename,label\na.png,pit\n")
    dataset = load_image_manifest(tmp_path / "list.csv", image_directory=tmp_path / "pictures")
    assert dataset.filenames == ["a.png"]


def test_manifest_errors(tmp_path):
    (tmp_path / "labels.csv").write_text("file,class\na.png,pit\n")
    with pytest.raises(ValueError) as error:
        load_image_manifest(tmp_path / "labels.csv")
    assert str(error.value) == (
        "Expected a CSV manifest with columns filename,label. "
        "Received: columns=['file', 'class'] in 'labels.csv'"
    )
    with pytest.raises(ValueError) as error:
        load_image_manifest(tmp_path / "missing.csv")
    assert str(error.value).startswith(
        "Expected a readable CSV manifest with columns filename,label. "
        f"Received: path={str(tmp_path / 'missing.csv')!r} ("
    )
    (tmp_path / "only_missing.csv").write_text("filename,label\ngone.png,pit\n")
    with pytest.raises(ValueError, match="Expected at least one readable image"):
        load_image_manifest(tmp_path / "only_missing.csv")


def test_load_uploaded_images():
    files = [
        ("a.png", gray_bytes(10)),
        ("b.jpg", encode(Image.new("RGB", (50, 30), (0, 0, 255)), "JPEG")),
        ("c.txt", b"text"),
        ("d.png", b"corrupt"),
        ("batch.zip", make_zip([("x/e.tif", gray_bytes(60, suffix=".tif")), ("/abs.png", b"")])),
        ("fake.zip", b"not a zip"),
    ]
    arrays, names, rejected = load_uploaded_images(files, image_size=(6, 6), channels=3)
    assert arrays.shape == (3, 6, 6, 3)
    assert names == ["a.png", "b.jpg", "batch.zip/x/e.tif"]
    assert arrays[2, 0, 0].tolist() == [60, 60, 60]
    assert [item.name for item in rejected] == ["c.txt", "d.png", "batch.zip//abs.png", "fake.zip"]
    assert rejected[-1].reason.startswith("Expected a ZIP archive (.zip)")


def test_load_uploaded_images_edge_cases():
    arrays, names, rejected = load_uploaded_images([])
    assert arrays.shape == (0, 128, 128, 1)
    assert (names, rejected) == ([], [])
    with pytest.raises(TypeError) as error:
        load_uploaded_images([("a.png", "not bytes")])
    assert str(error.value) == (
        "Expected each upload as a (name, bytes) pair. Received: ('a.png', 'not bytes')"
    )


def build_layouts(tmp_path):
    """The same two-class content as a folder, a zip, and a manifest folder."""
    folder = tmp_path / "folder"
    write_class_tree(folder)
    zip_path = tmp_path / "parts.zip"
    zip_path.write_bytes(
        make_zip(
            [
                (path.relative_to(folder).as_posix(), path.read_bytes())
                for path in folder.rglob("*.png")
            ]
        )
    )
    flat = tmp_path / "flat"
    flat.mkdir()
    rows = ["filename,label"]
    for path in sorted(folder.rglob("*.png")):
        (flat / path.name).write_bytes(path.read_bytes())
        rows.append(f"{path.name},{path.parent.name}")
    (flat / "labels.csv").write_text("\n".join(rows) + "\n")
    (flat / "decoy").mkdir()  # A manifest wins over subfolders.
    return {
        "folder": folder,
        "zip": zip_path,
        "manifest-folder": flat,
        "manifest": flat / "labels.csv",
    }


@pytest.mark.parametrize("layout", ["folder", "zip", "manifest-folder", "manifest"])
def test_every_layout_loads_the_same_dataset(layout, tmp_path):
    dataset = load_images(build_layouts(tmp_path)[layout], image_size=(5, 5))
    assert dataset.class_counts() == {"pit": 3, "scratch": 2}
    order = np.argsort([name.rsplit("/", 1)[-1] for name in dataset.filenames])
    assert dataset.images[order, 0, 0, 0].tolist() == [10, 11, 12, 20, 21]
    assert dataset.labels[order].tolist() == [0, 0, 0, 1, 1]
    assert dataset.rejected == []


def test_load_images_falls_back_to_class_folders_when_a_csv_is_not_a_manifest(tmp_path):
    write_class_tree(tmp_path)
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    assert load_images(tmp_path).class_names == ["pit", "scratch"]


@pytest.mark.parametrize("make_path", [lambda root: root / "missing", lambda root: root])
def test_load_images_rejects_unknown_layouts(make_path, tmp_path):
    (tmp_path / "loose.png").write_bytes(gray_bytes())
    path = make_path(tmp_path)
    with pytest.raises(ValueError) as error:
        load_images(path)
    assert str(error.value) == (
        "Expected a folder of class subfolders, a folder with a labels.csv manifest "
        "(columns filename,label), a manifest .csv, or a .zip of class folders. "
        f"Received: path={str(path)!r}"
    )


def test_decoding_names_are_re_exported():
    names = [
        "decode_image",
        "SUPPORTED_IMAGE_SUFFIXES",
        "SUPPORTED_IMAGE_FORMATS",
        "MAX_IMAGE_PIXELS",
        "MAX_IMAGE_FILE_BYTES",
    ]
    for name in names:
        assert getattr(images, name) is getattr(image_decoding, name)
        assert name in images.__all__


def test_listing_names_are_re_exported():
    from core.data import image_listing

    shared = {"MANIFEST_COLUMNS", "has_manifest_columns", "is_junk_name", "read_manifest"}
    shared |= {"outside_class_folder_reason", "walk_files"}
    assert shared <= set(images.__all__)
    assert {name for name in shared if getattr(images, name) is getattr(image_listing, name)} == (
        shared
    )


def test_manifest_directory_applies_to_every_row_check(tmp_path):
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "a.png").write_bytes(gray_bytes())
    (tmp_path / "a.png").write_bytes(gray_bytes())
    (tmp_path / "list.csv").write_text("filename,label\na.png,ok\n../a.png,ok\nb.png,ok\n")
    dataset = load_image_manifest(tmp_path / "list.csv", image_directory=tmp_path / "pictures")
    assert dataset.filenames == ["a.png"]
    assert [item.as_dict() for item in dataset.rejected] == [
        {
            "name": "../a.png",
            "reason": "Expected a path inside the image folder; paths leaving it are refused. "
            "Received: filename='../a.png'",
        },
        {
            "name": "b.png",
            "reason": f"Expected the file to exist in {str(tmp_path / 'pictures')!r}; it was not "
            "found. Received: filename='b.png'",
        },
    ]

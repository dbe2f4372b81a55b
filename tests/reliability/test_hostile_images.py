"""Hostile image files, through every image loader: uploads, a ZIP of class folders, a folder.

One batch holds every hostile file beside good ones; each loader must load exactly the good (or
convertible) files and refuse each other file with a message naming it and the problem.

Behaviour decided here:
- a 1-pixel image is accepted and stretched to the model input: thumbnails and line-scan strips
  are legitimate, no minimum fits every camera, and the data check warns about images under
  8 pixels on a side (`core.data.inspection.SMALL_IMAGE_SIDE`);
- 16-bit images keep their full range (divided by 257), CMYK JPEGs are converted to RGB;
- GIF (animated or not) is refused with the list of supported formats: industrial cameras do
  not produce it, its 256-colour palette loses detail, and which frame to use is a guess.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from core.data.image_decoding import decode_image
from core.data.images import load_image_folder, load_image_zip, load_uploaded_images
from core.data.inspection import inspect_uploads

IMAGE_SIZE = (8, 8)
UNREADABLE = "Expected a PNG, JPEG, BMP or TIFF image; the file is not a readable image. "


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares `width` x `height` but whose pixel data is a few bytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        checksum = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(bytes(16)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


def noise_jpeg() -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    return encode(Image.fromarray(noise), "JPEG")


def animated_gif() -> bytes:
    frames = [Image.new("L", (8, 8), value) for value in (0, 128, 255)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0)


def sixteen_bit_tiff() -> bytes:
    values = np.array([[0, 100 * 257], [65535, 128 * 257]], dtype=np.uint16)
    return encode(Image.fromarray(values), "TIFF")


def cmyk_jpeg(colour=(255, 0, 0, 0)) -> bytes:
    return encode(Image.new("CMYK", (8, 8), colour), "JPEG", quality=95)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n%%EOF\n"

# name -> (bytes, expected reason with {name} for the name the loader shows, or None if loaded).
HOSTILE = {
    "huge.png": (
        png_header_only(30000, 30000),
        "Expected an image of at most 50,000,000 pixels; larger images are refused before "
        "decoding. Received: name={name!r} with over 178,956,970 pixels",
    ),
    "drawing.png": (EPS, UNREADABLE + "Received: name={name!r} (PostScript/EPS data)"),
    "cut.jpg": (
        noise_jpeg()[: len(noise_jpeg()) // 2],
        "Expected a complete JPEG image; the data is corrupt or truncated (image file is "
        "truncated (20 bytes not processed)). Received: name={name!r}",
    ),
    "stub.jpg": (noise_jpeg()[:40], UNREADABLE + "Received: name={name!r}"),
    "noise.png": (np.random.default_rng(0).bytes(4096), UNREADABLE + "Received: name={name!r}"),
    "empty.png": (b"", "Expected a non-empty image file. Received: name={name!r} with 0 bytes"),
    "spin.gif": (
        animated_gif(),
        "Expected an image file (PNG, JPEG, BMP or TIFF). Received: name={name!r}",
    ),
    "spin.png": (animated_gif(), UNREADABLE + "Received: name={name!r} (GIF data)"),
    "dot.png": (encode(Image.new("L", (1, 1), 77), "PNG"), None),
    "deep.tif": (sixteen_bit_tiff(), None),
    "print.jpg": (cmyk_jpeg(), None),
    "good.png": (encode(Image.new("L", (20, 10), 200), "PNG"), None),
}
LOADED = ["deep.tif", "dot.png", "good.png", "print.jpg"]


def load_with(loader: str, tmp_path):
    """Loads HOSTILE with one loader; returns (loaded names, {name: reason}, display prefix)."""
    if loader == "uploads":
        files = [(name, data) for name, (data, _) in sorted(HOSTILE.items())]
        _, names, rejected = load_uploaded_images(files, image_size=IMAGE_SIZE)
        return names, {item.name: item.reason for item in rejected}, ""
    if loader == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, (data, _) in sorted(HOSTILE.items()):
                archive.writestr(f"parts/{name}", data)
        dataset = load_image_zip(buffer.getvalue(), name="set.zip", image_size=IMAGE_SIZE)
    else:
        folder = tmp_path / "set" / "parts"
        folder.mkdir(parents=True)
        for name, (data, _) in HOSTILE.items():
            (folder / name).write_bytes(data)
        dataset = load_image_folder(tmp_path / "set", image_size=IMAGE_SIZE)
    return dataset.filenames, {item.name: item.reason for item in dataset.rejected}, "parts/"


@pytest.mark.parametrize("loader", ["uploads", "zip", "folder"])
def test_every_hostile_image_is_refused_by_name_and_the_rest_of_the_batch_loads(loader, tmp_path):
    loaded, rejected, prefix = load_with(loader, tmp_path)
    assert loaded == [prefix + name for name in LOADED]
    assert rejected == {
        prefix + name: reason.format(name=prefix + name)
        for name, (_, reason) in HOSTILE.items()
        if reason is not None
    }
    # Nothing hostile changed Pillow's process-wide safety settings.
    assert Image.MAX_IMAGE_PIXELS == 89_478_485
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_one_pixel_image_is_stretched_to_the_model_input_and_flagged_by_the_data_check():
    data = HOSTILE["dot.png"][0]
    array = decode_image(data, "dot.png", image_size=(128, 128))
    assert array.shape == (128, 128, 1)
    assert np.all(array == 77)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("parts/ok/dot.png", data)
        archive.writestr("parts/ok/good.png", HOSTILE["good.png"][0])
    report = inspect_uploads([("set.zip", buffer.getvalue())])
    assert report["image_archives"][0]["image_sizes"] == {"1x1": 1, "20x10": 1}
    assert (
        "1 image(s) are smaller than 8 pixels on a side, such as 'parts/ok/dot.png'; they are "
        "stretched to the model input and carry little detail."
    ) in report["image_archives"][0]["warnings"]


@pytest.mark.parametrize("byte_order", ["<u2", ">u2"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("image_format", ["TIFF", "PNG"])
def test_sixteen_bit_images_keep_their_full_range(byte_order, image_format):
    values = np.array([[0, 100 * 257], [65535, 128 * 257]], dtype=byte_order)
    data = encode(Image.fromarray(values), image_format)
    array = decode_image(data, "deep", image_size=None)
    assert array[..., 0].tolist() == [[0, 100], [255, 128]]


@pytest.mark.parametrize(
    ("cmyk", "rgb", "gray"),
    [
        ((0, 0, 0, 0), (255, 255, 255), 255),
        ((255, 0, 0, 0), (0, 255, 255), 179),
        ((0, 0, 0, 255), (0, 0, 0), 0),
    ],
    ids=["white", "cyan", "black"],
)
def test_cmyk_jpeg_is_converted_to_rgb_and_gray(cmyk, rgb, gray):
    data = cmyk_jpeg(cmyk)
    colour = decode_image(data, "print.jpg", image_size=None, channels=3)
    assert np.abs(colour[0, 0].astype(int) - rgb).max() <= 2
    assert abs(int(decode_image(data, "print.jpg", image_size=None)[0, 0, 0]) - gray) <= 2


def test_inspect_uploads_lists_every_hostile_image_and_accepts_the_rest():
    files = [(name, data) for name, (data, _) in sorted(HOSTILE.items())]
    report = inspect_uploads(files)
    assert report["images"] == {"accepted": LOADED, "count": 4}
    assert {item["name"]: item["reason"] for item in report["rejected"]} == {
        name: reason.format(name=name)
        for name, (_, reason) in HOSTILE.items()
        if reason is not None and not name.endswith(".gif")
    } | {
        "spin.gif": "Expected an image (PNG, JPEG, BMP, TIFF), a .zip of class folders, or a "
        "sensor file (CSV, Parquet, C-MAPSS .txt). Received: suffix '.gif'"
    }

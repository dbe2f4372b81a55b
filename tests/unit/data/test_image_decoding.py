"""Tests for core/data/image_decoding.py: formats, colour modes, resizing, caps and options."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.data import image_decoding
from core.data.image_decoding import decode_image

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF"}


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def gray_bytes(value: int = 100, size=(20, 10), suffix=".png") -> bytes:
    """A flat grayscale image of `size` (width, height) in the format of `suffix`."""
    return encode(Image.new("L", size, value), FORMATS[suffix])


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares `width` x `height` but whose pixel data is a few bytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        checksum = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
@pytest.mark.parametrize("source_mode", ["L", "RGB"])
@pytest.mark.parametrize("channels", [1, 3])
def test_decodes_every_format_and_colour_mode(suffix, source_mode, channels):
    colour = 120 if source_mode == "L" else (200, 100, 50)
    data = encode(Image.new(source_mode, (40, 20), colour), FORMATS[suffix])
    array = decode_image(data, f"part{suffix}", image_size=None, channels=channels)
    assert array.dtype == np.uint8
    assert array.shape == (20, 40, channels)
    if source_mode == "L":
        expected = np.full(channels, 120)
    elif channels == 3:
        expected = np.array([200, 100, 50])
    else:
        expected = np.array([round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)])
    tolerance = 3 if suffix == ".jpg" else 1
    assert np.abs(array[10, 20].astype(int) - expected).max() <= tolerance


@pytest.mark.parametrize("image_format", ["TIFF", "PNG"])
def test_16_bit_images_keep_their_full_range(image_format):
    values = np.array([[0, 257, 30000, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), image_format)
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    array = decode_image(data, "deep.tif", image_size=None)
    assert array[0, :, 0].tolist() == [0, 1, 116, 255]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0, 65535, 100000]], dtype=np.int32), [0, 255, 255]),
        (np.array([[0.0, 0.5, 1.0]], dtype=np.float32), [0, 128, 255]),
    ],
    ids=["32-bit-integer", "float"],
)
def test_32_bit_integer_and_float_tiffs(values, expected):
    data = encode(Image.fromarray(values), "TIFF")
    assert decode_image(data, "deep.tif", image_size=None)[0, :, 0].tolist() == expected


def test_cmyk_jpeg_decodes_to_rgb():
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG")
    array = decode_image(data, "red.jpg", image_size=None, channels=3)
    assert np.abs(array[8, 8].astype(int) - [255, 0, 0]).max() <= 3
    gray = decode_image(data, "red.jpg", image_size=None, channels=1)
    assert abs(int(gray[8, 8, 0]) - 76) <= 3


@pytest.mark.parametrize(
    ("image", "channels", "expected"),
    [
        (Image.new("RGBA", (4, 4), (10, 20, 30, 128)), 3, [10, 20, 30]),
        (Image.new("LA", (4, 4), (90, 0)), 1, [90]),
        (Image.new("1", (4, 4), 1), 1, [255]),
        (Image.new("P", (4, 4), 0), 3, [0, 0, 0]),
    ],
    ids=["RGBA", "LA", "1-bit", "palette"],
)
def test_other_modes_are_converted(image, channels, expected):
    array = decode_image(encode(image, "PNG"), "x.png", image_size=None, channels=channels)
    assert array[0, 0].tolist() == expected


def test_palette_with_transparency_is_converted():
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 250, 10, 10] + [0] * 762)
    data = encode(image, "PNG", transparency=0)
    assert decode_image(data, "p.png", image_size=None, channels=3)[0, 0].tolist() == [250, 10, 10]


def test_first_frame_of_a_multi_frame_tiff_is_used():
    frames = [Image.new("L", (8, 8), 30), Image.new("L", (8, 8), 200)]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert decode_image(data, "stack.tif", image_size=None)[0, 0, 0] == 30


def test_numpy_integer_options_are_accepted():
    size = tuple(np.array([6, 4]))
    array = decode_image(gray_bytes(), "a.png", image_size=size, channels=np.int64(3))
    assert array.shape == (6, 4, 3)


def test_resizes_to_height_and_width():
    array = decode_image(gray_bytes(size=(40, 20)), "a.png", image_size=(8, 16), channels=3)
    assert array.shape == (8, 16, 3)
    large_jpeg = gray_bytes(77, size=(800, 600), suffix=".jpg")
    array = decode_image(large_jpeg, "big.jpg", image_size=(30, 40))
    assert array.shape == (30, 40, 1)
    assert abs(int(array.mean()) - 77) <= 2


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (
            b"",
            "empty.png",
            "Expected a non-empty image file. Received: name='empty.png' with 0 bytes",
        ),
        (
            b"just some notes",
            "notes.png",
            "Expected a PNG, JPEG, BMP or TIFF image; the file is not a readable image. "
            "Received: name='notes.png'",
        ),
        (
            encode(Image.new("L", (4, 4)), "GIF"),
            "anim.png",
            "Expected a PNG, JPEG, BMP or TIFF image; the file is not a readable image. "
            "Received: name='anim.png' (GIF data)",
        ),
        (
            png_header_only(30000, 30000),
            "huge.png",
            "Expected an image of at most 50,000,000 pixels; larger images are refused before "
            "decoding. Received: name='huge.png' with over 178,956,970 pixels",
        ),
        (
            png_header_only(8000, 8000),
            "large.png",
            "Expected an image of at most 50,000,000 pixels; larger images are refused before "
            "decoding. Received: name='large.png' with 8000x8000 = 64,000,000 pixels",
        ),
    ],
    ids=["empty", "not-an-image", "gif", "bomb-header", "oversized-header"],
)
def test_decode_errors_name_the_file_and_the_reason(data, name, expected):
    with pytest.raises(ValueError) as error:
        decode_image(data, name)
    assert str(error.value) == expected


def test_truncated_jpeg_is_reported():
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "JPEG")
    with pytest.raises(ValueError) as error:
        decode_image(data[: len(data) // 2], "cut.jpg")
    message = str(error.value)
    assert message.startswith("Expected a complete JPEG image; the data is corrupt or truncated (")
    assert message.endswith("Received: name='cut.jpg'")


def test_file_over_byte_cap_is_refused(monkeypatch):
    monkeypatch.setattr(image_decoding, "MAX_IMAGE_FILE_BYTES", 10)
    data = gray_bytes()
    with pytest.raises(ValueError) as error:
        decode_image(data, "a.png")
    assert str(error.value) == (
        f"Expected an image file of at most 10 bytes. Received: name='a.png' with {len(data)} bytes"
    )


def test_pixel_cap_is_checked_from_the_header(monkeypatch):
    monkeypatch.setattr(image_decoding, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError) as error:
        decode_image(gray_bytes(size=(20, 10)), "a.png")
    assert str(error.value) == (
        "Expected an image of at most 100 pixels; larger images are refused before decoding. "
        "Received: name='a.png' with 20x10 = 200 pixels"
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"channels": 2},
            "Expected `channels` to be 1 (grayscale) or 3 (RGB). Received: channels=2",
        ),
        (
            {"channels": True},
            "Expected `channels` to be 1 (grayscale) or 3 (RGB). Received: channels=True",
        ),
        (
            {"channels": 1.0},
            "Expected `channels` to be 1 (grayscale) or 3 (RGB). Received: channels=1.0",
        ),
        (
            {"image_size": (0, 10)},
            "Expected `image_size` to be (height, width) with two positive integers, or None. "
            "Received: image_size=(0, 10)",
        ),
        (
            {"image_size": 128},
            "Expected `image_size` to be (height, width) with two positive integers, or None. "
            "Received: image_size=128",
        ),
    ],
)
def test_invalid_options_raise(options, expected):
    with pytest.raises(ValueError) as error:
        decode_image(gray_bytes(), "a.png", **options)
    assert str(error.value) == expected

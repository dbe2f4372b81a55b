"""Fuzzing of the image, ZIP and CSV loaders with hypothesis, bounded in examples and time.

Whatever the bytes, a loader either returns data or raises ValueError (TypeError for a wrong
argument type) whose message starts with "Expected": never another exception, which a page would
show as a crash. The runs are derandomized and keep no example database, so CI sees the same
examples every time; the whole file takes about 10 s on a 2-core machine.
"""

from __future__ import annotations

import datetime
import io
import re
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.data.archives import read_zip
from core.data.image_decoding import decode_image
from core.data.images import load_image_zip, load_uploaded_images
from core.data.series_loading import load_series

# Pillow warns about some damaged TIFF tags before refusing the file; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def fuzz_settings(max_examples: int) -> settings:
    # A generous deadline only catches hangs: a normal example takes milliseconds.
    return settings(
        max_examples=max_examples,
        deadline=datetime.timedelta(seconds=10),
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def seed_images() -> list[bytes]:
    """Small valid files of every supported format and mode, to be mutated."""
    rng = np.random.default_rng(0)
    gray = Image.fromarray(rng.integers(0, 255, (12, 10), dtype=np.uint8))
    colour = Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8))
    deep = Image.fromarray(rng.integers(0, 65535, (12, 10), dtype=np.uint16))
    files = [encode(image, kind) for kind in ("PNG", "JPEG", "BMP", "TIFF") for image in (gray,)]
    files += [encode(colour, "PNG"), encode(colour, "JPEG"), encode(deep, "TIFF")]
    files += [encode(gray.convert("P"), "PNG"), encode(colour.convert("CMYK"), "JPEG")]
    return files


SEEDS = seed_images()


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """One seed with a few bytes replaced, then possibly cut short or extended."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    if cut is not None:
        del data[cut:]
    return bytes(data) + draw(st.binary(max_size=16))


def assert_expected_error(error: Exception) -> None:
    assert isinstance(error, ValueError | TypeError), repr(error)
    assert str(error).startswith("Expected"), repr(error)


def check_decode(data: bytes) -> None:
    try:
        array = decode_image(data, "fuzz.png", image_size=(16, 16))
    except Exception as error:  # Anything but an "Expected ..." ValueError fails the test.
        assert_expected_error(error)
        return
    assert array.shape == (16, 16, 1) and array.dtype == np.uint8


@fuzz_settings(1000)
@given(st.binary(max_size=600))
def test_decode_image_on_random_bytes(data):
    check_decode(data)


@fuzz_settings(2000)
@given(mutated(SEEDS))
def test_decode_image_on_mutated_images(data):
    check_decode(data)


DRIVE = re.compile(r"^[A-Za-z]:")
NAME_PARTS = ["..", ".", "", "ok", "pit", "C:", "__MACOSX", ".DS_Store", "x.png", "y.jpg", "é"]
member_names = st.one_of(
    st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=4).map("/".join),
    st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=4).map("\\".join),
    st.text(min_size=1, max_size=20),
)
members = st.tuples(
    member_names,
    st.one_of(st.sampled_from(SEEDS), st.binary(max_size=64)),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
    st.sampled_from([0, 0o100644, 0o120777, 0o040755, 0o010644, 0o140755]),
)


def build_zip(entries) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # Repeated names are part of the fuzz.
        for name, data, compression, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def check_zip(data: bytes) -> None:
    try:
        contents = read_zip(data, name="fuzz.zip")
    except Exception as error:
        assert_expected_error(error)
    else:
        for member in contents.members:
            parts = member.name.split("/")
            assert ".." not in parts and not member.name.startswith("/"), member.name
            assert "\\" not in member.name and not DRIVE.match(member.name), member.name
        for rejected in contents.rejected:
            assert rejected.reason.startswith("Expected"), rejected
    try:
        dataset = load_image_zip(data, name="fuzz.zip", image_size=(8, 8))
    except Exception as error:
        assert_expected_error(error)
    else:
        assert len(dataset.filenames) == len(dataset.images) > 0
    # Uploads never raise for bad content: the archive or its members are listed as rejected.
    images, names, rejected = load_uploaded_images([("fuzz.zip", data)], image_size=(8, 8))
    assert len(images) == len(names)
    assert all(item.reason.startswith("Expected") for item in rejected)


@fuzz_settings(600)
@given(st.lists(members, max_size=6))
def test_zip_loaders_on_random_archives(entries):
    check_zip(build_zip(entries))


VALID_ZIP = build_zip(
    [("set/ok/a.png", SEEDS[0], zipfile.ZIP_DEFLATED, 0), ("set/pit/b.bmp", SEEDS[2], 0, 0)]
)


@fuzz_settings(1000)
@given(mutated([VALID_ZIP]))
def test_zip_loaders_on_mutated_archives(data):
    check_zip(data)


CSV_ALPHABET = [*"0123456789.,;\t\n\r -+eE\"'", "nan", "inf", "unit", "cycle", "é", "x"]
csv_text = st.lists(st.sampled_from(CSV_ALPHABET), max_size=120).map("".join)


def check_series(data: bytes, name: str | None) -> None:
    try:
        dataset = load_series(data, name=name)
    except Exception as error:
        assert_expected_error(error)
    else:
        assert list(dataset.frame.columns[:2]) == ["unit", "cycle"]


@fuzz_settings(1000)
@given(
    st.sampled_from(["", "unit,cycle,s1\n", "unit;cycle;s1\n", "t\ts1\ts2\n"]),
    csv_text,
    st.sampled_from(["utf-8", "latin-1"]),
)
def test_load_series_on_random_csv_text(header, text, encoding):
    check_series((header + text).encode(encoding), "fuzz.csv")


@fuzz_settings(600)
@given(st.binary(max_size=300), st.sampled_from(["fuzz.csv", "fuzz.txt", "fuzz.parquet", None]))
def test_load_series_on_random_bytes(data, name):
    check_series(data, name)


@pytest.mark.parametrize("source", [None, 3, ["a"]])
def test_load_series_rejects_wrong_types_with_a_message(source):
    with pytest.raises(TypeError) as error:
        load_series(source, name="x.csv")
    assert str(error.value).startswith("Expected a path or the bytes of a file.")

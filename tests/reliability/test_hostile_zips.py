"""Hostile ZIP archives: unsafe names, links, too many members, lying headers, bombs, nesting.

Every archive is read by both loaders that take ZIPs from users: `load_image_zip` (training sets,
calibration data) and `load_uploaded_images` (spot checks, data checks). Each case asserts the
exact message, that the other members of the same archive still load, and, for the bombs, that
memory stays small while reading.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import stat
import struct
import tracemalloc
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from core.data import archives
from core.data.archives import read_zip
from core.data.images import load_image_zip, load_uploaded_images

IMAGE_SIZE = (8, 8)
GiB = 1024**3
MiB = 1024**2


def gray_png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (6, 6), value).save(buffer, "PNG")
    return buffer.getvalue()


GOOD = {"parts/ok/1.png": gray_png(10), "parts/scratch/1.png": gray_png(200)}


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class RawMember:
    """One member of a raw ZIP: its stored bytes and whatever its headers claim.

    Attributes:
        name: The name written in the headers, unchecked.
        stored: The bytes as stored (deflated when `method` is 8).
        size: The uncompressed size the headers declare.
        crc: The CRC-32 the headers declare.
        method: 0 (stored) or 8 (deflated).
        mode: Unix file mode, written in the high bits of the external attributes.
    """

    name: str
    stored: bytes
    size: int
    crc: int
    method: int = 0
    mode: int = 0o100644


def stored(name: str, data: bytes, *, mode: int = 0o100644) -> RawMember:
    """A member holding `data` uncompressed, with honest headers."""
    return RawMember(name, data, len(data), zlib.crc32(data), mode=mode)


@functools.cache
def deflated_zeros(size: int) -> tuple[bytes, int]:
    """Returns (raw deflate stream, CRC-32) of `size` zero bytes, built 1 MiB at a time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(min(size, MiB))
    pieces, crc, left = [], 0, size
    while left:
        piece = chunk[: min(left, len(chunk))]
        pieces.append(compressor.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    pieces.append(compressor.flush())
    return b"".join(pieces), crc


def zeros_member(name: str, size: int, *, declared_size: int | None = None) -> RawMember:
    """A deflated member expanding to `size` zero bytes, declaring `declared_size` (or `size`)."""
    data, crc = deflated_zeros(size)
    return RawMember(name, data, size if declared_size is None else declared_size, crc, method=8)


def raw_zip(members: list[RawMember], *, declared_count: int | None = None) -> bytes:
    """Writes a ZIP archive byte by byte, trusting every field of `members`.

    Args:
        members: The members, in order; the same stored bytes may be reused (as bombs do).
        declared_count: Member count written in the end record. Defaults to the true count.
    """
    body, directory = bytearray(), bytearray()
    for member in members:
        name = member.name.encode("utf-8")
        fields = (member.method, 0, 0x21, member.crc, len(member.stored), member.size, len(name))
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, *fields, 0) + name + member.stored
        # Version 0x031E: made by Unix, so readers honour the mode in the external attributes.
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            0x031E,
            20,
            0,
            *fields,
            0,
            0,
            0,
            0,
            member.mode << 16,
            offset,
        )
        directory += name
    count = len(members) if declared_count is None else declared_count
    end = b""
    if count > 0xFFFF:
        # ZIP64: the real count sits in the ZIP64 end record, found through its locator.
        zip64_offset = len(body) + len(directory)
        end += struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), len(body)
        )
        end += struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_offset, 1)
        count = 0xFFFF
    end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return bytes(body + directory + end)


def good_members() -> list[RawMember]:
    return [stored(name, data) for name, data in GOOD.items()]


def load_both(data: bytes, name: str = "parts.zip"):
    """Loads `data` as a training zip and as an upload; returns both results' names and reasons.

    Returns:
        (zip_loaded, zip_rejected, upload_loaded, upload_rejected): loaded names in order, and
        {name: reason} of the rejected ones; upload names are prefixed with the archive name.
    """
    dataset = load_image_zip(data, name=name, image_size=IMAGE_SIZE)
    images, names, rejected = load_uploaded_images([(name, data)], image_size=IMAGE_SIZE)
    assert len(images) == len(names)
    return (
        dataset.filenames,
        {item.name: item.reason for item in dataset.rejected},
        names,
        {item.name: item.reason for item in rejected},
    )


def assert_only_rejected(
    data: bytes, member_name: str, reason: str, upload_reason: str | None = None
) -> None:
    """Asserts both loaders refuse `member_name` and load the good members.

    Members refused by the archive reader keep their inner name in `reason`; members refused
    when decoded are named as the upload lists them, so their `upload_reason` differs.
    """
    zip_loaded, zip_rejected, upload_loaded, upload_rejected = load_both(data)
    assert zip_loaded == list(GOOD)
    assert zip_rejected == {member_name: reason}
    assert upload_loaded == [f"parts.zip/{name}" for name in GOOD]
    assert upload_rejected == {f"parts.zip/{member_name}": upload_reason or reason}


@pytest.mark.parametrize(
    ("member_name", "expected"),
    [
        (
            "parts/ok/../../../evil.png",
            "Expected a path that stays inside the archive; '..' components are refused. "
            "Received: name='parts/ok/../../../evil.png'",
        ),
        (
            "..\\..\\evil.png",
            "Expected a path that stays inside the archive; '..' components are refused. "
            "Received: name='../../evil.png'",
        ),
        (
            "/etc/cron.d/evil.png",
            "Expected a relative path inside the archive; absolute paths are refused. "
            "Received: name='/etc/cron.d/evil.png'",
        ),
        (
            "C:/Windows/evil.png",
            "Expected a relative path inside the archive; absolute paths are refused. "
            "Received: name='C:/Windows/evil.png'",
        ),
    ],
    ids=["dot-dot", "backslash-dot-dot", "absolute", "drive-letter"],
)
def test_unsafe_member_name_is_rejected_and_the_rest_loads(member_name, expected):
    data = raw_zip([*good_members(), stored(member_name, gray_png(99))])
    shown_name = member_name.replace("\\", "/")
    assert_only_rejected(data, shown_name, expected)


def test_symlink_member_is_rejected_and_the_rest_loads():
    link = stored("parts/ok/passwd.png", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)
    data = raw_zip([*good_members(), link])
    assert_only_rejected(
        data,
        "parts/ok/passwd.png",
        "Expected a regular file; symbolic links are refused. Received: name='parts/ok/passwd.png'",
    )


def test_nested_zip_is_reported_as_not_an_image_and_the_rest_loads():
    inner = zip_of({"ok/2.png": gray_png(50)})
    data = zip_of({**GOOD, "parts/ok/more.zip": inner})
    assert_only_rejected(
        data,
        "parts/ok/more.zip",
        "Expected an image file (PNG, JPEG, BMP or TIFF); archives inside a data set are not "
        "opened. Received: name='parts/ok/more.zip'",
        "Expected an image file (PNG, JPEG, BMP or TIFF); archives inside a data set are not "
        "opened. Received: name='parts.zip/parts/ok/more.zip'",
    )


def test_malformed_archives_found_by_fuzzing_are_handled():
    # An empty member name made zipfile's `is_dir` raise IndexError: now skipped like a folder.
    contents = read_zip(raw_zip([*good_members(), stored("", b"data")]))
    assert [member.name for member in contents.members] == list(GOOD)
    assert contents.rejected == []
    # './C:/x.png' cleans to 'C:/x.png': the drive letter is found after '.' parts are dropped.
    contents = read_zip(raw_zip([*good_members(), stored("./C:/x.png", gray_png(5))]))
    assert [(item.name, item.reason) for item in contents.rejected] == [
        (
            "./C:/x.png",
            "Expected a relative path inside the archive; absolute paths are refused. "
            "Received: name='./C:/x.png'",
        )
    ]
    # A central directory asking for ZIP version 6.4 made zipfile raise NotImplementedError.
    data = bytearray(raw_zip(good_members()))
    directory = data.index(b"PK\x01\x02")
    data[directory + 6 : directory + 8] = (64).to_bytes(2, "little")
    with pytest.raises(ValueError) as error:
        read_zip(bytes(data), name="new.zip")
    assert str(error.value) == (
        "Expected a ZIP archive (.zip) (zip file version 6.4). Received: name='new.zip'"
    )


def test_hundred_thousand_members_are_refused_before_the_directory_is_parsed(monkeypatch):
    data = raw_zip([stored(f"parts/ok/{index}.png", b"") for index in range(100_000)])

    def refuse_to_parse(*arguments, **options):
        raise AssertionError("zipfile.ZipFile must not parse an archive over the member cap")

    monkeypatch.setattr(archives.zipfile, "ZipFile", refuse_to_parse)
    expected = (
        "Expected a ZIP archive with at most 20,000 members. "
        "Received: name='many.zip' with members=100,000"
    )
    with pytest.raises(ValueError) as error:
        load_image_zip(data, name="many.zip")
    assert str(error.value) == expected
    _, names, rejected = load_uploaded_images([("many.zip", data), ("a.png", gray_png(1))])
    assert names == ["a.png"]
    assert [(item.name, item.reason) for item in rejected] == [("many.zip", expected)]


def test_end_record_understating_the_member_count_is_caught_by_walking_the_directory(
    monkeypatch,
):
    data = raw_zip([stored(f"parts/ok/{index}.png", b"") for index in range(30)], declared_count=3)
    monkeypatch.setattr(archives.zipfile, "ZipFile", None)  # Never reached.
    with pytest.raises(ValueError) as error:
        read_zip(data, name="liar.zip", max_members=20)
    assert str(error.value) == (
        "Expected a ZIP archive with at most 20 members. "
        "Received: name='liar.zip' with members=more than 20"
    )


def test_member_whose_header_understates_its_size_is_read_only_up_to_that_size():
    # Declares 1,000 bytes, expands to 50 MiB: reading stops at 1,001 bytes and the CRC fails.
    liar = zeros_member("parts/ok/liar.png", 50 * MiB, declared_size=1_000)
    data = raw_zip([*good_members(), liar])
    tracemalloc.start()
    try:
        assert_only_rejected(
            data,
            "parts/ok/liar.png",
            "Expected an intact, readable archive member (Bad CRC-32 for file "
            "'parts/ok/liar.png'). Received: name='parts/ok/liar.png'",
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MiB, peak


def test_member_whose_header_claims_more_than_the_member_cap_is_refused_alone():
    # 3 GiB declared: refused by its header without reading, the archive itself still loads.
    huge = zeros_member("parts/ok/huge.png", 1_000, declared_size=3 * GiB)
    data = raw_zip([*good_members(), huge])
    assert_only_rejected(
        data,
        "parts/ok/huge.png",
        "Expected each archive member to be at most 67,108,864 bytes uncompressed. "
        "Received: name='parts/ok/huge.png' with 3,221,225,472 bytes",
    )


def test_zip_bomb_is_stopped_at_the_total_cap_without_being_expanded():
    # 40 members of 64 MiB of zeros (2.5 GiB in all) share one 64 KiB deflate stream.
    bomb = raw_zip(
        [*good_members(), *(zeros_member(f"parts/ok/{index}.png", 64 * MiB) for index in range(40))]
    )
    assert len(bomb) < 4 * MiB
    total = 40 * 64 * MiB + sum(len(data) for data in GOOD.values())
    expected = (
        "Expected a ZIP archive of at most 2,147,483,648 bytes uncompressed in total. "
        f"Received: name='bomb.zip' with total_bytes={total:,}"
    )
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as error:
            load_image_zip(bomb, name="bomb.zip")
        _, names, rejected = load_uploaded_images(
            [("bomb.zip", bomb), ("a.png", gray_png(1))], image_size=IMAGE_SIZE
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(error.value) == expected
    assert names == ["a.png"]
    assert [(item.name, item.reason) for item in rejected] == [("bomb.zip", expected)]
    assert peak < 16 * MiB, peak


def test_zip_bomb_with_lying_headers_expands_no_member_past_its_declared_size():
    # The same bomb declaring 100 bytes per member: every member fails its CRC after 101 bytes.
    bombs = [
        zeros_member(f"parts/ok/{index}.png", 64 * MiB, declared_size=100) for index in range(40)
    ]
    data = raw_zip([*good_members(), *bombs])
    tracemalloc.start()
    try:
        contents = read_zip(data, name="bomb.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [member.name for member in contents.members] == list(GOOD)
    assert [item.reason for item in contents.rejected] == [
        f"Expected an intact, readable archive member (Bad CRC-32 for file "
        f"'parts/ok/{index}.png'). Received: name='parts/ok/{index}.png'"
        for index in range(40)
    ]
    assert peak < 2 * MiB, peak


def test_zip_loaders_write_nothing_to_disk(tmp_path, monkeypatch):
    # Members aim at the working folder's parent, an absolute path and a link; the loaders read
    # into memory only, so no file appears anywhere, the temporary folder included.
    marker = f"linesight-escape-{uuid.uuid4().hex}.png"
    work = tmp_path / "work"
    temporary = tmp_path / "temporary"
    work.mkdir()
    temporary.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr("tempfile.tempdir", str(temporary))
    archive_path = tmp_path / "hostile.zip"
    archive_path.write_bytes(
        raw_zip(
            [
                *good_members(),
                stored(f"../{marker}", gray_png(3)),
                stored(f"parts/../../{marker}", gray_png(3)),
                stored(f"/tmp/{marker}", gray_png(3)),
                stored(f"parts/ok/{marker}", b"/etc/passwd", mode=stat.S_IFLNK | 0o777),
            ]
        )
    )
    before = sorted(path for path in tmp_path.rglob("*"))
    dataset = load_image_zip(archive_path, image_size=IMAGE_SIZE)
    load_uploaded_images([("hostile.zip", archive_path.read_bytes())], image_size=IMAGE_SIZE)
    read_zip(archive_path)
    assert len(dataset.rejected) == 4
    assert sorted(path for path in tmp_path.rglob("*")) == before
    assert not (tmp_path.parent / marker).exists()
    assert not Path("/tmp", marker).exists()

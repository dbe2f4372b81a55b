"""Tests for core/data/archives.py: safe, bounded reading of ZIP archives."""

import io
import stat
import zipfile

import pytest

from core.data import archives
from core.data.archives import ZipContents, ZipMember, iter_zip_members, read_zip


def make_zip(entries) -> bytes:
    """Builds a ZIP in memory from (name or ZipInfo, bytes) pairs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def patch_central_directory(data: bytes, name: str, offset: int, value: bytes) -> bytes:
    """Overwrites `value` at `offset` in the central directory record of member `name`."""
    marker = data.index(b"PK\x01\x02")
    while data[marker + 46 : marker + 46 + len(name)] != name.encode():
        marker = data.index(b"PK\x01\x02", marker + 4)
    start = marker + offset
    return data[:start] + value + data[start + len(value) :]


def test_reads_regular_files_and_skips_folders_and_junk():
    data = make_zip(
        [
            ("top/scratch/a.png", b"aaa"),
            ("top/scratch/", b""),
            ("__MACOSX/top/scratch/._a.png", b"junk"),
            ("top/scratch/.DS_Store", b"junk"),
            ("top/.hidden/b.png", b"junk"),
            ("top/Thumbs.db", b"junk"),
            ("top/pit\\b.png", b"bb"),
            ("top/./pit/c.png", b"c"),
        ]
    )
    contents = read_zip(data)
    assert isinstance(contents, ZipContents)
    assert contents.members == [
        ZipMember("top/scratch/a.png", b"aaa"),
        ZipMember("top/pit/b.png", b"bb"),
        ZipMember("top/pit/c.png", b"c"),
    ]
    assert contents.rejected == []


def test_reads_from_a_path(tmp_path):
    path = tmp_path / "parts.zip"
    path.write_bytes(make_zip([("a/x.png", b"x")]))
    assert read_zip(path).members == [ZipMember("a/x.png", b"x")]
    assert read_zip(str(path)).members == [ZipMember("a/x.png", b"x")]


def test_iter_zip_members_streams_and_appends_rejections():
    rejected = []
    iterator = iter_zip_members(
        make_zip([("a/x.png", b"x"), ("../y.png", b"y")]), rejected=rejected
    )
    assert [member.name for member in iterator] == ["a/x.png"]
    assert [item.name for item in rejected] == ["../y.png"]


@pytest.mark.parametrize(
    ("member_name", "expected_reason"),
    [
        ("../evil.png", "Expected a path that stays inside the archive; '..' components"),
        ("a/../../evil.png", "Expected a path that stays inside the archive; '..' components"),
        ("/etc/evil.png", "Expected a relative path inside the archive; absolute paths"),
        ("\\windows\\evil.png", "Expected a relative path inside the archive; absolute paths"),
        ("C:/evil.png", "Expected a relative path inside the archive; absolute paths"),
        ("c:\\evil.png", "Expected a relative path inside the archive; absolute paths"),
    ],
)
def test_unsafe_paths_are_rejected_by_name(member_name, expected_reason):
    contents = read_zip(make_zip([(zipfile.ZipInfo(member_name), b"x"), ("a/ok.png", b"ok")]))
    assert contents.members == [ZipMember("a/ok.png", b"ok")]
    (rejected,) = contents.rejected
    assert rejected.name == member_name.replace("\\", "/")
    assert rejected.reason.startswith(expected_reason)
    assert f"Received: name={rejected.name!r}" in rejected.reason


def test_symlink_member_is_rejected():
    info = zipfile.ZipInfo("a/link.png")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    contents = read_zip(make_zip([(info, "/etc/passwd")]))
    assert contents.members == []
    assert contents.rejected[0].as_dict() == {
        "name": "a/link.png",
        "reason": (
            "Expected a regular file; symbolic links are refused. Received: name='a/link.png'"
        ),
    }


def test_special_file_member_is_rejected():
    info = zipfile.ZipInfo("a/pipe.png")
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    contents = read_zip(make_zip([(info, b"")]))
    assert contents.rejected[0].reason == (
        "Expected a regular file; special files are refused. Received: name='a/pipe.png'"
    )


def test_encrypted_member_is_rejected():
    data = make_zip([("a/secret.png", b"secret"), ("a/open.png", b"open")])
    # Set bit 0 (encrypted) of the general purpose flags, at offset 8 of the central record.
    data = patch_central_directory(data, "a/secret.png", 8, b"\x01\x00")
    contents = read_zip(data)
    assert contents.members == [ZipMember("a/open.png", b"open")]
    assert contents.rejected[0].reason == (
        "Expected an unencrypted archive member; password-protected files are refused. "
        "Received: name='a/secret.png'"
    )


def test_member_over_size_cap_is_rejected():
    contents = read_zip(
        make_zip([("a/big.png", b"x" * 200), ("a/small.png", b"x" * 50)]), max_member_bytes=100
    )
    assert [member.name for member in contents.members] == ["a/small.png"]
    assert contents.rejected[0].reason == (
        "Expected each archive member to be at most 100 bytes uncompressed. "
        "Received: name='a/big.png' with 200 bytes"
    )


def test_member_whose_header_understates_its_size_is_rejected_as_corrupt():
    data = make_zip([("a/liar.png", b"x" * 1000)])
    # Uncompressed size sits at offset 24 of the central record; claim 10 bytes instead of 1000.
    data = patch_central_directory(data, "a/liar.png", 24, (10).to_bytes(4, "little"))
    contents = read_zip(data, max_member_bytes=100)
    assert contents.members == []
    assert contents.rejected[0].reason.startswith(
        "Expected an intact, readable archive member (Bad CRC-32 for file 'a/liar.png')."
    )
    assert contents.rejected[0].reason.endswith("Received: name='a/liar.png'")


def test_member_with_unsupported_compression_is_rejected():
    data = make_zip([("a/odd.png", b"x" * 100), ("a/ok.png", b"ok")])
    # The compression method sits at offset 10 of the central record; 99 is AES, unsupported.
    data = patch_central_directory(data, "a/odd.png", 10, (99).to_bytes(2, "little"))
    contents = read_zip(data)
    assert contents.members == [ZipMember("a/ok.png", b"ok")]
    assert contents.rejected[0].reason == (
        "Expected an intact, readable archive member (That compression method is not "
        "supported). Received: name='a/odd.png'"
    )


def test_too_many_members_raises():
    data = make_zip([(f"a/{index}.png", b"x") for index in range(4)])
    with pytest.raises(ValueError) as error:
        read_zip(data, name="many.zip", max_members=3)
    assert str(error.value) == (
        "Expected a ZIP archive with at most 3 members. Received: name='many.zip' with members=4"
    )


def test_total_size_over_cap_raises():
    data = make_zip([("a/1.png", b"x" * 100), ("a/2.png", b"x" * 100)])
    with pytest.raises(ValueError) as error:
        read_zip(data, max_total_bytes=150)
    assert str(error.value) == (
        "Expected a ZIP archive of at most 150 bytes uncompressed in total. "
        "Received: name='archive.zip' with total_bytes=200"
    )


def test_default_caps():
    assert archives.MAX_ARCHIVE_MEMBERS == 20_000
    assert archives.MAX_ARCHIVE_TOTAL_BYTES == 2 * 1024**3
    assert archives.MAX_MEMBER_BYTES == 64 * 1024**2


def test_non_zip_bytes_raise():
    with pytest.raises(ValueError) as error:
        read_zip(b"this is not a zip", name="notes.zip")
    message = str(error.value)
    assert message.startswith("Expected a ZIP archive (.zip) (")
    assert message.endswith("Received: name='notes.zip'")


def test_non_zip_file_and_missing_file_raise(tmp_path):
    path = tmp_path / "fake.zip"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"Expected a ZIP archive .* Received: name='fake.zip'"):
        read_zip(path)
    missing = tmp_path / "missing.zip"
    with pytest.raises(ValueError) as error:
        read_zip(missing)
    assert str(error.value) == f"Expected an existing ZIP file. Received: path={str(missing)!r}"


def test_wrong_source_type_raises():
    with pytest.raises(TypeError) as error:
        read_zip(42)
    assert str(error.value) == (
        "Expected a path to a ZIP file or its bytes. Received: source=42 of type int"
    )


@pytest.mark.parametrize("cap_name", ["max_members", "max_total_bytes", "max_member_bytes"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_invalid_caps_raise(cap_name, value):
    with pytest.raises(ValueError) as error:
        read_zip(make_zip([("a/x.png", b"x")]), **{cap_name: value})
    assert str(error.value) == (
        f"Expected `{cap_name}` to be a positive integer. Received: {cap_name}={value!r}"
    )


def test_is_zip_name():
    assert archives.is_zip_name("Parts.ZIP")
    assert not archives.is_zip_name("parts.zip.png")

"""Safe reading of ZIP archives that users upload or point at.

Members are read one at a time into memory, never extracted to disk (`extractall` is not used):
a hostile archive cannot write outside a folder, plant a link, or fill the disk. Every member
name is checked, every read is bounded by the member's declared size (so a header that lies
cannot make a member expand further), and the archive as a whole is capped in member count
(counted from the central directory before anything else is parsed) and in total uncompressed
size. An archive holding a saved model is refused: models are only trained here.

Shape: `iter_zip_members` streams the usable members and appends the members it refused to a
`rejected` list the caller passes in; `read_zip` collects both into a `ZipContents`.

Example:

    contents = read_zip("parts.zip")
    for member in contents.members:
        print(member.name, len(member.data))
    for rejected_file in contents.rejected:
        print(rejected_file.name, rejected_file.reason)
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from core.data.validation import RejectedFile, describe_value

MAX_ARCHIVE_MEMBERS = 20_000
MAX_ARCHIVE_TOTAL_BYTES = 2 * 1024**3
MAX_MEMBER_BYTES = 64 * 1024**2

# Files that operating systems and zip tools add on their own; users never mean them as data.
JUNK_FOLDER_NAMES = frozenset({"__MACOSX"})
JUNK_FILE_NAMES = frozenset({"Thumbs.db", "desktop.ini"})

# Saved models and weights of the common frameworks. Uploads never carry a model: LineSight only
# loads models it trained itself, so such a file is refused by name before it is opened.
MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5", ".pb", ".pbtxt", ".tflite", ".onnx", ".pt")
MODEL_FILE_SUFFIXES += (".pth", ".ckpt", ".safetensors")
SAVED_MODEL_FILE_NAMES = frozenset({"saved_model.pb", "saved_model.pbtxt"})

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_SKIP = "skip"  # Returned by `_refusal_reason` for folders and junk: dropped without a report.
# ZIP records (APPNOTE 4.3): the end of central directory record, the ZIP64 locator and end
# record, and the fixed part of a central directory record.
_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_RECORD_SIZE = 46
_MAX_COMMENT_BYTES = 65_535


@dataclasses.dataclass(frozen=True)
class ZipMember:
    """One regular file read from an archive.

    Attributes:
        name: The cleaned path inside the archive, with '/' separators (e.g. 'scratch/001.png').
        data: The uncompressed bytes.
    """

    name: str
    data: bytes


@dataclasses.dataclass
class ZipContents:
    """Everything usable in an archive, and what was refused.

    Attributes:
        members: Regular files that passed every check, in archive order.
        rejected: Members refused by name and reason (unsafe path, link, encrypted, too large,
            corrupt).
    """

    members: list[ZipMember]
    rejected: list[RejectedFile]


def is_zip_name(name: str) -> bool:
    """Returns True when `name` ends in '.zip' (any case)."""
    return name.lower().endswith(".zip")


def model_file_reason(name: str) -> str | None:
    """Returns why an uploaded file named `name` is refused as a model file, or None.

    Args:
        name: The file name as uploaded (or a path inside an archive).

    Returns:
        The refusal message when `name` ends in one of `MODEL_FILE_SUFFIXES` (any case), else None.
    """
    if not name.lower().endswith(MODEL_FILE_SUFFIXES):
        return None
    return model_message(name)


def model_message(name: str, detail: str = "") -> str:
    """Returns the refusal of a model file.

    Args:
        name: The file (or archive, or folder) name shown.
        detail: Text after the name, such as " holding a TensorFlow SavedModel". Defaults to "".
    """
    return (
        "Expected images or sensor data; model files are not accepted: models are trained here. "
        f"Received: name={name!r}{detail}"
    )


def iter_zip_members(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    rejected: list[RejectedFile] | None = None,
    max_members: int = MAX_ARCHIVE_MEMBERS,
    max_total_bytes: int = MAX_ARCHIVE_TOTAL_BYTES,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> Iterator[ZipMember]:
    """Yields the regular files of a ZIP archive, one at a time, after safety checks.

    Directories and operating-system junk (`__MACOSX/`, `.DS_Store`, names starting with '.')
    are skipped silently. Members with an absolute path, a drive letter, a '..' component, a
    link or special-file mode, encryption, a size over `max_member_bytes` or corrupt data are
    appended to `rejected` and not yielded.

    Args:
        source: Path to a ZIP file, or its bytes.
        name: Name used in messages. Defaults to the file name, or 'archive.zip' for bytes.
        rejected: List to which refused members are appended. Defaults to None (discarded).
        max_members: Most entries (files and folders) allowed. Defaults to 20,000.
        max_total_bytes: Most uncompressed bytes allowed over all members. Defaults to 2 GiB.
        max_member_bytes: Most uncompressed bytes allowed per member. Defaults to 64 MiB.

    Yields:
        `ZipMember` for each usable regular file, in archive order.

    Raises:
        TypeError: If `source` is neither a path nor bytes.
        ValueError: If `source` is not a readable ZIP archive, holds a saved model (a
            TensorFlow SavedModel or a Keras archive), or exceeds `max_members` or
            `max_total_bytes`. Being a generator, it raises when iteration
            starts (or, for the running size total, midway), not when called.
    """
    for cap_name, cap in (
        ("max_members", max_members),
        ("max_total_bytes", max_total_bytes),
        ("max_member_bytes", max_member_bytes),
    ):
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(
                f"Expected `{cap_name}` to be a positive integer. Received: {cap_name}={cap!r}"
            )
    if rejected is None:
        rejected = []
    archive_name, file_object = _open_source(source, name)
    # Parsing the central directory builds one object per member, so a small upload holding
    # millions of empty members would take seconds and gigabytes before `len(infos)` could be
    # checked; counting the fixed-size records first refuses it at once.
    try:
        with (
            file_object.open("rb")
            if isinstance(file_object, Path)
            else contextlib.nullcontext(file_object)
        ) as handle:
            members_text = _members_over_cap(handle, max_members)
    except OSError as error:
        raise ValueError(
            f"Expected a readable ZIP file ({error}). Received: name={archive_name!r}"
        ) from error
    if members_text is not None:
        raise ValueError(_members_message(max_members, archive_name, members_text))
    try:
        archive = zipfile.ZipFile(file_object)
    # NotImplementedError: a (damaged) central directory asking for a newer ZIP version.
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise ValueError(
            f"Expected a ZIP archive (.zip) ({error}). Received: name={archive_name!r}"
        ) from error
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise ValueError(_members_message(max_members, archive_name, f"{len(infos):,}"))
        model_reason = _model_archive_reason([info.filename for info in infos], archive_name)
        if model_reason is not None:
            raise ValueError(model_reason)
        # No read returns more than a member's declared size (see below), so the declared total
        # bounds the bytes read; the running total is kept as a second guard. Members declared
        # over the member cap are refused one by one below, never read, so they do not count.
        declared_total = sum(info.file_size for info in infos if info.file_size <= max_member_bytes)
        if declared_total > max_total_bytes:
            raise ValueError(_total_message(max_total_bytes, archive_name, declared_total))
        total_bytes = 0
        for info in infos:
            member_name = info.filename.replace("\\", "/")
            reason = _refusal_reason(info, member_name, max_member_bytes)
            if reason == _SKIP:
                continue
            if reason is not None:
                rejected.append(RejectedFile(member_name, reason))
                continue
            try:
                with archive.open(info) as handle:
                    # zipfile stops at the declared size (within the cap, checked above) and then
                    # fails the CRC check if the data went on: asking for one byte more keeps a
                    # header that understates the size from costing more than that size to read.
                    data = handle.read(min(info.file_size, max_member_bytes) + 1)
            # Corrupt data, a bad checksum or an unsupported compression method.
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                OSError,
                ValueError,
                RuntimeError,
                NotImplementedError,
            ) as error:
                rejected.append(
                    RejectedFile(
                        member_name,
                        f"Expected an intact, readable archive member ({error}). "
                        f"Received: name={member_name!r}",
                    )
                )
                continue
            if len(data) > max_member_bytes:
                rejected.append(
                    RejectedFile(
                        member_name,
                        _member_size_message(
                            max_member_bytes, member_name, f"more than {max_member_bytes:,}"
                        ),
                    )
                )
                continue
            total_bytes += len(data)
            if total_bytes > max_total_bytes:
                raise ValueError(_total_message(max_total_bytes, archive_name, total_bytes))
            yield ZipMember(_clean_name(member_name), data)


def read_zip(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    max_members: int = MAX_ARCHIVE_MEMBERS,
    max_total_bytes: int = MAX_ARCHIVE_TOTAL_BYTES,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> ZipContents:
    """Reads every usable member of a ZIP archive into memory.

    Args and Raises: as `iter_zip_members`.

    Returns:
        `ZipContents` with the usable members and the refused ones.
    """
    rejected: list[RejectedFile] = []
    members = list(
        iter_zip_members(
            source,
            name=name,
            rejected=rejected,
            max_members=max_members,
            max_total_bytes=max_total_bytes,
            max_member_bytes=max_member_bytes,
        )
    )
    return ZipContents(members=members, rejected=rejected)


def _open_source(source: object, name: str | None) -> tuple[str, Path | io.BytesIO]:
    if isinstance(source, bytes | bytearray | memoryview):
        return (name or "archive.zip"), io.BytesIO(bytes(source))
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"Expected an existing ZIP file. Received: path={str(path)!r}")
        return (name or path.name), path
    raise TypeError(
        "Expected a path to a ZIP file or its bytes. "
        f"Received: source={describe_value(source)} of type {type(source).__name__}"
    )


def _refusal_reason(info: zipfile.ZipInfo, member_name: str, max_member_bytes: int) -> str | None:
    """Returns why a member is refused, 'skip' for folders and junk, or None when it is fine."""
    parts = [part for part in member_name.split("/") if part not in ("", ".")]
    # The drive letter is looked for after dropping '.' parts: './C:/x' cleans to 'C:/x'.
    if member_name.startswith("/") or (parts and _DRIVE_LETTER.match(parts[0])):
        return (
            "Expected a relative path inside the archive; absolute paths are refused. "
            f"Received: name={member_name!r}"
        )
    if ".." in parts:
        return (
            "Expected a path that stays inside the archive; '..' components are refused. "
            f"Received: name={member_name!r}"
        )
    # `not parts` first: `is_dir` fails on the empty name a hostile archive may hold.
    if not parts or info.is_dir():
        return _SKIP
    if any(part.startswith(".") or part in JUNK_FOLDER_NAMES for part in parts):
        return _SKIP
    if parts[-1] in JUNK_FILE_NAMES:
        return _SKIP
    # Unix tools store the file mode in the high 16 bits; links and special files are refused
    # because following them could read outside the archive.
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return (
            f"Expected a regular file; symbolic links are refused. Received: name={member_name!r}"
        )
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return f"Expected a regular file; special files are refused. Received: name={member_name!r}"
    if info.flag_bits & 0x1:
        return (
            "Expected an unencrypted archive member; password-protected files are refused. "
            f"Received: name={member_name!r}"
        )
    if info.file_size > max_member_bytes:
        return _member_size_message(max_member_bytes, member_name, f"{info.file_size:,}")
    return None


def _members_over_cap(file_object, max_members: int) -> str | None:
    """Returns the member count as text when the central directory holds over `max_members`.

    Reads the end record, then walks at most `max_members + 1` central directory records by
    their fixed-size headers. Returns None when the count is within the cap or the records
    cannot be found (zipfile then reports the damage).
    """
    file_object.seek(0, os.SEEK_END)
    size = file_object.tell()
    tail_start = max(0, size - _END_RECORD.size - _MAX_COMMENT_BYTES)
    file_object.seek(tail_start)
    tail = file_object.read()
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or len(tail) - position < _END_RECORD.size:
        return None
    fields = _END_RECORD.unpack_from(tail, position)
    declared_members, directory_size = fields[4], fields[5]
    end_position = tail_start + position
    zip64_position = end_position - _ZIP64_LOCATOR_SIZE - _ZIP64_END_RECORD.size
    if zip64_position >= 0:
        file_object.seek(zip64_position)
        record = file_object.read(_ZIP64_END_RECORD.size + 4)
        if record.startswith(b"PK\x06\x06") and record[-4:] == b"PK\x06\x07":
            fields = _ZIP64_END_RECORD.unpack_from(record)
            declared_members, directory_size = fields[7], fields[8]
            end_position = zip64_position
    if declared_members > max_members:
        return f"{declared_members:,}"
    # The declared count may lie; zipfile trusts only the directory's size, so walk it.
    record_position = end_position - directory_size
    if record_position < 0:
        return None
    count = 0
    while count <= max_members and record_position + _CENTRAL_RECORD_SIZE <= end_position:
        file_object.seek(record_position)
        header = file_object.read(_CENTRAL_RECORD_SIZE)
        if not header.startswith(b"PK\x01\x02"):
            break
        name_length, extra_length, comment_length = struct.unpack_from("<3H", header, 28)
        record_position += _CENTRAL_RECORD_SIZE + name_length + extra_length + comment_length
        count += 1
    return f"more than {max_members:,}" if count > max_members else None


def _model_archive_reason(member_names: Sequence[str], archive_name: str) -> str | None:
    """Returns the refusal of an archive that holds a saved model, or None."""
    for member_name in member_names:
        if PurePosixPath(member_name.replace("\\", "/")).name in SAVED_MODEL_FILE_NAMES:
            return model_message(
                archive_name, f" holding a TensorFlow SavedModel ({member_name!r})"
            )
    top_level = {member_name for member_name in member_names if "/" not in member_name}
    if "config.json" in top_level and any(
        member_name.startswith("model.weights.") for member_name in top_level
    ):
        return model_message(archive_name, " holding a Keras model (config.json and weights)")
    return None


def _members_message(max_members: int, archive_name: str, members_text: str) -> str:
    return (
        f"Expected a ZIP archive with at most {max_members:,} members. "
        f"Received: name={archive_name!r} with members={members_text}"
    )


def _clean_name(member_name: str) -> str:
    parts = [part for part in member_name.split("/") if part not in ("", ".")]
    return str(PurePosixPath(*parts))


def _member_size_message(max_member_bytes: int, member_name: str, size_text: str) -> str:
    return (
        f"Expected each archive member to be at most {max_member_bytes:,} bytes uncompressed. "
        f"Received: name={member_name!r} with {size_text} bytes"
    )


def _total_message(max_total_bytes: int, archive_name: str, total_bytes: int) -> str:
    return (
        f"Expected a ZIP archive of at most {max_total_bytes:,} bytes uncompressed in total. "
        f"Received: name={archive_name!r} with total_bytes={total_bytes:,}"
    )

"""Safe reading of ZIP archives that users upload or point at.

Members are read one at a time into memory, never extracted to disk (`extractall` is not used):
a hostile archive cannot write outside a folder, plant a link, or fill the disk. Every member
name is checked, every read is bounded, and the archive as a whole is capped in member count and
in total uncompressed size.

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

import dataclasses
import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from core.data.validation import RejectedFile, describe_value

MAX_ARCHIVE_MEMBERS = 20_000
MAX_ARCHIVE_TOTAL_BYTES = 2 * 1024**3
MAX_MEMBER_BYTES = 64 * 1024**2

# Files that operating systems and zip tools add on their own; users never mean them as data.
JUNK_FOLDER_NAMES = frozenset({"__MACOSX"})
JUNK_FILE_NAMES = frozenset({"Thumbs.db", "desktop.ini"})

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_SKIP = "skip"  # Returned by `_refusal_reason` for folders and junk: dropped without a report.


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
        ValueError: If `source` is not a readable ZIP archive, or the archive exceeds
            `max_members` or `max_total_bytes`. Being a generator, it raises when iteration
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
    try:
        archive = zipfile.ZipFile(file_object)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(
            f"Expected a ZIP archive (.zip) ({error}). Received: name={archive_name!r}"
        ) from error
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise ValueError(
                f"Expected a ZIP archive with at most {max_members:,} members. "
                f"Received: name={archive_name!r} with members={len(infos):,}"
            )
        # The declared sizes can lie, so this is only an early refusal of honest huge archives;
        # the running total of bytes actually read below is the real guard.
        declared_total = sum(info.file_size for info in infos)
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
                    # Read one byte past the cap: getting it proves the header understated the
                    # size, without ever holding more than cap + 1 bytes.
                    data = handle.read(max_member_bytes + 1)
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


def _open_source(source: object, name: str | None) -> tuple[str, object]:
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
    if member_name.startswith("/") or _DRIVE_LETTER.match(member_name):
        return (
            "Expected a relative path inside the archive; absolute paths are refused. "
            f"Received: name={member_name!r}"
        )
    if ".." in parts:
        return (
            "Expected a path that stays inside the archive; '..' components are refused. "
            f"Received: name={member_name!r}"
        )
    if info.is_dir() or not parts:
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

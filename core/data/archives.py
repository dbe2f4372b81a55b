"""Safe reading of ZIP archives that users upload or point at.

Members are read one at a time into memory, never extracted to disk (`extractall` is not used):
a hostile archive cannot write outside a folder, plant a link, or fill the disk. Every member
name is checked (`core.data.archive_checks`), every read is bounded by the member's declared size
(so a header that lies cannot make a member expand further), and the archive as a whole is capped
in member count (counted from the central directory before anything else is parsed) and in total
uncompressed size. An archive holding a saved model is refused: models are only trained here.

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
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from core.data import archive_checks
from core.data.validation import RejectedFile, describe_value

MAX_ARCHIVE_MEMBERS = 20_000
MAX_ARCHIVE_TOTAL_BYTES = 2 * 1024**3
MAX_MEMBER_BYTES = 64 * 1024**2


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
            members_text = archive_checks.members_over_cap(handle, max_members)
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
        model_reason = archive_checks.model_archive_reason(
            [info.filename for info in infos], archive_name
        )
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
            reason = archive_checks.member_refusal_reason(info, member_name, max_member_bytes)
            if reason == archive_checks.SKIP:
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
                        archive_checks.member_size_message(
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


def _members_message(max_members: int, archive_name: str, members_text: str) -> str:
    return (
        f"Expected a ZIP archive with at most {max_members:,} members. "
        f"Received: name={archive_name!r} with members={members_text}"
    )


def _clean_name(member_name: str) -> str:
    parts = [part for part in member_name.split("/") if part not in ("", ".")]
    return str(PurePosixPath(*parts))


def _total_message(max_total_bytes: int, archive_name: str, total_bytes: int) -> str:
    return (
        f"Expected a ZIP archive of at most {max_total_bytes:,} bytes uncompressed in total. "
        f"Received: name={archive_name!r} with total_bytes={total_bytes:,}"
    )

"""Durable file writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def write_bytes_atomically(path: Path, content: bytes, *, create_parent: bool = True) -> None:
    """Writes `content` to a temporary file beside `path`, fsyncs it, then `os.replace`s it.

    The file gets the permissions of a plainly written one (0o666 less the umask).

    Args:
        path: The file to write.
        content: Its new content.
        create_parent: Whether to create a missing parent directory. Default: True. The
            registry passes False so that a staging directory removed under a save is noticed
            instead of being silently recreated.

    Raises:
        FileNotFoundError: If the parent directory is missing and `create_parent` is False.
    """
    path = Path(path)
    if create_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    # `os.open` applies the umask to 0o666, as `open` does; `tempfile.mkstemp` would leave the
    # file 0o600, unreadable to the other users of a shared registry or export folder.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def fsync_file(path: Path) -> None:
    """Flushes a written file's contents to disk."""
    with open(path, "rb") as stream:
        os.fsync(stream.fileno())


def fsync_directory(path: Path) -> None:
    """Flushes a directory's entries (new or renamed files) to disk."""
    # Directories cannot be opened for fsync on Windows; their entries are durable there anyway.
    if os.name != "posix":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

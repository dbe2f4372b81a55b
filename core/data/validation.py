"""Shared pieces for validating input at the boundary where it enters LineSight."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class RejectedFile:
    """A file that could not be used, and why.

    Attributes:
        name: The file name as the user knows it (path inside a zip, upload name, ...).
        reason: A sentence saying what was expected and what was received.
    """

    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclasses.dataclass(frozen=True)
class FileItem:
    """A named file to read, or one refused before it was opened (then `reason` says why).

    Attributes:
        name: The name the user knows (path in the folder or zip, or as written or given).
        path: The file to read, or None (a refusal, or bytes held elsewhere).
        reason: Why the item was refused, or None.
    """

    name: str
    path: Path | None = None
    reason: str | None = None

    def rejection(self) -> RejectedFile:
        """The refusal as a `RejectedFile` (for an item with a `reason`)."""
        return RejectedFile(self.name, self.reason)


def describe_value(value: object, limit: int = 80) -> str:
    """Returns a short `repr` of `value` for an error message."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def check_named_files(files: object) -> list[tuple[str, bytes]]:
    """Checks uploads given as (name, bytes) pairs and returns them as a list of tuples.

    Raises:
        TypeError: If `files` is not a sequence of (str, bytes) pairs.
    """
    if not isinstance(files, Sequence) or isinstance(files, str | bytes):
        raise TypeError(
            f"Expected a list of (name, bytes) pairs. Received: {describe_value(files)}"
        )
    checked = []
    for item in files:
        if not (
            isinstance(item, tuple | list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], bytes | bytearray)
        ):
            raise TypeError(
                f"Expected each upload as a (name, bytes) pair. Received: {describe_value(item)}"
            )
        checked.append((item[0], bytes(item[1])))
    return checked

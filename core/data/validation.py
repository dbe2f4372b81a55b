"""Shared pieces for validating input at the boundary where it enters LineSight."""

from __future__ import annotations

import dataclasses


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


def describe_value(value: object, limit: int = 80) -> str:
    """Returns a short `repr` of `value` for an error message."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text

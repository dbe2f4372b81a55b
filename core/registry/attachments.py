"""Files kept beside a registered model version: its operating point, robustness results and
sign-off report.

A version's `model.keras` and `metadata.json` never change after the save (their fingerprint is
what a report signs off). What an engineer decides later about that version lives in named
attachment files in the same directory, each written atomically: a reader sees the previous
attachment or the new one, never half of it, and a failed write leaves the previous one intact.

Example:

    write_json_attachment(record, OPERATING_POINT, {"threshold": 0.42, ...})
    read_json_attachment(record, OPERATING_POINT)   # None when there is none yet
"""

from __future__ import annotations

import json
from pathlib import Path

from core.data.atomic_files import write_bytes_atomically
from core.data.validation import describe_value

OPERATING_POINT = "operating_point.json"
ROBUSTNESS = "robustness.json"
SIGNOFF_REPORT = "signoff_report.html"
ATTACHMENT_NAMES = (OPERATING_POINT, ROBUSTNESS, SIGNOFF_REPORT)


def _attachment_path(record, name: str) -> Path:
    if name not in ATTACHMENT_NAMES:
        raise ValueError(
            f"Expected an attachment name among {list(ATTACHMENT_NAMES)}. "
            f"Received: name={describe_value(name)}"
        )
    path = Path(record.path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"Expected the version directory of '{record.reference}' to exist (it may have been "
            f"deleted). Received: path={str(path)!r}"
        )
    return path / name


def write_attachment(record, name: str, content: bytes) -> Path:
    """Writes (or replaces) one attachment of a model version, atomically.

    Args:
        record: The `ModelRecord` of the version.
        name: One of `ATTACHMENT_NAMES`.
        content: The file's bytes.

    Returns:
        The path written.

    Raises:
        ValueError: If the name is not a known attachment or the content is not bytes.
        FileNotFoundError: If the version directory no longer exists.
    """
    if not isinstance(content, bytes | bytearray):
        raise ValueError(
            f"Expected the attachment content as bytes. Received: {type(content).__name__}"
        )
    path = _attachment_path(record, name)
    write_bytes_atomically(path, bytes(content), create_parent=False)
    return path


def read_attachment(record, name: str) -> bytes | None:
    """Returns one attachment's bytes, or None when the version has none."""
    path = _attachment_path(record, name)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_json_attachment(record, name: str, payload: dict) -> Path:
    """Writes a JSON attachment (a dict), atomically; see `write_attachment`."""
    if not isinstance(payload, dict):
        raise ValueError(f"Expected a dict to write as {name}. Received: {describe_value(payload)}")
    try:
        content = json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Expected {name} to hold JSON values only (finite numbers, strings, lists, dicts). "
            f"Received: error={error}"
        ) from error
    return write_attachment(record, name, content.encode("utf-8"))


def read_json_attachment(record, name: str) -> dict | None:
    """Returns a JSON attachment as a dict, or None when the version has none.

    Raises:
        ValueError: If the file exists but does not hold a JSON object.
    """
    content = read_attachment(record, name)
    if content is None:
        return None
    try:
        payload = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"Expected {name} of '{record.reference}' to hold JSON. Received: error={error}"
        ) from error
    if not isinstance(payload, dict):
        raise ValueError(
            f"Expected {name} of '{record.reference}' to hold a JSON object. "
            f"Received: {describe_value(payload)}"
        )
    return payload

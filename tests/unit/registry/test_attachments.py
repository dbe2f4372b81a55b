"""Tests for core/registry/attachments.py: files kept beside a model version."""

import json
from pathlib import Path

import pytest

from core.registry import attachments
from core.registry.metadata import ModelRecord


@pytest.fixture
def record(tmp_path) -> ModelRecord:
    version_directory = tmp_path / "parts" / "3"
    version_directory.mkdir(parents=True)
    return ModelRecord(name="parts", version=3, path=version_directory, metadata={})


def test_json_attachment_round_trips_and_replaces(record):
    assert attachments.read_json_attachment(record, attachments.OPERATING_POINT) is None
    path = attachments.write_json_attachment(
        record, attachments.OPERATING_POINT, {"threshold": 0.25, "good_class": "ok"}
    )
    assert path == Path(record.path) / "operating_point.json"
    attachments.write_json_attachment(record, attachments.OPERATING_POINT, {"threshold": 0.5})
    assert attachments.read_json_attachment(record, attachments.OPERATING_POINT) == {
        "threshold": 0.5
    }
    # Nothing but the attachment itself is left in the version directory.
    assert sorted(item.name for item in Path(record.path).iterdir()) == ["operating_point.json"]


def test_bytes_attachment_round_trips(record):
    attachments.write_attachment(record, attachments.SIGNOFF_REPORT, b"<html></html>")
    assert attachments.read_attachment(record, attachments.SIGNOFF_REPORT) == b"<html></html>"
    assert attachments.read_attachment(record, attachments.ROBUSTNESS) is None


def test_unknown_name_and_bad_content_are_refused(record):
    with pytest.raises(ValueError, match=r"Expected an attachment name among .*Received: name="):
        attachments.write_attachment(record, "../model.keras", b"x")
    with pytest.raises(ValueError, match=r"attachment content as bytes. Received: str"):
        attachments.write_attachment(record, attachments.SIGNOFF_REPORT, "text")
    with pytest.raises(ValueError, match=r"Expected a dict to write as robustness.json"):
        attachments.write_json_attachment(record, attachments.ROBUSTNESS, [1, 2])
    with pytest.raises(ValueError, match=r"Expected robustness.json to hold JSON values only"):
        attachments.write_json_attachment(record, attachments.ROBUSTNESS, {"x": float("nan")})


def test_deleted_version_is_reported(record, tmp_path):
    Path(record.path).rmdir()
    with pytest.raises(FileNotFoundError, match=r"version directory of 'parts:3' to exist"):
        attachments.write_json_attachment(record, attachments.OPERATING_POINT, {"threshold": 1})


def test_corrupt_json_is_reported(record):
    (Path(record.path) / attachments.ROBUSTNESS).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"Expected robustness.json of 'parts:3' to hold JSON"):
        attachments.read_json_attachment(record, attachments.ROBUSTNESS)
    (Path(record.path) / attachments.ROBUSTNESS).write_text(json.dumps([1]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"to hold a JSON object. Received:"):
        attachments.read_json_attachment(record, attachments.ROBUSTNESS)

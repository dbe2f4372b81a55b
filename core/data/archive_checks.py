"""Checks on uploaded files and ZIP archive members, made before any member is read.

A file named like a saved model is refused (models are only trained here), and so is an archive
holding one. A member is refused for an absolute path, a drive letter, a '..' component, a link
or special-file mode, encryption or a declared size over the cap; folders and operating-system
junk are skipped. The member count is read from the central directory's fixed-size records before
zipfile parses it. Reading the members that pass is `core.data.archives`.

Example:

    reason = model_file_reason("weights.h5")  # The refusal message.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath

# Files that operating systems and zip tools add on their own; users never mean them as data.
JUNK_FOLDER_NAMES = frozenset({"__MACOSX"})
JUNK_FILE_NAMES = frozenset({"Thumbs.db", "desktop.ini"})

# Saved models and weights of the common frameworks. Uploads never carry a model: LineSight only
# loads models it trained itself, so such a file is refused by name before it is opened.
MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5", ".pb", ".pbtxt", ".tflite", ".onnx", ".pt")
MODEL_FILE_SUFFIXES += (".pth", ".ckpt", ".safetensors")
SAVED_MODEL_FILE_NAMES = frozenset({"saved_model.pb", "saved_model.pbtxt"})

SKIP = "skip"  # Returned by `member_refusal_reason` for folders and junk: dropped unreported.

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
# ZIP records (APPNOTE 4.3): the end of central directory record, the ZIP64 locator and end
# record, and the fixed part of a central directory record.
_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_RECORD_SIZE = 46
_MAX_COMMENT_BYTES = 65_535


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


def member_refusal_reason(
    info: zipfile.ZipInfo, member_name: str, max_member_bytes: int
) -> str | None:
    """Returns why an archive member is refused, `SKIP` for folders and junk, or None when fine.

    Args:
        info: The member's entry in the central directory.
        member_name: Its name with '/' separators.
        max_member_bytes: Most uncompressed bytes allowed per member.
    """
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
        return SKIP
    if any(part.startswith(".") or part in JUNK_FOLDER_NAMES for part in parts):
        return SKIP
    if parts[-1] in JUNK_FILE_NAMES:
        return SKIP
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
        return member_size_message(max_member_bytes, member_name, f"{info.file_size:,}")
    return None


def members_over_cap(file_object, max_members: int) -> str | None:
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


def model_archive_reason(member_names: Sequence[str], archive_name: str) -> str | None:
    """Returns the refusal of an archive that holds a saved model (a TensorFlow SavedModel or a
    Keras archive), judged by its member names, or None."""
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


def member_size_message(max_member_bytes: int, member_name: str, size_text: str) -> str:
    """Returns the refusal of a member over `max_member_bytes` (its size given as text)."""
    return (
        f"Expected each archive member to be at most {max_member_bytes:,} bytes uncompressed. "
        f"Received: name={member_name!r} with {size_text} bytes"
    )

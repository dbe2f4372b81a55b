"""Writing the registry to disk: staging a version, claiming its number with one atomic rename,
and removing versions and the leftovers of crashed writers.

A version directory appears in one `os.rename` of a complete, fsynced staging directory, so a
reader never sees half a model, and concurrent writers (threads or processes) claim distinct
versions. A deleted directory is first renamed into a hidden trash directory, so readers see the
model or nothing. `core.registry.store.ModelRegistry` is the interface; these are its mechanics.

Example:

    record = stage_and_claim(directory, "bearings", metadata, model.save)
    move_to_trash(directory, record.path)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from core.data.atomic_files import fsync_directory, fsync_file, write_bytes_atomically
from core.registry.metadata import (
    METADATA_FILENAME,
    MODEL_FILENAME,
    ModelRecord,
    is_version_directory_name,
)
from core.registry.reading import contains_lambda_layer, lambda_refusal

STAGING_DIRECTORY = ".staging"
TRASH_DIRECTORY = ".trash"
# Staging or trash entries older than this are leftovers of a crashed writer.
LEFTOVER_AGE_SECONDS = 3600
_CLAIM_ATTEMPTS = 1000


def stage_and_claim(
    directory: Path, name: str, metadata: dict, write_model: Callable[[Path], object]
) -> ModelRecord:
    """Writes a model into a fresh staging directory, then claims the next version of `name`.

    Args:
        directory: The registry root.
        name: The (validated) model name.
        metadata: The validated metadata; its `version` is set to the claimed number.
        write_model: Writes `model.keras` at the path it is given.

    Returns:
        The record of the new version.

    Raises:
        ValueError: If the written model file holds a Lambda layer.
        FileNotFoundError: If another process removed the staging directory meanwhile.
        OSError: If the file system fails; nothing partial is then listed.
    """
    clean_leftovers(directory)
    staging_root = directory / STAGING_DIRECTORY
    staging_root.mkdir(parents=True, exist_ok=True)
    staged = staging_root / uuid.uuid4().hex
    staged.mkdir()
    try:
        model_path = staged / MODEL_FILENAME
        write_model(model_path)
        fsync_file(model_path)
        if contains_lambda_layer(model_path):
            raise lambda_refusal("save", name, f"name={name!r}")
        return _claim_version(directory, staged, name, metadata)
    finally:
        # After a successful claim `staged` no longer exists; after a failure it is removed
        # so that nothing partial stays behind.
        shutil.rmtree(staged, ignore_errors=True)


def move_to_trash(directory: Path, path: Path) -> None:
    """Removes `path` (a version or name directory) of the registry at `directory`.

    The rename into the trash is atomic: readers see the model or nothing.
    """
    trash_root = directory / TRASH_DIRECTORY
    trash_root.mkdir(parents=True, exist_ok=True)
    trashed = trash_root / uuid.uuid4().hex
    os.rename(path, trashed)
    shutil.rmtree(trashed, ignore_errors=True)


def clean_leftovers(directory: Path) -> None:
    """Removes staging and trash entries that crashed writers left more than an hour ago."""
    oldest_allowed = time.time() - LEFTOVER_AGE_SECONDS
    for hidden in (STAGING_DIRECTORY, TRASH_DIRECTORY):
        try:
            entries = list(os.scandir(directory / hidden))
        except FileNotFoundError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < oldest_allowed:
                    shutil.rmtree(entry.path, ignore_errors=True)


def _claim_version(directory: Path, staged: Path, name: str, metadata: dict) -> ModelRecord:
    """Renames `staged` to the next free version of `name`, retrying when another writer
    claims the same number first."""
    name_directory = directory / name
    for _ in range(_CLAIM_ATTEMPTS):
        # Another process may remove the staging directory (e.g. a person clearing it);
        # claiming what is left would register a version without its model.
        if not (staged / MODEL_FILENAME).is_file():
            raise _lost_staging_error(staged)
        name_directory.mkdir(parents=True, exist_ok=True)
        version = _next_version(name_directory)
        metadata = {**metadata, "version": version}
        try:
            write_bytes_atomically(
                staged / METADATA_FILENAME,
                json.dumps(metadata, indent=2, ensure_ascii=False).encode("utf-8"),
                create_parent=False,
            )
            fsync_directory(staged)
        except FileNotFoundError as error:
            raise _lost_staging_error(staged) from error
        target = name_directory / str(version)
        try:
            # A directory rename fails when the target exists and is not empty (a claimed
            # version always holds files), which makes it an atomic claim of the number.
            os.rename(staged, target)
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOENT):
                # Taken by another writer, or the name directory was just deleted (or the
                # staging directory, which the next attempt reports).
                continue
            raise
        # The new entry, and the name directory's own entry when it is new, reach the disk.
        fsync_directory(name_directory)
        fsync_directory(directory)
        return ModelRecord(name=name, version=version, path=target, metadata=metadata)
    raise OSError(
        f"Expected to claim a version of '{name}' within {_CLAIM_ATTEMPTS} attempts. "
        f"Received: directory={str(name_directory)!r}"
    )


def _lost_staging_error(staged: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"Expected the staging directory of the save to hold {MODEL_FILENAME} until the version "
        "is claimed; another process removed it, so nothing was registered. "
        f"Received: staged={str(staged)!r}"
    )


def _next_version(name_directory: Path) -> int:
    versions = [
        int(entry) for entry in os.listdir(name_directory) if is_version_directory_name(entry)
    ]
    return max(versions, default=0) + 1

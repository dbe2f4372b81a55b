"""Reading the registry from disk: version directories, and Lambda layers inside model files.

Plain Python reading JSON and zip files only: listing the registry (the home page does) must not
import TensorFlow.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from core.data.validation import RejectedFile, describe_value
from core.registry.metadata import (
    METADATA_FILENAME,
    MODEL_FILENAME,
    ModelRecord,
    is_model_name,
    is_version_directory_name,
    validate_metadata,
)


def read_version_directory(name: str, version: int, path: Path) -> ModelRecord | RejectedFile:
    """Reads one version directory, or says why it is not a usable model.

    Returns:
        A `ModelRecord`, or a `RejectedFile` named `"<name>/<version>"` with the reason.
    """
    label = f"{name}/{path.name}"
    model_path = path / MODEL_FILENAME
    metadata_path = path / METADATA_FILENAME
    if not model_path.is_file() or not metadata_path.is_file():
        present = sorted(os.listdir(path)) if path.is_dir() else []
        return RejectedFile(
            label,
            f"Expected {MODEL_FILENAME} and {METADATA_FILENAME} in the version directory. "
            f"Received: files={present}",
        )
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return RejectedFile(
            label, f"Expected {METADATA_FILENAME} to hold JSON. Received: error={error}"
        )
    if not isinstance(metadata, dict):
        return RejectedFile(
            label,
            f"Expected {METADATA_FILENAME} to hold a JSON object. "
            f"Received: {describe_value(metadata)}",
        )
    try:
        # The directory, not the file, says which model this is (a copied directory keeps the
        # metadata of its source).
        metadata = validate_metadata({**metadata, "name": name, "version": version})
    except ValueError as error:
        return RejectedFile(label, str(error))
    return ModelRecord(name=name, version=version, path=path, metadata=metadata)


def contains_lambda_layer(model_path: Path) -> bool:
    """Whether the `config.json` inside a `.keras` archive has a Lambda layer anywhere."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError):
        # Not a readable archive: Keras itself reports that when loading.
        return False
    pending: list[object] = [config]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "Lambda":
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def lambda_refusal(action: str, reference: str, received: str) -> ValueError:
    """Returns the error for a model that holds a Lambda layer (`action`: "load" or "save")."""
    return ValueError(
        f"Refusing to {action} model '{reference}': it contains a Lambda layer (arbitrary Python "
        "code), which LineSight does not load. Use built-in or registered layers instead. "
        f"Received: {received}"
    )


def scan_registry(directory: Path) -> tuple[list[ModelRecord], list[RejectedFile]]:
    """Reads every model version under a registry root, skipping hidden entries.

    Returns:
        The valid records sorted by name then version, and the entries that are not usable.
    """
    records: list[ModelRecord] = []
    problems: list[RejectedFile] = []
    if not directory.is_dir():
        return records, problems
    for entry in sorted(os.scandir(directory), key=lambda item: item.name):
        if entry.name.startswith("."):
            continue
        if not is_model_name(entry.name) or not entry.is_dir():
            problems.append(
                RejectedFile(
                    entry.name,
                    "Expected a directory named by a valid model name. "
                    f"Received: name={entry.name!r}",
                )
            )
            continue
        model_records, model_problems = scan_model(directory, entry.name)
        records.extend(model_records)
        problems.extend(model_problems)
    return records, problems


def scan_model(directory: Path, name: str) -> tuple[list[ModelRecord], list[RejectedFile]]:
    """Reads the versions of one model.

    Returns:
        The valid records sorted by version, and the entries that are not usable.
    """
    records: list[ModelRecord] = []
    problems: list[RejectedFile] = []
    try:
        entries = list(os.scandir(directory / name))
    except (FileNotFoundError, NotADirectoryError):
        return records, problems
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if not is_version_directory_name(entry.name):
            problems.append(
                RejectedFile(
                    f"{name}/{entry.name}",
                    "Expected a version directory named by a positive integer. "
                    f"Received: name={entry.name!r}",
                )
            )
            continue
        record_or_problem = read_version_directory(name, int(entry.name), Path(entry.path))
        if isinstance(record_or_problem, RejectedFile):
            problems.append(record_or_problem)
        else:
            records.append(record_or_problem)
    records.sort(key=lambda record: record.version)
    problems.sort(key=lambda problem: problem.name)
    return records, problems

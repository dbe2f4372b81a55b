"""What the LineSight registry stores: names, references, metadata and version records.

Everything here is plain Python: listing the registry (the home page does) must not import
TensorFlow. Reading version directories from disk lives in `core.registry.reading`.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import numbers
import os
import re
from collections.abc import Iterable
from pathlib import Path

from core.data.validation import describe_value

MODEL_FILENAME = "model.keras"
METADATA_FILENAME = "metadata.json"
DEFAULT_REGISTRY_DIRECTORY = "registry"
REGISTRY_ENVIRONMENT_VARIABLE = "LINESIGHT_REGISTRY"

TASKS = (
    "image_classification",
    "series_rul",
    "series_failure",
    "series_anomaly",
    "gan",
    "image_anomaly",
)
REQUIRED_KEYS = (
    "task",
    "classes",
    "input_shape",
    "preprocessing",
    "training_config",
    "metrics",
    "history",
    "dataset_fingerprint",
    "created_at",
    "tensorflow_version",
    "keras_version",
)
# `name` and `version` are written by `ModelRegistry.save`; the rest are free-form extras.
OPTIONAL_KEYS = ("name", "version", "owner", "notes", "extra")

# A name becomes a directory: start with a letter or digit so that it can never be hidden, `.` or
# `..`, and allow no path separator.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def resolve_registry_directory(explicit: str | os.PathLike | None = None) -> Path:
    """Returns the registry directory to use.

    Args:
        explicit: A directory given by the user (`--registry`), or None. Default: None.

    Returns:
        `explicit` when given, else `$LINESIGHT_REGISTRY` when set and not empty, else
        `./registry`.
    """
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    from_environment = os.environ.get(REGISTRY_ENVIRONMENT_VARIABLE, "")
    if from_environment:
        return Path(from_environment).expanduser()
    return Path(DEFAULT_REGISTRY_DIRECTORY)


def is_model_name(text: str) -> bool:
    """Whether `text` is a valid model name (see `validate_model_name`)."""
    return _NAME_PATTERN.fullmatch(text) is not None


def validate_model_name(name: object) -> str:
    """Returns `name` when it is a valid model name.

    Raises:
        ValueError: If `name` is not 1 to 64 letters, digits, `_`, `.` or `-`, starting with a
            letter or digit.
    """
    if not isinstance(name, str) or _NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(
            "Expected a model name of 1 to 64 letters, digits, '_', '.' or '-', starting with a "
            f"letter or digit. Received: name={describe_value(name)}"
        )
    return name


def validate_version(version: object) -> int:
    """Returns `version` when it is a positive integer.

    Raises:
        ValueError: If `version` is not a positive integer.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(
            f"Expected a version that is a positive integer. Received: version={version!r}"
        )
    return version


def parse_model_reference(reference: str) -> tuple[str, int | None]:
    """Splits `"name"`, `"name:3"` or `"name:latest"` into a name and a version.

    Args:
        reference: A model reference as typed by the user.

    Returns:
        `(name, version)`, with `version` None for the latest version.

    Raises:
        ValueError: If the name is invalid or the version is not a positive integer.
    """
    if not isinstance(reference, str):
        raise ValueError(
            "Expected a model reference 'name' or 'name:version'. "
            f"Received: reference={describe_value(reference)}"
        )
    name, separator, version_text = reference.partition(":")
    validate_model_name(name)
    if not separator or version_text == "latest":
        return name, None
    if not is_version_directory_name(version_text):
        raise ValueError(
            "Expected a model reference 'name' or 'name:version' with a positive integer version "
            f"(or 'latest'). Received: reference={reference!r}"
        )
    return name, int(version_text)


def _json_compatible(value: object) -> object:
    """Converts numpy scalars and arrays (anything with `tolist`) and tuples to JSON types."""
    if isinstance(value, dict):
        return {key: _json_compatible(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_compatible(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return _json_compatible(value.tolist())
    return value


def _expect(condition: bool, key: str, expected: str, value: object) -> None:
    if not condition:
        raise ValueError(
            f"Expected metadata['{key}'] to be {expected}. Received: {key}={describe_value(value)}"
        )


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate_metadata(metadata: dict) -> dict:
    """Checks a model's metadata and returns a JSON-ready copy.

    Numpy scalars and arrays become Python numbers and lists; tuples become lists.

    Args:
        metadata: The metadata of one model (see `REQUIRED_KEYS` and `OPTIONAL_KEYS`).

    Returns:
        A new, validated dictionary.

    Raises:
        ValueError: If a required key is missing, a key is unknown, a value has the wrong type,
            or the metadata cannot be written as JSON.
    """
    if not isinstance(metadata, dict):
        raise ValueError(
            f"Expected the metadata to be a dict. Received: metadata={describe_value(metadata)}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in metadata]
    if missing:
        raise ValueError(
            f"Expected the metadata to hold the keys {list(REQUIRED_KEYS)}. "
            f"Received: missing keys {missing}"
        )
    unknown = sorted(str(key) for key in metadata if key not in REQUIRED_KEYS + OPTIONAL_KEYS)
    if unknown:
        raise ValueError(
            f"Expected only the metadata keys {list(REQUIRED_KEYS + OPTIONAL_KEYS)} (put anything "
            f"else under 'extra'). Received: unknown keys {unknown}"
        )
    result = _json_compatible(metadata)

    _expect(result["task"] in TASKS, "task", f"one of {list(TASKS)}", result["task"])
    classes = result["classes"]
    _expect(
        isinstance(classes, list) and all(isinstance(item, str) for item in classes),
        "classes",
        "a list of class names (strings; empty for regression)",
        classes,
    )
    shape = result["input_shape"]
    _expect(
        isinstance(shape, list)
        and len(shape) > 0
        and all(
            item is None or (isinstance(item, int) and not isinstance(item, bool) and item > 0)
            for item in shape
        ),
        "input_shape",
        "a non-empty list of positive integers (without the batch axis; null for a free axis)",
        shape,
    )
    for key in ("preprocessing", "training_config", "metrics"):
        _expect(isinstance(result[key], dict), key, "a dict", result[key])
    history = result["history"]
    _expect(
        isinstance(history, dict)
        and all(
            isinstance(series, list) and all(_is_number(item) for item in series)
            for series in history.values()
        ),
        "history",
        "a dict of lists of numbers (as in keras.callbacks.History.history)",
        history,
    )
    for key in ("dataset_fingerprint", "tensorflow_version", "keras_version"):
        _expect(isinstance(result[key], str) and result[key] != "", key, "a string", result[key])
    created_at = result["created_at"]
    _expect(_is_iso_datetime(created_at), "created_at", "an ISO 8601 date and time", created_at)
    if "name" in result:
        _expect(
            isinstance(result["name"], str) and bool(_NAME_PATTERN.fullmatch(result["name"])),
            "name",
            "a valid model name",
            result["name"],
        )
    if "version" in result:
        version = result["version"]
        _expect(
            isinstance(version, int) and not isinstance(version, bool) and version >= 1,
            "version",
            "a positive integer",
            version,
        )
    for key in ("owner", "notes"):
        if key in result:
            _expect(isinstance(result[key], str), key, "a string", result[key])
    if "extra" in result:
        _expect(isinstance(result["extra"], dict), "extra", "a dict", result["extra"])
    try:
        json.dumps(result)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Expected metadata that can be written as JSON. Received: error={error}"
        ) from error
    return result


def _is_iso_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def now_iso() -> str:
    """Returns the current UTC time as an ISO 8601 string, to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def dataset_fingerprint(items: Iterable[tuple[str, str] | tuple[str, str, bytes]]) -> str:
    """Returns a fingerprint of a labelled data set, independent of the order of its items.

    Args:
        items: `(name, label)` pairs, or `(name, label, content)` triples when the bytes of each
            item should count too (then renaming nothing but editing a file changes the
            fingerprint).

    Returns:
        `"sha256:"` followed by 64 hexadecimal digits.

    Raises:
        ValueError: If an item is not a pair or triple of that form.
    """
    rows = []
    for item in items:
        if (
            not isinstance(item, tuple)
            or len(item) not in (2, 3)
            or not all(isinstance(part, str) for part in item[:2])
            or (len(item) == 3 and not isinstance(item[2], bytes | bytearray | memoryview))
        ):
            raise ValueError(
                "Expected (name, label) or (name, label, content bytes) items. "
                f"Received: item={describe_value(item)}"
            )
        content_digest = hashlib.sha256(item[2]).hexdigest() if len(item) == 3 else ""
        rows.append([item[0], item[1], content_digest])
    rows.sort()
    # JSON keeps the encoding unambiguous whatever characters the names contain.
    encoded = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


@dataclasses.dataclass
class ModelRecord:
    """One version of a model in the registry.

    Attributes:
        name: The model name.
        version: The version number (1, 2, ...).
        path: The version directory.
        metadata: The validated content of `metadata.json`.
    """

    name: str
    version: int
    path: Path
    metadata: dict

    @property
    def reference(self) -> str:
        """`"name:version"`, as accepted by `ModelRegistry.get` and the CLI."""
        return f"{self.name}:{self.version}"

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILENAME


def is_version_directory_name(text: str) -> bool:
    """Whether `text` names a version directory: a positive integer without leading zeros."""
    return text.isascii() and text.isdigit() and text[0] != "0"


def image_dataset_fingerprint(dataset) -> str:
    """`dataset_fingerprint` of an `ImageDataset`: its file names with their class names."""
    return dataset_fingerprint(
        zip(
            dataset.filenames,
            (dataset.class_names[label] for label in dataset.labels),
            strict=True,
        )
    )

"""The model registry: a directory of `<name>/<version>/` holding `model.keras` + `metadata.json`.

Saving, listing, loading, deleting and exporting go through `ModelRegistry`. A save appears in one
atomic rename and concurrent writers claim distinct versions (`core.registry.writing`). Listing
reads JSON only; TensorFlow is imported by the methods that need it. Export formats live in
`core.deploy.export`, to which `ModelRegistry.export` delegates.

Example:

    registry = ModelRegistry(resolve_registry_directory())
    record = registry.save(model, "bearings", metadata)
    model, metadata = registry.load("bearings:1")
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from core.data.validation import RejectedFile, describe_value
from core.deploy.export import ExportFormat, export_model, validate_export_format
from core.registry import writing
from core.registry.metadata import (
    ModelRecord,
    dataset_fingerprint,
    now_iso,
    parse_model_reference,
    resolve_registry_directory,
    validate_metadata,
    validate_model_name,
    validate_version,
)
from core.registry.reading import contains_lambda_layer, lambda_refusal, scan_model, scan_registry

if TYPE_CHECKING:
    import keras

__all__ = [
    "ExportFormat",
    "ModelRecord",
    "ModelRegistry",
    "dataset_fingerprint",
    "parse_model_reference",
    "resolve_registry_directory",
    "validate_metadata",
]


class ModelRegistry:
    """Saves, lists, loads, deletes and exports models kept under one directory.

    Args:
        directory: The registry root; created on the first save.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    # Reading.

    def list(self) -> list[ModelRecord]:
        """Returns every complete, valid model version, sorted by name then version."""
        return scan_registry(self.directory)[0]

    def problems(self) -> builtins.list[RejectedFile]:
        """Returns the entries `list` skips (incomplete or invalid), with the reason for each."""
        return scan_registry(self.directory)[1]

    def names(self) -> builtins.list[str]:
        """Returns the names that have at least one valid version, sorted."""
        return sorted({record.name for record in self.list()})

    def get(self, reference_or_name: str, version: int | None = None) -> ModelRecord:
        """Returns one model version.

        Args:
            reference_or_name: `"name"`, `"name:version"` or `"name:latest"`.
            version: The version, when not part of the reference. Default: None (the latest).

        Raises:
            ValueError: If the reference is malformed or names no valid model version; the
                message lists the known names or versions.
        """
        name, version = self._split_reference(reference_or_name, version)
        records, problems = scan_model(self.directory, name)
        if not records:
            raise ValueError(
                f"Expected the name of a model in the registry {str(self.directory)!r}; known "
                f"names: {self.names()}. Received: name={name!r}"
                + (f" ({problems[0].reason})" if problems else "")
            )
        if version is None:
            return records[-1]
        for record in records:
            if record.version == version:
                return record
        reasons = [problem.reason for problem in problems if problem.name == f"{name}/{version}"]
        raise ValueError(
            f"Expected a version of model '{name}'; known versions: "
            f"{[record.version for record in records]}. Received: version={version}"
            + (f" ({reasons[0]})" if reasons else "")
        )

    def load(
        self, reference_or_name: str, version: int | None = None, *, compile: bool = False
    ) -> tuple[keras.Model, dict]:
        """Loads a model with `safe_mode=True`, after validating its metadata.

        Args:
            reference_or_name: `"name"`, `"name:version"` or `"name:latest"`.
            version: The version, when not part of the reference. Default: None (the latest).
            compile: Whether to restore the training configuration too. Default: False
                (inference only, and no custom loss needs to be importable).

        Returns:
            `(model, metadata)`.

        Raises:
            ValueError: If the model is unknown, contains a Lambda layer, or cannot be loaded.
        """
        import keras  # Lazy: loads TensorFlow.

        record = self.get(reference_or_name, version)
        model_path = record.model_path
        if contains_lambda_layer(model_path):
            raise lambda_refusal("load", record.reference, f"path={str(model_path)!r}")
        try:
            model = keras.saving.load_model(model_path, safe_mode=True, compile=compile)
        except Exception as error:
            if "`Lambda` layer" in str(error):
                raise lambda_refusal(
                    "load", record.reference, f"path={str(model_path)!r}"
                ) from error
            raise ValueError(
                f"Expected a model file Keras can load safely for '{record.reference}'. "
                f"Received: path={str(model_path)!r}, error={type(error).__name__}: {error}"
            ) from error
        return model, record.metadata

    # Writing.

    def save(self, model, name: str, metadata: dict, *, owner: str | None = None) -> ModelRecord:
        """Saves `model` as the next version of `name`.

        `created_at`, `tensorflow_version` and `keras_version` are filled in when missing;
        `name` and `version` are always set.

        Args:
            model: A `keras.Model` that Keras can save without custom code (no Lambda layer).
            name: The model name (letters, digits, `_`, `.`, `-`).
            metadata: The model's metadata, see `validate_metadata`.
            owner: Who saves it (the logged-in user), stored as the metadata's `owner`; None or
                "" stores no owner. Default: None.

        Returns:
            The record of the new version.

        Raises:
            ValueError: If the name or metadata is invalid, the metadata's `input_shape` does not
                match the model's input, or the model contains a Lambda layer.
            OSError: If the file system fails; nothing partial is then listed.
        """
        import keras  # Lazy: loads TensorFlow.
        import tensorflow  # Lazy: loads TensorFlow.

        validate_model_name(name)
        if not isinstance(metadata, dict):
            raise ValueError(
                f"Expected the metadata to be a dict. Received: metadata={describe_value(metadata)}"
            )
        metadata = {
            "created_at": now_iso(),
            "tensorflow_version": tensorflow.__version__,
            "keras_version": keras.__version__,
            **metadata,
            **({"owner": owner} if owner else {}),
            "name": name,
            "version": 1,
        }
        metadata = validate_metadata(metadata)
        _check_input_shape(model, metadata, name)
        return writing.stage_and_claim(self.directory, name, metadata, model.save)

    def import_model_file(self, model_path: str | os.PathLike, name: str, metadata: dict):
        """Registers an existing `.keras` file (e.g. a bundled demo model) as the next version.

        Unlike `save`, this needs no TensorFlow: the file is copied, checked for Lambda layers
        and claimed atomically like any save.

        Raises:
            ValueError: If the name or metadata is invalid or the file holds a Lambda layer.
            FileNotFoundError: If `model_path` does not exist.
        """
        validate_model_name(name)
        source = Path(model_path)
        if not source.is_file():
            raise FileNotFoundError(
                f"Expected an existing .keras model file. Received: model_path='{source}'"
            )
        metadata = validate_metadata({**metadata, "name": name, "version": 1})
        return writing.stage_and_claim(
            self.directory, name, metadata, lambda target: shutil.copyfile(source, target)
        )

    def delete(self, reference_or_name: str, version: int | None = None) -> list[ModelRecord]:
        """Deletes one version, or every version of a name when the reference is a bare name.

        The directory is first renamed into a hidden trash directory (atomic: readers see the
        model or nothing), then removed.

        Returns:
            The records that were deleted.

        Raises:
            ValueError: If the name or version is unknown.
        """
        name, version = self._split_reference(reference_or_name, version)
        if version is None and ":" not in reference_or_name:
            records, _ = scan_model(self.directory, name)
            if not (self.directory / name).is_dir():
                self.get(name)  # Raises the error listing the known names.
            writing.move_to_trash(self.directory, self.directory / name)
            return records
        record = self.get(name, version)  # "name:latest" deletes the latest version only.
        writing.move_to_trash(self.directory, record.path)
        # The name directory goes when its last version does; a concurrent save recreates it.
        with contextlib.suppress(OSError):
            os.rmdir(self.directory / name)
        return [record]

    def export(
        self,
        reference_or_name: str,
        version: int | None,
        format: str | ExportFormat,
        out_path: str | os.PathLike,
        *,
        representative_data=None,
    ) -> Path:
        """Writes a model in a format for deployment, through `core.deploy.export.export_model`.

        Args:
            reference_or_name: `"name"`, `"name:version"` or `"name:latest"`.
            version: The version, when not part of the reference (None for the latest).
            format: `"keras"` (a copy of `model.keras`), `"savedmodel"` (a directory, or a zip
                when `out_path` ends in `.zip`) or `"tflite"`; see `ExportFormat`.
            out_path: The file or directory to write. When it is an existing directory, the
                export is written inside it as `<name>-v<version>.<extension>`.
            representative_data: Typical inputs calibrating a `"tflite-int8"` export.

        Returns:
            The path written.

        Raises:
            ValueError: If the format is unknown, the model is unknown or cannot be loaded, or a
                SavedModel directory already exists at the destination.
        """
        export_format = validate_export_format(format)
        record = self.get(reference_or_name, version)
        # The .keras file is copied as is; the other formats need the model itself, loaded with
        # the registry's checks (no Lambda layer, safe mode).
        if export_format is ExportFormat.KERAS:
            model_or_path = record.model_path
        else:
            model_or_path, _ = self.load(record.reference)
        return export_model(
            model_or_path,
            export_format,
            out_path,
            file_stem=f"{record.name}-v{record.version}",
            display_name=record.reference,
            representative_data=representative_data,
        )

    # Internals.

    def _split_reference(
        self, reference_or_name: str, version: int | None
    ) -> tuple[str, int | None]:
        name, referenced_version = parse_model_reference(reference_or_name)
        if version is not None:
            validate_version(version)
            if referenced_version is not None and referenced_version != version:
                raise ValueError(
                    "Expected the version once, in the reference or as an argument. "
                    f"Received: reference={reference_or_name!r}, version={version}"
                )
            referenced_version = version
        return name, referenced_version


def _check_input_shape(model, metadata: dict, name: str) -> None:
    """Checks `metadata['input_shape']` against a single-input model's input (None matches
    anything). Generators and models without a known input are not checked."""
    if metadata["task"] == "gan":
        return
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return
    if not inputs or len(inputs) != 1:
        return
    model_shape = builtins.list(inputs[0].shape)[1:]
    declared = metadata["input_shape"]
    matches = len(model_shape) == len(declared) and all(
        left is None or right is None or left == right
        for left, right in zip(model_shape, declared, strict=True)
    )
    if not matches:
        raise ValueError(
            f"Expected metadata['input_shape'] to match the input of model '{name}' "
            f"{model_shape}. Received: input_shape={declared}"
        )

"""Model export for deployment: a `.keras` copy, a TensorFlow SavedModel or TensorFlow Lite.

TensorFlow is imported by the functions that need it. `ModelRegistry.export` writes registry
models through `export_model`.

Example:

    path = export_model("registry/pump/1/model.keras", "tflite", "exports", file_stem="pump-v1")
"""

from __future__ import annotations

import enum
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.data.atomic_files import write_bytes_atomically
from core.data.validation import describe_value

if TYPE_CHECKING:
    import keras

__all__ = ["ExportFormat", "export_model", "inference_model", "validate_export_format"]


class ExportFormat(enum.StrEnum):
    """Formats `export_model` writes."""

    KERAS = "keras"
    SAVEDMODEL = "savedmodel"
    TFLITE = "tflite"
    TFLITE_FP16 = "tflite-fp16"
    TFLITE_INT8 = "tflite-int8"


# TensorFlow Lite formats and the quantization each applies (None: float32 as trained).
_TFLITE_QUANTIZATION = {
    ExportFormat.TFLITE: None,
    ExportFormat.TFLITE_FP16: "float16",
    ExportFormat.TFLITE_INT8: "int8",
}
# Calibration needs a few hundred typical inputs, not the whole training set: on the sample,
# 200 images left int8 1.7 points below float32 on the test split, 400 to 1,000 images 0.8.
MAX_REPRESENTATIVE_ITEMS = 500


def validate_export_format(format: str | ExportFormat) -> ExportFormat:
    """Returns `format` as an `ExportFormat`.

    Raises:
        ValueError: If `format` is not one of the `ExportFormat` values; the message lists them.
    """
    try:
        return ExportFormat(format)
    except ValueError:
        raise ValueError(
            f"Expected an export format among {[item.value for item in ExportFormat]}. "
            f"Received: format={format!r}"
        ) from None


def inference_model(model):
    """Wraps a Keras model so that every call runs it with `training=False`.

    `model.export` traces the model without a `training` argument, and Keras random
    augmentation layers (`RandomFlip`, `RandomBrightness`, ...) then default to training mode:
    the SavedModel would augment every request, and TensorFlow Lite cannot convert their random
    operations at all. The wrapper fixes the inference mode into the traced graph.

    Args:
        model: A Functional or Sequential `keras.Model`.

    Returns:
        A Functional `keras.Model` with the same inputs, outputs, weights and name.
    """
    import keras  # Lazy: loads TensorFlow.

    inputs = [
        keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=tensor.name)
        for tensor in model.inputs
    ]
    # One input stays a bare tensor, so that the exported signature takes a tensor, not a list.
    structure = inputs[0] if len(inputs) == 1 else inputs
    return keras.Model(structure, model(structure, training=False), name=model.name)


def export_model(
    model: keras.Model | str | os.PathLike,
    format: str | ExportFormat,
    out_path: str | os.PathLike,
    *,
    file_stem: str = "model",
    display_name: str | None = None,
    representative_data=None,
) -> Path:
    """Writes a model in a format for deployment.

    Args:
        model: A `keras.Model`, or the path of a `.keras` file. A file is copied byte for byte
            for `"keras"` and loaded with `safe_mode=True` for the other formats.
        format: `"keras"` (a `.keras` file), `"savedmodel"` (a TensorFlow SavedModel directory,
            or a zip of it when `out_path` ends in `.zip`), `"tflite"` (float32 TensorFlow
            Lite with built-in operators only), `"tflite-fp16"` (weights stored as float16) or
            `"tflite-int8"` (weights and activations quantized to int8, calibrated on
            `representative_data`; inputs and outputs stay float32).
        out_path: The file or directory to write. When it is an existing directory, the export
            is written inside it as `<file_stem>.keras`, `<file_stem>.tflite` or `<file_stem>`
            (a SavedModel directory).
        file_stem: The file name, without extension, used inside an existing directory.
            Default: "model".
        display_name: How error messages name the model. Default: None (`file_stem`).
        representative_data: For `"tflite-int8"` only: typical inputs (an array whose first
            axis counts items, e.g. training images), of which `MAX_REPRESENTATIVE_ITEMS`
            evenly spaced items calibrate the quantization. Default: None.

    Returns:
        The path written.

    Raises:
        TypeError: If `model` is neither a `keras.Model` nor a path.
        ValueError: If the format is unknown, the model file is missing or cannot be loaded
            safely, TensorFlow Lite cannot convert the model, a SavedModel directory already
            exists at the destination, or int8 is asked for without representative data.
    """
    export_format = validate_export_format(format)
    if export_format is ExportFormat.TFLITE_INT8 and (
        representative_data is None or len(representative_data) == 0
    ):
        raise ValueError(
            "Expected representative data (typical inputs, e.g. training images) to calibrate "
            "an int8 TensorFlow Lite export. Received: representative_data="
            f"{describe_value(representative_data)}"
        )
    display_name = file_stem if display_name is None else display_name
    out_path = Path(out_path)
    source_path = _check_model(model)

    if export_format is ExportFormat.KERAS:
        destination = _export_destination(out_path, file_stem, ".keras")
        if source_path is not None:
            write_bytes_atomically(destination, source_path.read_bytes())
        else:
            _save_keras_atomically(model, destination)
        return destination

    if source_path is not None:
        model = _load_model_file(source_path, display_name)
    model = inference_model(model)
    if export_format in _TFLITE_QUANTIZATION:
        # "tflite-int8" -> "<stem>-int8.tflite", so the variants can sit in one folder.
        suffix = export_format.value.removeprefix("tflite")
        destination = _export_destination(out_path, f"{file_stem}{suffix}", ".tflite")
        data = _convert_to_tflite(
            model, display_name, _TFLITE_QUANTIZATION[export_format], representative_data
        )
        write_bytes_atomically(destination, data)
        return destination

    zipped = out_path.suffix.lower() == ".zip" and not out_path.is_dir()
    destination = _export_destination(out_path, file_stem, ".zip" if zipped else "")
    if not zipped and destination.exists():
        raise ValueError(
            "Expected a SavedModel destination that does not exist yet. "
            f"Received: out_path={str(destination)!r}"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".linesight-") as work:
        exported = Path(work) / "savedmodel"
        model.export(exported, format="tf_saved_model", verbose=False)
        if zipped:
            _zip_directory(exported, Path(work) / "savedmodel.zip")
            os.replace(Path(work) / "savedmodel.zip", destination)
        else:
            os.rename(exported, destination)
    return destination


def _check_model(model: object) -> Path | None:
    """Returns the path of a model file, or None for a `keras.Model`."""
    if isinstance(model, str | os.PathLike):
        path = Path(model)
        if not path.is_file():
            raise ValueError(
                f"Expected the path of an existing .keras file. Received: model={str(path)!r}"
            )
        return path
    import keras  # Lazy: loads TensorFlow.

    if not isinstance(model, keras.Model):
        raise TypeError(
            "Expected a keras.Model or the path of a .keras file. "
            f"Received: model={describe_value(model)}"
        )
    return None


def _load_model_file(path: Path, display_name: str) -> keras.Model:
    import keras  # Lazy: loads TensorFlow.

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:
        raise ValueError(
            f"Expected a model file Keras can load safely for '{display_name}'. "
            f"Received: path={str(path)!r}, error={type(error).__name__}: {error}"
        ) from error


def _export_destination(out_path: Path, file_stem: str, extension: str) -> Path:
    if out_path.is_dir():
        return out_path / f"{file_stem}{extension}"
    return out_path


def _convert_to_tflite(
    model, display_name: str, quantization: str | None = None, representative_data=None
) -> bytes:
    """Converts to TensorFlow Lite with built-in operators only (float32, float16 or int8).

    Recurrent layers with a free batch axis need TensorFlow operators the TFLite runtime lacks,
    so a failed conversion is retried with the batch size fixed to 1.
    """
    import tensorflow  # Lazy: loads TensorFlow.

    def representative_dataset():
        items = np.asarray(representative_data)
        # Evenly spaced picks: data sorted by class then calibrates on every class, not the first.
        picks = np.linspace(0, len(items) - 1, min(len(items), MAX_REPRESENTATIVE_ITEMS))
        for index in picks.astype(int):
            yield [np.asarray(items[index], dtype=np.float32)[None, ...]]

    failures = []
    for batch_size in (None, 1):
        signature = None
        if batch_size is not None:
            specs = [
                tensorflow.TensorSpec([batch_size, *tensor.shape[1:]], tensor.dtype)
                for tensor in model.inputs
            ]
            # A model of several inputs (a conditional generator) takes them as one list.
            signature = [specs] if len(specs) > 1 else specs
        with tempfile.TemporaryDirectory(prefix="linesight-tflite-") as work:
            try:
                model.export(
                    work, format="tf_saved_model", verbose=False, input_signature=signature
                )
                converter = tensorflow.lite.TFLiteConverter.from_saved_model(work)
                if quantization is not None:
                    converter.optimizations = [tensorflow.lite.Optimize.DEFAULT]
                if quantization == "float16":
                    converter.target_spec.supported_types = [tensorflow.float16]
                elif quantization == "int8":
                    converter.representative_dataset = representative_dataset
                    converter.target_spec.supported_ops = [
                        tensorflow.lite.OpsSet.TFLITE_BUILTINS_INT8
                    ]
                return converter.convert()
            except Exception as error:
                failures.append(f"{type(error).__name__}: {str(error)[:300]}")
    raise ValueError(
        "Expected a model TensorFlow Lite can convert with built-in operators: "
        f"'{display_name}' failed. Received: errors={failures}"
    )


def _zip_directory(directory: Path, archive_path: Path) -> None:
    """Zips the content of `directory` (its files at the root of the archive)."""
    with zipfile.ZipFile(archive_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            archive.write(path, path.relative_to(directory).as_posix())


def _save_keras_atomically(model: keras.Model, path: Path) -> None:
    """Saves `model` beside `path` (Keras needs the `.keras` suffix), then `os.replace`s it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".linesight-") as work:
        saved = Path(work) / "model.keras"
        model.save(saved)
        with open(saved, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(saved, path)

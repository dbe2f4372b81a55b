"""What the loaders find in a data set: the engine behind `python -m core inspect`."""

from __future__ import annotations

import collections
import os
from pathlib import Path

from core.data import archive_checks
from core.data.images import (
    SUPPORTED_IMAGE_SUFFIXES,
    load_image_zip,
    load_images,
    load_uploaded_images,
)
from core.data.series_loading import load_series
from core.data.validation import RejectedFile

SERIES_SUFFIXES = (".csv", ".parquet", ".pq", ".txt", ".tsv")
KINDS = ("auto", "images", "series")

# Below these, a class is too small to train or to evaluate on, so the report warns.
MINIMUM_IMAGES_PER_CLASS = 20
IMBALANCE_RATIO_WARNING = 3.0
# Smaller images are still loaded (stretched to the model input) but carry almost no detail.
SMALL_IMAGE_SIDE = 8


def detect_kind(path: Path) -> str:
    """Returns "images" or "series" for a path, from its suffix and its contents.

    Raises:
        ValueError: If the path holds neither kind of data, or is a saved model.
    """
    model_reason = archive_checks.model_file_reason(str(path))
    if path.is_dir() and any(
        (path / name).is_file() for name in archive_checks.SAVED_MODEL_FILE_NAMES
    ):
        model_reason = archive_checks.model_message(str(path), " holding a TensorFlow SavedModel")
    if model_reason is not None:
        raise ValueError(model_reason)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".zip":
            return "images"
        if suffix in SERIES_SUFFIXES:
            return "series"
        raise ValueError(
            "Expected a folder, a .zip of class folders, or a CSV/Parquet/C-MAPSS file. "
            f"Received: path='{path}' (suffix '{suffix}')"
        )
    entries = list(path.iterdir())
    if any(entry.name.lower().startswith(("train_fd", "test_fd")) for entry in entries):
        return "series"
    has_manifest = any(
        entry.is_file() and entry.suffix.lower() == ".csv" and _is_manifest(entry)
        for entry in entries
    )
    has_class_folders = any(
        entry.is_dir()
        and any(child.suffix.lower() in SUPPORTED_IMAGE_SUFFIXES for child in entry.iterdir())
        for entry in entries
    )
    if has_manifest or has_class_folders:
        return "images"
    if any(entry.is_file() and entry.suffix.lower() in SERIES_SUFFIXES for entry in entries):
        return "series"
    raise ValueError(
        "Expected a folder of class subfolders with images, a folder with a filename,label "
        "manifest, or sensor files (CSV, Parquet, C-MAPSS). "
        f"Received: path='{path}' with {len(entries)} entries and none of those"
    )


def _is_manifest(csv_path: Path) -> bool:
    with open(csv_path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().strip().lower().replace(" ", "")
    return header.split(",")[:2] == ["filename", "label"]


def inspect_images(path: Path) -> dict:
    """Loads an image data set and reports counts, sizes, rejected files and warnings."""
    return {"path": str(path)} | image_dataset_report(load_images(path), name=path.name)


def inspect_series(path: Path) -> dict:
    """Loads sensor series (one file, or every series file of a folder) and reports them."""
    if path.is_dir() and not any(
        entry.name.lower().startswith("train_fd") for entry in path.iterdir()
    ):
        files = sorted(
            entry
            for entry in path.iterdir()
            if entry.is_file() and entry.suffix.lower() in SERIES_SUFFIXES
        )
        reports = {}
        for file_path in files:
            try:
                reports[file_path.name] = load_series(file_path).summary()
            except ValueError as error:
                reports[file_path.name] = {"error": str(error)}
        return {"kind": "series", "path": str(path), "files": reports}
    dataset = load_series(path)
    return {"kind": "series", "path": str(path), "source_format": dataset.source_format} | (
        dataset.summary()
    )


def inspect_path(path: str | os.PathLike, kind: str = "auto") -> dict:
    """Reports what LineSight's loaders find at `path`.

    Args:
        path: An image folder, zip or manifest folder; or a sensor file or folder.
        kind: "auto" (default) to detect, or "images" / "series" to force.

    Returns:
        A JSON-serialisable report.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If `kind` is unknown or the data cannot be read.
    """
    if kind not in KINDS:
        raise ValueError(f"Expected kind to be one of {KINDS}. Received: kind={kind!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Expected an existing file or folder. Received: path='{path}'")
    if kind == "auto":
        kind = detect_kind(path)
    return inspect_images(path) if kind == "images" else inspect_series(path)


def format_report(report: dict) -> str:
    """Renders an inspection report as readable text for the terminal."""
    lines = [f"{report['kind']}: {report['path']}"]
    if report["kind"] == "images":
        lines.append(
            f"  {report['images']} images in {report['classes']} classes ({report['source']})"
        )
        for class_name, count in report["class_counts"].items():
            lines.append(f"    {class_name}: {count}")
        sizes = ", ".join(f"{size} x{count}" for size, count in report["image_sizes"].items())
        lines.append(f"  image sizes: {sizes}")
    else:
        for key, value in report.items():
            if key not in ("kind", "path", "rejected", "warnings"):
                lines.append(f"  {key}: {value}")
    for rejected in report.get("rejected", []):
        lines.append(f"  rejected {rejected['name']}: {rejected['reason']}")
    for warning in report.get("warnings", []):
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


def image_dataset_report(dataset, name: str) -> dict:
    """Summarises a loaded `ImageDataset`: counts, sizes, rejected files and warnings."""
    class_counts = dataset.class_counts()
    size_counts = collections.Counter(
        f"{width}x{height}" for width, height in dataset.original_sizes
    )
    warnings = []
    for class_name, count in class_counts.items():
        if count < MINIMUM_IMAGES_PER_CLASS:
            warnings.append(
                f"Class '{class_name}' has {count} images; at least "
                f"{MINIMUM_IMAGES_PER_CLASS} are needed to train and evaluate reliably."
            )
    small = [
        name
        for name, (width, height) in zip(dataset.filenames, dataset.original_sizes, strict=True)
        if min(width, height) < SMALL_IMAGE_SIDE
    ]
    if small:
        warnings.append(
            f"{len(small)} image(s) are smaller than {SMALL_IMAGE_SIDE} pixels on a side, such as "
            f"{small[0]!r}; they are stretched to the model input and carry little detail."
        )
    if class_counts and min(class_counts.values()) > 0:
        ratio = max(class_counts.values()) / min(class_counts.values())
        if ratio >= IMBALANCE_RATIO_WARNING:
            warnings.append(
                f"Classes are imbalanced ({ratio:.1f}x between the largest and the smallest); "
                "training uses class weights."
            )
    return {
        "kind": "images",
        "name": name,
        "source": dataset.source,
        "images": len(dataset.labels),
        "classes": len(dataset.class_names),
        "class_counts": class_counts,
        "image_sizes": dict(size_counts.most_common()),
        "rejected": [rejected.as_dict() for rejected in dataset.rejected],
        "warnings": warnings,
    }


def inspect_uploads(files: list[tuple[str, bytes]]) -> dict:
    """Reports what LineSight finds in uploaded files, one entry per kind of content.

    A file that cannot be read is listed under `rejected` with the reason; the others are still
    inspected. Model files (.keras, .h5, a zipped SavedModel, ...) are refused: models are only
    trained here.

    Args:
        files: (file name, bytes) pairs as uploaded.

    Returns:
        A JSON-serialisable report with `image_archives`, `images`, `series` and `rejected`.
    """
    report: dict = {"image_archives": [], "images": None, "series": [], "rejected": []}
    loose_images = []
    for name, data in files:
        suffix = Path(name).suffix.lower()
        model_reason = archive_checks.model_file_reason(name)
        try:
            if model_reason is not None:
                report["rejected"].append(RejectedFile(name, model_reason).as_dict())
            elif suffix == ".zip":
                dataset = load_image_zip(data, name=name)
                report["image_archives"].append(image_dataset_report(dataset, name))
            elif suffix in SUPPORTED_IMAGE_SUFFIXES:
                loose_images.append((name, data))
            elif suffix in SERIES_SUFFIXES:
                report["series"].append({"name": name} | load_series(data, name=name).summary())
            else:
                report["rejected"].append(
                    RejectedFile(
                        name,
                        "Expected an image (PNG, JPEG, BMP, TIFF), a .zip of class folders, or a "
                        f"sensor file (CSV, Parquet, C-MAPSS .txt). Received: suffix '{suffix}'",
                    ).as_dict()
                )
        except ValueError as error:
            report["rejected"].append(RejectedFile(name, str(error)).as_dict())
    if loose_images:
        _, names, rejected = load_uploaded_images(loose_images)
        report["images"] = {"accepted": names, "count": len(names)}
        report["rejected"].extend(item.as_dict() for item in rejected)
    return report

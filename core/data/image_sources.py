"""Image data sources of the pages: the bundled sample, an uploaded zip, or images + a manifest.

An `ImageSource` holds what the user gave (bytes, not decoded pixels) and loads it at any size on
demand, inside a background job; `dataset_summary` is what the data section shows before training.

Example:
    >>> source = zip_image_source("parts.zip", zip_bytes)
    >>> summary = dataset_summary(source)
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from core.data.bundled import sample_data_directory
from core.data.images import load_image_folder, load_image_manifest, load_image_zip
from core.data.inspection import image_dataset_report
from core.data.validation import RejectedFile, check_named_files

SAMPLE, ZIP, MANIFEST = "sample", "zip", "manifest"
# The summary loads every image once at this small size: enough for thumbnails, cheap to hold.
THUMBNAIL_SIZE = (64, 64)


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """Where a training set comes from; `load` reads it at any size.

    Attributes:
        kind: "sample", "zip" or "manifest".
        description: What the user chose, e.g. "zip parts.zip" (shown in job lists).
        file_names: The uploaded file names (empty for the sample).
        fingerprint: A digest of the content: equal fingerprints mean equal data.
    """

    kind: str
    description: str
    file_names: tuple[str, ...]
    fingerprint: str
    loader: Callable = dataclasses.field(repr=False, compare=False)

    def load(self, image_size: tuple[int, int] = THUMBNAIL_SIZE, channels: int = 1):
        """Returns the `ImageDataset`, images resized to `image_size` with `channels`.

        Raises:
            ValueError: If no image can be used (the message says why).
        """
        return self.loader(tuple(image_size), channels)


def _digest(files: Sequence[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode())
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:16]


def sample_image_source() -> ImageSource:
    """The bundled sample images (sample_data/images, one folder per class).

    Raises:
        ValueError: If the sample images are missing.
    """
    directory = sample_data_directory() / "images"
    if not directory.is_dir():
        raise ValueError(
            "Expected the bundled sample images (regenerate them with "
            f"`python -m core sample-data`). Received: missing folder '{directory}'"
        )

    def load(image_size, channels):
        dataset = load_image_folder(directory, image_size=image_size, channels=channels)
        dataset.source = "sample_data/images"
        return dataset

    return ImageSource(SAMPLE, "sample images (sample_data/images)", (), SAMPLE, load)


def zip_image_source(name: str, data: bytes) -> ImageSource:
    """An uploaded ZIP archive of class folders.

    Raises:
        TypeError: If `name` is not a string or `data` not bytes.
        ValueError: If `data` is not a ZIP archive.
    """
    ((name, data),) = check_named_files([(name, data)])
    if not data or not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError(
            "Expected a .zip archive holding one folder of images per class. "
            f"Received: name={name!r} ({len(data)} bytes, not a ZIP archive)"
        )

    def load(image_size, channels):
        return load_image_zip(data, name=name, image_size=image_size, channels=channels)

    return ImageSource(ZIP, f"zip {name}", (name,), _digest([(name, data)]), load)


def manifest_image_source(files: Sequence[tuple[str, bytes]], manifest_name: str) -> ImageSource:
    """Uploaded images labelled by a CSV manifest with columns `filename,label`.

    Manifest rows may name a file by its bare name or by a relative path ("scratch/001.png")
    whose last part is an uploaded name. Uploaded images the manifest does not list are
    reported as rejected.

    Args:
        files: (name, bytes) pairs: the images and the manifest.
        manifest_name: Which of `files` is the manifest.

    Raises:
        TypeError: If `files` is not a list of (name, bytes) pairs.
        ValueError: If the manifest is not among `files`, is not a .csv, or no image is given,
            or two uploads share a file name; loading raises if the manifest lists an image
            twice.
    """
    files = check_named_files(files)
    by_name = dict(files)
    if manifest_name not in by_name or not manifest_name.lower().endswith(".csv"):
        raise ValueError(
            "Expected a .csv manifest with columns filename,label among the uploads. "
            f"Received: manifest_name={manifest_name!r}, files={sorted(by_name)}"
        )
    manifest = by_name.pop(manifest_name)
    basenames = [PurePosixPath(name.replace("\\", "/")).name for name in by_name]
    repeated = sorted({name for name in basenames if basenames.count(name) > 1})
    if repeated:
        raise ValueError(
            "Expected uploaded images with distinct file names (the manifest finds them by name). "
            f"Received: {len(repeated)} name(s) uploaded more than once: {repeated[:10]}"
        )
    images = dict(zip(basenames, by_name.values(), strict=True))
    if not images:
        raise ValueError(
            "Expected images to go with the manifest. "
            f"Received: only the manifest {manifest_name!r}"
        )

    def load(image_size, channels):
        return _load_manifest(manifest_name, manifest, images, image_size, channels)

    description = f"manifest {manifest_name} + {len(images)} images"
    names = (manifest_name, *sorted(images))
    return ImageSource(MANIFEST, description, names, _digest(sorted(files)), load)


def _refuse_repeated_images(manifest_name: str, listed_names: list[str], images) -> None:
    """Refuses a manifest that lists one uploaded image more than once.

    Uploaded images are matched to rows by file name only, so two rows naming the same image (in
    any folders) would load the same pixels twice, possibly under two labels, and write the file
    once per row to the temporary folder: a small manifest could fill the disk.
    """
    rows: dict[str, list[int]] = {}
    for row, listed_name in enumerate(listed_names, start=2):
        basename = PurePosixPath(listed_name.replace("\\", "/")).name
        if basename in images:
            rows.setdefault(basename, []).append(row)
    repeated = {name: found for name, found in rows.items() if len(found) > 1}
    if repeated:
        shown = "; ".join(
            f"{name!r} on rows {', '.join(map(str, found[:5]))}"
            + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            for name, found in sorted(repeated.items())[:5]
        )
        raise ValueError(
            f"Expected each uploaded image to be listed once in {manifest_name!r} (images are "
            f"matched to rows by file name). Received: {len(repeated)} image(s) listed more than "
            f"once: {shown}"
        )


def _load_manifest(manifest_name, manifest, images, image_size, channels):
    """Writes the uploads to a temporary folder laid out as the manifest expects, then loads."""

    with tempfile.TemporaryDirectory(prefix="linesight-manifest-") as folder:
        root = Path(folder).resolve()
        manifest_path = root / PurePosixPath(manifest_name.replace("\\", "/")).name
        manifest_path.write_bytes(manifest)
        try:
            listed = pd.read_csv(
                io.BytesIO(manifest), dtype=str, keep_default_na=False, encoding="utf-8-sig"
            )
            listed.columns = [str(column).strip().lower() for column in listed.columns]
            listed_names = [name.strip() for name in listed.get("filename", [])]
        except (ValueError, UnicodeDecodeError):
            listed_names = []  # The loader below reports the unreadable manifest.
        _refuse_repeated_images(manifest_name, listed_names, images)
        placed = set()
        for listed_name in listed_names:
            target = (root / "images" / listed_name.replace("\\", "/")).resolve()
            basename = PurePosixPath(listed_name.replace("\\", "/")).name
            # Never write outside the folder; the loader refuses such rows with a reason.
            if basename not in images or not target.is_relative_to(root / "images"):
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(images[basename])
                placed.add(basename)
            except OSError:
                continue  # E.g. a row naming a folder: the loader reports the row as missing.
        try:
            dataset = load_image_manifest(
                manifest_path, image_directory=root / "images", image_size=image_size,
                channels=channels,
            )  # fmt: skip
        except ValueError as error:
            raise ValueError(str(error).replace(str(manifest_path), manifest_name)) from None
    dataset.source = manifest_name
    dataset.rejected = [
        RejectedFile(item.name, item.reason.replace(str(root / "images"), "the uploaded images"))
        for item in dataset.rejected
    ] + [
        RejectedFile(
            name,
            f"Expected every uploaded image to be listed in {manifest_name!r}. "
            f"Received: name={name!r}, not in the manifest",
        )
        for name in sorted(set(images) - placed)
    ]
    return dataset


def display_image(image: np.ndarray) -> np.ndarray:
    """An (H, W, 1) image as (H, W) for display; RGB images are returned unchanged."""
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def dataset_summary(source: ImageSource, thumbnails_per_class: int = 4) -> dict:
    """Loads the source once at thumbnail size and reports what training would see.

    Returns:
        {"description", "report" (`image_dataset_report`: counts, sizes, rejected, warnings),
        "thumbnails": {class: [(file name, uint8 image)]}}.

    Raises:
        ValueError: If the data cannot be loaded (e.g. a zip without class folders).
    """
    dataset = source.load(THUMBNAIL_SIZE, 3)
    thumbnails = {}
    for label, class_name in enumerate(dataset.class_names):
        indices = np.flatnonzero(dataset.labels == label)[:thumbnails_per_class]
        thumbnails[class_name] = [
            (dataset.filenames[index], dataset.images[index]) for index in indices
        ]
    return {
        "description": source.description,
        "report": image_dataset_report(dataset, source.description),
        "thumbnails": thumbnails,
    }

"""Image datasets: load, check and resize images from folders, ZIP archives, manifests and uploads.

Every loader returns the images it could read and a list of the files it could not, each with a
reason, so one corrupt file never stops a dataset from loading. Decoding lives in
`core.data.image_decoding`, and listing folders and manifests in `core.data.image_listing` (shared
with the on-disk loader, `core.data.image_files`); their public names are re-exported here. Only
numpy, pandas and pillow are used: the dashboard's home page imports this module without TensorFlow.

Example:

    dataset = load_images("path/to/dataset", image_size=(128, 128), channels=1)
    print(dataset.images.shape, dataset.class_counts(), len(dataset.rejected))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from core.data import archive_checks, archives, image_listing
from core.data.image_decoding import (
    MAX_IMAGE_FILE_BYTES,
    MAX_IMAGE_PIXELS,
    SUPPORTED_IMAGE_FORMATS,
    SUPPORTED_IMAGE_SUFFIXES,
    ImageCollector,
    check_image_options,
    decode_image,
)
from core.data.image_listing import (
    MANIFEST_COLUMNS,
    has_manifest_columns,
    is_junk_name,
    outside_class_folder_reason,
    read_manifest,
    walk_files,
)
from core.data.validation import RejectedFile, check_named_files

__all__ = [
    "MANIFEST_COLUMNS",
    "MAX_IMAGE_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "SUPPORTED_IMAGE_FORMATS",
    "SUPPORTED_IMAGE_SUFFIXES",
    "ImageDataset",
    "decode_image",
    "has_manifest_columns",
    "is_junk_name",
    "load_image_folder",
    "load_image_manifest",
    "load_image_zip",
    "load_images",
    "load_uploaded_images",
    "outside_class_folder_reason",
    "read_manifest",
    "walk_files",
]


@dataclasses.dataclass
class ImageDataset(image_listing.LabelledImagesMixin):
    """Labelled images, ready for a model, and the files that could not be used.

    Attributes:
        images: uint8 array of shape (N, height, width, channels).
        labels: int32 array of shape (N,), indexes into `class_names`.
        class_names: Sorted names of the classes that have at least one image.
        filenames: For each image, the name the user knows (path in the folder, zip or manifest).
        original_sizes: For each image, its (width, height) before resizing.
        rejected: Files that were not loaded, each with a reason.
        source: The folder, archive or manifest the images came from.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    filenames: list[str]
    original_sizes: list[tuple[int, int]]
    rejected: list[RejectedFile]
    source: str


def load_image_folder(
    path: str | os.PathLike, *, image_size: tuple[int, int] | None = (128, 128), channels: int = 1
) -> ImageDataset:
    """Loads a folder holding one subfolder of images per class (nested folders are included).

    Args:
        path: The dataset folder.
        image_size, channels: As in `decode_image`; with image_size=None, images whose size
            differs from the first one are rejected.

    Returns:
        An `ImageDataset`. Files directly in `path` are rejected as not inside a class folder,
        and class folders without a usable image are reported as rejected.

    Raises:
        ValueError: If `path` is not a folder, the options are invalid, or no image loaded.
    """
    image_size, channels = check_image_options(image_size, channels)
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"Expected an existing folder. Received: path={str(root)!r}")
    return _load_listing(image_listing.list_folder(root), image_size, channels)


def load_image_zip(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    image_size: tuple[int, int] | None = (128, 128),
    channels: int = 1,
) -> ImageDataset:
    """Loads a ZIP archive of class folders, possibly all under one top-level folder.

    The archive is read safely (see `core.data.archives`); unsafe members are rejected.

    Args:
        source: Path to the ZIP file, or its bytes.
        name: Name used in messages and as `source`. Defaults to the file name or 'archive.zip'.
        image_size, channels: As in `load_image_folder`.

    Returns:
        An `ImageDataset`; `filenames` are paths inside the archive.

    Raises:
        ValueError: If `source` is not a ZIP archive, exceeds the archive caps, the options are
            invalid, or no image loaded.
    """
    image_size, channels = check_image_options(image_size, channels)
    archive_rejected: list[RejectedFile] = []
    collector = ImageCollector(image_size, channels)
    member_names = []
    for member in archives.iter_zip_members(source, name=name, rejected=archive_rejected):
        member_names.append(member.name)
        collector.add_bytes(member.name, member.data)
    collector.rejected[:0] = archive_rejected
    if name is None:
        name = Path(source).name if isinstance(source, str | os.PathLike) else "archive.zip"
    return _build_dataset(collector, name, label_of=_zip_class_finder(member_names))


def load_image_manifest(
    manifest_path: str | os.PathLike,
    *,
    image_directory: str | os.PathLike | None = None,
    image_size: tuple[int, int] | None = (128, 128),
    channels: int = 1,
) -> ImageDataset:
    """Loads images listed in a CSV manifest with columns `filename,label`.

    Args:
        manifest_path: The CSV file. Filenames are relative to `image_directory`.
        image_directory: Folder the filenames are relative to. Defaults to the manifest's folder.
        image_size, channels: As in `load_image_folder`.

    Returns:
        An `ImageDataset`; `filenames` are as written in the manifest. Rows with an empty cell,
        a repeated filename, a path leaving `image_directory` or a missing file are rejected.

    Raises:
        ValueError: If the manifest is unreadable or lacks the columns, the options are invalid,
            or no image loaded.
    """
    image_size, channels = check_image_options(image_size, channels)
    listing = image_listing.list_manifest(Path(manifest_path), image_directory)
    return _load_listing(listing, image_size, channels)


def load_uploaded_images(
    files: Sequence[tuple[str, bytes]],
    *,
    image_size: tuple[int, int] | None = (128, 128),
    channels: int = 1,
) -> tuple[np.ndarray, list[str], list[RejectedFile]]:
    """Decodes unlabelled uploaded images for a spot check; a ZIP upload is expanded.

    Args:
        files: (name, bytes) pairs, e.g. from a file uploader.
        image_size, channels: As in `load_image_folder`.

    Returns:
        (images, names, rejected): a uint8 (N, height, width, channels) array (N may be 0), the
        name of each image ('upload.zip/inner/path.png' for ZIP members), and the refused files
        (model files such as .keras and .h5 among them: models are only trained here).

    Raises:
        TypeError: If an item of `files` is not a (str, bytes) pair.
        ValueError: If the options are invalid.
    """
    image_size, channels = check_image_options(image_size, channels)
    collector = ImageCollector(image_size, channels)
    for name, data in check_named_files(files):
        # A .keras file is itself a ZIP archive: refuse it by name before it is expanded.
        model_reason = archive_checks.model_file_reason(name)
        if model_reason is not None:
            collector.reject(name, model_reason)
            continue
        if not (archives.is_zip_name(name) or data.startswith(b"PK\x03\x04")):
            collector.add_bytes(name, data)
            continue
        # Members are decoded as they are read, so only one member's bytes are held at a time.
        archive_rejected: list[RejectedFile] = []
        first_rejection = len(collector.rejected)
        try:
            for member in archives.iter_zip_members(data, name=name, rejected=archive_rejected):
                collector.add_bytes(f"{name}/{member.name}", member.data)
        except ValueError as error:
            collector.reject(name, str(error))
        # Members refused by name come first, as in `load_image_zip`.
        collector.rejected[first_rejection:first_rejection] = [
            RejectedFile(f"{name}/{item.name}", item.reason) for item in archive_rejected
        ]
    return collector.stacked_images(), list(collector.names), list(collector.rejected)


def load_images(
    path: str | os.PathLike,
    *,
    image_size: tuple[int, int] | None = (128, 128),
    channels: int = 1,
) -> ImageDataset:
    """Loads an image dataset, choosing the loader from what `path` holds.

    A .zip file is read as an archive of class folders; a .csv file, or a folder holding a CSV
    with `filename,label` columns (labels.csv preferred), as a manifest; any other folder as
    class subfolders.

    Args:
        path: A .zip file, a manifest .csv, or a dataset folder.
        image_size, channels: As in `load_image_folder`.

    Returns:
        An `ImageDataset`.

    Raises:
        ValueError: If `path` is none of the above, or the chosen loader fails.
    """
    path = Path(path)
    options = {"image_size": image_size, "channels": channels}
    if path.is_file() and path.suffix.lower() == ".zip":
        return load_image_zip(path, **options)
    kind, found = image_listing.find_layout(
        path, expected=f"{image_listing.LAYOUTS_TEXT}, a manifest .csv, or a .zip of class folders"
    )
    return {"manifest": load_image_manifest, "folder": load_image_folder}[kind](found, **options)


def _load_listing(
    listing: image_listing.Listing, image_size: tuple[int, int] | None, channels: int
) -> ImageDataset:
    """Decodes the listed files in order, keeping the pixels, and returns the dataset."""
    collector = ImageCollector(image_size, channels)
    labels = {}
    for entry in listing.entries:
        if entry.reason is not None:
            collector.reject(entry.name, entry.reason)
        else:
            labels[entry.name] = entry.label
            collector.add_file(entry.name, entry.path)
    return _build_dataset(
        collector, listing.source, label_of=labels.get, class_folders=listing.class_folders
    )


def _build_dataset(
    collector: ImageCollector,
    source: str,
    *,
    label_of: Callable[[str], str | None],
    class_folders: Sequence[str] = (),
) -> ImageDataset:
    """Labels the collected images, rejecting unlabelled ones, and returns the dataset."""
    keep = []
    labels = []
    for index, name in enumerate(collector.names):
        label = label_of(name)
        if label is None:
            collector.reject(name, outside_class_folder_reason(name))
        else:
            keep.append(index)
            labels.append(label)
    class_names, label_indexes = image_listing.index_labels(
        labels, collector.rejected, source, class_folders
    )
    return ImageDataset(
        images=np.stack([collector.arrays[index] for index in keep]),
        labels=label_indexes,
        class_names=class_names,
        filenames=[collector.names[index] for index in keep],
        original_sizes=[collector.sizes[index] for index in keep],
        rejected=collector.rejected,
        source=source,
    )


def _zip_class_finder(member_names: Sequence[str]) -> Callable[[str], str | None]:
    """Returns a function giving the class of a member path, allowing one wrapping folder."""
    parts = [PurePosixPath(name).parts for name in member_names]
    wrapped = (
        bool(parts)
        and all(len(item) >= 2 for item in parts)
        and len({item[0] for item in parts}) == 1
        and any(len(item) >= 3 for item in parts)
    )
    depth = 1 if wrapped else 0

    def class_of(name: str) -> str | None:
        name_parts = PurePosixPath(name).parts
        return name_parts[depth] if len(name_parts) >= depth + 2 else None

    return class_of

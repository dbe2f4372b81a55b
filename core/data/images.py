"""Image datasets: load, check and resize images from folders, ZIP archives, manifests and uploads.

Every loader returns the images it could read and a list of the files it could not, each with a
reason, so one corrupt file never stops a dataset from loading. Decoding itself lives in
`core.data.image_decoding`; its public names are re-exported here. Only numpy, pandas and pillow
are used: the dashboard's home page imports this module without TensorFlow.

Example:

    dataset = load_images("path/to/dataset", image_size=(128, 128), channels=1)
    print(dataset.images.shape, dataset.class_counts(), len(dataset.rejected))
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from core.data import archives
from core.data.image_decoding import (
    FORMATS_TEXT,
    MAX_IMAGE_FILE_BYTES,
    MAX_IMAGE_PIXELS,
    SUPPORTED_IMAGE_FORMATS,
    SUPPORTED_IMAGE_SUFFIXES,
    ImageCollector,
    check_image_options,
    decode_image,
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

MANIFEST_COLUMNS = ("filename", "label")


@dataclasses.dataclass
class ImageDataset:
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

    def __len__(self) -> int:
        return len(self.filenames)

    def class_counts(self) -> dict[str, int]:
        """Returns the number of images per class, in `class_names` order."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, counts, strict=True)}

    def size_counts(self) -> dict[tuple[int, int], int]:
        """Returns how many images had each original (width, height), most common first."""
        return dict(collections.Counter(self.original_sizes).most_common())


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
    collector = ImageCollector(image_size, channels)
    folders = []
    for entry in sorted(root.iterdir()):
        if is_junk_name(entry.name):
            continue
        if entry.is_dir():
            folders.append(entry.name)
            for file_path in walk_files(entry):
                collector.add_file(file_path.relative_to(root).as_posix(), file_path)
        else:
            collector.reject(entry.name, outside_class_folder_reason(entry.name))
    return _build_dataset(
        collector, str(root), label_of=lambda name: name.split("/", 1)[0], class_folders=folders
    )


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
    manifest_path = Path(manifest_path)
    table = read_manifest(manifest_path)
    root = Path(image_directory if image_directory is not None else manifest_path.parent).resolve()
    collector = ImageCollector(image_size, channels)
    labels: dict[str, str] = {}
    for row_number, filename, label in zip(
        range(2, len(table) + 2), table["filename"], table["label"], strict=True
    ):
        filename, label = filename.strip(), label.strip()
        if not filename or not label:
            collector.reject(
                f"{manifest_path.name} line {row_number}",
                "Expected a filename and a label on every manifest row. "
                f"Received: filename={filename!r}, label={label!r}",
            )
            continue
        file_path = (root / filename.replace("\\", "/")).resolve()
        if filename in labels:
            reason = "Expected each file once in the manifest; this row repeats it."
        elif not file_path.is_relative_to(root):
            reason = "Expected a path inside the image folder; paths leaving it are refused."
        elif not file_path.is_file():
            reason = f"Expected the file to exist in {str(root)!r}; it was not found."
        else:
            labels[filename] = label
            collector.add_file(filename, file_path)
            continue
        collector.reject(filename, f"{reason} Received: filename={filename!r}")
    return _build_dataset(collector, str(manifest_path), label_of=labels.get)


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
        name of each image ('upload.zip/inner/path.png' for ZIP members), and the refused files.

    Raises:
        TypeError: If an item of `files` is not a (str, bytes) pair.
        ValueError: If the options are invalid.
    """
    image_size, channels = check_image_options(image_size, channels)
    collector = ImageCollector(image_size, channels)
    for name, data in check_named_files(files):
        if not (archives.is_zip_name(name) or data.startswith(b"PK\x03\x04")):
            collector.add_bytes(name, data)
            continue
        try:
            contents = archives.read_zip(data, name=name)
        except ValueError as error:
            collector.reject(name, str(error))
            continue
        for rejected_file in contents.rejected:
            collector.reject(f"{name}/{rejected_file.name}", rejected_file.reason)
        for member in contents.members:
            collector.add_bytes(f"{name}/{member.name}", member.data)
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
    if path.is_file() and path.suffix.lower() == ".csv":
        return load_image_manifest(path, **options)
    if path.is_dir():
        manifests = [
            candidate
            for candidate in sorted(path.glob("*.csv"), key=lambda item: item.name != "labels.csv")
            if has_manifest_columns(candidate)
        ]
        if manifests:
            return load_image_manifest(manifests[0], **options)
        if any(entry.is_dir() and not is_junk_name(entry.name) for entry in path.iterdir()):
            return load_image_folder(path, **options)
    raise ValueError(
        "Expected a folder of class subfolders, a folder with a labels.csv manifest "
        "(columns filename,label), a manifest .csv, or a .zip of class folders. "
        f"Received: path={str(path)!r}"
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
    class_names = sorted(set(labels))
    for folder in class_folders:
        if folder not in class_names:
            collector.reject(
                f"{folder}/",
                f"Expected at least one {FORMATS_TEXT} image in each class folder. "
                f"Received: folder={folder!r} with none usable",
            )
    if not class_names:
        examples = "; ".join(f"{item.name}: {item.reason}" for item in collector.rejected[:3])
        raise ValueError(
            "Expected at least one readable image inside a class folder. "
            f"Received: source={source!r} with 0 images loaded and "
            f"{len(collector.rejected)} files rejected" + (f" ({examples})" if examples else "")
        )
    class_index = {name: index for index, name in enumerate(class_names)}
    return ImageDataset(
        images=np.stack([collector.arrays[index] for index in keep]),
        labels=np.array([class_index[label] for label in labels], dtype=np.int32),
        class_names=class_names,
        filenames=[collector.names[index] for index in keep],
        original_sizes=[collector.sizes[index] for index in keep],
        rejected=collector.rejected,
        source=source,
    )


def read_manifest(manifest_path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(manifest_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError) as error:  # Parser, empty-file and decoding errors.
        raise ValueError(
            "Expected a readable CSV manifest with columns filename,label. "
            f"Received: path={str(manifest_path)!r} ({error})"
        ) from error
    table.columns = [str(column).strip().lower() for column in table.columns]
    if not set(MANIFEST_COLUMNS).issubset(table.columns):
        raise ValueError(
            "Expected a CSV manifest with columns filename,label. "
            f"Received: columns={list(table.columns)} in {manifest_path.name!r}"
        )
    return table


def has_manifest_columns(path: Path) -> bool:
    try:
        columns = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
    except (OSError, ValueError):
        return False
    return set(MANIFEST_COLUMNS).issubset(str(column).strip().lower() for column in columns)


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


def walk_files(folder: Path) -> list[Path]:
    files = []
    for directory, subfolders, filenames in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not is_junk_name(name))
        files.extend(Path(directory) / name for name in sorted(filenames) if not is_junk_name(name))
    return files


def is_junk_name(name: str) -> bool:
    return (
        name.startswith(".")
        or name in archives.JUNK_FOLDER_NAMES
        or name in archives.JUNK_FILE_NAMES
    )


def outside_class_folder_reason(name: str) -> str:
    return (
        "Expected images inside a class folder (one subfolder per class); this file is not "
        f"inside one. Received: name={name!r}"
    )

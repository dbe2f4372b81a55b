"""Image datasets kept on disk: find and check the files, keep their paths, not their pixels.

`load_image_files` finds the same files as `core.data.images.load_images` (class folders or a
`filename,label` manifest, junk files skipped the same way), then decodes each file once with
`decode_image`, at the training size, to reject unreadable ones with the same reasons. Only one
decoded image exists at a time, so checking 100,000 files needs no more memory than checking one.
Training then reads the files again, batch by batch (`core.image_streaming`). Only numpy, pandas
and pillow are used: the dashboard's home page imports this module without TensorFlow.

Example:

    dataset = load_image_files("path/to/dataset", image_size=(64, 64), channels=1)
    print(len(dataset), dataset.class_counts(), len(dataset.rejected))
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

# The private helpers are shared on purpose: both loaders must skip and word things identically.
from core.data.image_decoding import (
    FORMATS_TEXT,
    MAX_IMAGE_FILE_BYTES,
    SUPPORTED_IMAGE_SUFFIXES,
    check_image_options,
    decode_image,
)
from core.data.images import (
    has_manifest_columns,
    is_junk_name,
    outside_class_folder_reason,
    read_manifest,
    walk_files,
)
from core.data.validation import RejectedFile

__all__ = ["ImageFileDataset", "count_image_files", "load_image_files"]


@dataclasses.dataclass
class ImageFileDataset:
    """Labelled image files that decoded once, and the files that could not be used.

    Like `core.data.images.ImageDataset` without `images`: the pixels stay in the files.

    Attributes:
        paths: For each image, the absolute path of its file.
        labels: int32 array of shape (N,), indexes into `class_names`.
        class_names: Sorted names of the classes that have at least one image.
        filenames: For each image, the name the user knows (path in the folder or manifest).
        original_sizes: For each image, its (width, height) before resizing.
        rejected: Files that were not kept, each with a reason.
        source: The folder or manifest the files came from.
        image_size: The (height, width) the files were checked at, or None for their own size.
        channels: 1 (grayscale) or 3 (RGB), as checked.
    """

    paths: list[str]
    labels: np.ndarray
    class_names: list[str]
    filenames: list[str]
    original_sizes: list[tuple[int, int]]
    rejected: list[RejectedFile]
    source: str
    image_size: tuple[int, int] | None
    channels: int

    def __len__(self) -> int:
        return len(self.filenames)

    def class_counts(self) -> dict[str, int]:
        """Returns the number of images per class, in `class_names` order."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, counts, strict=True)}

    def size_counts(self) -> dict[tuple[int, int], int]:
        """Returns how many images had each original (width, height), most common first."""
        return dict(collections.Counter(self.original_sizes).most_common())

    def read_image(self, index: int) -> np.ndarray:
        """Decodes one image, as the in-memory loader's `images[index]` holds it.

        For a few images (a gallery of mistakes, say); training streams them instead.

        Raises:
            IndexError: If `index` is out of range.
            ValueError: If the file changed since the check and no longer decodes.
        """
        data = Path(self.paths[index]).read_bytes()
        return decode_image(
            data, self.filenames[index], image_size=self.image_size, channels=self.channels
        )


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One item found by a scan, in load order: a file to check, or an early rejection."""

    name: str
    path: Path | None = None
    label: str | None = None
    reason: str | None = None


@dataclasses.dataclass
class _Scan:
    source: str
    entries: list[_Entry]
    class_folders: list[str]


def load_image_files(
    path: str | os.PathLike,
    *,
    image_size: tuple[int, int] | None = (128, 128),
    channels: int = 1,
) -> ImageFileDataset:
    """Finds and checks the image files of a dataset without keeping their pixels.

    Accepts what `core.data.images.load_images` accepts except ZIP archives: a folder of class
    subfolders, a folder holding a `filename,label` manifest (labels.csv preferred), or a
    manifest .csv. Each file is decoded once, as the in-memory loader would, and dropped.

    Args:
        path: A dataset folder or a manifest .csv.
        image_size, channels: As in `core.data.images.decode_image`; with image_size=None,
            images whose size differs from the first one are rejected.

    Returns:
        An `ImageFileDataset` whose files, labels and rejections match `load_images` on `path`.

    Raises:
        ValueError: If `path` is none of the above (a .zip included), the options are invalid,
            the manifest is unreadable, or no image is usable.
    """
    image_size, channels = check_image_options(image_size, channels)
    scan = _scan(Path(path))
    kept: list[tuple[_Entry, tuple[int, int]]] = []
    rejected: list[RejectedFile] = []
    first_shape = None
    for entry in scan.entries:
        if entry.reason is not None:
            rejected.append(RejectedFile(entry.name, entry.reason))
            continue
        try:
            shape, original_size = _check_file(entry, image_size, channels)
        except ValueError as error:
            rejected.append(RejectedFile(entry.name, str(error)))
            continue
        if first_shape is not None and shape != first_shape:
            rejected.append(
                RejectedFile(
                    entry.name,
                    f"Expected every image to be {first_shape[1]}x{first_shape[0]} like the first "
                    f"one when image_size is None. Received: name={entry.name!r} of size "
                    f"{original_size[0]}x{original_size[1]}",
                )
            )
            continue
        first_shape = first_shape or shape
        kept.append((entry, original_size))
    return _build_dataset(scan, kept, rejected, image_size, channels)


def count_image_files(path: str | os.PathLike) -> int:
    """Counts the image files a dataset would load, without opening any of them.

    Cheap: it lists folders (or reads the manifest) and checks file name suffixes only. Files
    that would later prove unreadable are counted too.

    Args:
        path: A dataset folder or a manifest .csv, as in `load_image_files`.

    Returns:
        The number of candidate image files.

    Raises:
        ValueError: As `load_image_files` for a path it does not accept.
    """
    return sum(
        1
        for entry in _scan(Path(path)).entries
        if entry.reason is None and entry.name.lower().endswith(SUPPORTED_IMAGE_SUFFIXES)
    )


def _scan(path: Path) -> _Scan:
    """Lists the entries of a dataset path, choosing the layout like `load_images`."""
    if path.is_file() and path.suffix.lower() == ".csv":
        return _scan_manifest(path)
    if path.is_dir():
        manifests = [
            candidate
            for candidate in sorted(path.glob("*.csv"), key=lambda item: item.name != "labels.csv")
            if has_manifest_columns(candidate)
        ]
        if manifests:
            return _scan_manifest(manifests[0])
        if any(entry.is_dir() and not is_junk_name(entry.name) for entry in path.iterdir()):
            return _scan_folder(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        raise ValueError(
            "Expected a folder or a manifest .csv to read image files from disk; a .zip archive "
            "is loaded in memory instead (core.data.images.load_images). "
            f"Received: path={str(path)!r}"
        )
    raise ValueError(
        "Expected a folder of class subfolders, a folder with a labels.csv manifest "
        "(columns filename,label) or a manifest .csv. "
        f"Received: path={str(path)!r}"
    )


def _scan_folder(root: Path) -> _Scan:
    """Entries of a folder of class subfolders, in the order `load_image_folder` reads them."""
    entries = []
    folders = []
    for entry in sorted(root.iterdir()):
        if is_junk_name(entry.name):
            continue
        if entry.is_dir():
            folders.append(entry.name)
            for file_path in walk_files(entry):
                name = file_path.relative_to(root).as_posix()
                entries.append(_Entry(name, file_path, label=entry.name))
        else:
            entries.append(_Entry(entry.name, reason=outside_class_folder_reason(entry.name)))
    return _Scan(str(root), entries, folders)


def _scan_manifest(manifest_path: Path) -> _Scan:
    """Entries of a manifest, with the row checks of `load_image_manifest`."""
    table = read_manifest(manifest_path)
    root = manifest_path.parent.resolve()
    entries = []
    seen: set[str] = set()
    for row_number, filename, label in zip(
        range(2, len(table) + 2), table["filename"], table["label"], strict=True
    ):
        filename, label = filename.strip(), label.strip()
        if not filename or not label:
            entries.append(
                _Entry(
                    f"{manifest_path.name} line {row_number}",
                    reason="Expected a filename and a label on every manifest row. "
                    f"Received: filename={filename!r}, label={label!r}",
                )
            )
            continue
        file_path = (root / filename.replace("\\", "/")).resolve()
        if filename in seen:
            reason = "Expected each file once in the manifest; this row repeats it."
        elif not file_path.is_relative_to(root):
            reason = "Expected a path inside the image folder; paths leaving it are refused."
        elif not file_path.is_file():
            reason = f"Expected the file to exist in {str(root)!r}; it was not found."
        else:
            seen.add(filename)
            entries.append(_Entry(filename, file_path, label=label))
            continue
        entries.append(_Entry(filename, reason=f"{reason} Received: filename={filename!r}"))
    return _Scan(str(manifest_path), entries, [])


def _check_file(
    entry: _Entry, image_size: tuple[int, int] | None, channels: int
) -> tuple[tuple[int, ...], tuple[int, int]]:
    """Decodes one file as the in-memory loader would; returns its decoded shape and size.

    Raises:
        ValueError: With the in-memory loader's reason if the file cannot be used.
    """
    name = entry.name
    if not name.lower().endswith(SUPPORTED_IMAGE_SUFFIXES):
        raise ValueError(f"Expected an image file ({FORMATS_TEXT}). Received: name={name!r}")
    try:
        size = entry.path.stat().st_size
        data = entry.path.read_bytes() if size <= MAX_IMAGE_FILE_BYTES else b""
    except OSError as error:
        raise ValueError(f"Expected a readable file ({error}). Received: name={name!r}") from error
    if size > MAX_IMAGE_FILE_BYTES:
        raise ValueError(
            f"Expected an image file of at most {MAX_IMAGE_FILE_BYTES:,} bytes. "
            f"Received: name={name!r} with {size:,} bytes"
        )
    shape = decode_image(data, name, image_size=image_size, channels=channels).shape
    # The header alone gives the original size; decoding it a second time is not needed.
    with Image.open(io.BytesIO(data)) as image:
        original_size = image.size
    return shape, original_size


def _build_dataset(
    scan: _Scan,
    kept: list[tuple[_Entry, tuple[int, int]]],
    rejected: list[RejectedFile],
    image_size: tuple[int, int] | None,
    channels: int,
) -> ImageFileDataset:
    class_names = sorted({entry.label for entry, _ in kept})
    for folder in scan.class_folders:
        if folder not in class_names:
            rejected.append(
                RejectedFile(
                    f"{folder}/",
                    f"Expected at least one {FORMATS_TEXT} image in each class folder. "
                    f"Received: folder={folder!r} with none usable",
                )
            )
    if not class_names:
        examples = "; ".join(f"{item.name}: {item.reason}" for item in rejected[:3])
        raise ValueError(
            "Expected at least one readable image inside a class folder. "
            f"Received: source={scan.source!r} with 0 images loaded and "
            f"{len(rejected)} files rejected" + (f" ({examples})" if examples else "")
        )
    class_index = {name: index for index, name in enumerate(class_names)}
    return ImageFileDataset(
        paths=[str(entry.path.absolute()) for entry, _ in kept],
        labels=np.array([class_index[entry.label] for entry, _ in kept], dtype=np.int32),
        class_names=class_names,
        filenames=[entry.name for entry, _ in kept],
        original_sizes=[size for _, size in kept],
        rejected=rejected,
        source=scan.source,
        image_size=image_size,
        channels=channels,
    )

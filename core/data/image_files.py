"""Image datasets kept on disk: find and check the files, keep their paths, not their pixels.

`load_image_files` finds the same files as `core.data.images.load_images` (class folders or a
`filename,label` manifest, junk files skipped the same way), then decodes each file once with
`decode_image`, at the training size, to reject unreadable ones with the same reasons. Only one
decoded image exists at a time, so checking 100,000 files needs no more memory than checking one.
Training then reads the files again, batch by batch (`core.engine.image_streaming`). Only numpy,
pandas and pillow are used: the dashboard's home page imports this module without TensorFlow.

Example:

    dataset = load_image_files("path/to/dataset", image_size=(64, 64), channels=1)
    print(len(dataset), dataset.class_counts(), len(dataset.rejected))
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

# Both loaders list files with `image_listing`, so they skip, label and word things identically.
from core.data import image_listing
from core.data.image_decoding import (
    SUPPORTED_IMAGE_SUFFIXES,
    check_image_options,
    decode_image,
    read_image_file,
    size_mismatch_reason,
)
from core.data.validation import RejectedFile

__all__ = ["ImageFileDataset", "count_image_files", "load_image_files"]


@dataclasses.dataclass
class ImageFileDataset(image_listing.LabelledImagesMixin):
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
    listing = _list(Path(path))
    kept: list[tuple[image_listing.Entry, tuple[int, int]]] = []
    rejected: list[RejectedFile] = []
    first_shape = None
    for entry in listing.entries:
        if entry.reason is not None:
            rejected.append(entry.rejection())
            continue
        try:
            shape, original_size = _check_file(entry, image_size, channels)
        except ValueError as error:
            rejected.append(RejectedFile(entry.name, str(error)))
            continue
        if first_shape is not None and shape != first_shape:
            reason = size_mismatch_reason(entry.name, first_shape, original_size)
            rejected.append(RejectedFile(entry.name, reason))
            continue
        first_shape = first_shape or shape
        kept.append((entry, original_size))
    class_names, labels = image_listing.index_labels(
        [entry.label for entry, _ in kept], rejected, listing.source, listing.class_folders
    )
    return ImageFileDataset(
        paths=[str(entry.path.absolute()) for entry, _ in kept],
        labels=labels,
        class_names=class_names,
        filenames=[entry.name for entry, _ in kept],
        original_sizes=[size for _, size in kept],
        rejected=rejected,
        source=listing.source,
        image_size=image_size,
        channels=channels,
    )


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
        for entry in _list(Path(path)).entries
        if entry.reason is None and entry.name.lower().endswith(SUPPORTED_IMAGE_SUFFIXES)
    )


def _list(path: Path) -> image_listing.Listing:
    """Lists the entries of a dataset path, choosing the layout like `load_images`."""
    # A .zip file is neither a .csv nor a folder, so this test may come before `find_layout`.
    if path.is_file() and path.suffix.lower() == ".zip":
        raise ValueError(
            "Expected a folder or a manifest .csv to read image files from disk; a .zip archive "
            "is loaded in memory instead (core.data.images.load_images). "
            f"Received: path={str(path)!r}"
        )
    kind, found = image_listing.find_layout(
        path, expected=f"{image_listing.LAYOUTS_TEXT} or a manifest .csv"
    )
    lister = {"manifest": image_listing.list_manifest, "folder": image_listing.list_folder}[kind]
    return lister(found)


def _check_file(
    entry: image_listing.Entry, image_size: tuple[int, int] | None, channels: int
) -> tuple[tuple[int, ...], tuple[int, int]]:
    """Decodes one file as the in-memory loader would; returns its decoded shape and size.

    Raises:
        ValueError: With the in-memory loader's reason if the file cannot be used.
    """
    data = read_image_file(entry.name, entry.path)
    shape = decode_image(data, entry.name, image_size=image_size, channels=channels).shape
    # The header alone gives the original size; decoding it a second time is not needed.
    with Image.open(io.BytesIO(data)) as image:
        original_size = image.size
    return shape, original_size

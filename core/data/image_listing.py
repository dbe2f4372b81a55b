"""Image dataset listing: find the files of a folder or manifest, and label what loaded.

Both image loaders start here: `core.data.images` decodes each listed file and keeps the pixels,
`core.data.image_files` decodes each one to check it and keeps only its path. Sharing the listing
is what makes them find the same files, in the same order, with the same labels and the same
rejection reasons. Only numpy, pandas and pillow are used: the dashboard's home page imports this
module without TensorFlow.

Example:

    listing = list_folder(Path("path/to/dataset"))
    print(listing.class_folders, [entry.name for entry in listing.entries if entry.reason])
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import archive_checks
from core.data.image_decoding import FORMATS_TEXT
from core.data.validation import FileItem, RejectedFile

MANIFEST_COLUMNS = ("filename", "label")
# The folder layouts `find_layout` recognises, for the loaders' descriptions of what they accept.
LAYOUTS_TEXT = (
    "a folder of class subfolders, a folder with a labels.csv manifest (columns filename,label)"
)


class LabelledImagesMixin:
    """Counts for a dataset with `filenames`, `labels`, `class_names` and `original_sizes`."""

    def __len__(self) -> int:
        return len(self.filenames)

    def class_counts(self) -> dict[str, int]:
        """Returns the number of images per class, in `class_names` order."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, counts, strict=True)}

    def size_counts(self) -> dict[tuple[int, int], int]:
        """Returns how many images had each original (width, height), most common first."""
        return dict(collections.Counter(self.original_sizes).most_common())


@dataclasses.dataclass(frozen=True)
class Entry(FileItem):
    """One listed item, in load order: a labelled file to decode, or an early rejection.

    Attributes:
        name: The name the user knows (path in the folder, or as written in the manifest).
        path: The file to decode, or None for a rejection.
        reason: Why the item was rejected without being opened, or None.
        label: The class of the file, or None for a rejection.
    """

    label: str | None = None


@dataclasses.dataclass
class Listing:
    """The entries of a dataset, where they came from, and its class folders (if any)."""

    source: str
    entries: list[Entry]
    class_folders: list[str]


def find_layout(path: Path, *, expected: str) -> tuple[str, Path]:
    """Says how to list `path`: a .csv file, or a folder holding a `filename,label` CSV
    (labels.csv preferred), is a manifest; another folder with a subfolder holds class folders.

    Args:
        path: The dataset path.
        expected: What the caller accepts, for the error message (see `LAYOUTS_TEXT`).

    Returns:
        ('manifest', manifest path) or ('folder', path).

    Raises:
        ValueError: If `path` is neither.
    """
    if path.is_file() and path.suffix.lower() == ".csv":
        return "manifest", path
    if path.is_dir():
        manifests = [
            candidate
            for candidate in sorted(path.glob("*.csv"), key=lambda item: item.name != "labels.csv")
            if has_manifest_columns(candidate)
        ]
        if manifests:
            return "manifest", manifests[0]
        if any(entry.is_dir() and not is_junk_name(entry.name) for entry in path.iterdir()):
            return "folder", path
    raise ValueError(f"Expected {expected}. Received: path={str(path)!r}")


def list_folder(root: Path) -> Listing:
    """Lists a folder of class subfolders (nested folders included), skipping junk names.

    Files directly in `root` are rejected as not inside a class folder.
    """
    entries = []
    folders = []
    for entry in sorted(root.iterdir()):
        if is_junk_name(entry.name):
            continue
        if entry.is_dir():
            folders.append(entry.name)
            for file_path in walk_files(entry):
                name = file_path.relative_to(root).as_posix()
                entries.append(Entry(name, file_path, label=entry.name))
        else:
            entries.append(Entry(entry.name, reason=outside_class_folder_reason(entry.name)))
    return Listing(str(root), entries, folders)


def list_manifest(manifest_path: Path, image_directory: str | os.PathLike | None = None) -> Listing:
    """Lists the rows of a `filename,label` manifest.

    Rows with an empty cell, a repeated filename, a path leaving `image_directory` (default: the
    manifest's folder) or a missing file are rejected.

    Raises:
        ValueError: If the manifest is unreadable or lacks the columns.
    """
    table = read_manifest(manifest_path)
    root = Path(image_directory if image_directory is not None else manifest_path.parent).resolve()
    entries = []
    seen: set[str] = set()
    for row_number, filename, label in zip(
        range(2, len(table) + 2), table["filename"], table["label"], strict=True
    ):
        filename, label = filename.strip(), label.strip()
        if not filename or not label:
            entries.append(
                Entry(
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
            entries.append(Entry(filename, file_path, label=label))
            continue
        entries.append(Entry(filename, reason=f"{reason} Received: filename={filename!r}"))
    return Listing(str(manifest_path), entries, [])


def index_labels(
    labels: Sequence[str],
    rejected: list[RejectedFile],
    source: str,
    class_folders: Sequence[str] = (),
) -> tuple[list[str], np.ndarray]:
    """Turns the labels of the loaded images into class names and class indexes.

    Class folders without a loaded image are appended to `rejected`.

    Returns:
        (class_names, indexes): the sorted class names, and an int32 array of one index per label.

    Raises:
        ValueError: If no image loaded (the message quotes the first three rejections), or two
            class names differ only in case or spaces (`ok` and `OK `), which would train two
            classes of one kind of part.
    """
    class_names = sorted(set(labels))
    check_distinct_class_names([*class_names, *class_folders], source)
    for folder in class_folders:
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
            f"Received: source={source!r} with 0 images loaded and "
            f"{len(rejected)} files rejected" + (f" ({examples})" if examples else "")
        )
    class_index = {name: index for index, name in enumerate(class_names)}
    return class_names, np.array([class_index[label] for label in labels], dtype=np.int32)


def check_distinct_class_names(names: Sequence[str], source: str) -> None:
    """Refuses class names that differ only in letter case or spaces, naming each group.

    Raises:
        ValueError: If two names are equal once case and surrounding or repeated spaces are
            ignored.
    """
    groups: dict[str, set[str]] = {}
    for name in names:
        groups.setdefault(" ".join(str(name).split()).casefold(), set()).add(str(name))
    clashes = [sorted(group) for group in groups.values() if len(group) > 1]
    if clashes:
        shown = "; ".join(" and ".join(repr(name) for name in group) for group in clashes)
        raise ValueError(
            "Expected class names that differ by more than letter case or spaces (one name per "
            f"kind of part). Received: source={source!r} with {shown}. Rename the folders or "
            "labels so that each class has one name."
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


def walk_files(folder: Path) -> list[Path]:
    files = []
    for directory, subfolders, filenames in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not is_junk_name(name))
        files.extend(Path(directory) / name for name in sorted(filenames) if not is_junk_name(name))
    return files


def is_junk_name(name: str) -> bool:
    return (
        name.startswith(".")
        or name in archive_checks.JUNK_FOLDER_NAMES
        or name in archive_checks.JUNK_FILE_NAMES
    )


def outside_class_folder_reason(name: str) -> str:
    return (
        "Expected images inside a class folder (one subfolder per class); this file is not "
        f"inside one. Received: name={name!r}"
    )

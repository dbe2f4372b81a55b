"""Line-side inference: stream thousands of images through a classifier in bounded memory.

Inputs (image files, folders, zips, glob patterns) are read lazily, one file or zip member at a
time; images are decoded into batches of `batch_size`, predicted, written and dropped. At any
moment at most one batch of decoded images and one file's bytes are held, whatever the number of
images. Unreadable files never become rows: they are reported with a reason.

Example:

    predictor, metadata = load_predictor(registry, "demo-defect-cnn")
    summary = predict_to_outputs(predictor, ["line3/**/*.png", "shift2.zip"], out="results.csv")
    print(summary.predicted, summary.rejected_count)
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import os
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from core.data.archives import is_zip_name, iter_zip_members
from core.data.image_decoding import SUPPORTED_IMAGE_SUFFIXES, ImageCollector
from core.data.validation import FileItem, RejectedFile
from core.inference.verdicts import verdict_indices
from core.inference.writers import (
    REJECTED_COLUMNS,
    CsvRowWriter,
    open_prediction_writer,
    rejected_path_for,
)

DEFAULT_BATCH_SIZE = 64
# Kept in memory for the summary: enough to show, bounded whatever the number of images.
MAX_REPORTED_REJECTIONS = 100
PREVIEW_ROWS = 20
_GLOB_CHARACTERS = ("*", "?", "[")


@dataclasses.dataclass(frozen=True)
class InputItem(FileItem):
    """One image to read, or one input that could not be used.

    Attributes:
        name: The image's name: path inside the folder or zip, matched path, or file name.
        path: The file to read, for images on disk.
        reason: Why it was refused, for inputs that could not be used; None otherwise.
        source: The input it came from, as the user gave it (folder, zip, glob pattern, file);
            a keyword argument.
        data: The bytes, for zip members (read already, one at a time).
    """

    source: str = dataclasses.field(kw_only=True)
    data: bytes | None = None


@dataclasses.dataclass
class ScoredBatch:
    """Predictions for one batch, and the items refused while the batch was read.

    Attributes:
        sources, names: Per predicted image, its input and its name.
        probabilities: float32 `(len(names), classes)`.
        rejected: `(source, RejectedFile)` pairs, in reading order.
        verdicts: The verdict's class index per image (`core.inference.verdicts.verdict_indices`:
            the stored operating point, or the most probable class); None means the most probable.
    """

    sources: list[str]
    names: list[str]
    probabilities: np.ndarray
    rejected: list[tuple[str, RejectedFile]]
    verdicts: np.ndarray | None = None

    def records(self, class_names: Sequence[str]) -> list[dict]:
        """Returns one dict per image with the keys of `prediction_columns(class_names)`."""
        if self.verdicts is not None:
            best = self.verdicts
        else:
            best = np.argmax(self.probabilities, axis=1) if len(self.names) else []
        records = []
        for index, (source, name) in enumerate(zip(self.sources, self.names, strict=True)):
            row = self.probabilities[index]
            record = {
                "source": source,
                "name": name,
                "predicted": class_names[best[index]],
                "confidence": float(row[best[index]]),
            }
            record.update(
                {f"p_{label}": float(value) for label, value in zip(class_names, row, strict=True)}
            )
            records.append(record)
        return records


def iter_input_items(inputs: Iterable[str | os.PathLike]) -> Iterator[InputItem]:
    """Yields the images of `inputs` lazily, and a refused item for each unusable input.

    Folders are walked recursively in sorted order (image files only; hidden files skipped),
    zips are read member by member through `iter_zip_members`, and an entry that is not an
    existing path but holds `*`, `?` or `[` is expanded with `glob(recursive=True)` (folders it
    matches are skipped: `**` matches their files already). A named file is always tried, so a
    non-image file given by name is refused with a reason.

    Args:
        inputs: Files, folders, zips or glob patterns.

    Yields:
        `InputItem`s; those with a `reason` are refusals (missing path, empty glob, bad zip).
    """
    for entry in inputs:
        source = os.fspath(entry)
        yielded = 0
        for kind, name, path, reason in _expand_entry(source):
            items = (
                _iter_zip_items(source, path)
                if kind == "zip"
                else [InputItem(name, path, reason, source=source)]
            )
            for item in items:
                yielded += 1
                yield item
        if not yielded:
            # An existing folder or zip without a single image: say so rather than stay silent.
            what = "folder" if Path(source).is_dir() else "zip"
            yield InputItem(source, reason=_nothing_found_reason(what, source), source=source)


def count_input_items(inputs: Iterable[str | os.PathLike]) -> int:
    """Counts the items `iter_input_items` will yield, for a progress total.

    A cheap first pass over names only (a zip's central directory, no image is read); an
    estimate where a zip refuses members or a folder holds no image.
    """
    total = 0
    for entry in inputs:
        for kind, _, path, _ in _expand_entry(os.fspath(entry)):
            # A refused input counts as one: progress counts it as done once reported.
            total += _count_zip_images(path) if kind == "zip" else 1
    return total


def score_batches(
    predictor, items: Iterable[InputItem], *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[ScoredBatch]:
    """Decodes items into batches of at most `batch_size` images and predicts each batch.

    Args:
        predictor: An `ImagePredictor` (or any object with `class_names`, `image_size`,
            `channels` and `predict_arrays(images)`).
        items: `InputItem`s, e.g. from `iter_input_items`; consumed lazily.
        batch_size: Most images per prediction call. Defaults to 64.

    Yields:
        A `ScoredBatch` per full batch, then one for the rest (if it holds anything).

    Raises:
        ValueError: If `batch_size` is not a positive integer.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"Expected batch_size to be a positive integer. Received: batch_size={batch_size!r}"
        )
    collector, sources, rejected = ImageCollector(predictor.image_size, predictor.channels), [], []
    for item in items:
        if item.reason is not None:
            rejected.append((item.source, item.rejection()))
            continue
        decoded, refused = len(collector.arrays), len(collector.rejected)
        if item.data is not None:
            collector.add_bytes(item.name, item.data)
        else:
            collector.add_file(item.name, item.path)
        if len(collector.arrays) > decoded:
            sources.append(item.source)
        rejected.extend((item.source, refusal) for refusal in collector.rejected[refused:])
        # Refusals flush too, so that a long run of bad inputs is not held in memory.
        if len(collector.arrays) >= batch_size or len(rejected) >= batch_size:
            yield _predict(predictor, collector, sources, rejected)
            collector = ImageCollector(predictor.image_size, predictor.channels)
            sources, rejected = [], []
    if collector.arrays or rejected:
        yield _predict(predictor, collector, sources, rejected)


def _predict(predictor, collector: ImageCollector, sources, rejected) -> ScoredBatch:
    if collector.arrays:
        images = collector.stacked_images()
        probabilities = np.asarray(predictor.predict_arrays(images), dtype=np.float32)
    else:
        probabilities = np.zeros((0, len(predictor.class_names)), dtype=np.float32)
    return ScoredBatch(
        list(sources),
        list(collector.names),
        probabilities,
        list(rejected),
        verdict_indices(predictor, probabilities),
    )


@dataclasses.dataclass
class PredictionSummary:
    """What a streamed prediction run did.

    Attributes:
        predicted: Images predicted (rows written).
        predicted_counts: Images per predicted class.
        rejected_count: Files and inputs refused.
        rejected: The first `MAX_REPORTED_REJECTIONS` refusals, as dicts (source, name, reason).
        preview: The first `PREVIEW_ROWS` rows, as dicts.
        seconds: Wall time of reading, predicting and writing.
        out, rejected_out: The files written, or None.
    """

    predicted: int = 0
    predicted_counts: dict = dataclasses.field(default_factory=dict)
    rejected_count: int = 0
    rejected: list = dataclasses.field(default_factory=list)
    preview: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    out: str | None = None
    rejected_out: str | None = None

    @property
    def images_per_second(self) -> float:
        return self.predicted / self.seconds if self.seconds > 0 else 0.0


def predict_to_outputs(
    predictor,
    inputs: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress=None,
    on_rejected: Callable[[str, RejectedFile], None] | None = None,
) -> PredictionSummary:
    """Streams every image of `inputs` through `predictor`, writing rows batch by batch.

    Args:
        predictor: An `ImagePredictor` (see `score_batches`).
        inputs: Files, folders, zips or glob patterns (see `iter_input_items`).
        out: A .csv or .parquet file to write, plus `<stem>.rejected.csv` beside it; None
            writes nothing (the summary's `preview` holds the first rows).
        batch_size: Most images per prediction call. Defaults to 64.
        progress: Has `update(predicted, rejected)`, called after each batch; None: nothing.
        on_rejected: Called with `(source, RejectedFile)` for each refusal, as it happens.

    Returns:
        A `PredictionSummary`.

    Raises:
        ValueError: If `out` does not end in .csv or .parquet, or `batch_size` is invalid.
    """
    summary = PredictionSummary()
    counts: collections.Counter = collections.Counter()
    writer = rejected_writer = None
    if out is not None:
        writer = open_prediction_writer(out, predictor.class_names)
        rejected_writer = CsvRowWriter(rejected_path_for(out), REJECTED_COLUMNS)
        summary.out, summary.rejected_out = str(out), str(rejected_writer.path)
    started = time.perf_counter()
    try:
        batches = score_batches(predictor, iter_input_items(inputs), batch_size=batch_size)
        for batch in batches:
            records = batch.records(predictor.class_names)
            rejections = [{"source": s, **r.as_dict()} for s, r in batch.rejected]
            if writer is not None:
                writer.write(records)
                rejected_writer.write(rejections)
            counts.update(record["predicted"] for record in records)
            summary.predicted += len(records)
            summary.rejected_count += len(rejections)
            summary.preview.extend(records[: PREVIEW_ROWS - len(summary.preview)])
            summary.rejected.extend(rejections[: MAX_REPORTED_REJECTIONS - len(summary.rejected)])
            if on_rejected is not None:
                for source, refusal in batch.rejected:
                    on_rejected(source, refusal)
            if progress is not None:
                progress.update(len(records), len(rejections))
    finally:
        for open_writer in (writer, rejected_writer):
            if open_writer is not None:
                open_writer.close()
    summary.seconds = time.perf_counter() - started
    summary.predicted_counts = dict(sorted(counts.items()))
    return summary


def _expand_entry(source: str) -> Iterator[tuple[str, str, Path | None, str | None]]:
    """Yields `(kind, name, path, reason)` with kind 'image', 'zip' or 'rejected'."""
    path = Path(source)
    if path.is_dir():
        for file_path in _walk_images(path):
            yield "image", file_path.relative_to(path).as_posix(), file_path, None
    elif path.is_file():
        yield ("zip" if is_zip_name(path.name) else "image"), path.name, path, None
    elif any(character in source for character in _GLOB_CHARACTERS):
        matched = False
        for match in sorted(glob.glob(source, recursive=True)):
            match_path = Path(match)
            if match_path.is_file() and is_zip_name(match_path.name):
                matched = True
                yield "zip", match_path.as_posix(), match_path, None
            elif match_path.is_file() and match_path.suffix.lower() in SUPPORTED_IMAGE_SUFFIXES:
                matched = True
                yield "image", match_path.as_posix(), match_path, None
        if not matched:
            reason = (
                "Expected the glob pattern to match at least one image file or zip. "
                f"Received: pattern={source!r}"
            )
            yield "rejected", source, None, reason
    else:
        reason = (
            f"Expected an existing file, folder, zip or glob pattern. Received: path={source!r}"
        )
        yield "rejected", source, None, reason


def _walk_images(folder: Path) -> Iterator[Path]:
    """Image files under `folder`, sorted per directory, hidden files and folders skipped."""
    for directory, folder_names, file_names in os.walk(folder):
        folder_names[:] = sorted(name for name in folder_names if not name.startswith("."))
        for name in sorted(file_names):
            if not name.startswith(".") and name.lower().endswith(SUPPORTED_IMAGE_SUFFIXES):
                yield Path(directory, name)


def _iter_zip_items(source: str, path: Path) -> Iterator[InputItem]:
    refused: list[RejectedFile] = []
    try:
        for member in iter_zip_members(path, name=path.name, rejected=refused):
            yield from (InputItem(item.name, reason=item.reason, source=source) for item in refused)
            refused.clear()
            if member.name.lower().endswith(SUPPORTED_IMAGE_SUFFIXES):
                yield InputItem(member.name, source=source, data=member.data)
    except ValueError as error:
        refused.append(RejectedFile(path.as_posix(), str(error)))
    yield from (InputItem(item.name, reason=item.reason, source=source) for item in refused)


def _count_zip_images(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(
                1
                for info in archive.infolist()
                if not info.is_dir() and info.filename.lower().endswith(SUPPORTED_IMAGE_SUFFIXES)
            )
    except (zipfile.BadZipFile, OSError, ValueError):
        return 1  # The refusal of the archive itself.


def _nothing_found_reason(what: str, source: str) -> str:
    return (
        f"Expected the {what} to hold at least one image file (PNG, JPEG, BMP or TIFF). "
        f"Received: path={source!r}"
    )

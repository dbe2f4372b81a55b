"""Spot checks: predict a handful of uploaded images, explain them, and filter the results.

The spot-check page calls `spot_check` once per upload (or per switch of the overlay toggle) and
`filter_predictions` on every redraw of its table. Uploads are `(name, bytes)` pairs: single
images, or ZIP archives, which `core.data.images.load_uploaded_images` expands with
`core.data.archives.iter_zip_members` (each member is named `archive.zip/inner/path.png`; refused
members are reported like any bad file). Model files (.keras, .h5, a zipped SavedModel, ...) are
refused: models are only trained here. A bad file never stops the others.

TensorFlow is only touched through the predictor and, when `explain` is set,
`core.inference.explain`.

Example:

    result = spot_check(predictor, [("part_17.png", png_bytes)], explain=True)
    result.frame                       # name, predicted, confidence, p_<class> ...
    result.overlays[0]                 # uint8 RGB Grad-CAM overlay of the first image
    filter_predictions(result.frame, classes=["scratches"], max_confidence=0.8)
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.data import bundled
from core.data.validation import RejectedFile, describe_value
from core.inference.heatmaps import heatmap_overlay

FRAME_COLUMNS = ("name", "predicted", "confidence")


@dataclasses.dataclass
class SpotCheckResult:
    """The outcome of one spot check.

    Attributes:
        rows: One dict per readable image: `name`, `predicted`, `confidence`, `probabilities`
            (`{class name: p}`), in upload order (ZIP members in archive order).
        frame: The same as a DataFrame: `name`, `predicted`, `confidence`, then one `p_<class>`
            column per class.
        rejected: Files (or ZIP members) that could not be read, each with its reason.
        class_names: The model's classes, in output order.
        images: The decoded images at the model's input size, uint8 `(H, W)` for grayscale
            or `(H, W, 3)` for colour, ready for display; one per row.
        overlays: Grad-CAM overlays (uint8 RGB `(H, W, 3)`) of the predicted class, one per
            explained row (the first `max_overlays` rows), or None when `explain` was False.
        heatmaps: The raw Grad-CAM maps in [0, 1], `(H, W)`, matching `overlays`, or None.
    """

    rows: list[dict]
    frame: pd.DataFrame
    rejected: list[RejectedFile]
    class_names: list[str]
    images: list[np.ndarray]
    overlays: list[np.ndarray] | None = None
    heatmaps: list[np.ndarray] | None = None

    def rejected_frame(self) -> pd.DataFrame:
        """Returns the rejected files as a DataFrame with `name` and `reason` columns."""
        return pd.DataFrame(
            [rejected.as_dict() for rejected in self.rejected], columns=["name", "reason"]
        )


def _display_image(image: np.ndarray) -> np.ndarray:
    # Streamlit draws (H, W) as grayscale; a trailing axis of one would be refused.
    return image[..., 0] if image.shape[-1] == 1 else image


def spot_check(
    predictor,
    files: Sequence[tuple[str, bytes]],
    *,
    explain: bool,
    max_overlays: int | None = None,
    alpha: float = 0.45,
) -> SpotCheckResult:
    """Predicts every readable image among `files`, with Grad-CAM overlays when asked.

    Args:
        predictor: A `core.inference.classifier.ImagePredictor` or
            `core.inference.image_anomaly.ImageAnomalyPredictor` (any object with
            `predict_bytes`, `class_names` and `heatmaps(images, class_indices)`).
        files: `(name, bytes)` pairs as from a file uploader; ZIP archives are expanded.
        explain: Whether to compute heatmap overlays of the verdict (Grad-CAM, or the anomaly
            map of an anomaly model).
        max_overlays: Explain only the first this many images (a page shows a grid of the
            first few; Grad-CAM of a whole archive would be wasted). Default: None (all).
        alpha: Weight of the heatmap colour in the overlays, in [0, 1]. Default: 0.45.

    Returns:
        A `SpotCheckResult`.

    Raises:
        TypeError: If `files` is not a list of `(name, bytes)` pairs.
        ValueError: If `max_overlays` is negative or not an integer.
    """
    if isinstance(files, str | bytes | bytearray) or not isinstance(files, Sequence):
        raise TypeError(
            "Expected a list of (name, bytes) pairs. "
            f"Received: files={describe_value(files)} of type {type(files).__name__}"
        )
    if max_overlays is not None and (
        isinstance(max_overlays, bool) or not isinstance(max_overlays, int) or max_overlays < 0
    ):
        raise ValueError(
            "Expected max_overlays to be None or a non-negative integer. "
            f"Received: max_overlays={describe_value(max_overlays)}"
        )
    batch = predictor.predict_bytes(list(files))
    overlays = heatmaps = None
    if explain:
        count = len(batch.rows) if max_overlays is None else min(max_overlays, len(batch.rows))
        explained = batch.images[:count]
        indices = [predictor.class_names.index(row["predicted"]) for row in batch.rows[:count]]
        # Grad-CAM of the verdict for a classifier; the anomaly map for an anomaly model.
        maps = (
            predictor.heatmaps(explained, indices)
            if count
            else np.zeros((0, *batch.images.shape[1:3]), dtype=np.float32)
        )
        heatmaps = list(maps)
        overlays = [
            heatmap_overlay(image, heatmap, alpha=alpha)
            for image, heatmap in zip(explained, maps, strict=True)
        ]
    return SpotCheckResult(
        rows=batch.rows,
        frame=batch.to_frame(),
        rejected=list(batch.rejected),
        class_names=list(batch.class_names),
        images=[_display_image(image) for image in batch.images],
        overlays=overlays,
        heatmaps=heatmaps,
    )


def filter_predictions(
    frame: pd.DataFrame,
    *,
    classes: Sequence[str] | None = None,
    max_confidence: float | None = None,
) -> pd.DataFrame:
    """Returns the prediction rows of the given classes and at most the given confidence.

    Args:
        frame: A spot-check frame (`name`, `predicted`, `confidence`, ...).
        classes: Keep rows predicted as one of these classes. Default: None (every class).
        max_confidence: Keep rows whose confidence is at most this value in [0, 1], to review
            the uncertain ones. Default: None (no limit).

    Returns:
        A filtered copy, index reset, columns unchanged.

    Raises:
        ValueError: If the frame lacks the spot-check columns, `classes` is not a list of
            strings, or `max_confidence` is outside [0, 1].
    """
    missing = [column for column in FRAME_COLUMNS if column not in getattr(frame, "columns", [])]
    if not isinstance(frame, pd.DataFrame) or missing:
        raise ValueError(
            f"Expected a spot-check DataFrame with the columns {list(FRAME_COLUMNS)}. "
            f"Received: missing columns {missing}"
        )
    keep = pd.Series(True, index=frame.index)
    if classes is not None:
        if isinstance(classes, str) or not all(isinstance(item, str) for item in classes):
            raise ValueError(
                "Expected classes to be a list of class names. "
                f"Received: classes={describe_value(classes)}"
            )
        keep &= frame["predicted"].isin(list(classes))
    if max_confidence is not None:
        if (
            isinstance(max_confidence, bool)
            or not isinstance(max_confidence, int | float)
            or not 0.0 <= max_confidence <= 1.0
        ):
            raise ValueError(
                "Expected max_confidence to be a number in [0, 1]. "
                f"Received: max_confidence={describe_value(max_confidence)}"
            )
        keep &= frame["confidence"] <= max_confidence
    return frame[keep].reset_index(drop=True)


def sample_files() -> list[tuple[str, bytes]]:
    """Returns the bundled held-aside spot-check images as `(name, bytes)` pairs.

    Raises:
        FileNotFoundError: If the bundled sample data is missing.
    """
    return [(path.name, path.read_bytes()) for path in bundled.spot_check_files()]


def files_digest(files: Sequence[tuple[str, bytes]], *extra: object) -> str:
    """Returns a SHA-256 of the files' names and bytes (and `extra` values), to key a cache."""
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode("utf-8", "replace") + b"\0")
        digest.update(hashlib.sha256(data).digest())
    digest.update(repr(extra).encode("utf-8"))
    return digest.hexdigest()

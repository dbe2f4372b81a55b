"""Fast predictions of image anomaly models: anomaly maps, image scores and a good/anomaly verdict.

A registered anomaly model (task "image_anomaly", `core.workflows.image_anomaly`) maps raw
0-255 images to an anomaly map; the image score is the map's maximum and a part is an anomaly when
its score is at or over the threshold set on held-out good images (`extra.threshold`). Like
`core.inference.classifier.ImagePredictor`, the predictor traces one `tf.function` with a fixed
signature, so a spot check of one image costs milliseconds rather than a `model.predict` pipeline.
The threshold is applied outside the traced function: `core.inference.verdicts` swaps in an
operating point's threshold on a copy of the predictor.

Example:

    predictor = ImageAnomalyPredictor.from_registry_record(model, metadata)
    batch = predictor.predict_bytes([("part_17.png", png_bytes)])
    batch.rows[0]["predicted"], batch.rows[0]["score"], batch.rows[0]["threshold"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from core.data import images as image_loading
from core.data.validation import describe_value
from core.inference.classifier import (
    BATCH_SIZE,
    PredictionBatch,
    check_image_batch,
    prediction_batch,
)

ANOMALY_CLASS = "anomaly"


def _is_positive_finite(value: object) -> bool:
    return (
        isinstance(value, int | float | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


class ImageAnomalyPredictor:
    """Scores raw images with an image anomaly model, quickly.

    Args:
        model: A Keras model taking raw 0-255 pixels `(batch, H, W, C)` and returning the anomaly
            map `(batch, H, W, 1)`.
        good_class: Name of the defect-free class; `class_names` is `[good_class, "anomaly"]`.
        threshold: Image scores at or over it are anomalies.
        score_scale: Spread of good scores (> 0) used to squash the margin into `p_anomaly`.
        warmup: Whether to trace the prediction function now, so that the first request is
            fast. Default: True.

    Raises:
        ValueError: If the model's input or output is not an image and a one-channel map of the
            same size, or the threshold or scale is not a finite number (scale > 0).
    """

    def __init__(
        self,
        model,
        good_class: str,
        *,
        threshold: float,
        score_scale: float,
        warmup: bool = True,
    ) -> None:
        if not isinstance(good_class, str) or not good_class or good_class == ANOMALY_CLASS:
            raise ValueError(
                f"Expected good_class to be a class name other than '{ANOMALY_CLASS}'. "
                f"Received: good_class={describe_value(good_class)}"
            )
        if isinstance(threshold, bool) or not (
            isinstance(threshold, int | float | np.floating) and math.isfinite(threshold)
        ):
            raise ValueError(
                f"Expected threshold to be a finite number. "
                f"Received: threshold={describe_value(threshold)}"
            )
        if not _is_positive_finite(score_scale):
            raise ValueError(
                "Expected score_scale to be a finite number > 0. "
                f"Received: score_scale={describe_value(score_scale)}"
            )
        self.model = model
        self.class_names = [good_class, ANOMALY_CLASS]
        self.threshold = float(threshold)
        self.score_scale = float(score_scale)
        input_shape = tuple(model.inputs[0].shape[1:])
        output_shape = tuple(model.outputs[0].shape[1:])
        if (
            len(input_shape) != 3
            or None in input_shape
            or input_shape[2] not in (1, 3)
            or output_shape != (*input_shape[:2], 1)
        ):
            raise ValueError(
                "Expected an anomaly model taking images (H, W, 1 or 3) and returning a map "
                f"(H, W, 1). Received: input shape {input_shape}, output shape {output_shape}"
            )
        self.image_size = (int(input_shape[0]), int(input_shape[1]))
        self.channels = int(input_shape[2])
        self._function = None
        if warmup:
            self.warmup()

    @classmethod
    def from_registry_record(
        cls, model, metadata: dict, *, warmup: bool = True
    ) -> ImageAnomalyPredictor:
        """Builds a predictor from a registry model and its metadata.

        Args:
            model: The loaded Keras model.
            metadata: Its metadata; uses `task`, `classes` (`[good_class, "anomaly"]`),
                `input_shape` and `extra.threshold` and `extra.score_scale`.
            warmup: Whether to trace the prediction function now. Default: True.

        Raises:
            ValueError: If the metadata does not describe an image anomaly model or does not
                match the model.
        """
        metadata = metadata if isinstance(metadata, dict) else {}
        classes = metadata.get("classes")
        extra = metadata.get("extra") if isinstance(metadata.get("extra"), dict) else {}
        if (
            metadata.get("task") != "image_anomaly"
            or not isinstance(classes, list)
            or len(classes) != 2
            or classes[1] != ANOMALY_CLASS
        ):
            raise ValueError(
                "Expected image anomaly metadata with task 'image_anomaly' and classes "
                f"[good_class, '{ANOMALY_CLASS}']. Received: task="
                f"{describe_value(metadata.get('task'))}, classes={describe_value(classes)}"
            )
        shape = metadata.get("input_shape")
        predictor = cls(
            model,
            classes[0],
            threshold=extra.get("threshold"),
            score_scale=extra.get("score_scale"),
            warmup=False,
        )
        if list(shape or []) != [*predictor.image_size, predictor.channels]:
            raise ValueError(
                "Expected metadata input_shape to match the model's input "
                f"{[*predictor.image_size, predictor.channels]}. "
                f"Received: input_shape={describe_value(shape)}"
            )
        return predictor.warmup() if warmup else predictor

    def _prediction_function(self):
        if self._function is None:
            import tensorflow as tf  # Lazy: loads TensorFlow.

            model = self.model

            def maps_and_scores(images):
                maps = model(images, training=False)[..., 0]
                return maps, tf.reduce_max(maps, axis=[1, 2])

            # A fixed signature (free batch axis) traces once; any batch size reuses the graph.
            self._function = tf.function(
                maps_and_scores,
                input_signature=[
                    tf.TensorSpec([None, *self.image_size, self.channels], tf.float32)
                ],
            )
        return self._function

    def warmup(self) -> ImageAnomalyPredictor:
        """Traces the prediction function on one blank image and returns `self`."""
        self.maps_and_scores(np.zeros((1, *self.image_size, self.channels), dtype=np.uint8))
        return self

    def maps_and_scores(self, images) -> tuple[np.ndarray, np.ndarray]:
        array = check_image_batch(images, self.image_size, self.channels)
        if len(array) == 0:
            return (
                np.zeros((0, *self.image_size), dtype=np.float32),
                np.zeros(0, dtype=np.float32),
            )
        function = self._prediction_function()
        batch = array.astype(np.float32, copy=False)
        maps, scores = [], []
        for start in range(0, len(batch), BATCH_SIZE):
            batch_maps, batch_scores = function(batch[start : start + BATCH_SIZE])
            maps.append(np.asarray(batch_maps))
            scores.append(np.asarray(batch_scores))
        return (
            np.concatenate(maps).astype(np.float32, copy=False),
            np.concatenate(scores).astype(np.float32, copy=False),
        )

    def anomaly_maps(self, images) -> np.ndarray:
        """Returns the raw per-pixel anomaly values, float32 `(N, H, W)` at the input size.

        Args:
            images: uint8 (or 0-255 float) array `(N, H, W, C)`, N may be 0.

        Raises:
            ValueError: If the images do not have the predictor's shape.
        """
        return self.maps_and_scores(images)[0]

    def scores(self, images) -> np.ndarray:
        """Returns the image anomaly scores (the maximum of each map), float32 `(N,)`; higher is
        more anomalous.

        Raises:
            ValueError: If the images do not have the predictor's shape.
        """
        return self.maps_and_scores(images)[1]

    def probabilities_of(self, scores) -> np.ndarray:
        """`[p_good, p_anomaly]` per score, float32 `(N, 2)`: see `predict_arrays`."""
        margin = (np.asarray(scores, dtype=np.float64) - self.threshold) / self.score_scale
        anomaly = 1.0 / (1.0 + np.exp(-np.clip(margin, -60.0, 60.0)))
        return np.stack([1.0 - anomaly, anomaly], axis=1).astype(np.float32)

    def predict_arrays(self, images) -> np.ndarray:
        """Returns `[p_good, p_anomaly]` per image, float32 `(N, 2)`.

        `p_anomaly = sigmoid((score - threshold) / score_scale)`: 0.5 exactly at the threshold,
        about 0.73 one good-score spread above it. It is a squashed margin for display and
        ranking, not a calibrated probability of a defect.

        Raises:
            ValueError: If the images do not have the predictor's shape.
        """
        return self.probabilities_of(self.scores(images))

    def verdicts(self, scores) -> np.ndarray:
        """1 (anomaly) where a score is at or over the threshold, else 0 (good)."""
        return (np.asarray(scores) >= self.threshold).astype(np.int64)

    def heatmaps(self, images, class_indices=None) -> np.ndarray:
        """Returns anomaly maps scaled to [0, 1] for display, float32 `(N, H, W)`.

        One scale for every image, so a good part looks calm and a defect hot: 0.5 is the
        threshold and 1 twice the threshold (clipped). A model whose threshold is not positive
        falls back to scaling each map by its own range.

        Args:
            images: uint8 (or 0-255 float) array `(N, H, W, C)`.
            class_indices: Ignored (accepted for the `ImagePredictor` heatmap interface).

        Raises:
            ValueError: If the images do not have the predictor's shape.
        """
        maps = self.anomaly_maps(images)
        if self.threshold > 0:
            return np.clip(maps / (2.0 * self.threshold), 0.0, 1.0).astype(np.float32)
        low = maps.min(axis=(1, 2), keepdims=True)
        spread = np.maximum(maps.max(axis=(1, 2), keepdims=True) - low, 1e-12)
        return ((maps - low) / spread).astype(np.float32)

    def predict_bytes(self, files: Sequence[tuple[str, bytes]]) -> PredictionBatch:
        """Decodes uploaded files and scores each image; bad files are rejected, not fatal.

        Args:
            files: `(name, bytes)` pairs, as from a file uploader; a ZIP is expanded.

        Returns:
            A `PredictionBatch`; each row also carries `score` and `threshold`, and `predicted`
            is "anomaly" when the score is at or over the threshold.

        Raises:
            TypeError: If an item is not a `(name, bytes)` pair.
        """
        images, names, rejected = image_loading.load_uploaded_images(
            files, image_size=self.image_size, channels=self.channels
        )
        scores = self.scores(images)
        return prediction_batch(
            self.class_names,
            images,
            names,
            rejected,
            self.probabilities_of(scores),
            self.verdicts(scores),
            {"score": scores, "threshold": self.threshold},
        )

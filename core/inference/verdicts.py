"""Verdicts: how a model's outputs become "good" or "defect" for a part.

Without an operating point a classifier's verdict is its most probable class, and an image
anomaly model flags a part whose anomaly score reaches the threshold set on held-out good images.
An operating point (`core.decisions.operating_point`, stored beside the model version) replaces that
with the threshold that minimises the line's expected cost:

- classifier: defect score = 1 - p(good class); at or over the threshold the verdict is the most
  probable defect class, under it the good class;
- anomaly model: the operating point's threshold replaces the model's own on the anomaly score.

Spot check, `python -m core predict` and `watch` all decide through `verdict_indices`, so the
page and the line agree.

Example:

    predictor = with_operating_point(predictor, record)
    verdicts = verdict_indices(predictor, predictor.predict_arrays(images))
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np

from core.data.validation import describe_value
from core.registry.attachments import OPERATING_POINT, read_json_attachment


@dataclasses.dataclass(frozen=True)
class ThresholdRule:
    """A classifier's verdict from its defect score `1 - p(good class)` against a threshold.

    Attributes:
        good_index: The output index of the good class.
        threshold: Defect scores at or over it are defects.
        good_class: The good class's name (for display).
    """

    good_index: int
    threshold: float
    good_class: str

    def defect_scores(self, probabilities: np.ndarray) -> np.ndarray:
        """Returns `1 - p(good)` per row."""
        return 1.0 - np.asarray(probabilities, dtype=np.float32)[:, self.good_index]

    def verdicts(self, probabilities: np.ndarray) -> np.ndarray:
        """Returns the verdict's class index per row: good under the threshold, else the most
        probable defect class."""
        matrix = np.asarray(probabilities, dtype=np.float32)
        if len(matrix) == 0:
            return np.zeros(0, dtype=np.int64)
        defect_only = matrix.copy()
        defect_only[:, self.good_index] = -np.inf
        most_probable_defect = np.argmax(defect_only, axis=1)
        is_defect = self.defect_scores(matrix) >= self.threshold
        return np.where(is_defect, most_probable_defect, self.good_index).astype(np.int64)


def verdict_indices(predictor, probabilities) -> np.ndarray:
    """Returns the verdict's class index per row of `probabilities`, by the predictor's rule.

    Args:
        predictor: An `ImagePredictor` (its `decision_rule`, when set, decides) or an
            `ImageAnomalyPredictor` (its outputs already hold its threshold).
        probabilities: `(N, classes)` outputs of `predictor.predict_arrays`.
    """
    matrix = np.asarray(probabilities, dtype=np.float32)
    rule = getattr(predictor, "decision_rule", None)
    if rule is not None:
        return rule.verdicts(matrix)
    if len(matrix) == 0:
        return np.zeros(0, dtype=np.int64)
    if hasattr(predictor, "anomaly_maps"):
        # p(anomaly) = sigmoid((score - threshold) / scale) reaches 0.5 exactly at the
        # threshold, where argmax would still pick "good": scores at the threshold are flagged.
        return (matrix[:, 1] >= 0.5).astype(np.int64)
    return np.argmax(matrix, axis=1).astype(np.int64)


def _checked_threshold(point: dict, reference: str) -> float:
    threshold = point.get("threshold")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
    ):
        raise ValueError(
            f"Expected the operating point of '{reference}' to hold a finite 'threshold'. "
            f"Received: threshold={describe_value(threshold)}"
        )
    return float(threshold)


def apply_operating_point(predictor, point: dict | None, *, reference: str = "the model"):
    """Returns a copy of `predictor` that decides by the operating point (or `predictor` itself
    when `point` is None).

    Args:
        predictor: An `ImagePredictor` or `ImageAnomalyPredictor`.
        point: A stored operating point (`OperatingPoint.to_dict()`), with `threshold` and
            `good_class`.
        reference: The model's reference, for messages.

    Raises:
        ValueError: If the point's threshold is missing or its good class is not a model class.
    """
    if point is None:
        return predictor
    threshold = _checked_threshold(point, reference)
    decided = copy.copy(predictor)
    if hasattr(predictor, "anomaly_maps"):
        decided.threshold = threshold
        decided.threshold_source = "the stored operating point"
        return decided
    good_class = point.get("good_class")
    if good_class not in predictor.class_names:
        raise ValueError(
            f"Expected the operating point's good class to be one of the classes of "
            f"'{reference}' {predictor.class_names}. Received: good_class={good_class!r}"
        )
    decided.decision_rule = ThresholdRule(
        good_index=predictor.class_names.index(good_class),
        threshold=threshold,
        good_class=good_class,
    )
    return decided


def with_operating_point(predictor, record):
    """`apply_operating_point` with the operating point stored beside `record`, if any."""
    point = read_json_attachment(record, OPERATING_POINT)
    return apply_operating_point(predictor, point, reference=record.reference)


def decision_summary(predictor) -> str:
    """One sentence saying how the predictor's verdicts are decided, for pages and the CLI."""
    rule = getattr(predictor, "decision_rule", None)
    if rule is not None:
        return (
            f"Verdicts use the stored operating point: a defect when 1 - p({rule.good_class}) "
            f">= {rule.threshold:.4g}."
        )
    if hasattr(predictor, "anomaly_maps"):
        source = getattr(predictor, "threshold_source", "held-out good images")
        return (
            f"Verdicts: 'anomaly' when the anomaly score >= {predictor.threshold:.4g} "
            f"(threshold from {source})."
        )
    return "Verdicts are the most probable class (no operating point is stored)."

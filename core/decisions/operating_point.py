"""The cost-based operating point: the defect-score threshold of least expected cost per part.

An engineer knows what a missed defect costs (a field return, a recall) and what a false reject
costs (a good part scrapped or re-inspected), and how often the line makes defects. For each
candidate threshold the validation images give the defect recall and the false-reject rate; the
expected cost per part made is then

    defect_rate * (1 - recall) * missed_defect_cost
        + (1 - defect_rate) * false_reject_rate * false_reject_cost

and the threshold of least expected cost is stored with the model version
(`core.registry.attachments.OPERATING_POINT`), where spot check and batch predict find it.

Pure numpy: no TensorFlow. The defect scores come from `core.decisions.operating_point_data`.

Example:

    point = choose_operating_point(labels01, scores, missed_defect_cost=500,
                                   false_reject_cost=5, defect_rate=0.02,
                                   good_class="ok", score_kind="defect_probability",
                                   model="demo-defect-cnn:1")
    save_operating_point(record, point)
    point.is_defect(new_scores)
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from core.data.validation import describe_value
from core.metrics.counts import as_float_arrays
from core.metrics.evaluation import roc_auc, roc_curve
from core.registry.attachments import OPERATING_POINT, read_json_attachment, write_json_attachment
from core.registry.metadata import now_iso

SCORE_KINDS = ("defect_probability", "anomaly_score")
PER_MILLION = 1_000_000
# Expected costs closer than this (relative) are a tie, broken towards the higher recall: two
# sums of the same terms in another order differ in the last bits.
COST_TIE_TOLERANCE = 1e-12


def _positive_cost(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"Expected `{name}` to be a positive finite number (a cost per part). "
            f"Received: {name}={describe_value(value)}"
        )
    return float(value)


def _defect_rate(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not 0 < value < 1
    ):
        raise ValueError(
            "Expected `defect_rate` to be the line's share of defective parts, a number in "
            f"(0, 1) (0.02 for 2 %). Received: defect_rate={describe_value(value)}"
        )
    return float(value)


def check_costs(
    missed_defect_cost: object, false_reject_cost: object, defect_rate: object
) -> tuple[float, float, float]:
    """Checks the engineer's three inputs and returns them as floats.

    Raises:
        ValueError: If a cost is not a positive finite number or the defect rate is not in
            (0, 1).
    """
    return (
        _positive_cost(missed_defect_cost, "missed_defect_cost"),
        _positive_cost(false_reject_cost, "false_reject_cost"),
        _defect_rate(defect_rate),
    )


def _labels_and_scores(labels01: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    labels, score_array = as_float_arrays(
        "1-D sequences of numbers", labels01=labels01, scores=scores
    )
    if labels.ndim != 1 or score_array.ndim != 1 or labels.size != score_array.size:
        raise ValueError(
            "Expected `labels01` and `scores` to be 1-D and of the same length, one per "
            f"validation image. Received: shapes {labels.shape} and {score_array.shape}"
        )
    if not np.all((labels == 0) | (labels == 1)):
        position = int(np.flatnonzero((labels != 0) & (labels != 1))[0])
        raise ValueError(
            "Expected `labels01` to hold 0 (good part) or 1 (defect) only. "
            f"Received: labels01[{position}]={describe_value(float(labels[position]))}"
        )
    defects = int(labels.sum())
    if defects == 0 or defects == labels.size:
        raise ValueError(
            "Expected validation images of both good parts and defects: recall and false "
            f"rejects need both. Received: {labels.size - defects} good, {defects} defect(s)"
        )
    if not np.all(np.isfinite(score_array)):
        position = int(np.flatnonzero(~np.isfinite(score_array))[0])
        raise ValueError(
            "Expected `scores` to be finite numbers. "
            f"Received: scores[{position}]={score_array[position]}"
        )
    return labels.astype(np.int64), score_array


def cost_curve(
    labels01,
    scores,
    *,
    missed_defect_cost: float,
    false_reject_cost: float,
    defect_rate: float,
) -> dict:
    """Defect recall, false-reject rate and expected cost of every candidate threshold.

    A part is rejected when its defect score is >= the threshold. The candidates, in decreasing
    order, are "flag nothing" (the next number above the highest score), then each distinct
    score; the last one, the lowest score, flags everything.

    Args:
        labels01: 1 for a defect, 0 for a good part, per validation image.
        scores: The defect score of each image (higher = more likely a defect).
        missed_defect_cost: Cost of one defect shipped, > 0.
        false_reject_cost: Cost of one good part rejected, > 0.
        defect_rate: The line's share of defective parts, in (0, 1).

    Returns:
        A dict of float arrays, one entry per candidate: `thresholds`, `defect_recall`,
        `false_reject_rate`, `expected_cost` (per part), `cost_per_million`,
        `escapes_per_million`, `false_rejects_per_million` and `line_precision` (the share of
        rejected parts that are defects at the line's defect rate; 1.0 when nothing is
        rejected); plus `roc_auc`, `validation_count` and `validation_defects`.

    Raises:
        ValueError: If a cost is not a positive finite number, the defect rate is not in
            (0, 1), the labels are not 0/1 of both kinds, or a score is not finite.
    """
    missed_defect_cost, false_reject_cost, defect_rate = check_costs(
        missed_defect_cost, false_reject_cost, defect_rate
    )
    labels, score_array = _labels_and_scores(labels01, scores)
    # The ROC curve: its true-positive rate is the defect recall, its false-positive rate the
    # false-reject rate. "Flag nothing" gets a finite threshold, which JSON can hold.
    false_reject_rate, recall, thresholds = roc_curve(labels, score_array)
    thresholds[0] = np.nextafter(score_array.max(), np.inf)
    defect_count = int(labels.sum())
    escapes = defect_rate * (1.0 - recall)
    false_rejects = (1.0 - defect_rate) * false_reject_rate
    expected_cost = escapes * missed_defect_cost + false_rejects * false_reject_cost
    rejected = defect_rate * recall + false_rejects
    precision = np.ones_like(rejected)
    np.divide(defect_rate * recall, rejected, out=precision, where=rejected > 0)
    return {
        "thresholds": thresholds,
        "defect_recall": recall,
        "false_reject_rate": false_reject_rate,
        "expected_cost": expected_cost,
        "cost_per_million": expected_cost * PER_MILLION,
        "escapes_per_million": escapes * PER_MILLION,
        "false_rejects_per_million": false_rejects * PER_MILLION,
        "line_precision": precision,
        "roc_auc": roc_auc(labels, score_array),
        "validation_count": int(labels.size),
        "validation_defects": defect_count,
    }


def minimum_cost_index(curve: dict) -> int:
    """The index of the `cost_curve` candidate of least expected cost.

    Ties go to the higher recall (a defect shipped is the worse surprise), then to the lower
    false-reject rate.
    """
    cost = np.asarray(curve["expected_cost"], dtype=np.float64)
    lowest = float(cost.min())
    tied = np.flatnonzero(cost <= lowest + COST_TIE_TOLERANCE * abs(lowest))
    recall = np.asarray(curve["defect_recall"])[tied]
    false_rejects = np.asarray(curve["false_reject_rate"])[tied]
    # lexsort sorts by its last key first: recall descending, then false rejects ascending.
    return int(tied[np.lexsort((false_rejects, -recall))[0]])


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """A model version's reject threshold and what it is expected to cost on the line.

    Attributes:
        threshold: A part is a defect when its defect score is >= this.
        good_class: The good-part class of the model.
        score_kind: "defect_probability" (a classifier's 1 - p[good_class]) or
            "anomaly_score" (an image anomaly model's raw score).
        missed_defect_cost, false_reject_cost, defect_rate: The engineer's inputs.
        defect_recall, false_reject_rate: On the validation images, at `threshold`.
        escapes_per_million, false_rejects_per_million, cost_per_million: Expected per million
            parts made at `defect_rate`.
        validation_count, validation_defects: The validation images it was chosen on.
        set_at: When it was chosen (ISO 8601, UTC).
        set_by: Who chose it (None when login is off).
        model: The model version, "name:version".
    """

    threshold: float
    good_class: str
    score_kind: str
    missed_defect_cost: float
    false_reject_cost: float
    defect_rate: float
    defect_recall: float
    false_reject_rate: float
    escapes_per_million: float
    false_rejects_per_million: float
    cost_per_million: float
    validation_count: int
    validation_defects: int
    set_at: str
    set_by: str | None
    model: str

    def to_dict(self) -> dict:
        """The point as a JSON-ready dict (what `operating_point.json` holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: dict) -> OperatingPoint:
        """Rebuilds a point from `to_dict` output.

        Raises:
            ValueError: If a field is missing or has the wrong type.
        """
        if not isinstance(payload, dict):
            raise ValueError(
                f"Expected an operating point as a dict. Received: {describe_value(payload)}"
            )
        fields = {field.name: field for field in dataclasses.fields(cls)}
        missing = [name for name in fields if name not in payload]
        if missing:
            raise ValueError(
                f"Expected every operating point field. Received: missing fields {missing}"
            )
        values = {}
        for name in fields:
            value = payload[name]
            if name in ("good_class", "score_kind", "set_at", "model"):
                valid = isinstance(value, str)
            elif name == "set_by":
                valid = value is None or isinstance(value, str)
            elif name in ("validation_count", "validation_defects"):
                valid = isinstance(value, int) and not isinstance(value, bool)
            else:
                valid = isinstance(value, numbers.Real) and not isinstance(value, bool)
                value = float(value) if valid else value
            if not valid:
                raise ValueError(
                    f"Expected the operating point's `{name}` of type "
                    f"{fields[name].type}. Received: {name}={describe_value(value)}"
                )
            values[name] = value
        if values["score_kind"] not in SCORE_KINDS:
            raise ValueError(
                f"Expected `score_kind` among {list(SCORE_KINDS)}. "
                f"Received: score_kind={describe_value(values['score_kind'])}"
            )
        return cls(**values)

    def is_defect(self, scores) -> np.ndarray:
        """Whether each defect score is at or over the threshold (a boolean array)."""
        return np.asarray(scores, dtype=np.float64) >= self.threshold


def choose_operating_point(
    labels01,
    scores,
    *,
    missed_defect_cost: float,
    false_reject_cost: float,
    defect_rate: float,
    good_class: str,
    score_kind: str,
    model: str,
    set_by: str | None = None,
) -> OperatingPoint:
    """Picks the threshold of least expected cost per part on validation images.

    Args:
        labels01, scores, missed_defect_cost, false_reject_cost, defect_rate: As in
            `cost_curve`.
        good_class: The model's good-part class, recorded with the point.
        score_kind: "defect_probability" or "anomaly_score".
        model: The model version, "name:version".
        set_by: Who chose it. Default: None.

    Returns:
        The `OperatingPoint`, stamped with the current time.

    Raises:
        ValueError: On invalid input (see `cost_curve`), or an unknown `score_kind`.
    """
    if score_kind not in SCORE_KINDS:
        raise ValueError(
            f"Expected `score_kind` among {list(SCORE_KINDS)}. "
            f"Received: score_kind={describe_value(score_kind)}"
        )
    curve = cost_curve(
        labels01,
        scores,
        missed_defect_cost=missed_defect_cost,
        false_reject_cost=false_reject_cost,
        defect_rate=defect_rate,
    )
    index = minimum_cost_index(curve)
    return OperatingPoint(
        threshold=float(curve["thresholds"][index]),
        good_class=str(good_class),
        score_kind=score_kind,
        missed_defect_cost=float(missed_defect_cost),
        false_reject_cost=float(false_reject_cost),
        defect_rate=float(defect_rate),
        defect_recall=float(curve["defect_recall"][index]),
        false_reject_rate=float(curve["false_reject_rate"][index]),
        escapes_per_million=float(curve["escapes_per_million"][index]),
        false_rejects_per_million=float(curve["false_rejects_per_million"][index]),
        cost_per_million=float(curve["cost_per_million"][index]),
        validation_count=curve["validation_count"],
        validation_defects=curve["validation_defects"],
        set_at=now_iso(),
        set_by=set_by,
        model=str(model),
    )


def save_operating_point(record, point: OperatingPoint):
    """Stores `point` beside the model version `record` (replacing any earlier one).

    Returns:
        The path of the attachment written.

    Raises:
        ValueError: If `point` is not an `OperatingPoint`.
        FileNotFoundError: If the version directory no longer exists.
    """
    if not isinstance(point, OperatingPoint):
        raise ValueError(f"Expected an OperatingPoint to store. Received: {describe_value(point)}")
    return write_json_attachment(record, OPERATING_POINT, point.to_dict())


def load_operating_point(record) -> OperatingPoint | None:
    """The operating point stored with a model version, or None when it has none.

    Raises:
        ValueError: If the attachment exists but is not a valid operating point.
    """
    payload = read_json_attachment(record, OPERATING_POINT)
    return None if payload is None else OperatingPoint.from_dict(payload)

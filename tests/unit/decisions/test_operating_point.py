"""Tests for core/decisions/operating_point.py: the cost curve, the chosen threshold and its
storage."""

import json
import math

import numpy as np
import pytest

from core.decisions.operating_point import (
    OperatingPoint,
    check_costs,
    choose_operating_point,
    cost_curve,
    load_operating_point,
    minimum_cost_index,
    save_operating_point,
)
from core.registry.attachments import OPERATING_POINT
from core.registry.metadata import ModelRecord

# Four good parts and four defects. Sorted by score, highest first:
# 0.9 d, 0.7 d, 0.6 g, 0.5 d, 0.4 d, 0.3 g, 0.2 g, 0.1 g.
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
SCORES = [0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.9]
POINT_OPTIONS = {"good_class": "ok", "score_kind": "defect_probability", "model": "m:1"}


def choose(labels=LABELS, scores=SCORES, **costs):
    return choose_operating_point(labels, scores, **costs, **POINT_OPTIONS)


def test_cost_curve_of_four_goods_and_four_defects_by_hand():
    curve = cost_curve(
        LABELS, SCORES, missed_defect_cost=100, false_reject_cost=10, defect_rate=0.1
    )
    # "Flag nothing" first (just above 0.9), then each distinct score; 0.1 flags everything.
    assert curve["thresholds"][0] > 0.9
    assert curve["thresholds"][0] == np.nextafter(0.9, 1.0)
    assert curve["thresholds"][1:].tolist() == [0.9, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    assert curve["defect_recall"].tolist() == [0, 0.25, 0.5, 0.5, 0.75, 1, 1, 1, 1]
    assert curve["false_reject_rate"].tolist() == [0, 0, 0, 0.25, 0.25, 0.25, 0.5, 0.75, 1]
    # Cost per part = 0.1 * (1 - recall) * 100 + 0.9 * false-reject rate * 10.
    expected = [10, 7.5, 5, 7.25, 4.75, 2.25, 4.5, 6.75, 9]
    np.testing.assert_allclose(curve["expected_cost"], expected)
    np.testing.assert_allclose(curve["cost_per_million"], np.array(expected) * 1e6)
    np.testing.assert_allclose(
        curve["escapes_per_million"], [100_000, 75_000, 50_000, 50_000, 25_000, 0, 0, 0, 0]
    )
    np.testing.assert_allclose(
        curve["false_rejects_per_million"],
        [0, 0, 0, 225_000, 225_000, 225_000, 450_000, 675_000, 900_000],
    )
    # Precision on the line at threshold 0.4: 0.1 defects caught per part against 0.225 good
    # parts rejected.
    assert curve["line_precision"][5] == pytest.approx(0.1 / 0.325)
    assert curve["line_precision"][0] == 1.0  # Nothing rejected.
    assert curve["roc_auc"] == pytest.approx(14 / 16)
    assert (curve["validation_count"], curve["validation_defects"]) == (8, 4)
    assert minimum_cost_index(curve) == 5


def test_the_minimum_cost_threshold_and_its_numbers_per_million():
    point = choose(missed_defect_cost=100, false_reject_cost=10, defect_rate=0.1)
    assert point.threshold == 0.4
    assert point.defect_recall == 1.0
    assert point.false_reject_rate == 0.25
    assert point.escapes_per_million == 0.0
    assert point.false_rejects_per_million == pytest.approx(225_000)
    assert point.cost_per_million == pytest.approx(2_250_000)
    assert (point.validation_count, point.validation_defects) == (8, 4)
    assert (point.missed_defect_cost, point.false_reject_cost, point.defect_rate) == (100, 10, 0.1)
    assert point.set_at.endswith("+00:00")
    assert point.set_by is None
    assert point.model == "m:1"

    # Expensive false rejects: cost = 10 (1 - recall) + 90 * false-reject rate, least at 0.7.
    point = choose(missed_defect_cost=100, false_reject_cost=100, defect_rate=0.1)
    assert point.threshold == 0.7
    assert point.defect_recall == 0.5
    assert point.false_reject_rate == 0.0
    assert point.escapes_per_million == pytest.approx(50_000)
    assert point.false_rejects_per_million == 0.0
    assert point.cost_per_million == pytest.approx(5_000_000)


def test_a_tie_goes_to_the_higher_recall():
    # cost = 5 (1 - recall) + 10 * false-reject rate: 2.5 at both 0.7 and 0.4.
    curve = cost_curve(LABELS, SCORES, missed_defect_cost=10, false_reject_cost=20, defect_rate=0.5)
    assert curve["expected_cost"][2] == curve["expected_cost"][5] == 2.5
    point = choose(missed_defect_cost=10, false_reject_cost=20, defect_rate=0.5)
    assert point.threshold == 0.4
    assert point.defect_recall == 1.0


def test_flag_nothing_and_flag_everything_are_candidates():
    # The good part scores higher than the defect: the model is useless here.
    labels, scores = [0, 1], [0.9, 0.1]
    point = choose(labels, scores, missed_defect_cost=1, false_reject_cost=100, defect_rate=0.5)
    assert point.threshold > 0.9
    assert (point.defect_recall, point.false_reject_rate) == (0.0, 0.0)
    assert point.is_defect([0.9, 0.1]).tolist() == [False, False]
    assert point.escapes_per_million == pytest.approx(500_000)

    point = choose(labels, scores, missed_defect_cost=100, false_reject_cost=1, defect_rate=0.5)
    assert point.threshold == 0.1
    assert (point.defect_recall, point.false_reject_rate) == (1.0, 1.0)
    assert point.is_defect([0.9, 0.1]).tolist() == [True, True]


def test_tied_scores_are_rejected_together():
    curve = cost_curve(
        [0, 1, 1, 0], [0.5, 0.5, 0.8, 0.2], missed_defect_cost=1, false_reject_cost=1,
        defect_rate=0.5,
    )  # fmt: skip
    assert curve["thresholds"][1:].tolist() == [0.8, 0.5, 0.2]
    assert curve["defect_recall"].tolist() == [0, 0.5, 1, 1]
    assert curve["false_reject_rate"].tolist() == [0, 0, 0.5, 1]


def test_a_higher_missed_defect_cost_never_chooses_a_higher_threshold():
    generator = np.random.default_rng(7)
    for trial in range(20):
        labels = generator.integers(0, 2, 60)
        labels[:2] = [0, 1]
        # Overlapping scores, with ties from the rounding.
        scores = np.round(generator.normal(labels * 1.2, 1.0), 1)
        previous = math.inf
        for missed_defect_cost in np.geomspace(0.01, 10_000, 60):
            point = choose(
                labels,
                scores,
                missed_defect_cost=float(missed_defect_cost),
                false_reject_cost=3.0,
                defect_rate=0.05,
            )
            assert point.threshold <= previous, (trial, missed_defect_cost)
            previous = point.threshold


def test_is_defect_is_score_at_or_over_the_threshold():
    point = choose(missed_defect_cost=100, false_reject_cost=10, defect_rate=0.1)
    assert point.is_defect([0.39, 0.4, 0.41]).tolist() == [False, True, True]


def record_in(tmp_path) -> ModelRecord:
    return ModelRecord(name="m", version=1, path=tmp_path, metadata={})


def test_round_trip_through_the_attachment(tmp_path):
    record = record_in(tmp_path)
    assert load_operating_point(record) is None
    point = choose_operating_point(
        LABELS, SCORES, missed_defect_cost=100, false_reject_cost=10, defect_rate=0.1,
        good_class="good", score_kind="anomaly_score", model="m:1", set_by="ann@example.com",
    )  # fmt: skip
    path = save_operating_point(record, point)
    assert path == tmp_path / OPERATING_POINT
    stored = json.loads(path.read_text())
    assert stored["threshold"] == 0.4
    assert stored["set_by"] == "ann@example.com"
    assert load_operating_point(record) == point
    assert OperatingPoint.from_dict(point.to_dict()) == point


def test_cost_and_rate_errors():
    options = {"missed_defect_cost": 100, "false_reject_cost": 10, "defect_rate": 0.1}
    for value, shown in ((0, "0"), (-5, "-5"), (math.inf, "inf"), (math.nan, "nan"),
                         (True, "True"), ("5", "'5'")):  # fmt: skip
        with pytest.raises(ValueError) as error:
            cost_curve(LABELS, SCORES, **{**options, "missed_defect_cost": value})
        assert str(error.value) == (
            "Expected `missed_defect_cost` to be a positive finite number (a cost per part). "
            f"Received: missed_defect_cost={shown}"
        )
    with pytest.raises(ValueError) as error:
        check_costs(100, 0.0, 0.1)
    assert str(error.value) == (
        "Expected `false_reject_cost` to be a positive finite number (a cost per part). "
        "Received: false_reject_cost=0.0"
    )
    for value in (0, 1, 2.0, -0.1, math.nan, False):
        with pytest.raises(ValueError) as error:
            cost_curve(LABELS, SCORES, **{**options, "defect_rate": value})
        assert str(error.value) == (
            "Expected `defect_rate` to be the line's share of defective parts, a number in "
            f"(0, 1) (0.02 for 2 %). Received: defect_rate={value!r}"
        )
    assert check_costs(500, 5, 0.02) == (500.0, 5.0, 0.02)


def test_label_and_score_errors():
    options = {"missed_defect_cost": 100, "false_reject_cost": 10, "defect_rate": 0.1}
    with pytest.raises(ValueError) as error:
        cost_curve([0, 0, 0], [0.1, 0.2, 0.3], **options)
    assert str(error.value) == (
        "Expected validation images of both good parts and defects: recall and false rejects "
        "need both. Received: 3 good, 0 defect(s)"
    )
    with pytest.raises(ValueError) as error:
        cost_curve([1, 1], [0.1, 0.2], **options)
    assert str(error.value).endswith("Received: 0 good, 2 defect(s)")
    with pytest.raises(ValueError) as error:
        cost_curve([0, 2, 1], [0.1, 0.2, 0.3], **options)
    assert str(error.value) == (
        "Expected `labels01` to hold 0 (good part) or 1 (defect) only. Received: labels01[1]=2.0"
    )
    with pytest.raises(ValueError) as error:
        cost_curve([0, 1, 1], [0.1, 0.2], **options)
    assert str(error.value) == (
        "Expected `labels01` and `scores` to be 1-D and of the same length, one per validation "
        "image. Received: shapes (3,) and (2,)"
    )
    with pytest.raises(ValueError) as error:
        cost_curve([0, 1], ["a", "b"], **options)
    assert str(error.value) == (
        "Expected `labels01` and `scores` to be 1-D sequences of numbers. "
        "Received: labels01=[0, 1], scores=['a', 'b']"
    )
    with pytest.raises(ValueError) as error:
        cost_curve([0, 1], [0.1, math.nan], **options)
    assert str(error.value) == "Expected `scores` to be finite numbers. Received: scores[1]=nan"
    with pytest.raises(ValueError) as error:
        choose_operating_point(
            LABELS, SCORES, **options, good_class="ok", score_kind="probability", model="m:1"
        )
    assert str(error.value) == (
        "Expected `score_kind` among ['defect_probability', 'anomaly_score']. "
        "Received: score_kind='probability'"
    )


def test_stored_point_errors(tmp_path):
    point = choose(missed_defect_cost=100, false_reject_cost=10, defect_rate=0.1)
    payload = point.to_dict()
    with pytest.raises(ValueError) as error:
        OperatingPoint.from_dict({key: payload[key] for key in payload if key != "threshold"})
    assert str(error.value) == (
        "Expected every operating point field. Received: missing fields ['threshold']"
    )
    with pytest.raises(ValueError) as error:
        OperatingPoint.from_dict({**payload, "threshold": "high"})
    assert str(error.value) == (
        "Expected the operating point's `threshold` of type float. Received: threshold='high'"
    )
    with pytest.raises(ValueError) as error:
        OperatingPoint.from_dict({**payload, "validation_count": 1.5})
    assert str(error.value) == (
        "Expected the operating point's `validation_count` of type int. "
        "Received: validation_count=1.5"
    )
    with pytest.raises(ValueError) as error:
        OperatingPoint.from_dict({**payload, "score_kind": "logit"})
    assert str(error.value) == (
        "Expected `score_kind` among ['defect_probability', 'anomaly_score']. "
        "Received: score_kind='logit'"
    )
    with pytest.raises(ValueError) as error:
        OperatingPoint.from_dict([1])
    assert str(error.value) == "Expected an operating point as a dict. Received: [1]"
    record = record_in(tmp_path)
    with pytest.raises(ValueError) as error:
        save_operating_point(record, payload)
    assert str(error.value).startswith("Expected an OperatingPoint to store. Received: {")
    (tmp_path / OPERATING_POINT).write_text(json.dumps({"threshold": 0.5}))
    with pytest.raises(ValueError, match="Received: missing fields"):
        load_operating_point(record)

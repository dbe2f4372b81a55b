"""Tests for core/inference/verdicts.py: verdicts by argmax, by an operating point, for anomaly
models."""

import io

import numpy as np
import pytest
from PIL import Image

from core.inference import verdicts as decisions
from core.registry.attachments import OPERATING_POINT, write_json_attachment
from core.registry.metadata import ModelRecord

CLASSES = ["crack", "ok", "pit"]


class FakeClassifier:
    """Stands in for an ImagePredictor: fixed probabilities per call."""

    def __init__(self, probabilities):
        self.class_names = list(CLASSES)
        self.decision_rule = None
        self.probabilities = np.asarray(probabilities, dtype=np.float32)

    def predict_arrays(self, images):
        return self.probabilities[: len(images)]


class FakeAnomalyPredictor:
    def __init__(self):
        self.class_names = ["ok", "anomaly"]
        self.threshold = 2.0

    def anomaly_maps(self, images):
        return np.zeros((len(images), 4, 4), dtype=np.float32)


PROBABILITIES = np.array(
    [
        [0.10, 0.80, 0.10],  # defect score 0.2
        [0.30, 0.60, 0.10],  # defect score 0.4
        [0.05, 0.35, 0.60],  # defect score 0.65
        [0.70, 0.10, 0.20],  # defect score 0.9
    ],
    dtype=np.float32,
)


def test_without_a_rule_the_verdict_is_the_most_probable_class():
    predictor = FakeClassifier(PROBABILITIES)
    assert decisions.verdict_indices(predictor, PROBABILITIES).tolist() == [1, 1, 2, 0]
    assert decisions.verdict_indices(predictor, np.zeros((0, 3))).tolist() == []
    assert "most probable class" in decisions.decision_summary(predictor)


def test_threshold_rule_flags_by_defect_score_and_names_the_likeliest_defect():
    predictor = decisions.apply_operating_point(
        FakeClassifier(PROBABILITIES), {"threshold": 0.35, "good_class": "ok"}
    )
    # 0.4 >= 0.35: a defect although "ok" is the most probable class; pit beats crack there.
    assert decisions.verdict_indices(predictor, PROBABILITIES).tolist() == [1, 0, 2, 0]
    strict = decisions.apply_operating_point(
        FakeClassifier(PROBABILITIES), {"threshold": 0.7, "good_class": "ok"}
    )
    # 0.65 < 0.7: good, although "pit" is the most probable class.
    assert decisions.verdict_indices(strict, PROBABILITIES).tolist() == [1, 1, 1, 0]
    assert "1 - p(ok) >= 0.7" in decisions.decision_summary(strict)


def test_apply_returns_a_copy_and_none_keeps_the_predictor():
    original = FakeClassifier(PROBABILITIES)
    assert decisions.apply_operating_point(original, None) is original
    decided = decisions.apply_operating_point(original, {"threshold": 0.5, "good_class": "ok"})
    assert decided is not original and original.decision_rule is None


def test_anomaly_models_take_the_operating_point_threshold():
    original = FakeAnomalyPredictor()
    decided = decisions.apply_operating_point(original, {"threshold": 3.5, "good_class": "ok"})
    assert decided.threshold == 3.5 and original.threshold == 2.0
    assert "3.5" in decisions.decision_summary(decided)
    assert "stored operating point" in decisions.decision_summary(decided)
    assert "held-out good images" in decisions.decision_summary(original)


def test_bad_operating_points_are_refused():
    with pytest.raises(ValueError, match=r"to hold a finite 'threshold'. Received: threshold="):
        decisions.apply_operating_point(
            FakeClassifier(PROBABILITIES), {"threshold": float("nan")}, reference="m:1"
        )
    with pytest.raises(ValueError, match=r"good class to be one of the classes of 'm:1'"):
        decisions.apply_operating_point(
            FakeClassifier(PROBABILITIES), {"threshold": 0.5, "good_class": "good"}, reference="m:1"
        )


def test_with_operating_point_reads_the_version_attachment(tmp_path):
    directory = tmp_path / "m" / "1"
    directory.mkdir(parents=True)
    record = ModelRecord(name="m", version=1, path=directory, metadata={})
    assert (
        decisions.with_operating_point(FakeClassifier(PROBABILITIES), record).decision_rule is None
    )
    write_json_attachment(record, OPERATING_POINT, {"threshold": 0.35, "good_class": "ok"})
    decided = decisions.with_operating_point(FakeClassifier(PROBABILITIES), record)
    assert decided.decision_rule.threshold == 0.35


@pytest.mark.slow
def test_spot_check_and_line_inference_both_use_the_operating_point(tmp_path):
    """The same images get the same verdicts on the page path and the batch path."""
    keras = pytest.importorskip("keras")
    from keras import layers

    from core.inference.classifier import ImagePredictor
    from core.inference.line import InputItem, score_batches
    from core.inference.spot_check import spot_check

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Flatten()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    predictor = ImagePredictor(model, CLASSES, image_size=(8, 8), channels=1)
    rng = np.random.default_rng(0)
    files = []
    for index in range(12):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(buffer, "PNG")
        files.append((f"part_{index}.png", buffer.getvalue()))
    probabilities = predictor.predict_bytes(files).probabilities
    defect_scores = 1 - probabilities[:, CLASSES.index("ok")]
    threshold = float(np.median(defect_scores))
    decided = decisions.apply_operating_point(
        predictor, {"threshold": threshold, "good_class": "ok"}
    )

    result = spot_check(decided, files, explain=False)
    expected_defect = defect_scores >= threshold
    assert [row["predicted"] != "ok" for row in result.rows] == expected_defect.tolist()
    assert {"defect_score", "threshold"} <= set(result.frame.columns)
    assert np.allclose(result.frame["defect_score"], defect_scores, atol=1e-6)

    items = [InputItem(source="batch", name=name, data=data) for name, data in files]
    records = [
        record
        for batch in score_batches(decided, items, batch_size=5)
        for record in batch.records(CLASSES)
    ]
    assert [record["predicted"] for record in records] == [row["predicted"] for row in result.rows]

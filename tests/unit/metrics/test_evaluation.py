"""Tests for core/metrics/evaluation.py: hand-computed examples, every error message, properties.

`confusion_matrix` and `precision_recall_f1` (defined in core/metrics/counts.py) are tested here,
through core.metrics.evaluation; the series metrics are tested in tests/unit/metrics/test_series.py.
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.metrics import evaluation

CLASS_NAMES = ["ok", "scratch", "dent"]
# Four parts: ok (right), scratch (right), dent (called ok), ok (called scratch).
TRUE_LABELS = [0, 1, 2, 0]
PROBABILITIES = [
    [0.9, 0.05, 0.05],
    [0.2, 0.7, 0.1],
    [0.6, 0.3, 0.1],
    [0.3, 0.6, 0.1],
]


def to_json(result):
    """Serialises strictly: fails on numpy scalars, NaN and infinity."""
    return json.dumps(result, allow_nan=False)


# confusion_matrix


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = evaluation.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert matrix.dtype == np.int64


def test_confusion_matrix_keeps_absent_classes_as_zero_rows_and_columns():
    matrix = evaluation.confusion_matrix([1, 1], [1, 1], 4)
    assert matrix.shape == (4, 4)
    assert matrix[1, 1] == 2
    assert matrix.sum() == 2


def test_confusion_matrix_accepts_whole_number_floats():
    matrix = evaluation.confusion_matrix(np.array([0.0, 1.0]), [1, 1], 2)
    np.testing.assert_array_equal(matrix, [[0, 1], [0, 1]])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ([0], [0], 0),
            "Expected `number_of_classes` to be a positive integer. Received: number_of_classes=0",
        ),
        (([0], [0], 2.0), "Received: number_of_classes=2.0"),
        (([0], [0], True), "Received: number_of_classes=True"),
        (
            ([0, 3], [0, 0], 3),
            "Expected `true_labels` in the range [0, 2]. Received: true_labels[1]=3",
        ),
        (([0, -1], [0, 0], 3), "Received: true_labels[1]=-1"),
        (
            ([0, 0], [0, 5], 3),
            "Expected `predicted_labels` in the range [0, 2]. Received: predicted_labels[1]=5",
        ),
        (
            ([0, 0.5], [0, 0], 3),
            "Expected `true_labels` to hold integer class indices. Received: true_labels[1]=0.5",
        ),
        (
            ([0, 1], [0], 3),
            "Expected `true_labels` and `predicted_labels` to have the same "
            "length. Received: len(true_labels)=2, len(predicted_labels)=1",
        ),
        (
            ([], [], 3),
            "Expected `true_labels` to be a non-empty 1-D sequence of numbers. "
            "Received: true_labels with shape (0,)",
        ),
        (([[0]], [0], 3), "Received: true_labels with shape (1, 1)"),
        (
            (["a"], [0], 3),
            "Expected `true_labels` to be a 1-D sequence of numbers. Received: true_labels=['a']",
        ),
        (
            ([0, float("nan")], [0, 0], 3),
            "Expected `true_labels` to contain only finite numbers. Received: true_labels[1]=nan",
        ),
    ],
)
def test_confusion_matrix_rejects_bad_input(arguments, message):
    with pytest.raises(ValueError) as raised:
        evaluation.confusion_matrix(*arguments)
    assert message in str(raised.value)


# precision_recall_f1


def test_precision_recall_f1_by_hand():
    # Class 0: 1 of 2 right, predicted twice. Class 1: 1 of 1 right, predicted twice.
    # Class 2: never predicted, so its precision is 0.0 by definition.
    confusion = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 0]])
    precision, recall, f1, support = evaluation.precision_recall_f1(confusion)
    np.testing.assert_allclose(precision, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(recall, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(f1, [0.5, 2 / 3, 0.0])
    np.testing.assert_array_equal(support, [2, 1, 1])


def test_precision_recall_f1_of_absent_class_is_zero_without_warnings():
    with np.errstate(all="raise"):
        precision, recall, f1, support = evaluation.precision_recall_f1([[2, 0], [0, 0]])
    np.testing.assert_array_equal(precision, [1.0, 0.0])
    np.testing.assert_array_equal(recall, [1.0, 0.0])
    np.testing.assert_array_equal(f1, [1.0, 0.0])
    np.testing.assert_array_equal(support, [2, 0])


@pytest.mark.parametrize(
    ("confusion", "message"),
    [
        (
            [[1, 2, 3]],
            "Expected `confusion` to be a non-empty square matrix. Received: shape (1, 3)",
        ),
        ([1, 2], "Received: shape (2,)"),
        (np.zeros((0, 0)), "Received: shape (0, 0)"),
        (
            [[1, -1], [0, 1]],
            "Expected `confusion` to hold finite non-negative counts. "
            "Received: confusion=[[1.0, -1.0], [0.0, 1.0]]",
        ),
        ([[1, np.inf], [0, 1]], "Expected `confusion` to hold finite non-negative counts."),
    ],
)
def test_precision_recall_f1_rejects_bad_input(confusion, message):
    with pytest.raises(ValueError) as raised:
        evaluation.precision_recall_f1(confusion)
    assert message in str(raised.value)


# roc_auc and roc_curve


def test_roc_auc_by_hand():
    # Positive/negative pairs ranked right: (0.35, 0.1), (0.8, 0.1), (0.8, 0.4); wrong: (0.35, 0.4).
    assert evaluation.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75


def test_roc_auc_of_constant_scores_is_one_half():
    assert evaluation.roc_auc([0, 1, 0, 1, 1], [0.3] * 5) == 0.5


def test_roc_auc_counts_ties_as_one_half():
    # Pairs: (0.9 > 0.5) = 1, (0.9 > 0.1) = 1, (0.5 = 0.5) = 1/2, (0.5 > 0.1) = 1 -> 3.5 / 4.
    assert evaluation.roc_auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == 0.875


def test_roc_auc_perfect_and_reversed_and_booleans():
    assert evaluation.roc_auc([False, False, True], [0.1, 0.2, 0.3]) == 1.0
    assert evaluation.roc_auc([1, 1, 0], [0.1, 0.2, 0.3]) == 0.0


def test_roc_curve_by_hand():
    fpr, tpr, thresholds = evaluation.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    np.testing.assert_allclose(fpr, [0.0, 0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0.0, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.8, 0.4, 0.35, 0.1])


def test_roc_curve_flags_a_tie_all_at_once():
    fpr, tpr, thresholds = evaluation.roc_curve([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.1])
    np.testing.assert_allclose(fpr, [0.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.5, 0.1])


def test_roc_curve_thinning_drops_collinear_points_then_subsamples():
    # Perfectly separated scores: the curve is two straight segments with one corner.
    labels = [1] * 50 + [0] * 50
    scores = np.linspace(1.0, 0.0, 100)
    fpr, tpr, thresholds = evaluation.roc_curve(labels, scores, max_points=10)
    np.testing.assert_allclose(fpr, [0.0, 0.0, 1.0])
    np.testing.assert_allclose(tpr, [0.0, 1.0, 1.0])
    assert thresholds[0] == np.inf
    assert thresholds[-1] == 0.0

    # Alternating labels: every point is a corner, so the even subsample kicks in.
    labels = [index % 2 for index in range(1000)]
    scores = np.arange(1000.0)
    full_fpr, _, _ = evaluation.roc_curve(labels, scores)
    fpr, tpr, thresholds = evaluation.roc_curve(labels, scores, max_points=200)
    assert full_fpr.size == 1001
    assert fpr.size == tpr.size == thresholds.size == 200
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


@pytest.mark.parametrize("function", [evaluation.roc_auc, evaluation.roc_curve])
@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        (
            [1, 1],
            [0.1, 0.2],
            "Expected `labels01` to contain both 0 and 1 (ROC is undefined "
            "otherwise). Received: 2 ones out of 2",
        ),
        ([0, 0], [0.1, 0.2], "Received: 0 ones out of 2"),
        (
            [0, 2],
            [0.1, 0.2],
            "Expected `labels01` to hold only 0/1 or False/True. Received: labels01[1]=2",
        ),
        (
            [0, 1],
            [0.1],
            "Expected `labels01` and `scores` to have the same length. "
            "Received: len(labels01)=2, len(scores)=1",
        ),
        (
            [0, 1],
            [0.1, np.inf],
            "Expected `scores` to contain only finite numbers. Received: scores[1]=inf",
        ),
    ],
)
def test_roc_functions_reject_bad_input(function, labels, scores, message):
    with pytest.raises(ValueError) as raised:
        function(labels, scores)
    assert message in str(raised.value)


@pytest.mark.parametrize("max_points", [1, 2.5, True])
def test_roc_curve_rejects_bad_max_points(max_points):
    with pytest.raises(ValueError) as raised:
        evaluation.roc_curve([0, 1], [0.1, 0.2], max_points=max_points)
    assert str(raised.value) == (
        f"Expected `max_points` to be None or an integer >= 2. Received: max_points={max_points!r}"
    )


# evaluate_classification


def test_evaluate_classification_by_hand():
    result = evaluation.evaluate_classification(
        TRUE_LABELS, PROBABILITIES, CLASS_NAMES, item_names=["a.png", "b.png", "c.png", "d.png"]
    )
    to_json(result)
    assert result["accuracy"] == 0.5
    assert result["count"] == 4
    assert result["class_names"] == CLASS_NAMES
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert result["confusion_matrix_normalized"] == [
        [0.5, 0.5, 0.0],
        [0.0, 1.0, 0.0],
        [1.0, 0.0, 0.0],
    ]
    assert result["per_class"][1] == {
        "class": "scratch",
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    assert result["per_class"][2]["precision"] == 0.0
    assert result["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)

    view = result["ok_vs_defect"]
    # Defect scores: ok parts 0.1 and 0.7, defects 0.8 and 0.4 -> 3 of 4 pairs ranked right.
    assert view["roc_auc"] == 0.75
    assert view["threshold"] == 0.5
    assert view["defect_recall"] == 0.5
    assert view["false_reject_rate"] == 0.5
    assert (view["defect_count"], view["ok_count"]) == (2, 2)
    curve = view["roc_curve"]
    assert curve["false_positive_rate"] == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert curve["true_positive_rate"] == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert curve["thresholds"][0] is None
    assert curve["thresholds"][1:] == pytest.approx([0.8, 0.7, 0.4, 0.1])

    # Both mistakes have confidence 0.6: the tie keeps item order.
    assert [item["index"] for item in result["misclassified"]] == [2, 3]
    assert result["misclassified"][0] == {
        "index": 2,
        "name": "c.png",
        "true": "dent",
        "predicted": "ok",
        "confidence": 0.6,
        "probabilities": {"ok": 0.6, "scratch": 0.3, "dent": 0.1},
    }


def test_evaluate_classification_sorts_misclassified_by_confidence():
    result = evaluation.evaluate_classification(
        [0, 0, 0], [[0.4, 0.6], [0.1, 0.9], [0.3, 0.7]], ["ok", "bad"]
    )
    assert [item["index"] for item in result["misclassified"]] == [1, 2, 0]
    assert [item["name"] for item in result["misclassified"]] == [None, None, None]


def test_evaluate_classification_threshold_moves_recall_and_false_rejects():
    result = evaluation.evaluate_classification(
        TRUE_LABELS, PROBABILITIES, CLASS_NAMES, defect_threshold=0.05
    )
    assert result["ok_vs_defect"]["defect_recall"] == 1.0
    assert result["ok_vs_defect"]["false_reject_rate"] == 1.0


def test_evaluate_classification_perfect_classifier():
    labels = [0, 1, 2, 1]
    result = evaluation.evaluate_classification(labels, np.eye(3)[labels], CLASS_NAMES)
    to_json(result)
    assert result["accuracy"] == 1.0
    assert result["macro_f1"] == 1.0
    assert all(row["f1"] == 1.0 for row in result["per_class"])
    assert result["confusion_matrix_normalized"] == np.eye(3).tolist()
    assert result["ok_vs_defect"]["roc_auc"] == 1.0
    assert result["ok_vs_defect"]["defect_recall"] == 1.0
    assert result["ok_vs_defect"]["false_reject_rate"] == 0.0
    assert result["misclassified"] == []


def test_evaluate_classification_all_one_class_predictor():
    # Every part is called "ok" with the same probabilities.
    labels = [0, 0, 1, 2]
    result = evaluation.evaluate_classification(labels, [[0.8, 0.1, 0.1]] * 4, CLASS_NAMES)
    assert result["accuracy"] == 0.5
    assert result["confusion_matrix"] == [[2, 0, 0], [1, 0, 0], [1, 0, 0]]
    ok_row = result["per_class"][0]
    assert (ok_row["precision"], ok_row["recall"]) == (0.5, 1.0)
    assert ok_row["f1"] == pytest.approx(2 / 3)
    assert result["per_class"][1]["precision"] == 0.0
    assert result["macro_f1"] == pytest.approx(2 / 9)
    assert result["ok_vs_defect"]["roc_auc"] == 0.5
    assert result["ok_vs_defect"]["defect_recall"] == 0.0
    assert len(result["misclassified"]) == 2


def test_evaluate_classification_macro_f1_skips_classes_absent_from_both_sides():
    # "dent" never occurs and is never predicted: it does not drag the mean down.
    result = evaluation.evaluate_classification([0, 1], [[1, 0, 0], [0, 1, 0]], CLASS_NAMES)
    assert result["macro_f1"] == 1.0
    assert result["per_class"][2] == {
        "class": "dent",
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    assert result["confusion_matrix_normalized"][2] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("labels", "class_names", "ok_class"),
    [
        ([0, 0], CLASS_NAMES, "ok"),  # No defect parts.
        ([1, 2], CLASS_NAMES, "ok"),  # No ok parts.
        ([0, 1], ["good", "scratch", "dent"], "ok"),  # No class called ok.
        ([0, 1], CLASS_NAMES, None),  # Disabled.
    ],
)
def test_evaluate_classification_omits_ok_vs_defect_when_undefined(labels, class_names, ok_class):
    probabilities = [[0.5, 0.25, 0.25]] * len(labels)
    result = evaluation.evaluate_classification(
        labels, probabilities, class_names, ok_class=ok_class
    )
    assert "ok_vs_defect" not in result


def test_evaluate_classification_uses_named_ok_class():
    result = evaluation.evaluate_classification(
        [0, 1], [[0.2, 0.8], [0.9, 0.1]], ["crack", "good"], ok_class="good"
    )
    # Defect score of the crack is 1 - 0.8 = 0.2, of the good part 0.9: ranked wrong.
    assert result["ok_vs_defect"]["roc_auc"] == 0.0


def test_evaluate_classification_accepts_float32_softmax_rows():
    logits = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.random.default_rng(1).integers(0, 3, size=50)
    to_json(evaluation.evaluate_classification(labels, probabilities, CLASS_NAMES))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"class_names": "ok"},
            "Expected `class_names` to be a non-empty sequence of strings. "
            "Received: class_names='ok'",
        ),
        ({"class_names": []}, "Received: class_names=[]"),
        ({"class_names": ["ok", 1, "dent"]}, "Received: class_names=['ok', 1, 'dent']"),
        (
            {"class_names": ["ok", "ok", "dent"]},
            "Expected `class_names` to be unique. Received: class_names=['ok', 'ok', 'dent']",
        ),
        (
            {"probabilities": [["a", "b", "c"]]},
            "Expected `probabilities` to be a 2-D array of "
            "numbers. Received: probabilities=[['a', 'b', 'c']]",
        ),
        (
            {"probabilities": [[0.5, 0.5]] * 4},
            "Expected `probabilities` of shape (N >= 1, 3), "
            "one column per class name. Received: shape (4, 2)",
        ),
        ({"probabilities": [0.2, 0.3, 0.5]}, "Received: shape (3,)"),
        ({"probabilities": np.zeros((0, 3))}, "Received: shape (0, 3)"),
        (
            {"probabilities": [[0.9, 0.05, 0.05]] * 3 + [[0.5, 0.5, 0.5]]},
            "Expected each row of `probabilities` to be finite, non-negative and sum to 1 (within "
            "0.001); apply softmax to logits first. Received: probabilities[3]=[0.5, 0.5, 0.5]",
        ),
        (
            {"probabilities": [[0.9, 0.05, 0.05]] * 3 + [[1.2, -0.2, 0.0]]},
            "Received: probabilities[3]=[1.2, -0.2, 0.0]",
        ),
        (
            {"probabilities": [[0.9, 0.05, 0.05]] * 3 + [[np.nan, 0.5, 0.5]]},
            "Received: probabilities[3]=[nan, 0.5, 0.5]",
        ),
        (
            {"true_labels": [0, 1, 2]},
            "Expected one true label per row of `probabilities`. "
            "Received: len(true_labels)=3, probabilities rows=4",
        ),
        (
            {"true_labels": [0, 1, 3, 0]},
            "Expected `true_labels` in the range [0, 2]. Received: true_labels[2]=3",
        ),
        (
            {"item_names": ["a", "b"]},
            "Expected one item name per item. Received: len(item_names)=2, items=4",
        ),
        (
            {"defect_threshold": 1.5},
            "Expected `defect_threshold` to be a number in [0, 1]. Received: defect_threshold=1.5",
        ),
        ({"defect_threshold": "0.5"}, "Received: defect_threshold='0.5'"),
        ({"defect_threshold": True}, "Received: defect_threshold=True"),
        ({"defect_threshold": float("nan")}, "Received: defect_threshold=nan"),
    ],
)
def test_evaluate_classification_rejects_bad_input(changes, message):
    arguments = {
        "true_labels": TRUE_LABELS,
        "probabilities": PROBABILITIES,
        "class_names": CLASS_NAMES,
    }
    arguments.update(changes)
    with pytest.raises(ValueError) as raised:
        evaluation.evaluate_classification(**arguments)
    assert message in str(raised.value)


# Properties

labelled_items = st.integers(min_value=1, max_value=6).flatmap(
    lambda classes: st.tuples(
        st.just(classes),
        st.lists(
            st.tuples(
                st.integers(0, classes - 1),
                st.lists(st.floats(0.01, 1.0), min_size=classes, max_size=classes),
            ),
            min_size=1,
            max_size=40,
        ),
    )
)
# Scores from a small set, so that ties are common.
binary_scored = st.lists(
    st.tuples(st.integers(0, 1), st.sampled_from([-1.5, 0.0, 0.25, 0.5, 3.0])),
    min_size=2,
    max_size=60,
).filter(lambda pairs: 0 < sum(label for label, _ in pairs) < len(pairs))


@settings(deadline=None, max_examples=60)
@given(labelled_items)
def test_property_confusion_matrix_and_accuracy(case):
    classes, items = case
    labels = [label for label, _ in items]
    weights = np.array([row for _, row in items])
    probabilities = weights / weights.sum(axis=1, keepdims=True)
    names = [f"class{index}" for index in range(classes)]
    result = evaluation.evaluate_classification(labels, probabilities, names)
    to_json(result)
    counts = np.array(result["confusion_matrix"])
    assert counts.sum() == len(labels)
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(labels, minlength=classes))
    assert result["accuracy"] == pytest.approx(np.trace(counts) / len(labels))
    assert 0.0 <= result["macro_f1"] <= 1.0
    assert len(result["misclassified"]) == len(labels) - np.trace(counts)


@settings(deadline=None, max_examples=100)
@given(binary_scored)
def test_property_roc_auc(pairs):
    labels = np.array([label for label, _ in pairs])
    scores = np.array([score for _, score in pairs])
    auc = evaluation.roc_auc(labels, scores)
    assert 0.0 <= auc <= 1.0
    assert evaluation.roc_auc(labels, -scores) == pytest.approx(1.0 - auc)
    # The rank statistic equals the trapezoid area under the curve, thinned or not.
    fpr, tpr, _ = evaluation.roc_curve(labels, scores)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc)
    fpr, tpr, _ = evaluation.roc_curve(labels, scores, max_points=200)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc)
    # A brute-force count over all positive/negative pairs.
    positive, negative = scores[labels == 1], scores[labels == 0]
    wins = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    assert auc == pytest.approx((wins + 0.5 * ties) / (positive.size * negative.size))

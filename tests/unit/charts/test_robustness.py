"""Tests for core/charts/robustness.py: grouped bars per severity, clean line, flip panel."""

import pytest

from core.charts.robustness import robustness_chart


def make_result() -> dict:
    rows = []
    for kind, label, accuracies in (
        ("blur", "Blur σ {} px", (0.8, 0.6)),
        ("noise", "Noise σ {}", (0.9, 0.7)),
        ("fog", "Fog {}", (0.5, 0.4)),  # A kind this LineSight does not know keeps its key.
    ):
        for severity, accuracy in zip((1, 2), accuracies, strict=True):
            rows.append(
                {
                    "perturbation": kind,
                    "severity": severity,
                    "label": label.format(severity),
                    "accuracy": accuracy,
                    "accuracy_change": accuracy - 0.9,
                    "flip_share": 1 - accuracy,
                }
            )
    return {"clean_accuracy": 0.9, "rows": rows}


def test_bars_per_severity_in_two_panels_with_the_clean_accuracy_line():
    figure = robustness_chart(make_result(), title="demo:1")
    bars = [trace for trace in figure.data if trace.type == "bar"]
    assert [(trace.name, trace.yaxis) for trace in bars] == [
        ("severity 1", "y"), ("severity 1", "y2"), ("severity 2", "y"), ("severity 2", "y2"),
    ]  # fmt: skip
    accuracy_mild, flips_mild, accuracy_strong, _ = bars
    assert list(accuracy_mild.x) == ["Blur", "Noise", "fog"]
    assert list(accuracy_strong.y) == [0.6, 0.7, 0.4]
    assert list(flips_mild.y) == pytest.approx([0.2, 0.1, 0.5])
    assert list(accuracy_mild.customdata) == ["Blur σ 1 px", "Noise σ 1", "Fog 1"]
    assert [trace.showlegend for trace in bars] == [True, False, True, False]
    (line,) = figure.layout.shapes
    assert line.y0 == line.y1 == 0.9
    assert any(note.text == "clean 90.0%" for note in figure.layout.annotations)
    assert figure.layout.barmode == "group"
    assert figure.layout.title.text == "demo:1"


def test_refuses_a_result_without_rows():
    with pytest.raises(ValueError) as error:
        robustness_chart({"clean_accuracy": 0.9, "rows": []})
    assert str(error.value).startswith(
        "Expected a robustness result with 'clean_accuracy' and 'rows' holding ['perturbation', "
        "'severity', 'label', 'accuracy', 'flip_share']. Received: result="
    )

"""Tests for core/charts/gan.py: GAN loss curves and the "does it help" figures."""

import pytest

from core.charts import gan as charts_gan
from tests.unit.jobs.test_gan import report_of

HISTORY = {
    "d_loss": [1.4, 1.2],
    "g_loss": [0.8, 1.0],
    "d_real": [0.6, 0.7],
    "d_fake": [0.4, 0.3],
}
BATCHES = [
    {"epoch": 0.5, "d_loss": 1.5, "g_loss": 0.7, "d_real": 0.55, "d_fake": 0.45},
    {"epoch": 1.0, "d_loss": 1.3, "g_loss": 0.9, "d_real": 0.6, "d_fake": 0.4},
]


def by_name(figure):
    return {trace.name: trace for trace in figure.data}


def test_loss_curves_draw_batches_thinly_and_epochs_with_markers_on_two_panels():
    figure = charts_gan.gan_loss_curves(HISTORY, BATCHES)
    traces = by_name(figure)
    assert set(traces) == {
        "discriminator loss (batch)",
        "discriminator loss (epoch)",
        "generator loss (batch)",
        "generator loss (epoch)",
        "D(real image) (batch)",
        "D(real image) (epoch)",
        "D(generated image) (batch)",
        "D(generated image) (epoch)",
    }
    assert list(traces["generator loss (epoch)"].y) == [0.8, 1.0]
    assert list(traces["generator loss (epoch)"].x) == [1, 2]
    assert list(traces["discriminator loss (batch)"].x) == [0.5, 1.0]
    assert traces["discriminator loss (batch)"].line.width == 1
    assert traces["D(generated image) (epoch)"].line.dash == "dash"
    # Losses on the first panel, the discriminator's probabilities on the second.
    assert traces["generator loss (epoch)"].xaxis == "x"
    assert traces["D(real image) (epoch)"].xaxis == "x2"
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == ["Losses", "Discriminator: probability of 'real'"]
    assert figure.layout.title.text == "GAN training"
    assert figure.layout.xaxis.title.text == "epoch" and figure.layout.xaxis2.title.text == "epoch"
    assert figure.layout.yaxis.title.text == "loss"
    assert figure.layout.yaxis2.title.text == "mean probability"
    assert tuple(figure.layout.yaxis2.range) == (0, 1)


def test_loss_curves_start_empty_and_take_a_title():
    figure = charts_gan.gan_loss_curves({}, [], title="Live")
    assert len(figure.data) == 0
    assert figure.layout.title.text == "Live"
    only_batches = charts_gan.gan_loss_curves({}, BATCHES[:1])
    assert len(only_batches.data) == 4


def test_loss_curves_refuse_other_inputs():
    with pytest.raises(ValueError, match=r"Expected a mapping of metric lists.*epoch_history="):
        charts_gan.gan_loss_curves([1, 2])
    with pytest.raises(ValueError, match=r"Expected a sequence of per-batch logs.*batch_points="):
        charts_gan.gan_loss_curves(HISTORY, "d_loss")


def test_benefit_comparison_groups_recall_bars_per_class_with_accuracy_in_the_title():
    figure = charts_gan.benefit_comparison(report_of())
    assert [trace.type for trace in figure.data] == ["bar", "bar"]
    baseline, augmented = figure.data
    assert baseline.name == "real only (20/class)"
    assert augmented.name == "real + synthetic (100/class)"
    assert list(baseline.x) == ["dent", "ok"] and list(baseline.y) == [0.5, 0.7]
    assert list(augmented.y) == [0.75, 0.65]
    assert list(augmented.text) == ["75%", "65%"]
    assert figure.layout.barmode == "group"
    assert figure.layout.title.text == (
        "Recall per class on the same real test images. Accuracy: 60.0% real only, "
        "70.0% with synthetic (+10.0 points)"
    )
    assert figure.layout.yaxis.title.text == "recall"


def test_fidelity_heatmap_shows_the_judged_counts_and_the_agreement():
    figure = charts_gan.fidelity_heatmap(report_of())
    heatmap = figure.data[0]
    assert heatmap.type == "heatmap"
    assert [list(row) for row in heatmap.z] == [[90, 10], [30, 70]]
    assert list(heatmap.x) == ["dent", "ok"] and list(heatmap.y) == ["dent", "ok"]
    assert figure.layout.title.text == (
        "Synthetic images labelled by a classifier trained on real images: agreement 80% "
        "(judge's real test accuracy 90%)"
    )
    assert figure.layout.xaxis.title.text == "judged as"
    assert figure.layout.yaxis.title.text == "generated as"


def test_report_figures_name_what_is_missing():
    with pytest.raises(ValueError, match=r"Received: report without \['augmented'\]"):
        charts_gan.benefit_comparison({"classes": [], "baseline": {}})
    with pytest.raises(ValueError, match=r"Received: report without \['classes', 'fidelity'\]"):
        charts_gan.fidelity_heatmap(None)

"""Plotly figures for the "Synthetic images" page: GAN losses and the "does it help" experiment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.charts import common as charts
from core.charts.series import MARGIN
from core.data.validation import describe_value

DISCRIMINATOR_COLOUR = "#1f77b4"
GENERATOR_COLOUR = "#ff7f0e"
BASELINE_COLOUR = "#7f7f7f"
AUGMENTED_COLOUR = "#2ca02c"
# (metric, label, colour, panel): losses on the left, the discriminator's scores on the right.
LOSS_SERIES = (
    ("d_loss", "discriminator loss", DISCRIMINATOR_COLOUR, 1),
    ("g_loss", "generator loss", GENERATOR_COLOUR, 1),
    ("d_real", "D(real image)", DISCRIMINATOR_COLOUR, 2),
    ("d_fake", "D(generated image)", GENERATOR_COLOUR, 2),
)


def _faint(colour: str) -> str:
    red, green, blue = (int(colour[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgba({red},{green},{blue},0.3)"


def gan_loss_curves(
    epoch_history: Mapping[str, Sequence[float]],
    batch_points: Sequence[Mapping[str, float]] = (),
    *,
    title: str | None = "GAN training",
) -> go.Figure:
    """The GAN's losses and the discriminator's scores: per batch (thin) and per epoch (markers).

    Args:
        epoch_history: Per-epoch means, e.g. {"d_loss": [...], "g_loss": [...], "d_real": [...],
            "d_fake": [...]}.
        batch_points: Per-batch logs with a fractional "epoch" position, for a live curve.
        title: Figure title. Default: "GAN training".

    Returns:
        A figure with a loss panel (discriminator and generator) and a panel of the mean
        probability the discriminator gives real and generated images of being real.

    Raises:
        ValueError: If `epoch_history` is not a mapping or `batch_points` not a sequence.
    """
    if not isinstance(epoch_history, Mapping):
        raise ValueError(
            "Expected a mapping of metric lists, e.g. {'d_loss': [...]}. "
            f"Received: epoch_history={describe_value(epoch_history)}"
        )
    if isinstance(batch_points, str | bytes) or not isinstance(batch_points, Sequence):
        raise ValueError(
            "Expected a sequence of per-batch logs. "
            f"Received: batch_points={describe_value(batch_points)}"
        )
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Losses", "Discriminator: probability of 'real'"),
        horizontal_spacing=0.1,
    )
    for metric, label, colour, column in LOSS_SERIES:
        charts.add_batch_curve(
            figure,
            batch_points,
            metric,
            name=f"{label} (batch)",
            colour=_faint(colour),
            column=column,
        )
        charts.add_epoch_curve(
            figure,
            epoch_history.get(metric, []),
            name=f"{label} (epoch)",
            line={"color": colour, "dash": "dash" if metric == "d_fake" else "solid"},
            column=column,
        )
    figure.update_xaxes(title_text="epoch")
    figure.update_yaxes(title_text="loss", row=1, col=1)
    figure.update_yaxes(title_text="mean probability", range=[0, 1], row=1, col=2)
    figure.update_layout(title=title, height=360, margin=MARGIN)
    return figure


def _check_report(report: object, keys: Sequence[str]) -> None:
    missing = [key for key in keys if not isinstance(report, Mapping) or key not in report]
    if missing:
        raise ValueError(
            "Expected a report of core.decisions.gan_benefit.run_gan_benefit. "
            f"Received: report without {missing} ({describe_value(report)})"
        )


def benefit_comparison(report: Mapping) -> go.Figure:
    """Recall per class of the classifier without (baseline) and with synthetic images.

    Args:
        report: The report of `core.decisions.gan_benefit.run_gan_benefit`.

    Returns:
        Grouped bars per class; the title gives both accuracies and their difference.

    Raises:
        ValueError: If the report lacks "classes", "baseline" or "augmented".
    """
    _check_report(report, ("classes", "baseline", "augmented"))
    classes = list(report["classes"])
    baseline, augmented = report["baseline"], report["augmented"]
    figure = go.Figure()
    for name, results, colour in (
        (f"real only ({report.get('real_per_class', '?')}/class)", baseline, BASELINE_COLOUR),
        (
            f"real + synthetic ({report.get('synthetic_per_class', '?')}/class)",
            augmented,
            AUGMENTED_COLOUR,
        ),
    ):
        recalls = [results["per_class_recall"].get(class_name) for class_name in classes]
        figure.add_trace(
            go.Bar(
                x=classes,
                y=recalls,
                name=name,
                marker_color=colour,
                text=[None if recall is None else f"{recall:.0%}" for recall in recalls],
                textposition="outside",
            )
        )
    difference = augmented["accuracy"] - baseline["accuracy"]
    figure.update_layout(
        title=(
            f"Recall per class on the same real test images. Accuracy: "
            f"{baseline['accuracy']:.1%} real only, {augmented['accuracy']:.1%} with synthetic "
            f"({difference * 100:+.1f} points)"
        ),
        barmode="group",
        xaxis_title="class",
        yaxis={"title": "recall", "range": [0, 1.1], "tickformat": ".0%"},
        height=380,
        margin=MARGIN,
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def fidelity_heatmap(report: Mapping) -> go.Figure:
    """How a classifier trained on real images labels the synthetic ones.

    Args:
        report: The report of `core.decisions.gan_benefit.run_gan_benefit`, with "fidelity" holding
            "confusion" (rows: class generated as, columns: class judged as) and "agreement".

    Returns:
        A heatmap of the counts; the title gives the overall agreement.

    Raises:
        ValueError: If the report lacks "classes" or "fidelity".
    """
    _check_report(report, ("classes", "fidelity"))
    classes = list(report["classes"])
    fidelity = report["fidelity"]
    # The judge's confusion matrix on the synthetic images, in this page's colours and words.
    figure = charts.confusion_matrix_heatmap(fidelity["confusion"], classes)
    figure.update_traces(
        colorscale="Greens",
        hovertemplate="generated as %{y}<br>judged %{x}<br>%{text} image(s)<extra></extra>",
    )
    agreement = fidelity.get("agreement")
    judge = fidelity.get("judge_test_accuracy")
    parts = ["Synthetic images labelled by a classifier trained on real images"]
    if agreement is not None:
        parts.append(f"agreement {agreement:.0%}")
    if judge is not None:
        parts.append(f"judge's real test accuracy {judge:.0%}")
    figure.update_layout(
        title=": ".join(parts[:2]) + (f" ({parts[2]})" if len(parts) > 2 else ""),
        xaxis_title="judged as",
        yaxis_title="generated as",
        height=140 + 45 * len(classes),
        margin={"l": 80, "r": 20, "t": 60, "b": 50},
    )
    return figure

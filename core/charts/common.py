"""Plotly figures as pure functions: plain arrays and data frames in, figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Training blue and validation red, the palette `core.charts.series` shares.
TRAIN_COLOUR = "#1f77b4"
VALIDATION_COLOUR = "#d62728"


def sensor_curves(
    frame: pd.DataFrame,
    sensors: Sequence[str],
    *,
    time_column: str = "cycle",
    title: str | None = None,
    columns: int = 3,
) -> go.Figure:
    """Small multiples of sensor readings over time for one machine.

    Args:
        frame: Rows of one machine, with `time_column` and the sensor columns.
        sensors: The sensor columns to draw, one panel each.
        time_column: The time axis column (default "cycle").
        title: Optional figure title.
        columns: Panels per row (default 3).

    Returns:
        A plotly figure with one line per sensor.

    Raises:
        ValueError: If a requested column is missing or no sensor is given.
    """
    missing = [name for name in [time_column, *sensors] if name not in frame.columns]
    if missing or not sensors:
        raise ValueError(
            "Expected a time column and at least one sensor column present in the frame. "
            f"Received: missing={missing}, sensors={list(sensors)}"
        )
    rows = -(-len(sensors) // columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=list(sensors),
        shared_xaxes=True,
        vertical_spacing=0.12 / max(rows / 3, 1),
    )
    for position, sensor in enumerate(sensors):
        figure.add_trace(
            go.Scatter(
                x=frame[time_column],
                y=frame[sensor],
                mode="lines",
                name=sensor,
                line={"width": 1.2},
                showlegend=False,
            ),
            row=position // columns + 1,
            col=position % columns + 1,
        )
    figure.update_layout(
        title=title, height=max(220 * rows, 260), margin={"l": 40, "r": 20, "t": 60, "b": 30}
    )
    return figure


def class_counts_bar(class_counts: Mapping[str, int], *, title: str | None = None) -> go.Figure:
    """A bar chart of images per class."""
    figure = go.Figure(
        go.Bar(
            x=list(class_counts.keys()),
            y=list(class_counts.values()),
            text=list(class_counts.values()),
        )
    )
    figure.update_layout(
        title=title,
        xaxis_title="class",
        yaxis_title="images",
        height=300,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
    )
    return figure


def training_curves(
    epoch_history: Mapping[str, Sequence[float]],
    batch_points: Sequence[Mapping[str, float]] = (),
    *,
    title: str | None = None,
) -> go.Figure:
    """Loss and accuracy over epochs: per-batch training points (thin) and per-epoch lines.

    Args:
        epoch_history: Per-epoch metrics, e.g. {"loss": [...], "val_loss": [...], ...}.
        batch_points: Per-batch logs with an "epoch" position (fractional), for a live curve.
        title: Optional figure title.

    Returns:
        A figure with a loss panel and an accuracy panel.
    """
    return metric_curves(
        epoch_history,
        batch_points,
        ("loss", "accuracy"),
        title=title,
        margin={"l": 40, "r": 20, "t": 60, "b": 40},
    )


def metric_curves(
    history: Mapping[str, Sequence[float]],
    batch_points: Sequence[Mapping[str, float]],
    metrics: Sequence[str],
    *,
    title: str | None,
    margin: Mapping[str, int],
) -> go.Figure:
    """One panel per metric over epochs: training per batch (thin) and per epoch, validation
    per epoch.

    Args:
        history: Per-epoch metrics; `val_<metric>` holds a metric's validation values.
        batch_points: Per-batch logs with a fractional "epoch" position, for a live curve.
        metrics: The metrics to draw, one panel each, in order.
        title: The figure title, or None.
        margin: The figure margins.

    Returns:
        A figure with one panel per metric; training blue, validation red.
    """
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics))
    for column, metric in enumerate(metrics, start=1):
        add_batch_curve(
            figure,
            batch_points,
            metric,
            name=f"train {metric} (batch)",
            colour="rgba(31,119,180,0.35)",
            column=column,
        )
        for key, label, colour in (
            (metric, "train", TRAIN_COLOUR),
            (f"val_{metric}", "validation", VALIDATION_COLOUR),
        ):
            add_epoch_curve(
                figure,
                history.get(key, []),
                name=f"{label} {metric}",
                line={"color": colour},
                column=column,
            )
        figure.update_xaxes(title_text="epoch", row=1, col=column)
    figure.update_layout(title=title, height=340, margin=margin)
    return figure


def add_batch_curve(
    figure: go.Figure,
    batch_points: Sequence[Mapping[str, float]],
    metric: str,
    *,
    name: str,
    colour: str,
    column: int,
) -> None:
    """Adds a thin line of `metric` over the batch points that log it (none if none do)."""
    batch = [point for point in batch_points if metric in point]
    if batch:
        figure.add_trace(
            go.Scatter(
                x=[point["epoch"] for point in batch],
                y=[point[metric] for point in batch],
                mode="lines",
                name=name,
                line={"width": 1, "color": colour},
            ),
            row=1,
            col=column,
        )


def add_epoch_curve(
    figure: go.Figure, values: Sequence[float], *, name: str, line: Mapping, column: int
) -> None:
    """Adds a line with markers of per-epoch `values` over epochs 1, 2, ... (none if empty)."""
    values = list(values)
    if values:
        figure.add_trace(
            go.Scatter(
                x=list(range(1, len(values) + 1)),
                y=values,
                mode="lines+markers",
                name=name,
                line=line,
            ),
            row=1,
            col=column,
        )


def confusion_matrix_heatmap(
    matrix: Sequence[Sequence[float]],
    class_names: Sequence[str],
    *,
    normalized: bool = False,
    title: str | None = None,
) -> go.Figure:
    """A confusion matrix as a heatmap: rows are true classes, columns predicted ones."""
    text = [[f"{value:.2f}" if normalized else f"{int(value)}" for value in row] for row in matrix]
    figure = go.Figure(
        go.Heatmap(
            z=[list(row) for row in matrix],
            x=list(class_names),
            y=list(class_names),
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        height=120 + 45 * len(class_names),
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return figure


def probability_bars(probabilities: Mapping[str, float], *, title: str | None = None) -> go.Figure:
    """Horizontal bars of class probabilities, highest first."""
    ordered = sorted(probabilities.items(), key=lambda item: item[1])
    figure = go.Figure(
        go.Bar(
            x=[value for _, value in ordered],
            y=[name for name, _ in ordered],
            orientation="h",
            text=[f"{value:.1%}" for _, value in ordered],
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"range": [0, 1], "tickformat": ".0%"},
        height=60 + 28 * len(ordered),
        margin={"l": 80, "r": 20, "t": 30 if title else 10, "b": 20},
    )
    return figure

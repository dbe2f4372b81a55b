"""Plotly figures as pure functions: plain arrays and data frames in, figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


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

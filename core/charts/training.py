"""Plotly figures for the training pages, built on `core.charts.common`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from core.charts import common as charts
from core.charts.series import MARGIN
from core.data.validation import describe_value


def selectable_confusion_matrix(
    matrix: Sequence[Sequence[float]],
    class_names: Sequence[str],
    *,
    selected: tuple[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """A confusion-matrix heatmap that outlines the chosen (true, predicted) cell.

    Args:
        matrix: Counts, rows = true classes, columns = predicted classes.
        class_names: The class names, in matrix order.
        selected: The (true class, predicted class) cell to outline, or None.
        title: Optional figure title.

    Returns:
        The heatmap with one invisible marker per cell: clicking a cell selects the marker,
        whose x is the predicted class and whose y the true class.

    Raises:
        ValueError: If a selected class is not in `class_names`.
    """
    names = list(class_names)
    figure = charts.confusion_matrix_heatmap(matrix, names, title=title)
    # Plotly cannot select heatmap cells, so an invisible marker over each cell carries the
    # clicks (and the hover text) instead.
    cells = [(row, column) for row in range(len(names)) for column in range(len(names))]
    figure.update_traces(hoverinfo="skip", hovertemplate=None, selector={"type": "heatmap"})
    figure.add_trace(
        go.Scatter(
            x=[names[column] for _, column in cells],
            y=[names[row] for row, _ in cells],
            customdata=[int(matrix[row][column]) for row, column in cells],
            mode="markers",
            marker={"symbol": "square", "size": 40, "color": "rgba(0,0,0,0)"},
            selected={"marker": {"opacity": 1}},
            unselected={"marker": {"opacity": 1}},
            hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata} image(s)<extra></extra>",
            showlegend=False,
        )
    )
    if selected is not None:
        true_class, predicted_class = selected
        unknown = [name for name in selected if name not in names]
        if unknown:
            raise ValueError(
                f"Expected the selected classes among {names}. Received: selected={selected!r}"
            )
        row, column = names.index(true_class), names.index(predicted_class)
        figure.add_shape(
            type="rect",
            x0=column - 0.5,
            x1=column + 0.5,
            y0=row - 0.5,
            y1=row + 0.5,
            line={"color": "#d62728", "width": 3},
            fillcolor="rgba(0,0,0,0)",
        )
    figure.update_layout(height=max(320, 140 + 55 * len(names)), clickmode="event+select")
    return figure


def series_training_curves(
    history: Mapping[str, Sequence[float]],
    batch_points: Sequence[Mapping[str, float]] = (),
    *,
    title: str | None = None,
) -> go.Figure:
    """Per-epoch training curves for any metrics: loss plus e.g. MAE (regression) or accuracy.

    `core.charts.common.training_curves` always draws a loss and an accuracy panel; this one draws a
    panel per metric found in the history, so a regression history (loss, val_loss, mae,
    val_mae) shows its MAE.

    Args:
        history: Per-epoch metrics, e.g. {"loss": [...], "val_loss": [...], "mae": [...]}.
            Keys `learning_rate` and `lr` are ignored.
        batch_points: Per-batch logs with a fractional "epoch" position, for a live curve.
        title: Optional figure title.

    Returns:
        A figure with one panel per metric, loss first; training blue, validation red.

    Raises:
        ValueError: If `history` is not a mapping holding at least one metric.
    """
    if not isinstance(history, Mapping):
        raise ValueError(
            f"Expected a mapping of metric lists. Received: history={describe_value(history)}"
        )
    metrics: list[str] = []
    for key in history:
        metric = key.removeprefix("val_")
        if metric not in ("learning_rate", "lr") and metric not in metrics:
            metrics.append(metric)
    if not metrics:
        raise ValueError(
            "Expected a training history with at least one metric, e.g. {'loss': [...]}. "
            f"Received: history={describe_value(dict(history))}"
        )
    metrics.sort(key=lambda metric: metric != "loss")
    return charts.metric_curves(history, batch_points, metrics, title=title, margin=MARGIN)

"""Plotly figures for the image training page, built on `core.charts`."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from core import charts


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

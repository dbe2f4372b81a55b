"""Plotly figures of a model's operating point: ROC, precision-recall and expected cost.

Each takes the `curve` dict of `core.decisions.operating_point.cost_curve` with `chosen_index` added
(as `core.decisions.operating_point_data.set_operating_point` returns it) and marks the chosen
threshold. The arrays go to plotly as plain lists (a few hundred points at most), so a figure's JSON
stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from core.charts.series import MARGIN, NEUTRAL_COLOUR, REFERENCE_COLOUR, WARNING_COLOUR
from core.data.validation import describe_value

CURVE_KEYS = (
    "thresholds",
    "defect_recall",
    "false_reject_rate",
    "line_precision",
    "cost_per_million",
    "escapes_per_million",
    "false_rejects_per_million",
    "chosen_index",
)
HEIGHT = 380


def chance_diagonal() -> go.Scatter:
    """The dashed diagonal of a ROC chart: a detector no better than chance."""
    return go.Scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line={"dash": "dash", "color": REFERENCE_COLOUR, "width": 1},
        name="chance",
        hoverinfo="skip",
    )


def _checked(curve: object) -> tuple[dict, int]:
    """Returns the curve's arrays as float arrays and the chosen index, or raises ValueError."""
    if not isinstance(curve, Mapping):
        raise ValueError(
            "Expected the curve dict of set_operating_point. "
            f"Received: curve={describe_value(curve)}"
        )
    missing = [key for key in CURVE_KEYS if key not in curve]
    if missing:
        raise ValueError(
            f"Expected a curve with the keys {list(CURVE_KEYS)}. Received: missing {missing}"
        )
    arrays = {key: np.asarray(curve[key], dtype=np.float64) for key in CURVE_KEYS[:-1]}
    count = arrays["thresholds"].size
    if count == 0 or any(array.shape != (count,) for array in arrays.values()):
        raise ValueError(
            "Expected the curve's arrays to be 1-D, non-empty and of one length. "
            f"Received: shapes { {key: array.shape for key, array in arrays.items()} }"
        )
    index = curve["chosen_index"]
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < count:
        raise ValueError(
            f"Expected `chosen_index` to be an integer in [0, {count - 1}]. "
            f"Received: chosen_index={describe_value(index)}"
        )
    return arrays, int(index)


def _threshold_text(value: float) -> str:
    return f"{value:.4g}"


def _chosen_marker(x: float, y: float, text: str, *, near_right_edge: bool) -> go.Scatter:
    # The label goes on the side with room, so it is not cut off at the plot's right edge.
    return go.Scatter(
        x=[float(x)],
        y=[float(y)],
        mode="markers+text",
        marker={"symbol": "star", "size": 16, "color": WARNING_COLOUR},
        text=[text],
        textposition="bottom left" if near_right_edge else "bottom right",
        name="chosen threshold",
        hovertemplate=text.replace("<br>", ", ") + "<extra></extra>",
    )


def _rate_layout(figure: go.Figure, *, title: str | None, x_title: str, y_title: str) -> None:
    """Lays out a chart of one rate against another: both axes in percent from 0 to 1, with room
    for the markers at the ends; no legend."""
    figure.update_layout(
        title=title,
        xaxis={"title": x_title, "range": [-0.02, 1.02], "tickformat": ".0%"},
        yaxis={"title": y_title, "range": [-0.02, 1.05], "tickformat": ".0%"},
        height=HEIGHT,
        margin=MARGIN,
        showlegend=False,
    )


def roc_chart(curve: Mapping, *, title: str | None = None) -> go.Figure:
    """Defect recall against false-reject rate over every threshold, the chosen one starred.

    Args:
        curve: The `cost_curve` dict with `chosen_index`.
        title: Optional title. Default: "ROC curve (validation images)", with the AUC when the
            curve holds `roc_auc`.

    Returns:
        The figure: the curve, the chance diagonal and the chosen point.

    Raises:
        ValueError: If `curve` lacks a key or its arrays disagree.
    """
    arrays, index = _checked(curve)
    recall, false_rejects = arrays["defect_recall"], arrays["false_reject_rate"]
    if title is None:
        auc = curve.get("roc_auc")
        title = "ROC curve (validation images)" + (
            f", AUC {auc:.3f}" if isinstance(auc, int | float) else ""
        )
    return roc_figure(
        false_rejects,
        recall,
        arrays["thresholds"],
        chosen=(false_rejects[index], recall[index], arrays["thresholds"][index]),
        title=title,
    )


def roc_figure(false_rejects, recall, thresholds, *, chosen, title: str) -> go.Figure:
    """The ROC figure both ROC charts draw: the chance diagonal, the curve (hover: its
    thresholds) and the chosen threshold starred with its recall and false rejects.

    Args:
        false_rejects, recall, thresholds: The curve's points, in order.
        chosen: `(false-reject rate, recall, threshold)` of the starred point.
        title: The chart title.
    """
    chosen_false_rejects, chosen_recall, chosen_threshold = (float(value) for value in chosen)
    figure = go.Figure()
    figure.add_trace(chance_diagonal())
    figure.add_trace(
        go.Scatter(
            x=np.asarray(false_rejects, dtype=np.float64).tolist(),
            y=np.asarray(recall, dtype=np.float64).tolist(),
            mode="lines+markers",
            line={"shape": "hv", "color": NEUTRAL_COLOUR},
            marker={"size": 4},
            # JSON has no infinity: the "flag nothing" end of a ROC curve gets no threshold.
            customdata=[
                float(value) if np.isfinite(value) else None
                for value in np.asarray(thresholds, dtype=np.float64)
            ],
            name="thresholds",
            hovertemplate="threshold %{customdata:.4g}<br>false rejects %{x:.1%}"
            "<br>recall %{y:.1%}<extra></extra>",
        )
    )
    figure.add_trace(
        _chosen_marker(
            chosen_false_rejects,
            chosen_recall,
            f"threshold {_threshold_text(chosen_threshold)}<br>"
            f"recall {chosen_recall:.1%}, false rejects {chosen_false_rejects:.1%}",
            near_right_edge=chosen_false_rejects > 0.6,
        )
    )
    _rate_layout(
        figure,
        title=title,
        x_title="false-reject rate (good parts rejected)",
        y_title="defect recall (defects caught)",
    )
    return figure


def precision_recall_chart(
    curve: Mapping, *, defect_rate: float | None = None, title: str | None = None
) -> go.Figure:
    """Precision at the line's defect rate against defect recall, the chosen point starred.

    The precision is that of the line, not of the validation images (which hold far more
    defects than a line makes): the share of rejected parts that are defects when defects come
    at the entered rate.

    Args:
        curve: The `cost_curve` dict with `chosen_index`.
        defect_rate: The line's defect rate, named on the axis. Default: None.
        title: Optional title. Default: "Precision-recall at the line's defect rate".

    Returns:
        The figure.

    Raises:
        ValueError: If `curve` lacks a key or its arrays disagree.
    """
    arrays, index = _checked(curve)
    recall, precision = arrays["defect_recall"], arrays["line_precision"]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=recall.tolist(),
            y=precision.tolist(),
            mode="lines+markers",
            line={"color": NEUTRAL_COLOUR},
            marker={"size": 4},
            customdata=arrays["thresholds"].tolist(),
            name="thresholds",
            hovertemplate="threshold %{customdata:.4g}<br>recall %{x:.1%}"
            "<br>precision %{y:.1%}<extra></extra>",
        )
    )
    figure.add_trace(
        _chosen_marker(
            recall[index],
            precision[index],
            f"threshold {_threshold_text(arrays['thresholds'][index])}<br>"
            f"recall {recall[index]:.1%}, precision {precision[index]:.1%}",
            near_right_edge=recall[index] > 0.6,
        )
    )
    rate = f" ({defect_rate:.2%} defects)" if defect_rate is not None else ""
    _rate_layout(
        figure,
        title=title or "Precision-recall at the line's defect rate",
        x_title="defect recall",
        y_title=f"precision on the line{rate}",
    )
    return figure


def cost_chart(curve: Mapping, *, title: str | None = None) -> go.Figure:
    """Expected cost per million parts against the threshold, the minimum starred.

    Between two candidate thresholds the same parts are rejected, so the cost is drawn as
    steps.

    Args:
        curve: The `cost_curve` dict with `chosen_index`.
        title: Optional title. Default: "Expected cost per million parts".

    Returns:
        The figure, with escapes and false rejects per million in the hover text.

    Raises:
        ValueError: If `curve` lacks a key or its arrays disagree.
    """
    arrays, index = _checked(curve)
    order = np.argsort(arrays["thresholds"], kind="stable")
    details = np.stack(
        [arrays["escapes_per_million"][order], arrays["false_rejects_per_million"][order]], axis=1
    )
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=arrays["thresholds"][order].tolist(),
            y=arrays["cost_per_million"][order].tolist(),
            mode="lines",
            line={"shape": "vh", "color": NEUTRAL_COLOUR},
            customdata=details.tolist(),
            name="expected cost",
            hovertemplate="threshold %{x:.4g}<br>cost %{y:,.0f} per million parts"
            "<br>escapes %{customdata[0]:,.0f}, false rejects %{customdata[1]:,.0f} per million"
            "<extra></extra>",
        )
    )
    threshold = arrays["thresholds"][index]
    cost = arrays["cost_per_million"][index]
    lowest, highest = arrays["thresholds"].min(), arrays["thresholds"].max()
    figure.add_trace(
        _chosen_marker(
            threshold,
            cost,
            f"minimum {cost:,.0f} per million<br>at threshold {_threshold_text(threshold)}",
            near_right_edge=bool(threshold - lowest > 0.6 * (highest - lowest)),
        )
    )
    figure.update_layout(
        title=title or "Expected cost per million parts",
        xaxis={"title": "threshold (defect score at or above it is rejected)"},
        yaxis={"title": "expected cost per million parts", "rangemode": "tozero"},
        height=HEIGHT,
        margin=MARGIN,
        showlegend=False,
    )
    return figure

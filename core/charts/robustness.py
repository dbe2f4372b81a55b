"""Plotly figure of a robustness check (`core.decisions.robustness`): result dict in, figure out."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.data.perturbations import PERTURBATIONS
from core.data.validation import describe_value

ROW_KEYS = ("perturbation", "severity", "label", "accuracy", "flip_share")
SEVERITY_COLOURS = {1: "#7fb3d5", 2: "#1f618d"}
CLEAN_COLOUR = "#2e7d32"


def _check_result(result) -> list[dict]:
    rows = result.get("rows") if isinstance(result, dict) else None
    valid = (
        isinstance(rows, list)
        and rows
        and all(isinstance(row, dict) and all(key in row for key in ROW_KEYS) for row in rows)
        and isinstance(result.get("clean_accuracy"), int | float)
    )
    if not valid:
        raise ValueError(
            "Expected a robustness result with 'clean_accuracy' and 'rows' holding "
            f"{list(ROW_KEYS)}. Received: result={describe_value(result)}"
        )
    return rows


def _kind_name(kind: str) -> str:
    known = PERTURBATIONS.get(kind)
    return known.name if known is not None else kind


def robustness_chart(result: dict, *, title: str | None = None) -> go.Figure:
    """Accuracy under each perturbation and severity (the clean accuracy as a line), and the
    share of predictions that flip against the clean images, as two stacked panels.

    Args:
        result: The output of `core.decisions.robustness.robustness_check` or `run_robustness`.
        title: Optional figure title.

    Returns:
        A figure with grouped bars (one group per perturbation, one bar per severity).

    Raises:
        ValueError: If `result` lacks `clean_accuracy` or rows with the expected keys.
    """
    rows = _check_result(result)
    kinds = list(dict.fromkeys(row["perturbation"] for row in rows))
    names = [_kind_name(kind) for kind in kinds]
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=("Accuracy on the perturbed test images", "Predictions that flip"),
    )
    for severity in sorted({row["severity"] for row in rows}):
        chosen = {row["perturbation"]: row for row in rows if row["severity"] == severity}
        present = [kind for kind in kinds if kind in chosen]
        x = [names[kinds.index(kind)] for kind in present]
        labels = [chosen[kind]["label"] for kind in present]
        colour = SEVERITY_COLOURS.get(severity)
        for panel, key in ((1, "accuracy"), (2, "flip_share")):
            values = [chosen[kind][key] for kind in present]
            figure.add_trace(
                go.Bar(
                    x=x,
                    y=values,
                    name=f"severity {severity}",
                    legendgroup=f"severity {severity}",
                    showlegend=panel == 1,
                    marker_color=colour,
                    text=[f"{value:.0%}" for value in values],
                    textposition="outside",
                    customdata=labels,
                    hovertemplate="%{customdata}<br>%{y:.1%}<extra></extra>",
                ),
                row=panel,
                col=1,
            )
    clean = float(result["clean_accuracy"])
    figure.add_hline(
        y=clean,
        line={"color": CLEAN_COLOUR, "dash": "dash"},
        annotation_text=f"clean {clean:.1%}",
        annotation_position="top left",
        row=1,
        col=1,
    )
    figure.update_yaxes(range=[0, 1.12], tickformat=".0%", row=1, col=1)
    figure.update_yaxes(range=[0, 1.12], tickformat=".0%", row=2, col=1)
    figure.update_layout(
        title=title,
        barmode="group",
        height=560,
        legend={"orientation": "h", "y": 1.08, "x": 1, "xanchor": "right"},
        margin={"l": 50, "r": 20, "t": 90 if title else 70, "b": 40},
    )
    return figure

"""Plotly figure of anomaly scores over time, built on `core.charts.series`'s style."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.charts.series import (
    FLAGGED_FILL,
    INJECTED_FILL,
    MARGIN,
    NEUTRAL_COLOUR,
    WARNING_COLOUR,
    check_number,
)
from core.data.tables import check_frame
from core.data.validation import describe_value
from core.metrics.anomalies import flagged_stretches

__all__ = ["anomaly_timeline"]


def _shade_stretches(
    figure: go.Figure, stretches: pd.DataFrame, *, fill: str, name: str, labelled: bool = False
) -> None:
    """Shades each stretch from half a cycle before `start_cycle` to half a cycle after
    `end_cycle`, one legend entry for all; `labelled` writes each stretch's `kind` on it."""
    for position, stretch in enumerate(stretches.itertuples(index=False)):
        label = (
            {
                "annotation_text": str(stretch.kind),
                "annotation_position": "top left",
                "annotation_font_size": 10,
            }
            if labelled
            else {}
        )
        figure.add_vrect(
            x0=stretch.start_cycle - 0.5,
            x1=stretch.end_cycle + 0.5,
            fillcolor=fill,
            line_width=0,
            layer="below",
            name=name,
            legendgroup=name,
            showlegend=position == 0,
            **label,
        )


def anomaly_timeline(
    scores: pd.DataFrame,
    threshold: float,
    *,
    unit: object = None,
    injected: pd.DataFrame | None = None,
    title: str | None = None,
) -> go.Figure:
    """Anomaly score against cycle for one unit, with flagged and injected stretches shaded.

    Args:
        scores: Columns `unit`, `cycle`, `score`, `flagged`, optionally `top_sensor` (hover).
        threshold: The anomaly threshold, drawn as a dashed horizontal line.
        unit: The unit to draw; may be None when `scores` holds a single unit.
        injected: Optional known anomalies, columns `start_cycle`, `end_cycle`, `kind`, shaded
            in another colour and labelled with their kind.
        title: Optional figure title.

    Returns:
        A line figure; each flagged stretch and each injected stretch is one vrect shape
        spanning half a cycle beyond its ends.

    Raises:
        ValueError: If columns are missing, the unit is ambiguous or absent, or the threshold
            or stretches are invalid.
    """
    check_frame(scores, "scores", ("unit", "cycle", "score", "flagged"))
    threshold_value = check_number(threshold, "threshold")
    present = pd.unique(scores["unit"]).tolist()
    if unit is None:
        if len(present) != 1:
            raise ValueError(
                "Expected `unit` naming one unit when scores hold several (or none). "
                f"Received: unit=None, units={describe_value(present)}"
            )
        unit = present[0]
    elif unit not in present:
        raise ValueError(
            f"Expected `unit` among the units in `scores`. Received: unit={describe_value(unit)}"
        )
    rows = scores[scores["unit"] == unit].sort_values("cycle", kind="stable")
    stretches = flagged_stretches(rows)
    hover = "cycle %{x}<br>score %{y:.4g}"
    if "top_sensor" in rows.columns:
        hover += "<br>top sensor %{customdata}"
    figure = go.Figure(
        go.Scatter(
            x=rows["cycle"],
            y=rows["score"],
            mode="lines",
            name="anomaly score",
            line={"color": NEUTRAL_COLOUR, "width": 1.4},
            customdata=rows["top_sensor"] if "top_sensor" in rows.columns else None,
            hovertemplate=hover + "<extra></extra>",
        )
    )
    figure.add_hline(
        y=threshold_value,
        line={"dash": "dash", "color": WARNING_COLOUR},
        annotation_text="threshold",
        annotation_position="top left",
    )
    _shade_stretches(figure, stretches, fill=FLAGGED_FILL, name="flagged")
    if injected is not None:
        check_frame(injected, "injected", ("start_cycle", "end_cycle", "kind"))
        backwards = injected[injected["end_cycle"] < injected["start_cycle"]]
        if not backwards.empty:
            raise ValueError(
                "Expected each injected stretch to have start_cycle <= end_cycle. Received: "
                f"rows={describe_value(backwards[['start_cycle', 'end_cycle']].values.tolist())}"
            )
        _shade_stretches(figure, injected, fill=INJECTED_FILL, name="injected", labelled=True)
    figure.update_layout(
        title=title if title is not None else f"unit {unit}: {len(stretches)} flagged stretch(es)",
        xaxis_title="cycle",
        yaxis_title="anomaly score",
        height=360,
        margin=MARGIN,
    )
    return figure

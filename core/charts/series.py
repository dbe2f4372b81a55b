"""Plotly figures for sensor series and predictive maintenance, as pure functions.

Data frames in, `go.Figure` out, in the style of `core.charts.common` (whose confusion-matrix
heatmap the sensor pages reuse). Each function checks its input once and raises ValueError or
TypeError saying what was expected and what was received.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from core.charts.common import TRAIN_COLOUR, VALIDATION_COLOUR
from core.data.tables import check_frame
from core.data.validation import describe_value
from core.metrics.series import evaluate_regression

__all__ = [
    "error_histogram",
    "failure_probability_over_cycles",
    "maintenance_ranking",
    "predicted_against_true",
    "rul_over_cycles",
]

# The palette of `core.charts.common`: blue for training/predictions, red for validation and
# warnings.
WARNING_COLOUR = VALIDATION_COLOUR
NEUTRAL_COLOUR = TRAIN_COLOUR
REFERENCE_COLOUR = "#7f7f7f"
FLAGGED_FILL = "rgba(214,39,40,0.18)"
INJECTED_FILL = "rgba(148,103,189,0.22)"
UNIT_COLOURS = plotly.colors.qualitative.D3
MARGIN = {"l": 50, "r": 20, "t": 60, "b": 40}


def check_number(value: object, name: str, *, positive: bool = False) -> float:
    """Returns `value` as a float, or raises when it is not a finite (positive) number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or (positive and value <= 0)
    ):
        kind = "a positive number" if positive else "a finite number"
        raise ValueError(
            f"Expected `{name}` to be {kind}. Received: {name}={describe_value(value)}"
        )
    return float(value)


def _selected_units(frame: pd.DataFrame, units: object, name: str) -> list:
    """Returns `units` as a non-empty list of units present in `frame`."""
    chosen = (
        list(units)
        if isinstance(units, Sequence | np.ndarray | pd.Index) and not isinstance(units, str)
        else [units]
    )
    present = set(frame["unit"].tolist())
    missing = [unit for unit in chosen if unit not in present]
    if not chosen or missing:
        raise ValueError(
            f"Expected one or more units present in `{name}`. "
            f"Received: units={describe_value(chosen)}, missing={describe_value(missing)}"
        )
    return chosen


def _unit_lines(
    predictions: pd.DataFrame,
    units: object,
    column: str,
    *,
    label: str,
    value_format: str,
    true_name: str,
    true_line: dict,
) -> go.Figure:
    """One line of `column` against cycle per unit, plus its `true` line (same colour) if known."""
    figure = go.Figure()
    for position, unit in enumerate(_selected_units(predictions, units, "predictions")):
        rows = predictions[predictions["unit"] == unit].sort_values("cycle", kind="stable")
        colour = UNIT_COLOURS[position % len(UNIT_COLOURS)]
        lines = [(column, label, {"color": colour})]
        if "true" in rows.columns:
            lines.append(("true", true_name, {"color": colour, **true_line}))
        for source, name, line in lines:
            figure.add_trace(
                go.Scatter(
                    x=rows["cycle"],
                    y=rows[source],
                    mode="lines",
                    name=f"unit {unit} {name}",
                    line=line,
                    hovertemplate=f"unit {unit}<br>cycle %{{x}}<br>{name} "
                    f"%{{y:{value_format}}}<extra></extra>",
                )
            )
    return figure


def _last_cycle_values(per_unit: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict]:
    """Returns true and predicted RUL as float arrays, and `evaluate_regression` of them."""
    check_frame(per_unit, "per_unit", ("unit", "true", "predicted"))
    if per_unit.empty:
        raise ValueError("Expected at least one unit in `per_unit`. Received: 0 rows")
    # evaluate_regression also rejects values that are not finite numbers.
    metrics = evaluate_regression(per_unit["true"], per_unit["predicted"])
    true = per_unit["true"].to_numpy(dtype=float)
    return true, per_unit["predicted"].to_numpy(dtype=float), metrics


def rul_over_cycles(
    predictions: pd.DataFrame,
    units: object,
    *,
    cap: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Predicted (solid) and true (dashed) remaining useful life against cycle, per unit.

    Args:
        predictions: Columns `unit`, `cycle`, `predicted` and optionally `true`.
        units: One unit or a sequence of units to draw.
        cap: The RUL cap of the target, drawn as a dotted horizontal line (None: no line).
        title: Optional figure title.

    Returns:
        A figure with one predicted line per unit, plus one true line per unit when known.

    Raises:
        ValueError: If columns are missing, a unit is absent or `cap` is not positive.
    """
    check_frame(predictions, "predictions", ("unit", "cycle", "predicted"))
    figure = _unit_lines(
        predictions,
        units,
        "predicted",
        label="predicted RUL",
        value_format=".1f",
        true_name="true",
        true_line={"dash": "dash"},
    )
    if cap is not None:
        cap_value = check_number(cap, "cap", positive=True)
        figure.add_hline(
            y=cap_value,
            line={"dash": "dot", "color": REFERENCE_COLOUR},
            annotation_text=f"cap {cap_value:g}",
        )
    figure.update_layout(
        title=title, xaxis_title="cycle", yaxis_title="RUL (cycles)", height=380, margin=MARGIN
    )
    return figure


def predicted_against_true(per_unit: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Predicted against true RUL at each unit's last cycle, with the identity line.

    Args:
        per_unit: One row per unit with columns `unit`, `true`, `predicted`.
        title: Optional figure title.

    Returns:
        A scatter coloured by error (predicted - true; red is late, the costly side) and a
        dashed identity line from min(0, lowest value) to the highest value.

    Raises:
        ValueError: If columns are missing or the frame is empty.
    """
    true, predicted, _ = _last_cycle_values(per_unit)
    error = predicted - true
    low = min(0.0, float(np.min(true)), float(np.min(predicted)))
    high = max(float(np.max(true)), float(np.max(predicted)))
    limit = float(np.max(np.abs(error))) or 1.0
    figure = go.Figure(
        [
            go.Scatter(
                x=[low, high],
                y=[low, high],
                mode="lines",
                name="perfect prediction",
                line={"dash": "dash", "color": REFERENCE_COLOUR},
                hoverinfo="skip",
            ),
            go.Scatter(
                x=true,
                y=predicted,
                mode="markers",
                name="units",
                customdata=[
                    [str(unit), float(value)]
                    for unit, value in zip(per_unit["unit"], error, strict=True)
                ],
                marker={
                    "color": error,
                    "colorscale": "RdBu_r",
                    "cmin": -limit,
                    "cmax": limit,
                    "size": 9,
                    "colorbar": {"title": {"text": "error"}},
                    "line": {"width": 0.5, "color": "#333333"},
                },
                hovertemplate="unit %{customdata[0]}<br>true %{x:.1f}<br>predicted %{y:.1f}"
                "<br>error %{customdata[1]:+.1f}<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        title=title,
        xaxis_title="true RUL (cycles)",
        yaxis_title="predicted RUL (cycles)",
        height=420,
        margin=MARGIN,
        showlegend=False,
    )
    return figure


def error_histogram(per_unit: pd.DataFrame, *, bins: int = 20) -> go.Figure:
    """Histogram of predicted - true RUL at each unit's last cycle, with RMSE and NASA score.

    Args:
        per_unit: Columns `unit`, `true`, `predicted`.
        bins: Approximate number of bars (default 20).

    Returns:
        A histogram with a zero line; the title carries RMSE and the NASA score.

    Raises:
        ValueError: If columns are missing, the frame is empty or values are not finite.
    """
    true, predicted, metrics = _last_cycle_values(per_unit)
    error = predicted - true
    figure = go.Figure(
        go.Histogram(
            x=error,
            nbinsx=bins,
            marker={"color": NEUTRAL_COLOUR},
            hovertemplate="error %{x}<br>%{y} unit(s)<extra></extra>",
        )
    )
    figure.add_vline(x=0, line={"color": REFERENCE_COLOUR, "dash": "dash"})
    figure.update_layout(
        title=(
            f"RMSE {metrics['rmse']:.2f} · NASA score {metrics['nasa_score']:.1f} "
            f"({metrics['count']} units)"
        ),
        xaxis_title="predicted - true RUL (cycles; positive = late)",
        yaxis_title="units",
        bargap=0.05,
        height=340,
        margin=MARGIN,
    )
    return figure


def maintenance_ranking(table: pd.DataFrame, maintenance_window: int) -> go.Figure:
    """Horizontal bars of predicted RUL per unit, most urgent at the top.

    Args:
        table: Columns `unit` and `predicted_rul` (as `core.decisions.maintenance.maintenance_table`
            returns), optionally `last_cycle` and `true_rul` for the hover text.
        maintenance_window: Units with predicted RUL <= this many cycles are drawn in the
            warning colour; a dashed vertical line marks the window.

    Returns:
        The bar chart, sorted by predicted RUL ascending.

    Raises:
        ValueError: If columns are missing or the window is not a positive number.
    """
    check_frame(table, "table", ("unit", "predicted_rul"))
    window = check_number(maintenance_window, "maintenance_window", positive=True)
    ordered = table.sort_values("predicted_rul", kind="stable")
    rul = ordered["predicted_rul"].to_numpy(dtype=float)
    due = rul <= window
    hover = ["unit %{y}", "predicted RUL %{x:.1f}"]
    extra = [column for column in ("last_cycle", "true_rul") if column in ordered.columns]
    hover += [
        f"{column.replace('_', ' ')} %{{customdata[{position}]}}"
        for position, column in enumerate(extra)
    ]
    figure = go.Figure(
        go.Bar(
            x=rul,
            y=ordered["unit"].astype(str).tolist(),
            orientation="h",
            marker={"color": [WARNING_COLOUR if flag else NEUTRAL_COLOUR for flag in due]},
            text=[f"{value:.0f}" for value in rul],
            customdata=ordered[extra].to_numpy() if extra else None,
            hovertemplate="<br>".join(hover) + "<extra></extra>",
        )
    )
    figure.add_vline(
        x=window,
        line={"dash": "dash", "color": WARNING_COLOUR},
        annotation_text=f"window {window:g}",
    )
    figure.update_layout(
        title=f"{int(due.sum())} of {len(rul)} units due within {window:g} cycles",
        xaxis_title="predicted RUL (cycles)",
        yaxis={"title": "unit", "type": "category", "autorange": "reversed"},
        height=max(260, 80 + 22 * len(rul)),
        margin=MARGIN,
    )
    return figure


def failure_probability_over_cycles(
    predictions: pd.DataFrame,
    units: object,
    *,
    threshold: float = 0.5,
    title: str | None = None,
) -> go.Figure:
    """Probability of failure within the horizon against cycle, per unit.

    Args:
        predictions: Columns `unit`, `cycle` and `probability` (or `predicted` holding the
            probability); optionally `true` (1 when the unit fails within the horizon), drawn as
            a dotted step line.
        units: One unit or a sequence of units to draw.
        threshold: Decision threshold in (0, 1), drawn as a dashed horizontal line.
        title: Optional figure title.

    Returns:
        A figure with one probability line per unit (plus one true line when known).

    Raises:
        ValueError: If columns are missing, a unit is absent, the threshold is outside (0, 1)
            or a probability is outside [0, 1].
    """
    column = "probability" if "probability" in getattr(predictions, "columns", ()) else "predicted"
    check_frame(predictions, "predictions", ("unit", "cycle", column))
    chosen = _selected_units(predictions, units, "predictions")
    threshold_value = check_number(threshold, "threshold")
    if not 0 < threshold_value < 1:
        raise ValueError(f"Expected `threshold` in (0, 1). Received: threshold={threshold!r}")
    probabilities = predictions[column].to_numpy(dtype=float)
    outside = ~((probabilities >= 0) & (probabilities <= 1))
    if outside.any():
        raise ValueError(
            f"Expected probabilities in [0, 1] in column '{column}'. "
            f"Received: {describe_value(probabilities[outside][:3].tolist())}"
        )
    figure = _unit_lines(
        predictions,
        chosen,
        column,
        label="probability",
        value_format=".1%",
        true_name="fails within horizon",
        true_line={"dash": "dot", "shape": "hv"},
    )
    figure.add_hline(
        y=threshold_value,
        line={"dash": "dash", "color": WARNING_COLOUR},
        annotation_text=f"threshold {threshold_value:g}",
    )
    figure.update_layout(
        title=title,
        xaxis_title="cycle",
        yaxis={"title": "failure probability", "range": [-0.02, 1.02], "tickformat": ".0%"},
        height=360,
        margin=MARGIN,
    )
    return figure

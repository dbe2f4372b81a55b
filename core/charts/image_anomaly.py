"""Plotly figures of an image anomaly model's test scores: per-class distribution and ROC curve.

Both take the test scores grouped by true class (`core.jobs.image_anomaly.score_groups`), the good
class and the threshold, in the style of `core.charts.common` (good parts blue, defects red, the
threshold a dashed line).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.charts.decisions import roc_figure
from core.charts.series import (
    MARGIN,
    NEUTRAL_COLOUR,
    WARNING_COLOUR,
    check_number,
)
from core.data.validation import describe_value
from core.metrics.evaluation import roc_auc, roc_curve

__all__ = ["score_distribution", "score_roc_chart"]

# Scores spanning more than this ratio (all positive) are drawn on a log axis: a feature-gaussian
# model's defects score up to 100x its good parts, which would squash the good ones into a line.
LOG_SCALE_RATIO = 30.0
DEFECT_COLOUR = WARNING_COLOUR
THRESHOLD_COLOUR = "#2b2b2b"


def _checked_groups(
    scores_by_class: object, good_class: object, *, require_defects: bool = True
) -> dict[str, np.ndarray]:
    """Returns the groups as float arrays, good class first, or raises ValueError."""
    if not isinstance(scores_by_class, Mapping) or not scores_by_class:
        raise ValueError(
            "Expected a mapping of class name to test scores, e.g. {'ok': [...], 'crack': [...]}. "
            f"Received: scores_by_class={describe_value(scores_by_class)}"
        )
    groups = {}
    for name, scores in scores_by_class.items():
        values = None
        if isinstance(scores, Sequence | np.ndarray) and not isinstance(scores, str | bytes):
            try:
                values = np.asarray(scores, dtype=np.float64)
            except (TypeError, ValueError):
                values = None  # Reported below with the other unusable groups.
        if (
            values is None
            or values.ndim != 1
            or values.size == 0
            or not np.all(np.isfinite(values))
        ):
            raise ValueError(
                "Expected each class to hold a non-empty list of finite scores. "
                f"Received: scores_by_class[{name!r}]={describe_value(scores)}"
            )
        groups[str(name)] = values
    if good_class not in groups or (require_defects and len(groups) < 2):
        wanted = "and at least one defect class " if require_defects else ""
        raise ValueError(
            f"Expected the good class {wanted}among the score groups "
            f"{list(groups)}. Received: good_class={describe_value(good_class)}"
        )
    return {good_class: groups.pop(good_class), **groups}


def _use_log_scale(groups: Mapping[str, np.ndarray]) -> bool:
    values = np.concatenate(list(groups.values()))
    return bool(values.min() > 0 and values.max() / values.min() > LOG_SCALE_RATIO)


def score_distribution(
    scores_by_class: Mapping[str, Sequence[float]],
    good_class: str,
    threshold: float,
    *,
    log_scale: bool | None = None,
    title: str | None = None,
) -> go.Figure:
    """Each test image's anomaly score, one row per true class, with the threshold line.

    Args:
        scores_by_class: Test scores by true class; must hold `good_class` and a defect class.
        good_class: The defect-free class (drawn first, in blue; defects in red).
        threshold: Scores at or over it are anomalies: a dashed vertical line.
        log_scale: Whether the score axis is logarithmic. Default None: when every score and
            the threshold are positive and the scores span more than `LOG_SCALE_RATIO`.
        title: Optional title. Default: "Test scores by true class".

    Returns:
        A figure with one horizontal box (every point shown) per class.

    Raises:
        ValueError: If a group is empty or not finite, the good class or every defect class is
            missing, the threshold is not a finite number, or `log_scale` is True for scores or
            a threshold not all positive.
    """
    groups = _checked_groups(scores_by_class, good_class, require_defects=False)
    threshold_value = check_number(threshold, "threshold")
    positive = threshold_value > 0 and all(values.min() > 0 for values in groups.values())
    if log_scale is None:
        log_scale = positive and _use_log_scale(groups)
    elif log_scale and not positive:
        raise ValueError(
            "Expected positive scores and a positive threshold for a log axis. Received: "
            f"log_scale=True, threshold={threshold_value}, lowest score "
            f"{min(values.min() for values in groups.values())}"
        )
    figure = go.Figure()
    # Plotly stacks horizontal categories bottom-up: add in reverse so the good class is on top.
    for name, values in reversed(groups.items()):
        colour = NEUTRAL_COLOUR if name == good_class else DEFECT_COLOUR
        flagged = int(np.sum(values >= threshold_value))
        figure.add_trace(
            go.Box(
                x=values.tolist(),
                name=name,
                orientation="h",
                boxpoints="all",
                jitter=0.5,
                pointpos=0,
                marker={"color": colour, "size": 5, "opacity": 0.7},
                line={"color": colour, "width": 1},
                fillcolor="rgba(0,0,0,0)",
                hovertemplate=f"{name}<br>score %{{x:.4g}}<extra></extra>",
                legendgroup=name,
                showlegend=False,
            )
        )
        figure.add_annotation(
            x=1.0,
            xref="paper",
            y=name,
            text=f"{flagged}/{values.size} flagged",
            showarrow=False,
            xanchor="left",
            font={"size": 11, "color": colour},
        )
    figure.add_vline(
        x=threshold_value, line={"dash": "dash", "color": THRESHOLD_COLOUR, "width": 1.5}
    )
    # Shapes take data values on a log axis, but annotations take their log10.
    figure.add_annotation(
        x=math.log10(threshold_value) if log_scale else threshold_value,
        y=1.0,
        yref="paper",
        yanchor="bottom",
        text=f"threshold {threshold_value:.4g}",
        showarrow=False,
        font={"size": 11, "color": THRESHOLD_COLOUR},
    )
    figure.update_layout(
        title=title or "Test scores by true class",
        xaxis={
            "title": "anomaly score (higher = more anomalous)",
            "type": "log" if log_scale else "linear",
        },
        yaxis={"title": "true class"},
        height=140 + 50 * len(groups),
        margin={**MARGIN, "r": 100},
    )
    return figure


def score_roc_chart(
    scores_by_class: Mapping[str, Sequence[float]],
    good_class: str,
    threshold: float,
    *,
    title: str | None = None,
) -> go.Figure:
    """Defect recall against false-reject rate over every threshold (good vs all defects), with
    the model's threshold marked.

    Args:
        scores_by_class: Test scores by true class; must hold `good_class` and a defect class.
        good_class: The defect-free class; every other class counts as a defect.
        threshold: The model's threshold, starred on the curve.
        title: Optional title. Default: "ROC curve (test images), AUROC <value>".

    Returns:
        The figure: the curve, the chance diagonal and the threshold's point.

    Raises:
        ValueError: As `score_distribution`.
    """
    groups = _checked_groups(scores_by_class, good_class)
    threshold_value = check_number(threshold, "threshold")
    good = groups.pop(good_class)
    defects = np.concatenate(list(groups.values()))
    labels = np.r_[np.zeros(good.size, dtype=np.int64), np.ones(defects.size, dtype=np.int64)]
    scores = np.r_[good, defects]
    false_rejects, recall, thresholds = roc_curve(labels, scores)
    chosen = (
        np.mean(good >= threshold_value),
        np.mean(defects >= threshold_value),
        threshold_value,
    )
    return roc_figure(
        false_rejects,
        recall,
        thresholds,
        chosen=chosen,
        title=title or f"ROC curve (test images), AUROC {roc_auc(labels, scores):.3f}",
    )

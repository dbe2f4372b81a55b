"""Anomaly flags: flagged stretches, and flags against known stretches (per step and per event).

Example:
    evaluate_anomalies(scores, load_anomaly_labels("sample_data/sensors/live_anomalies.csv"))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.data.tables import check_frame, finite_column
from core.data.truth_files import load_anomaly_labels
from core.data.validation import describe_value
from core.metrics.series import evaluate_binary_flags

__all__ = ["STRETCH_COLUMNS", "evaluate_anomalies", "flagged_stretches"]


def _flag_runs(units: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) row positions of each maximal run of flagged rows of one unit."""
    boundary = np.concatenate([[True], units[1:] != units[:-1]])
    previous_flagged = np.concatenate([[False], flags[:-1]])
    next_flagged = np.concatenate([flags[1:], [False]])
    next_boundary = np.concatenate([boundary[1:], [True]])
    starts = np.flatnonzero(flags & (boundary | ~previous_flagged))
    ends = np.flatnonzero(flags & (next_boundary | ~next_flagged)) + 1
    return starts, ends


def evaluate_anomalies(scores_frame: pd.DataFrame, anomalies_frame: pd.DataFrame) -> dict:
    """Compares flagged time steps with known anomalous stretches, per step and per event.

    Per step: precision, recall and F1 of the flags against "inside a stretch". Per event: a
    stretch is found when any flagged step falls in it (`event_recall` = found / stretches); a
    flagged stretch is a maximal run of consecutive flagged steps of one unit, and
    `event_precision` is the share of them that overlap a known stretch. Zero division gives 0.0.

    Args:
        scores_frame: `anomaly_scores` output (columns `unit`, `cycle`, `flagged`), sorted by
            unit then cycle.
        anomalies_frame: `load_anomaly_labels` output. Without a `unit` column every stretch
            applies to every unit (a single live series).

    Returns:
        A JSON-ready dict: `step` (see `evaluate_binary_flags`), `event_precision`,
        `event_recall`, `event_f1`, `events_found`, `events_total`, `flagged_stretches`,
        `flagged_stretches_matching`, `by_kind` ({kind: {found, total}}) and `events` (one dict
        per stretch with `found` and `first_flagged_cycle`).

    Raises:
        ValueError: Missing columns, or labels failing `load_anomaly_labels` checks.
    """
    if not isinstance(scores_frame, pd.DataFrame):
        raise TypeError(
            f"Expected a pandas DataFrame. Received: scores_frame={describe_value(scores_frame)}"
        )
    missing = [column for column in ("unit", "cycle", "flagged") if column not in scores_frame]
    if missing:
        raise ValueError(
            "Expected scores with columns ['unit', 'cycle', 'flagged'] (see anomaly_scores). "
            f"Received: missing={missing}, columns={list(scores_frame.columns)}"
        )
    labels = load_anomaly_labels(anomalies_frame)
    units = scores_frame["unit"].to_numpy()
    cycles = scores_frame["cycle"].to_numpy(dtype="float64")
    flags = scores_frame["flagged"].to_numpy().astype(bool)
    truth = np.zeros(len(scores_frame), dtype=bool)
    events, by_kind = [], {}
    for label in labels.itertuples(index=False):
        inside = (cycles >= label.start_cycle) & (cycles <= label.end_cycle)
        if "unit" in labels.columns:
            inside &= units == label.unit
        truth |= inside
        hits = inside & flags
        found = bool(hits.any())
        counts = by_kind.setdefault(label.kind, {"found": 0, "total": 0})
        counts["found"] += found
        counts["total"] += 1
        event = {
            "start_cycle": _plain(label.start_cycle),
            "end_cycle": _plain(label.end_cycle),
            "kind": label.kind,
            "sensors": label.sensors,
            "found": found,
            "first_flagged_cycle": _plain(cycles[hits][0]) if found else None,
        }
        events.append(event)
    starts, ends = _flag_runs(units, flags)
    matching = sum(bool(truth[start:end].any()) for start, end in zip(starts, ends, strict=True))
    found_count = sum(event["found"] for event in events)
    precision = matching / len(starts) if len(starts) else 0.0
    recall = found_count / len(events) if events else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "step": evaluate_binary_flags(truth, flags) if len(flags) else {},
        "event_precision": float(precision),
        "event_recall": float(recall),
        "event_f1": float(f1),
        "events_found": int(found_count),
        "events_total": len(events),
        "flagged_stretches": len(starts),
        "flagged_stretches_matching": int(matching),
        "by_kind": by_kind,
        "events": events,
    }


def _plain(value: object) -> object:
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


STRETCH_COLUMNS = ("unit", "start_cycle", "end_cycle", "peak_score")


def _flag_values(flagged: pd.Series) -> np.ndarray:
    """Returns the flags as booleans, or raises when one is not True/False/0/1."""
    if pd.api.types.is_bool_dtype(flagged):
        return flagged.to_numpy(dtype=bool)
    values = pd.to_numeric(flagged, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        examples = [describe_value(value) for value in flagged[bad].iloc[:3].tolist()]
        raise ValueError(
            "Expected `flagged` to hold True/False (or 1/0). "
            f"Received: {int(bad.sum())} bad value(s) such as {', '.join(examples)}"
        )
    return values == 1.0


def flagged_stretches(scores: pd.DataFrame) -> pd.DataFrame:
    """Maximal runs of consecutive flagged time steps, per unit.

    Rows are taken in cycle order within each unit; a run ends at the first unflagged row or at
    the unit's end (a missing cycle does not split a run).

    Args:
        scores: Columns `unit`, `cycle`, `score`, `flagged` (bool or 0/1).

    Returns:
        A DataFrame with columns `unit`, `start_cycle`, `end_cycle` (both inclusive) and
        `peak_score` (highest score in the run), ordered by unit then start cycle.

    Raises:
        TypeError: If `scores` is not a DataFrame.
        ValueError: If columns are missing, flags are not boolean or scores not finite.
    """
    check_frame(scores, "scores", ("unit", "cycle", "score", "flagged"))
    ordered = scores.sort_values(["unit", "cycle"], kind="stable")
    flags = _flag_values(ordered["flagged"])
    score_values = finite_column(ordered["score"], "score")
    if not flags.any():
        return pd.DataFrame({column: [] for column in STRETCH_COLUMNS})
    units = ordered["unit"].to_numpy()
    new_unit = np.ones(len(units), dtype=bool)
    new_unit[1:] = units[1:] != units[:-1]
    previous_flag = np.zeros(len(flags), dtype=bool)
    previous_flag[1:] = flags[:-1]
    starts = flags & (new_unit | ~previous_flag)
    run_ids = np.cumsum(starts)[flags]
    runs = pd.DataFrame(
        {
            "run": run_ids,
            "unit": units[flags],
            "cycle": ordered["cycle"].to_numpy()[flags],
            "score": score_values[flags],
        }
    )
    grouped = runs.groupby("run", sort=True)
    return pd.DataFrame(
        {
            "unit": grouped["unit"].first().to_numpy(),
            "start_cycle": grouped["cycle"].first().to_numpy(),
            "end_cycle": grouped["cycle"].last().to_numpy(),
            "peak_score": grouped["score"].max().to_numpy(),
        }
    )

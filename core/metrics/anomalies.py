"""Anomaly flags against known anomalous stretches: label loading and per-step/per-event scores.

Example:
    evaluate_anomalies(scores, load_anomaly_labels("sample_data/sensors/live_anomalies.csv"))
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from core.data.validation import describe_value
from core.metrics.series import evaluate_binary_flags

__all__ = ["LABEL_COLUMNS", "evaluate_anomalies", "load_anomaly_labels"]

LABEL_COLUMNS = ("start_cycle", "end_cycle", "kind", "sensors")


def load_anomaly_labels(source: str | os.PathLike | bytes | pd.DataFrame) -> pd.DataFrame:
    """Reads known anomalous stretches (e.g. `sample_data/sensors/live_anomalies.csv`).

    Column names are matched ignoring case and surrounding spaces. `kind` and `sensors` are
    optional (filled with "unknown" and ""); an optional `unit` column is kept.

    Args:
        source: A CSV/Parquet path, the bytes of an uploaded file, or a DataFrame.

    Returns:
        A DataFrame with `start_cycle`, `end_cycle` (inclusive, numbers), `kind` and `sensors`
        (names joined by ";"), plus `unit` when present.

    Raises:
        ValueError: If the file cannot be read, `start_cycle` or `end_cycle` is missing or not a
            number, or a stretch ends before it starts.
        TypeError: If `source` is neither a path, bytes nor a DataFrame.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        from core.data.series_io import read_series_file

        frame, _ = read_series_file(source)
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    missing = [column for column in ("start_cycle", "end_cycle") if column not in frame.columns]
    if missing:
        raise ValueError(
            f"Expected anomaly label columns {list(LABEL_COLUMNS)} (kind and sensors optional). "
            f"Received: missing={missing}, columns={list(frame.columns)}"
        )
    for column in ("start_cycle", "end_cycle"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype="float64")))
        if len(bad):
            raise ValueError(
                f"Expected a number in `{column}` on every row. Received: "
                f"{column}={describe_value(frame[column].iat[bad[0]])} on row {bad[0] + 1}"
            )
        integral = (values == values.round()).all()
        frame[column] = values.astype("int64") if integral else values.astype("float64")
    reversed_rows = np.flatnonzero((frame["end_cycle"] < frame["start_cycle"]).to_numpy())
    if len(reversed_rows):
        row = reversed_rows[0]
        raise ValueError(
            "Expected end_cycle >= start_cycle on every row. Received: start_cycle="
            f"{frame['start_cycle'].iat[row]}, end_cycle={frame['end_cycle'].iat[row]} on row "
            f"{row + 1} ({len(reversed_rows)} such row(s))"
        )
    kind = frame["kind"] if "kind" in frame.columns else pd.Series("unknown", index=frame.index)
    sensors = frame["sensors"] if "sensors" in frame.columns else pd.Series("", index=frame.index)
    labels = pd.DataFrame(
        {
            "start_cycle": frame["start_cycle"],
            "end_cycle": frame["end_cycle"],
            "kind": kind.fillna("unknown").astype(str),
            "sensors": sensors.fillna("").astype(str),
        }
    )
    if "unit" in frame.columns:
        labels.insert(0, "unit", frame["unit"])
    return labels.reset_index(drop=True)


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

"""The sign-off report's HTML: one self-contained page rendered from what was gathered.

It holds what the version was trained on (dataset fingerprint and counts), how (training
config), how well (confusion matrix, per-class metrics), how it decides (operating point and
expected costs), where it looks (sample heatmaps), how it copes with camera drift (robustness),
and who made the report when. Everything is inline: CSS, images as base64 PNG data URIs, no
script and no external address, so it opens the same on an offline PC or from an archive.
Every string from the metadata or the user is escaped. Gathering the inputs and storing the
report: `core.decisions.signoff_report`.

Example:

    document = build_signoff_report(
        record,
        operating_point=None,
        robustness=None,
        sample_heatmaps=[],
        generated_by="ana",
        generated_at=now_iso(),
    )
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from core.data.validation import describe_value

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_OPERATING_POINT = "No operating point set: verdicts use the most probable class."
SIGNATURE_ROLES = ("Prepared by", "Reviewed by (quality)", "Approved by (production)")
OPERATING_POINT_FIELDS = (
    ("threshold", "Threshold", "number"),
    ("score_kind", "Score", "words"),
    ("good_class", "Good class", "text"),
    ("missed_defect_cost", "Cost of a missed defect", "number"),
    ("false_reject_cost", "Cost of a false reject", "number"),
    ("defect_rate", "Line defect rate", "percent"),
    ("defect_recall", "Defect recall (validation)", "percent"),
    ("false_reject_rate", "False reject rate (validation)", "percent"),
    ("escapes_per_million", "Expected escapes per million parts", "number"),
    ("false_rejects_per_million", "Expected false rejects per million parts", "number"),
    ("cost_per_million", "Expected cost per million parts", "number"),
    ("validation_count", "Validation images", "number"),
    ("validation_defects", "Validation defects", "number"),
    ("test_defect_recall", "Defect recall at this threshold (test split)", "percent"),
    ("test_false_reject_rate", "False reject rate at this threshold (test split)", "percent"),
    ("test_count", "Test images (defects)", "text"),
    ("set_by", "Set by", "text"),
    ("set_at", "Set at", "text"),
)
STYLE = """
body { font-family: Helvetica, Arial, sans-serif; color: #1d2a33; margin: 2em auto;
  max-width: 60em; padding: 0 1em; }
h1 { border-bottom: 3px solid #264653; padding-bottom: .3em; }
h2 { color: #264653; margin-top: 1.8em; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ccd; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #eef2f5; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .9em; word-break: break-all; }
.note { background: #fff8e1; border-left: 4px solid #f4a261; padding: .5em .8em; }
.bar { background: #eef2f5; width: 10em; height: .9em; display: inline-block; }
.bar span { background: #2a9d8f; height: 100%; display: block; }
.bar.flip span { background: #e76f51; }
figure { display: inline-block; margin: .4em; text-align: center; }
figure img { width: 16em; image-rendering: pixelated; border: 1px solid #ccd; }
figcaption { font-size: .85em; max-width: 18em; }
.signature td { height: 2.6em; min-width: 11em; }
"""


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def _format(value, kind: str = "number") -> str:
    if value is None:
        return "not recorded"
    if kind == "percent" and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.1%}"
    if kind == "words" and isinstance(value, str):
        return value.replace("_", " ")
    if kind == "metric" and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _flatten(mapping: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            rows.append((f"{prefix}{key}", ", ".join(str(item) for item in value)))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _key_value_table(rows: Sequence[tuple[str, object]]) -> str:
    cells = "".join(
        f"<tr><th>{_text(key)}</th><td>{_text(_format(value))}</td></tr>" for key, value in rows
    )
    return f"<table>{cells}</table>"


def _confusion_table(evaluation: dict) -> str:
    matrix = evaluation.get("confusion_matrix")
    names = evaluation.get("class_names") or []
    if not matrix or len(matrix) != len(names):
        return "<p>No confusion matrix stored for this version.</p>"
    header = "".join(f"<th>{_text(name)}</th>" for name in names)
    body = []
    for name, row in zip(names, matrix, strict=True):
        total = sum(row) or 1
        cells = []
        for value in row:
            alpha = value / total
            colour = "#fff" if alpha > 0.55 else "#1d2a33"
            style = f"background: rgba(38, 70, 83, {alpha:.2f}); color: {colour}"
            cells.append(f'<td class="number" style="{style}">{_text(_format(value))}</td>')
        body.append(f"<tr><th>{_text(name)}</th>{''.join(cells)}</tr>")
    return (
        "<p>Test split: rows are the true classes, columns the predicted ones (counts; the "
        "shade is the share of the row).</p>"
        f"<table><tr><th>true \\ predicted</th>{header}</tr>{''.join(body)}</table>"
    )


def _per_class_table(evaluation: dict) -> str:
    per_class = evaluation.get("per_class") or []
    if not per_class:
        return "<p>No per-class metrics stored for this version.</p>"
    rows = "".join(
        f"<tr><td>{_text(item.get('class'))}</td>"
        + "".join(
            f'<td class="number">{_text(_format(item.get(key), "metric"))}</td>'
            for key in ("precision", "recall", "f1")
        )
        + f'<td class="number">{_text(_format(item.get("support")))}</td></tr>'
        for item in per_class
    )
    return (
        "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th>support</th></tr>{rows}</table>"
    )


def _operating_point_section(operating_point: dict | None) -> str:
    if not operating_point:
        return f"<p>{_text(NO_OPERATING_POINT)}</p>"
    rows = "".join(
        f"<tr><th>{_text(label)}</th><td>{_text(_format(operating_point[key], kind))}</td></tr>"
        for key, label, kind in OPERATING_POINT_FIELDS
        if key in operating_point
    )
    return (
        "<p>A part is a defect when its defect score is at or above the threshold, which "
        f"minimises the expected cost on validation data.</p><table>{rows}</table>"
    )


def _bar(share: float, css_class: str = "bar") -> str:
    width = min(max(float(share), 0.0), 1.0) * 100
    return f'<span class="{css_class}"><span style="width: {width:.1f}%"></span></span>'


def _robustness_section(robustness: dict | None) -> str:
    if not robustness or not robustness.get("rows"):
        return "<p>Robustness check not run for this version.</p>"
    clean = robustness.get("clean_accuracy", 0.0)
    rows = "".join(
        f"<tr><td>{_text(row.get('label'))}</td>"
        f'<td class="number">{_text(row.get("severity"))}</td>'
        f'<td class="number">{_text(_format(row.get("accuracy"), "percent"))}</td>'
        f"<td>{_bar(row.get('accuracy', 0.0))}</td>"
        f'<td class="number">{row.get("accuracy_change", 0.0) * 100:+.1f} pts</td>'
        f'<td class="number">{_text(_format(row.get("flip_share"), "percent"))}</td>'
        f"<td>{_bar(row.get('flip_share', 0.0), 'bar flip')}</td></tr>"
        for row in robustness["rows"]
    )
    details = [
        ("Clean accuracy", _format(clean, "percent")),
        ("Test images", robustness.get("test_count")),
        ("Decision rule", robustness.get("decision")),
        ("Data", robustness.get("data")),
        ("Data matches the training data", robustness.get("data_matches_training")),
        ("Run at", robustness.get("created_at")),
        ("Run by", robustness.get("created_by")),
    ]
    return (
        "<p>The test split re-scored under controlled changes; a flip is a prediction that "
        f"differs from the clean image's.</p>{_key_value_table(details)}"
        "<table><tr><th>perturbation</th><th>severity</th><th>accuracy</th><th></th>"
        f"<th>change</th><th>flipped</th><th></th></tr>{rows}</table>"
    )


def _samples_section(sample_heatmaps: Sequence[tuple[str, str, bytes]]) -> str:
    if not sample_heatmaps:
        return "<p>No sample images: the test images were not available.</p>"
    figures = "".join(
        f'<figure><img alt="{_text(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"><figcaption><code>{_text(name)}</code><br>'
        f"{_text(caption)}</figcaption></figure>"
        for name, caption, png in sample_heatmaps
    )
    return f"<p>Test images (left) with where the model looked (right).</p>{figures}"


def _check_samples(sample_heatmaps) -> list[tuple[str, str, bytes]]:
    items = list(sample_heatmaps or [])
    for item in items:
        if not (
            isinstance(item, tuple)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and isinstance(item[2], bytes)
            and item[2].startswith(PNG_SIGNATURE)
        ):
            raise ValueError(
                "Expected sample heatmaps as (file name, caption, PNG bytes) tuples. "
                f"Received: item={describe_value(item)}"
            )
    return items


def build_signoff_report(
    record,
    *,
    operating_point: dict | None,
    robustness: dict | None,
    sample_heatmaps: list[tuple[str, str, bytes]],
    generated_by: str | None,
    generated_at: str,
    software: dict[str, str] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """Builds the sign-off report of a model version as one self-contained HTML document.

    Args:
        record: The `ModelRecord` of the version.
        operating_point: The stored operating point (contract C2 fields), or None.
        robustness: The stored robustness result (contract C3), or None.
        sample_heatmaps: `(file name, caption, PNG bytes)` of a few test images with their
            heatmap overlays.
        generated_by: Who made the report (None: not recorded).
        generated_at: When, as ISO 8601 text.
        software: Library versions the report was computed with, e.g. {"TensorFlow": "2.21"}.
            Default: None.
        notes: Warnings to show at the top. Default: ().

    Returns:
        The HTML text.

    Raises:
        ValueError: If a sample is not a (str, str, PNG bytes) tuple.
    """
    samples = _check_samples(sample_heatmaps)
    metadata = record.metadata
    metrics = metadata.get("metrics", {})
    evaluation = metrics.get("evaluation", {}) if isinstance(metrics, dict) else {}
    extra = metadata.get("extra", {})
    headline = [(key, value) for key, value in metrics.items() if not isinstance(value, dict)]
    dataset_rows = [("dataset fingerprint", metadata.get("dataset_fingerprint"))]
    dataset_rows += _flatten(extra.get("dataset", {}) if isinstance(extra, dict) else {})
    dataset_rows += [(key, extra[key]) for key in ("good_class", "defect_classes") if key in extra]
    summary = [
        ("Model", record.reference),
        ("Task", metadata.get("task")),
        ("Classes", ", ".join(metadata.get("classes", []))),
        ("Input", " x ".join(str(size) for size in metadata.get("input_shape", []))),
        ("Created at", metadata.get("created_at")),
        ("Owner", metadata.get("owner")),
        ("Trained with", f"TensorFlow {metadata.get('tensorflow_version')}, "
         f"Keras {metadata.get('keras_version')}"),
    ]  # fmt: skip
    provenance = [("Generated by", generated_by), ("Generated at", generated_at)]
    provenance += [(f"Computed with {name}", version) for name, version in (software or {}).items()]
    signatures = "".join(
        f"<tr><th>{_text(role)}</th><td></td><td></td><td></td></tr>" for role in SIGNATURE_ROLES
    )
    warnings = "".join(f'<p class="note">{_text(note)}</p>' for note in notes)
    sections = [
        f"<h1>Sign-off report: {_text(record.reference)}</h1>{warnings}",
        f"<h2>Model</h2>{_key_value_table(summary)}",
        f"<h2>Data set</h2>{_key_value_table(dataset_rows)}",
        f"<h2>Test metrics</h2>{_key_value_table(headline)}",
        f"<h2>Confusion matrix</h2>{_confusion_table(evaluation)}",
        f"<h2>Per-class metrics</h2>{_per_class_table(evaluation)}",
        f"<h2>Threshold and expected costs</h2>{_operating_point_section(operating_point)}",
        f"<h2>Sample heatmaps</h2>{_samples_section(samples)}",
        f"<h2>Robustness</h2>{_robustness_section(robustness)}",
        "<h2>Training configuration</h2>"
        + _key_value_table(_flatten(metadata.get("training_config", {}))),
        f"<h2>Report</h2>{_key_value_table(provenance)}",
        '<h2>Sign-off</h2><table class="signature"><tr><th>Role</th><th>Name</th>'
        f"<th>Signature</th><th>Date</th></tr>{signatures}</table>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Sign-off report {_text(record.reference)}</title><style>{STYLE}</style>"
        f"</head><body>{''.join(sections)}</body></html>\n"
    )

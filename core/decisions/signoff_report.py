"""The sign-off report: one self-contained HTML page that a quality engineer signs.

`make_signoff_report` gathers what the page shows (the stored operating point and robustness
result, a new robustness check when asked or missing, sample heatmaps and the operating point's
rates on the test split), renders it with `core.decisions.signoff_html.build_signoff_report` and
stores it beside the version.

Example:

    html, path = make_signoff_report(registry, "demo-defect-cnn:1", generated_by="ana")
"""

from __future__ import annotations

from importlib import metadata as package_metadata

from core.data.validation import describe_value
from core.decisions.robustness import robustness_result
from core.decisions.signoff_html import build_signoff_report
from core.registry.attachments import (
    OPERATING_POINT,
    ROBUSTNESS,
    SIGNOFF_REPORT,
    read_json_attachment,
    write_attachment,
)
from core.registry.metadata import now_iso
from core.workflows import image_test_split as test_split

ROBUSTNESS_MODES = ("stored", "run", "skip")


def _software_versions() -> dict[str, str]:
    versions = {}
    for label, packages in (
        ("TensorFlow", ("tensorflow", "tensorflow-cpu")),
        ("Keras", ("keras",)),
    ):
        for package in packages:
            try:
                versions[label] = package_metadata.version(package)
                break
            except package_metadata.PackageNotFoundError:
                continue
    return versions


def make_signoff_report(
    registry, reference: str, data=None, *, generated_by: str | None = None, robustness="stored"
):
    """Makes, stores and returns the sign-off report of a model version.

    Args:
        registry: A `ModelRegistry`.
        reference: "name", "name:version" or "name:latest".
        data: The labelled images the model was trained on, for the sample heatmaps and the
            robustness check (see `core.decisions.robustness.load_test_split`); None uses the
            training folder when it is on this server. Default: None.
        generated_by: Who makes the report. Default: None (not recorded).
        robustness: "stored" uses the stored result, or runs the check when none is stored and
            the data is available; "run" always runs it (and needs the data); "skip" never
            runs it (a stored result is still shown). Default: "stored".

    Returns:
        `(html, path)`: the report and where it is stored beside the version.

    Raises:
        ValueError: If the mode is unknown, the model is unknown, "run" is asked for a model
            that is not an image model or without data, or the given data does not fit.
    """
    if robustness not in ROBUSTNESS_MODES:
        raise ValueError(
            f"Expected robustness to be one of {list(ROBUSTNESS_MODES)}. "
            f"Received: robustness={describe_value(robustness)}"
        )
    record = registry.get(reference)
    result = read_json_attachment(record, ROBUSTNESS)
    operating_point = read_json_attachment(record, OPERATING_POINT)
    samples, notes = [], []
    is_image_model = record.metadata.get("task") in test_split.IMAGE_TASKS
    if robustness == "run" or is_image_model:
        try:
            split = test_split.load_test_split(record, data)
        except ValueError as error:
            if data is not None or robustness == "run":
                raise
            split = None
            notes.append(
                f"Sample heatmaps and a new robustness check need the test images: {error}"
            )
        if split is not None:
            if split.matches_training is False:
                notes.append(
                    f"The data {split.data} differs from the model's training data (fingerprint), "
                    "so its test split is not the one the model was tested on."
                )
            model, metadata = registry.load(record.reference)
            predictor = test_split.image_predictor(model, metadata, record)
            if robustness == "run" or (robustness == "stored" and result is None):
                result = robustness_result(record, predictor, split, created_by=generated_by)
            samples = test_split.sample_heatmaps(predictor, split)
            if operating_point is not None:
                # The threshold was chosen on validation images: the test split says what it
                # does on images that played no part in the choice.
                operating_point = {
                    **operating_point,
                    **test_split.verdict_rates(predictor, split, operating_point["good_class"]),
                }
    document = build_signoff_report(
        record,
        operating_point=operating_point,
        robustness=result,
        sample_heatmaps=samples,
        generated_by=generated_by,
        generated_at=now_iso(),
        software=_software_versions(),
        notes=notes,
    )
    path = write_attachment(record, SIGNOFF_REPORT, document.encode("utf-8"))
    return document, path

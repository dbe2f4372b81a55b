"""Validation defect scores of a registered image model, and setting its operating point.

A model's operating point is chosen on images it did not train on: the validation part of the
seeded, stratified split its training config records (`validation_fraction`, `test_fraction`,
`seed`), reproduced here on the same labelled images. Those are the model's training folder
when it is still on this server, else a folder or zip of class folders the engineer gives.

The defect score of an image (contract C2): `1 - p[good_class]` for an image classifier, the
raw `ImageAnomalyPredictor.scores` for an image anomaly model. TensorFlow is imported by the
functions that load a model.

Example:

    point, curve = set_operating_point(
        registry, "demo-defect-cnn", missed_defect_cost=500, false_reject_cost=5,
        defect_rate=0.02,
    )
    point.threshold, point.escapes_per_million
"""

from __future__ import annotations

import numpy as np

from core.data.validation import describe_value
from core.decisions.operating_point import (
    OperatingPoint,
    check_costs,
    choose_operating_point,
    cost_curve,
    minimum_cost_index,
    save_operating_point,
)
from core.workflows.image import predictor_for
from core.workflows.image_test_split import load_split

CLASSIFIER_TASK = "image_classification"
ANOMALY_TASK = "image_anomaly"
IMAGE_TASKS = (CLASSIFIER_TASK, ANOMALY_TASK)
DEFAULT_GOOD_CLASS = "ok"


def _model_good_class(record, good_class: str | None) -> str:
    metadata = record.metadata
    classes = list(metadata.get("classes") or [])
    if metadata.get("task") == ANOMALY_TASK:
        config = metadata.get("training_config") or {}
        trained_on = config.get("good_class") or (metadata.get("extra") or {}).get("good_class")
        trained_on = trained_on or classes[0]
        if good_class is not None and good_class != trained_on:
            raise ValueError(
                f"Expected good_class to be the class the anomaly model learned as good, "
                f"'{trained_on}' (or none). Received: good_class={describe_value(good_class)}"
            )
        return str(trained_on)
    if good_class is None:
        if DEFAULT_GOOD_CLASS in classes:
            return DEFAULT_GOOD_CLASS
        raise ValueError(
            f"Expected good_class, the good-part class among the model's classes {classes} "
            f"(it has no '{DEFAULT_GOOD_CLASS}' class). Received: good_class=None"
        )
    if good_class not in classes:
        raise ValueError(
            f"Expected good_class among the model's classes {classes}. "
            f"Received: good_class={describe_value(good_class)}"
        )
    return good_class


def _defect_scores(registry, record, images: np.ndarray, good_class: str) -> np.ndarray:
    model, metadata = registry.load(record.reference)
    predictor = predictor_for(model, metadata, warmup=False)
    if metadata["task"] == ANOMALY_TASK:
        return np.asarray(predictor.scores(images), dtype=np.float64)
    probabilities = predictor.predict_arrays(images).astype(np.float64)
    good_index = predictor.class_names.index(good_class)
    return np.clip(1.0 - probabilities[:, good_index], 0.0, 1.0)


def validation_scores(registry, reference: str, data=None, *, good_class: str | None = None):
    """Defect scores of a registered image model on the validation part of its own split.

    Args:
        registry: A `ModelRegistry`.
        reference: "name", "name:version" or "name:latest" of an image classifier or image
            anomaly model.
        data: The labelled images it was trained on: a folder or zip path, or an uploaded zip
            as `(file name, bytes)`. Default: None (the model's training folder).
        good_class: The good-part class. Default: None ("ok" for a classifier; an anomaly
            model's own good class).

    Returns:
        A dict: `labels01` (int array, 1 = defect), `scores` (float array, higher = more
        likely a defect), `names` (file names), `score_kind` ("defect_probability" or
        "anomaly_score"), `good_class`, `model` ("name:version"), `source` (where the images
        came from) and `notes` (warnings, e.g. the images differ from the training data).

    Raises:
        ValueError: If the model is unknown or not an image model, the good class is missing
            or unknown, no images are given and the training folder is not here, or the
            data's classes do not fit the model.
    """
    record = registry.get(reference)
    metadata = record.metadata
    if metadata.get("task") not in IMAGE_TASKS:
        raise ValueError(
            f"Expected an image model (task among {list(IMAGE_TASKS)}) to set an operating "
            f"point for. Received: model='{record.reference}' with "
            f"task={describe_value(metadata.get('task'))}"
        )
    good_class = _model_good_class(record, good_class)
    split = load_split(record, data, part="validation")
    notes = []
    if split.matches_training is False:
        notes.append(
            "These images differ from the model's training data (the file list does not "
            "match), so the validation part may hold images the model trained on: recall and "
            "false rejects may look better than they are."
        )
    # Anomaly models label good 0 and anomaly 1; a classifier's labels are its classes.
    good_index = split.class_names.index(good_class)
    return {
        "labels01": (split.labels != good_index).astype(np.int64),
        "scores": _defect_scores(registry, record, split.images, good_class),
        "names": list(split.filenames),
        "score_kind": "anomaly_score" if metadata["task"] == ANOMALY_TASK else "defect_probability",
        "good_class": good_class,
        "model": record.reference,
        "source": split.data,
        "notes": notes,
    }


def set_operating_point(
    registry,
    reference: str,
    *,
    missed_defect_cost: float,
    false_reject_cost: float,
    defect_rate: float,
    data=None,
    good_class: str | None = None,
    set_by: str | None = None,
) -> tuple[OperatingPoint, dict]:
    """Chooses a model version's threshold of least expected cost and stores it with it.

    Args:
        registry: A `ModelRegistry`.
        reference: "name", "name:version" or "name:latest" of an image model.
        missed_defect_cost: Cost of one defect shipped, > 0.
        false_reject_cost: Cost of one good part rejected, > 0.
        defect_rate: The line's share of defective parts, in (0, 1).
        data: As in `validation_scores`. Default: None (the model's training folder).
        good_class: As in `validation_scores`. Default: None.
        set_by: Who sets it (the logged-in user). Default: None.

    Returns:
        `(point, curve)`: the stored `OperatingPoint`, and the `cost_curve` of the validation
        images with `chosen_index` (the point's candidate), `score_kind`, `model`, `source`
        and `notes` added.

    Raises:
        ValueError: On invalid costs or defect rate (checked before the model loads), or as
            `validation_scores` raises.
    """
    costs = check_costs(missed_defect_cost, false_reject_cost, defect_rate)
    missed_defect_cost, false_reject_cost, defect_rate = costs
    validation = validation_scores(registry, reference, data, good_class=good_class)
    options = {
        "missed_defect_cost": missed_defect_cost,
        "false_reject_cost": false_reject_cost,
        "defect_rate": defect_rate,
    }
    point = choose_operating_point(
        validation["labels01"],
        validation["scores"],
        **options,
        good_class=validation["good_class"],
        score_kind=validation["score_kind"],
        model=validation["model"],
        set_by=set_by,
    )
    curve = cost_curve(validation["labels01"], validation["scores"], **options)
    curve["chosen_index"] = minimum_cost_index(curve)
    for key in ("score_kind", "model", "source", "notes"):
        curve[key] = validation[key]
    save_operating_point(registry.get(validation["model"]), point)
    return point, curve

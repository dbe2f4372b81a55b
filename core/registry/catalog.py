"""The models page's view of the registry: a table of versions, side-by-side comparison data,
the training data folder of a version, and deletion with a preview of what goes.

Everything reads `ModelRecord.metadata` (plain JSON), so nothing here needs TensorFlow. Export
downloads are in `core.registry.catalog_exports`.

Example:

    registry = ModelRegistry("registry")
    registry_table(registry.list())
    delete_models(registry, "demo-defect-cnn:1")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath

import pandas as pd

from core.access import policy as access
from core.data.bundled import sample_data_directory
from core.data.validation import describe_value

IMAGE_TASK = "image_classification"
ANOMALY_TASK = "image_anomaly"


# Headline numbers compared across models, in this order, when at least one model has them.
COMPARED_METRICS = (
    "accuracy",
    "macro_f1",
    "defect_roc_auc",
    "image_auroc",
    "pixel_auroc",
    "defect_recall",
    "false_reject_rate",
    "test_count",
    "rmse",
    "mae",
    "score",
    "precision",
    "recall",
    "f1",
    "count",
)


def dataset_of(metadata: dict) -> dict:
    """Returns the training data summary `metadata['extra']['dataset']`, or {} when absent."""
    dataset = metadata.get("extra", {}).get("dataset", {})
    return dataset if isinstance(dataset, dict) else {}


def _short_source(source: object) -> str:
    # Training data often sits at an absolute path; its last two parts say what it was.
    if not isinstance(source, str) or not source:
        return ""
    parts = PurePath(source).parts
    return "/".join(parts[-2:]) if len(parts) > 2 else source


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def registry_table(records: Sequence, demo_names: Sequence[str] = ()) -> pd.DataFrame:
    """One row per model version, for the registry table.

    Args:
        records: `ModelRecord`s, e.g. `ModelRegistry.list()`.
        demo_names: Names of the bundled demo models, flagged in a `demo` column. Default: ().

    Returns:
        A DataFrame with the columns `model` ("name:version"), `name`, `version`, `task`,
        `classes`, `accuracy`, `macro_f1`, `rmse` (RUL models), `dataset` (source), `images`
        (count), `created` (UTC timestamp), `demo` and `class_counts`.
    """
    rows = []
    for record in records:
        metadata = record.metadata
        metrics = metadata.get("metrics", {})
        dataset = dataset_of(metadata)
        counts = (
            dataset.get("class_counts") if isinstance(dataset.get("class_counts"), dict) else {}
        )
        rows.append(
            {
                "model": record.reference,
                "name": record.name,
                "version": record.version,
                "task": metadata.get("task", ""),
                "classes": ", ".join(metadata.get("classes", [])),
                "accuracy": _number(metrics.get("accuracy")),
                "macro_f1": _number(metrics.get("macro_f1")),
                "rmse": _number(metrics.get("rmse")),
                "dataset": _short_source(dataset.get("source")),
                "images": sum(counts.values()) if counts else None,
                "class_counts": ", ".join(f"{key} {value}" for key, value in counts.items()),
                "created": pd.Timestamp(metadata["created_at"])
                if "created_at" in metadata
                else None,
                "demo": record.name in demo_names,
            }
        )
    columns = [
        "model", "name", "version", "task", "classes", "accuracy", "macro_f1", "rmse",
        "dataset", "images", "created", "demo", "class_counts",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("accuracy", "macro_f1", "rmse"):
        frame[column] = frame[column].astype("float64")
    frame["images"] = frame["images"].astype("Int64")
    return frame


def comparison_table(records: Sequence) -> pd.DataFrame:
    """Metrics of several models side by side: one row per model.

    Args:
        records: The `ModelRecord`s to compare.

    Returns:
        A DataFrame indexed by "name:version" with the `COMPARED_METRICS` any model has, the
        per-class F1 (`f1 <class>`) of classifiers, `architecture`, `image_size`, `epochs_run`
        and `training_seconds`.
    """
    rows = {}
    for record in records:
        metadata = record.metadata
        metrics = metadata.get("metrics", {})
        config = metadata.get("training_config", {})
        extra = metadata.get("extra", {})
        row = {key: _number(metrics.get(key)) for key in COMPARED_METRICS}
        for item in metrics.get("evaluation", {}).get("per_class", []):
            row[f"f1 {item['class']}"] = _number(item.get("f1"))
        shape = metadata.get("input_shape", [])
        row["architecture"] = str(config.get("model", ""))
        row["image_size"] = "x".join(str(size) for size in shape) if shape else ""
        row["epochs_run"] = _number(extra.get("epochs_run"))
        row["training_seconds"] = _number(extra.get("training_seconds"))
        rows[record.reference] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    # Drop metrics no compared model reports (a sensor model has no accuracy, for instance).
    return frame.dropna(axis="columns", how="all")


def confusion_matrix_of(record) -> tuple[list[list[float]], list[str]] | None:
    """Returns `(matrix, class_names)` of the stored test evaluation, or None when absent.

    Rows are true classes, columns predicted ones (counts).
    """
    evaluation = record.metadata.get("metrics", {}).get("evaluation", {})
    matrix = evaluation.get("confusion_matrix")
    names = evaluation.get("class_names") or record.metadata.get("classes")
    if not matrix or not names or len(matrix) != len(names):
        return None
    return matrix, list(names)


def training_history(record) -> dict[str, list[float]]:
    """Returns the per-epoch training history (`loss`, `val_loss`, ...), possibly empty."""
    history = record.metadata.get("history", {})
    return {key: list(values) for key, values in history.items()} if history else {}


def calibration_source(record) -> Path | None:
    """The folder of labelled training images of an image model (classifier or anomaly model),
    if it is on this server: what an int8 export calibrates on, and where the operating point,
    the robustness check and the sign-off report find the model's seeded split.

    That is the training data folder recorded in the metadata when it is still on this server;
    models trained on the bundled sample use this install's copy of it (wherever they were trained).
    """
    if record.metadata.get("task") not in (IMAGE_TASK, ANOMALY_TASK):
        return None
    source = dataset_of(record.metadata).get("source")
    if not isinstance(source, str) or not source:
        return None
    if PurePath(source).parts[-2:] == ("sample_data", "images"):
        # The bundled sample is generated byte for byte the same everywhere: use this install's
        # copy, not the folder of whichever checkout trained the model.

        bundled = sample_data_directory() / "images"
        if bundled.is_dir():
            return bundled
    path = Path(source)
    return path if path.is_dir() else None


def deletion_preview(registry, target: str) -> list:
    """Returns the records `delete_models(registry, target)` would delete.

    Args:
        registry: A `ModelRegistry`.
        target: "name" (every version) or "name:version" (that version only).

    Raises:
        ValueError: If the target names no model or version in the registry.
    """
    if not isinstance(target, str) or not target:
        raise ValueError(
            'Expected a model "name" or "name:version" to delete. '
            f"Received: target={describe_value(target)}"
        )
    if ":" in target:
        return [registry.get(target)]
    records = [record for record in registry.list() if record.name == target]
    if not records:
        registry.get(target)  # Raises the error listing the known names.
    return records


def delete_models(
    registry, target: str, *, user: str | None = None, login_enabled: bool = False
) -> list:
    """Deletes a model version ("name:version") or every version of a name ("name").

    With login on, every version must be owned by `user` (`core.access.policy.can_delete`), and the
    versions checked are deleted one by one: a version another user saves meanwhile stays.

    Args:
        registry: A `ModelRegistry`.
        target: "name" (every version) or "name:version" (that version only).
        user: The logged-in user (`core.access.policy.user_identity`). Default: None.
        login_enabled: Whether login is on (only owners delete). Default: False.

    Returns:
        The deleted records.

    Raises:
        ValueError: If the target names no model or version in the registry, or login is on and
            `user` does not own every version (nothing is deleted then).
    """
    records = deletion_preview(registry, target)
    refusal = access.deletion_refusal(records, user, login_enabled=login_enabled)
    if refusal is not None:
        raise ValueError(refusal)
    if not login_enabled:
        return registry.delete(target)
    return [deleted for record in records for deleted in registry.delete(record.reference)]


def image_classifiers(records: Sequence) -> list:
    """The records of image classification models, newest version of each name first."""
    selected = [record for record in records if record.metadata.get("task") == IMAGE_TASK]
    return sorted(selected, key=lambda record: (record.name, -record.version))


def inspection_models(records: Sequence) -> list:
    """The records of image models a spot check can use (classifiers and anomaly models),
    newest version of each name first."""
    selected = [
        record for record in records if record.metadata.get("task") in (IMAGE_TASK, ANOMALY_TASK)
    ]
    return sorted(selected, key=lambda record: (record.name, -record.version))

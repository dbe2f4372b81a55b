"""The guided demo: four steps through spot check, training, results and sensors on the sample
data, and the reset that puts the demo models back as bundled.

The home page's "Start demo" and each step's "Next" apply the next step's widget presets to the
session (`start_step`) and switch to its page; the page's banner (`core.ui.demo_tour_banner`)
says what to do and what to look at. Nothing here imports Streamlit: the session state is any
mutable mapping.

Example:

    step = start_step(st.session_state, "spot_check")
    st.switch_page(step.page)
    ...
    summary = reset_demo(ModelRegistry(resolve_registry_directory()))
    print(reset_message(summary))
"""

from __future__ import annotations

import dataclasses
import filecmp
import json
import shutil
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path

from core.data.validation import describe_value
from core.demo.models import (
    DEMO_IMAGE_MODEL,
    DEMO_MODELS_DIRECTORY,
    DEMO_RUL_MODEL,
    bundled_demo_models,
)
from core.registry.metadata import METADATA_FILENAME, MODEL_FILENAME

# The session key holding the current step's key while the tour runs (absent otherwise).
TOUR_STATE_KEY = "demo_tour"
SPOT_CHECK, TRAINING, RESULTS, SENSORS = "spot_check", "training", "results", "sensors"
# Models the tour saves are named with this prefix, so that the reset can remove them.
TOUR_MODEL_PREFIX = "demo-tour-"
TOUR_MODEL_NAME = f"{TOUR_MODEL_PREFIX}defect-cnn"
TOUR_IMAGE_SIZE = 32
TOUR_EPOCHS = 10
# Preset widgets whose value is a model name, set as that name's first registered version.
MODEL_PRESETS = ("sensor_monitor_saved",)
# Job states after which the training page shows results (when an epoch finished).
STATES_WITH_RESULTS = ("succeeded", "cancelled")


@dataclasses.dataclass(frozen=True)
class TourStep:
    """One step of the tour.

    Attributes:
        key: The step's name (`SPOT_CHECK`, `TRAINING`, `RESULTS`, `SENSORS`).
        page: The page file, for `st.switch_page`.
        title: A short title.
        action: What to do on the page.
        look_at: What to look at there.
        presets: Widget key -> value set in the session before the page opens.
        remembered_in: The session dict in which the page remembers these widgets'
            values (`core.ui.remembered_widget`), or None when they are set directly.
    """

    key: str
    page: str
    title: str
    action: str
    look_at: str
    presets: Mapping[str, object] = dataclasses.field(default_factory=dict)
    remembered_in: str | None = None


STEPS = (
    TourStep(
        SPOT_CHECK,
        "pages/spot_check.py",
        "Spot check sample images",
        f"The bundled sample images (held aside from training) are switched on and the demo "
        f"model **{DEMO_IMAGE_MODEL}** labels each one.",
        "each image's verdict and confidence and its Grad-CAM heatmap (where the model looked); "
        "under *Look closer*, one image's class probabilities.",
        presets={"spot_check_samples": True},
    ),
    TourStep(
        TRAINING,
        "pages/train_images.py",
        "Train a model",
        f"The bundled sample is chosen with a quick setting (defect_cnn, {TOUR_IMAGE_SIZE} px, "
        f"{TOUR_EPOCHS} epochs): press **Start training**. It takes well under a minute.",
        "the loss and accuracy curves, drawn live batch by batch.",
        presets={
            "train_images_source": "Bundled sample",
            "train_images_model": "defect_cnn",
            "train_images_size": TOUR_IMAGE_SIZE,
            "train_images_epochs": TOUR_EPOCHS,
        },
        remembered_in="train_images_remembered",
    ),
    TourStep(
        RESULTS,
        "pages/train_images.py",
        "Read the results",
        f"Training has finished: scroll down to its results. Save the model if you like (named "
        f"**{TOUR_MODEL_NAME}**; *Reset demo* removes it again).",
        "the test accuracy, the confusion matrix (click a cell to see its images), the "
        "per-class metrics and the misclassified images.",
    ),
    TourStep(
        SENSORS,
        "pages/sensor_monitor.py",
        "Predict remaining useful life",
        f"The 16 bundled test machines are scored with the demo model **{DEMO_RUL_MODEL}** and "
        "compared with their true remaining useful life.",
        "predicted against true RUL per machine, and the maintenance plan: which machines are "
        "due within the window.",
        presets={
            "sensor_monitor_source": "Bundled sample",
            "sensor_monitor_sample_file": "test.csv",
            "sensor_monitor_mode": "Use a saved model",
            "sensor_monitor_saved": DEMO_RUL_MODEL,
        },
        remembered_in="sensor_monitor_remembered",
    ),
)
STEP_KEYS = tuple(step.key for step in STEPS)


def step(key: str) -> TourStep:
    """Returns the step named `key`.

    Raises:
        ValueError: If there is no such step.
    """
    for candidate in STEPS:
        if candidate.key == key:
            return candidate
    raise ValueError(f"Expected a demo step among {list(STEP_KEYS)}. Received: key={key!r}")


def step_number(key: str) -> int:
    """The 1-based position of a step in the tour."""
    return STEP_KEYS.index(step(key).key) + 1


def next_step(key: str) -> TourStep | None:
    """The step after `key`, or None after the last one."""
    number = step_number(key)
    return STEPS[number] if number < len(STEPS) else None


def training_page_step(job_state: str | None, best_epoch: int | None) -> str:
    """Which step the training page is at: `RESULTS` once the session's newest training job
    has results to show, else `TRAINING`.

    Args:
        job_state: The newest job's state (`core.jobs.manager`), or None when there is no job.
        best_epoch: The epoch whose weights the finished job kept, None before one finished.
    """
    return RESULTS if job_state in STATES_WITH_RESULTS and best_epoch is not None else TRAINING


def save_name_key(job_id: str) -> str:
    """The session key of the training page's save-name field for one job."""
    return f"train_images_name_{job_id}"


def apply_presets(
    session_state: MutableMapping, key: str, model_references: Iterable[str] = ()
) -> dict:
    """Puts a step's widget presets into the session.

    Args:
        session_state: `st.session_state` (or a dict in tests).
        key: The step.
        model_references: The registry's "name:version" references, in registry order; a preset
            in `MODEL_PRESETS` becomes the first reference of its model name (and is left to the
            page's default when the model is not registered).

    Returns:
        The widget values set, by widget key.
    """
    tour_step = step(key)
    references = list(model_references)
    store = (
        session_state.setdefault(tour_step.remembered_in, {})
        if tour_step.remembered_in
        else session_state
    )
    applied = {}
    for widget_key, value in tour_step.presets.items():
        if widget_key in MODEL_PRESETS:
            prefix = f"{value}:"
            value = next((item for item in references if item.startswith(prefix)), None)
            if value is None:
                store.pop(widget_key, None)
                continue
        store[widget_key] = applied[widget_key] = value
    return applied


def start_step(
    session_state: MutableMapping, key: str, model_references: Iterable[str] = ()
) -> TourStep:
    """Makes `key` the tour's current step and applies its presets (see `apply_presets`).

    Returns:
        The step, whose `page` the caller switches to.
    """
    apply_presets(session_state, key, model_references)
    session_state[TOUR_STATE_KEY] = key
    return step(key)


def end_tour(session_state: MutableMapping) -> None:
    """Ends the tour (the pages keep the values the tour set)."""
    session_state.pop(TOUR_STATE_KEY, None)


def reset_demo(registry, directory: Path = DEMO_MODELS_DIRECTORY) -> dict:
    """Restores the demo registry state.

    Afterwards each bundled demo model is registered exactly once, as its bundled files (model
    and metadata byte for byte the same content), with nothing beside them. Versions added to a
    demo name are deleted; a missing or altered demo model is imported again; files beside a
    demo version (operating point, robustness results, sign-off report) are removed; models
    the tour saved (names starting with `TOUR_MODEL_PREFIX`) are deleted. No other model is
    touched. The caller checks who may do this: demo models have no owner.

    Args:
        registry: A `ModelRegistry`.
        directory: The bundled demo models (default: `core/demo/bundled_models`).

    Returns:
        `{"demo_models": [...], "reimported": [...], "removed_versions": [...],
        "removed_files": [...], "removed_tour_models": [...]}`: references ("name:version")
        of the demo models now registered, of those imported again, of the versions deleted
        (an unreadable entry as "name/entry"), the files removed as "name:version/file", and
        the tour's models deleted.
    """
    summary = {
        "demo_models": [],
        "reimported": [],
        "removed_versions": [],
        "removed_files": [],
        "removed_tour_models": [],
    }
    for name, folder in bundled_demo_models(directory).items():
        summary["demo_models"].append(_reset_demo_model(registry, name, folder, summary))
    root = Path(registry.directory)
    tour_names = sorted(
        entry.name
        for entry in (root.iterdir() if root.is_dir() else ())
        if entry.is_dir() and entry.name.startswith(TOUR_MODEL_PREFIX)
    )
    for name in tour_names:
        deleted = registry.delete(name)
        summary["removed_tour_models"] += [record.reference for record in deleted] or [name]
    return summary


def _comparable_metadata(metadata: dict) -> dict:
    # The registry sets name and version on every version; the rest is the bundled content.
    return {key: value for key, value in metadata.items() if key not in ("name", "version")}


def _reset_demo_model(registry, name: str, folder: Path, summary: dict) -> str:
    """Brings one demo name back to its bundled version; returns that version's reference."""
    bundled_metadata = json.loads((folder / METADATA_FILENAME).read_text(encoding="utf-8"))
    expected = _comparable_metadata(bundled_metadata)
    records = [record for record in registry.list() if record.name == name]
    kept = next(
        (
            record
            for record in records
            if _comparable_metadata(record.metadata) == expected
            and filecmp.cmp(record.model_path, folder / MODEL_FILENAME, shallow=False)
        ),
        None,
    )
    for record in records:
        if record is not kept:
            registry.delete(record.reference)
            summary["removed_versions"].append(record.reference)
    name_directory = Path(registry.directory) / name
    valid = {str(record.version) for record in records}
    leftovers = name_directory.iterdir() if name_directory.is_dir() else ()
    for entry in sorted(leftovers):
        # Unreadable versions and stray files; names starting with "." are in-flight writes.
        if not entry.name.startswith(".") and entry.name not in valid:
            _remove(entry)
            summary["removed_versions"].append(f"{name}/{entry.name}")
    if kept is None:
        kept = registry.import_model_file(folder / MODEL_FILENAME, name, expected)
        summary["reimported"].append(kept.reference)
    for entry in sorted(Path(kept.path).iterdir()):
        if entry.name not in (MODEL_FILENAME, METADATA_FILENAME):
            _remove(entry)
            summary["removed_files"].append(f"{kept.reference}/{entry.name}")
    return kept.reference


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def reset_message(summary: dict) -> str:
    """A Markdown summary of `reset_demo`'s result, for the home page and the CLI.

    Raises:
        ValueError: If `summary` is not a dict as returned by `reset_demo`.
    """
    if not isinstance(summary, dict) or "demo_models" not in summary:
        raise ValueError(
            f"Expected the dict returned by reset_demo. Received: {describe_value(summary)}"
        )
    sections = [
        ("Demo models as bundled", "demo_models"),
        ("Imported again (missing or altered)", "reimported"),
        ("Removed versions added to demo models", "removed_versions"),
        ("Removed files beside demo models", "removed_files"),
        ("Removed models saved by the demo tour", "removed_tour_models"),
    ]
    lines = [
        f"- {title}: {', '.join(summary[key])}"
        for title, key in sections
        if summary.get(key) or key == "demo_models"
    ]
    if not any(summary.get(key) for _, key in sections[1:]):
        lines.append("- Nothing else needed changing.")
    return "Demo reset.\n" + "\n".join(lines)

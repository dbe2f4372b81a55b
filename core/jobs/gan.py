"""The engine behind the "Synthetic images" page: GAN training and experiment jobs, their results.

The page picks an `ImageSource` (see `core.data.image_sources`), turns its widget values into a
`GanTrainingConfig` with `gan_training_config(...)` and submits `make_gan_training_work(source,
config)` to the `JobManager`; the work loads the images at the GAN's size inside the job. A
registered GAN (`gan_models`) then generates a zip (`core.engine.gan_generation.generate_zip`) or is
tested by the "does it help" experiment (`make_benefit_work`, which runs
`core.decisions.gan_benefit.run_gan_benefit`); `benefit_rows` turns its report into a per-class
table. Once released by the `JobManager`, a training result keeps `lightweight_gan_result(result)`
(no generator, discriminator or images) and a report is kept whole. Nothing here imports
Streamlit, and TensorFlow is only imported inside the jobs.

Example:
    >>> config = gan_training_config(image_size=32, epochs=1)
    >>> job = manager.submit(token, GAN_JOB_KIND, make_gan_training_work(source, config))
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.data.image_sources import SAMPLE, ImageSource
from core.decisions.gan_benefit import run_gan_benefit
from core.decisions.gan_benefit_data import check_arguments
from core.engine.gan_generation import GAN_TASK, GRID_COLUMNS
from core.engine.gan_training import GanTrainingConfig, run_gan_training
from core.jobs.image import released_dataset
from core.jobs.job import RELEASED_MODEL
from core.registry.store import ModelRegistry

GAN_JOB_KIND = "train-gan"
BENEFIT_JOB_KIND = "gan-benefit"
PAGE_JOB_KINDS = (GAN_JOB_KIND, BENEFIT_JOB_KIND)
# The same sizes as `core.models.gan.IMAGE_SIZES`, repeated here so the page can offer them
# without importing Keras (a unit test keeps the two equal).
PAGE_IMAGE_SIZES = (32, 64, 96, 128)
TRAINING_CHOICES = ("image_size", "epochs", "batch_size", "per_class", "holdout_fraction", "seed")
# The experiment's settings on the page: (argument of `run_gan_benefit`, label, default, minimum,
# maximum); the defaults are those of `run_gan_benefit` (a unit test keeps them equal).
BENEFIT_SETTINGS = (
    ("real_per_class", "Real per class", 20, 1, 10_000),
    ("synthetic_per_class", "Synthetic per class", 100, 1, 5_000),
    ("training_steps", "Training steps", 600, 1, 100_000),
    ("repeats", "Repeats", 1, 1, 20),
    ("seed", "Seed", 0, 0, 1_000_000),
)
MODEL_NAME_LIMIT = 64
# The grid is drawn at least this wide, pixels repeated, so a 32-pixel grid stays readable.
GRID_DISPLAY_WIDTH = 512
LABEL_MARGIN = 90


def gan_training_defaults() -> dict:
    """Default widget values (from `GanTrainingConfig()`) and the image sizes the page offers."""
    config = GanTrainingConfig()
    defaults = {name: getattr(config, name) for name in TRAINING_CHOICES}
    return defaults | {"image_sizes": list(PAGE_IMAGE_SIZES)}


def gan_training_config(**choices) -> GanTrainingConfig:
    """A `GanTrainingConfig` from the page's choices; a missing or None choice keeps the default.

    Args:
        **choices: Any of `image_size`, `epochs`, `batch_size`, `per_class` (None: all images),
            `holdout_fraction`, `seed`, as in `GanTrainingConfig`.

    Returns:
        The validated config.

    Raises:
        ValueError: If a choice is unknown or invalid (the message names it).
    """
    unknown = sorted(set(choices) - set(TRAINING_CHOICES))
    if unknown:
        raise ValueError(
            f"Expected GAN training choices among {list(TRAINING_CHOICES)}. Received: {unknown}"
        )
    changes = {key: value for key, value in choices.items() if value is not None}
    return dataclasses.replace(GanTrainingConfig(), **changes).validate()


def make_gan_training_work(source: ImageSource, config: GanTrainingConfig) -> Callable:
    """Returns `work(progress, cancellation)` for `JobManager.submit`.

    The work loads the source as grayscale images of `config.image_size` pixels inside the job,
    trains with `core.engine.gan_training.run_gan_training` and returns its `GanRunResult` (None if
    cancelled while loading); its `lightweight` is `lightweight_gan_result`.

    Raises:
        ValueError: If `config` is invalid (checked now, before anything is queued).
    """
    config.validate()
    size = config.image_size

    def work(progress, cancellation):
        progress.set_message(f"Loading {source.description} at {size}x{size} pixels")
        dataset = source.load((size, size), 1)
        if cancellation.cancelled:
            return None
        progress.set_message(f"Training the GAN on {source.description}")
        result = run_gan_training(dataset, config, listeners=[progress], cancellation=cancellation)
        progress.set_message("Finished")
        return result

    work.lightweight = lightweight_gan_result
    return work


def lightweight_gan_result(result):
    """What a released `GanRunResult` keeps: all but the generator, discriminator and images.

    `gan_result_summary` works on it as on the full result; saving it raises ValueError.
    """
    if result is None:
        return None
    training = dataclasses.replace(
        result.training, generator=RELEASED_MODEL, discriminator=RELEASED_MODEL
    )
    return dataclasses.replace(result, training=training, dataset=released_dataset(result.dataset))


def _whole_report(report):
    # A benefit report is plain JSON: a released one is kept whole.
    return report


def gan_jobs(manager, owner: str, kind: str | None = None) -> list:
    """The session's jobs of this page (GAN training and experiments), newest first.

    Args:
        manager: The `JobManager`.
        owner: The session token.
        kind: `GAN_JOB_KIND` or `BENEFIT_JOB_KIND` for one kind only; None for both.

    Raises:
        ValueError: If `kind` is not one of this page's job kinds.
    """
    if kind is not None and kind not in PAGE_JOB_KINDS:
        raise ValueError(f"Expected kind among {list(PAGE_JOB_KINDS)} or None. Received: {kind!r}")
    kinds = PAGE_JOB_KINDS if kind is None else (kind,)
    return [job for job in manager.jobs_for(owner) if job.kind in kinds]


def suggested_gan_name(source: ImageSource, config: GanTrainingConfig) -> str:
    """A valid registry name such as 'sample-gan64' (letters, digits, '_', '.', '-')."""
    suffix = f"gan{config.image_size}"
    stem = "sample" if source.kind == SAMPLE else Path(source.file_names[0]).stem
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._") or "images"
    return f"{stem[: MODEL_NAME_LIMIT - len(suffix) - 1]}-{suffix}"


def grid_caption(epoch: int, class_names: list[str]) -> str:
    """The caption of a sample grid: the epoch, then the class of each row, top to bottom."""
    return f"Sample grid after epoch {epoch}. Rows, top to bottom: {', '.join(class_names)}."


def labelled_grid(grid: np.ndarray, class_names: list[str]) -> np.ndarray:
    """The sample grid enlarged (pixels repeated) with each row's class name written on its left.

    Args:
        grid: uint8 (classes * size, columns * size) from `core.engine.gan_generation.sample_grid`.
        class_names: One name per row of images.

    Returns:
        A uint8 grayscale image for display.

    Raises:
        ValueError: If the grid's height is not a multiple of the number of classes.
    """
    grid = np.asarray(grid)
    if grid.ndim != 2 or not class_names or grid.shape[0] % len(class_names):
        raise ValueError(
            f"Expected a 2-D grid with one row of images per class ({len(class_names)}). "
            f"Received: grid of shape {grid.shape}"
        )
    scale = max(1, -(-GRID_DISPLAY_WIDTH // grid.shape[1]))
    enlarged = np.repeat(np.repeat(grid.astype(np.uint8), scale, axis=0), scale, axis=1)
    canvas = Image.new("L", (enlarged.shape[1] + LABEL_MARGIN, enlarged.shape[0]), color=255)
    canvas.paste(Image.fromarray(enlarged), (LABEL_MARGIN, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    row_height = enlarged.shape[0] // len(class_names)
    for row, name in enumerate(class_names):
        draw.text((6, row * row_height + row_height // 2 - 8), name[:12], fill=0, font=font)
    return np.asarray(canvas)


def grid_display(grid: np.ndarray, epoch: int, class_names: list[str]) -> tuple[np.ndarray, str]:
    """The labelled grid and its caption; rows are called 'class 1', ... if the names do not fit.

    The names can be missing or stale while a job runs (they come from the page's data summary).
    """
    grid = np.asarray(grid)
    rows = grid.shape[0] // (grid.shape[1] // GRID_COLUMNS)
    if len(class_names) != rows:
        class_names = [f"class {index + 1}" for index in range(rows)]
    return labelled_grid(grid, class_names), grid_caption(epoch, class_names)


def gan_result_summary(result) -> dict:
    """Headline facts of a finished `GanRunResult` for the page."""
    training = result.training
    history = training.history
    return {
        "class_names": list(result.dataset.class_names),
        "epochs_run": training.epochs_run,
        "cancelled": training.cancelled,
        "seconds": training.seconds,
        "training_images": len(result.train_indices),
        "holdout_images": len(result.holdout_indices),
        "final_d_loss": history["d_loss"][-1] if history.get("d_loss") else None,
        "final_g_loss": history["g_loss"][-1] if history.get("g_loss") else None,
        "history": history,
        "grid": training.grid,
    }


def gan_models(registry) -> list:
    """The registered GANs (task "gan"), newest first."""
    records = [record for record in registry.list() if record.metadata.get("task") == GAN_TASK]
    return sorted(
        records,
        key=lambda record: (str(record.metadata.get("created_at", "")), record.version),
        reverse=True,
    )


def describe_gan(record) -> str:
    """'name:version (64 px, 5 classes)' for a registered GAN."""
    metadata = record.metadata
    size = metadata["preprocessing"]["image_size"][0]
    return f"{record.reference} ({size} px, {len(metadata['classes'])} classes)"


def _open_registry(registry_or_directory):
    if isinstance(registry_or_directory, str | os.PathLike):
        return ModelRegistry(registry_or_directory)
    return registry_or_directory


def make_benefit_work(
    source: ImageSource, registry_or_directory, gan_reference: str, **settings: int
) -> Callable:
    """Returns `work(progress, cancellation)` running the "does it help" experiment.

    The work loads the source as grayscale images at the GAN's size inside the job and returns
    the report of `core.decisions.gan_benefit.run_gan_benefit`.

    Args:
        source: The labelled real images (the data the GAN was trained on).
        registry_or_directory: A `ModelRegistry` or its directory.
        gan_reference: The registered GAN, "name" or "name:version".
        **settings: The experiment's numbers, the names of `BENEFIT_SETTINGS`
            (`real_per_class`, `synthetic_per_class`, `training_steps`, `repeats`, `seed`);
            those left out take the defaults of `run_gan_benefit`.

    Raises:
        TypeError: If a setting is not one of those.
        ValueError: If a number is out of the experiment's range, or the model is unknown or not
            a GAN (checked now, before anything is queued).
    """
    defaults = {name: default for name, _, default, _, _ in BENEFIT_SETTINGS}
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise TypeError(f"Expected settings among {list(defaults)}. Received: {unknown}")
    check_arguments(**(defaults | settings))
    registry = _open_registry(registry_or_directory)
    metadata = registry.get(gan_reference).metadata
    if metadata.get("task") != GAN_TASK:
        raise ValueError(
            f"Expected a GAN (task 'gan'). Received: model='{gan_reference}' with "
            f"task={metadata.get('task')!r}"
        )
    height, width = metadata["preprocessing"]["image_size"]

    def work(progress, cancellation):
        progress.set_message(f"Loading {source.description} at {height}x{width} pixels")
        dataset = source.load((height, width), 1)
        if cancellation.cancelled:
            return None
        report = run_gan_benefit(
            dataset,
            registry,
            gan_reference,
            **settings,
            listeners=[progress],
            cancellation=cancellation,
        )
        progress.set_message("Finished")
        return report

    work.lightweight = _whole_report
    return work


def benefit_rows(report: Mapping) -> list[dict]:
    """One row per class of an experiment report: recalls without and with synthetic images.

    Returns:
        Rows {"class", "baseline recall", "augmented recall", "difference",
        "fidelity agreement"}, in the report's class order.

    Raises:
        ValueError: If the report lacks the per-class results.
    """
    try:
        baseline = report["baseline"]["per_class_recall"]
        augmented = report["augmented"]["per_class_recall"]
        classes = list(report["classes"])
    except (KeyError, TypeError) as error:
        raise ValueError(
            "Expected a report of core.decisions.gan_benefit.run_gan_benefit with 'classes', "
            f"'baseline' and 'augmented'. Received: missing {error}"
        ) from None
    difference = (report.get("difference") or {}).get("per_class_recall", {})
    agreement = (report.get("fidelity") or {}).get("per_class_agreement", {})
    return [
        {
            "class": name,
            "baseline recall": baseline.get(name),
            "augmented recall": augmented.get(name),
            "difference": difference.get(name, _subtract(augmented.get(name), baseline.get(name))),
            "fidelity agreement": agreement.get(name),
        }
        for name in classes
    ]


def _subtract(first, second):
    return None if first is None or second is None else first - second


def failure_message(error: str | None) -> str:
    """A failed job's error without its exception class: "ValueError: Expected" -> "Expected"."""
    text = str(error or "unknown error")
    name, separator, message = text.partition(": ")
    return message if separator and name.isidentifier() and name.endswith("Error") else text


def zip_preview(data: bytes, per_class: int = 4) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The first images of each class folder in a generated zip, as (file name, uint8 image).

    Raises:
        ValueError: If `data` is not a zip archive.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError(f"Expected a zip archive. Received: {len(data)} bytes of another kind")
    preview: dict[str, list[tuple[str, np.ndarray]]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(archive.namelist()):
            path = PurePosixPath(name)
            if len(path.parts) != 2 or not name.lower().endswith(".png"):
                continue
            shown = preview.setdefault(path.parts[0], [])
            if len(shown) < per_class:
                with Image.open(io.BytesIO(archive.read(name))) as image:
                    shown.append((path.name, np.asarray(image.convert("L"))))
    return preview

"""The engine behind the anomaly training page: configuration, background work, results.

An image anomaly model learns the good parts only (`core.workflows.image_anomaly`); the defect
images of the data set only test it. A page picks an `ImageSource` (`core.data.image_sources`),
turns its widget values into an `ImageAnomalyConfig` with `anomaly_config(...)` and submits
`make_anomaly_work(source, config)` to the `JobManager`. The work loads the images at the chosen
size inside the job, so the page never blocks; for the bundled sample it also passes the bundled
defect masks, so the pixel AUROC is computed. Once the job has finished, `result_summary`,
`score_table` and `sample_maps` give what the results section draws; they also work on
`lightweight_result(result)`, what the `JobManager` keeps once the result is released (no model,
no images: `sample_maps` then returns no maps). Nothing here imports Streamlit, and TensorFlow is
only imported inside the job and by `sample_maps`.

Example:
    >>> source = sample_image_source()
    >>> config = anomaly_config(method="feature-gaussian", good_class="ok", image_size=64)
    >>> job = manager.submit(token, JOB_KIND, make_anomaly_work(source, config))
    >>> result_summary(manager.wait(token, job.job_id).result)["image_auroc"]
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.data.image_sources import SAMPLE, ImageSource, display_image
from core.data.masks import bundled_mask_directory
from core.data.validation import describe_value
from core.inference.heatmaps import heatmap_overlay
from core.inference.image_anomaly import ImageAnomalyPredictor
from core.jobs.image import job_rows, queue_text, released_dataset
from core.jobs.job import RELEASED_MODEL, is_released
from core.models.image_anomaly import ANOMALY_METHODS
from core.workflows.image_anomaly import (
    ANOMALY_CLASS,
    ImageAnomalyConfig,
    run_image_anomaly_training,
)

__all__ = [
    "IMAGE_SIZE_CHOICES",
    "JOB_KIND",
    "AnomalyWork",
    "anomaly_config",
    "anomaly_defaults",
    "anomaly_jobs",
    "default_good_class",
    "job_rows",
    "lightweight_result",
    "make_anomaly_work",
    "progress_text",
    "queue_text",
    "result_summary",
    "sample_maps",
    "score_groups",
    "score_table",
    "suggested_model_name",
]

JOB_KIND = "train-image-anomaly"
# Multiples of 8 (the autoencoder halves the side three times); 32-64 px train in seconds here.
IMAGE_SIZE_CHOICES = (32, 48, 64, 96, 128)
MODEL_NAME_LIMIT = 64


def default_good_class(class_names: Sequence[str]) -> str | None:
    """The class to propose as defect-free: "ok" when present, else the first class (or None)."""
    names = list(class_names)
    if "ok" in names:
        return "ok"
    return names[0] if names else None


def anomaly_defaults(class_names: Sequence[str] = ()) -> dict:
    """Default widget values (from `ImageAnomalyConfig()`) and the choices the page offers.

    Args:
        class_names: The classes of the chosen data, for the good class proposal.
    """
    config = ImageAnomalyConfig()
    return {
        "method": config.method,
        # The default first: the page lists the methods in this order.
        "methods": [config.method, *(name for name in ANOMALY_METHODS if name != config.method)],
        "image_size": config.image_size,
        "image_sizes": sorted({*IMAGE_SIZE_CHOICES, config.image_size}),
        "epochs": config.epochs,
        "good_class": default_good_class(class_names) or config.good_class,
        "validation_fraction": config.validation_fraction,
        "test_fraction": config.test_fraction,
        "threshold_quantile": config.threshold_quantile,
    }


def anomaly_config(
    *,
    method: str,
    good_class: str,
    image_size: int,
    epochs: int | None = None,
    class_names: Sequence[str] | None = None,
) -> ImageAnomalyConfig:
    """An `ImageAnomalyConfig` from the page's choices; the other fields keep their defaults.

    Args:
        method: "feature-gaussian" or "autoencoder".
        good_class: The defect-free class the model learns.
        image_size: Side of the square images in pixels (a multiple of 8 from 16 to 256).
        epochs: Autoencoder only: maximum epochs; None keeps the default.
        class_names: The classes of the chosen data; when given, `good_class` must be one of
            them and at least one other (defect) class must exist to test the model on.

    Raises:
        ValueError: If a choice is invalid (the message names it).
    """
    changes = {"method": method, "good_class": good_class, "image_size": image_size}
    if epochs is not None:
        changes["epochs"] = epochs
    config = dataclasses.replace(ImageAnomalyConfig(), **changes).validate()
    if class_names is not None:
        names = list(class_names)
        if good_class not in names:
            raise ValueError(
                f"Expected the good class to be one of the classes of the data {names}. "
                f"Received: good_class={describe_value(good_class)}"
            )
    return config


def lightweight_result(result):
    """What a released `ImageAnomalyRunResult` keeps: all but the model and the images.

    `result_summary`, `score_table` and `score_groups` work on it as on the full result;
    `sample_maps` returns no maps and saving raises ValueError (there is no model).
    """
    if result is None:
        return None
    return dataclasses.replace(
        result, model=RELEASED_MODEL, dataset=released_dataset(result.dataset)
    )


@dataclasses.dataclass(frozen=True)
class AnomalyWork:
    """The work of one anomaly training job: `work(progress, cancellation)`.

    Attributes:
        source: The data; loaded at `config.image_size` inside the job.
        config: The validated `ImageAnomalyConfig` (the page reads its method for progress).
        masks: Defect mask folder for the pixel AUROC, or None.
    """

    source: ImageSource
    config: ImageAnomalyConfig
    masks: str | None = None

    def __call__(self, progress, cancellation):
        """Loads, trains and evaluates; returns the `ImageAnomalyRunResult`, or None when
        cancelled while loading."""
        size = self.config.image_size
        progress.set_message(f"Loading {self.source.description}")
        dataset = self.source.load((size, size), self.config.channels)
        if cancellation.cancelled:
            return None
        good = int(np.sum(dataset.labels == dataset.class_names.index(self.config.good_class)))
        progress.set_message(f"Training on the good images ({good} of {len(dataset)})")
        result = run_image_anomaly_training(
            dataset,
            self.config,
            masks=self.masks,
            listeners=[progress],
            cancellation=cancellation,
        )
        progress.set_message("Finished")
        return result

    # Static: a bound method would keep the work, and with it the upload, alive.
    lightweight = staticmethod(lightweight_result)


def make_anomaly_work(
    source: ImageSource, config: ImageAnomalyConfig, masks: str | Path | None = None
) -> AnomalyWork:
    """Returns `work(progress, cancellation)` for `JobManager.submit`.

    Args:
        source: The data (`core.data.image_sources`).
        config: An `ImageAnomalyConfig` (from `anomaly_config`).
        masks: Defect mask folder for the pixel AUROC. None: the bundled masks for the bundled
            sample (when present), none for other data.

    Raises:
        ValueError: If `config` is invalid (checked now, before anything is queued).
    """
    config.validate()
    if masks is None and source.kind == SAMPLE:
        directory = bundled_mask_directory()
        masks = directory if directory.is_dir() else None
    return AnomalyWork(source, config, None if masks is None else str(masks))


def anomaly_jobs(manager, owner: str) -> list:
    """The anomaly training jobs of one session, newest first (other pages' jobs are theirs)."""
    return [job for job in manager.jobs_for(owner) if job.kind == JOB_KIND]


def progress_text(job) -> str:
    """The progress bar's text of a running job: feature extraction or autoencoder epochs."""
    snapshot = job.progress.snapshot()
    if not snapshot["total_epochs"]:
        return snapshot["message"] or "Starting..."
    config = getattr(job.work, "config", None)
    step, steps = snapshot["step"], snapshot["steps_per_epoch"]
    if config is not None and config.method == "feature-gaussian":
        return f"Extracting features of the good images: batch {step} of {steps}"
    return (
        f"Epoch {snapshot['epoch']} of at most {snapshot['total_epochs']}, batch {step} of {steps}"
    )


def suggested_model_name(source: ImageSource, config: ImageAnomalyConfig) -> str:
    """A valid registry name such as 'sample-anomaly-feature-gaussian'."""
    stem = "sample" if source.kind == SAMPLE else Path(source.file_names[0]).stem
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._") or "images"
    suffix = f"-anomaly-{config.method}"
    return f"{stem[: MODEL_NAME_LIMIT - len(suffix)]}{suffix}"


def result_summary(result) -> dict:
    """Headline numbers of an `ImageAnomalyRunResult` for the results section.

    Returns:
        `method`, `good_class`, `defect_classes`, `image_auroc`, `pixel_auroc` (None without
        masks), `threshold`, `threshold_rule`, `false_reject_rate`, `defect_recall`,
        `defect_class_auroc` ({defect class: AUROC against the good test images}),
        `class_names` ([good class, "anomaly"]), `confusion_matrix`, `test_count`, `good_train`,
        `good_validation`, `seconds`, `epochs_run`, `best_epoch`, `cancelled`, `history`.
    """
    metrics = result.metrics
    evaluation = metrics["evaluation"]
    config = result.config
    good_validation = len(result.validation_scores)
    return {
        "method": config.method,
        "good_class": config.good_class,
        "defect_classes": result.defect_classes,
        "image_auroc": metrics["image_auroc"],
        "pixel_auroc": metrics.get("pixel_auroc"),
        "threshold": result.threshold,
        "threshold_rule": result.threshold_rule,
        "false_reject_rate": metrics["false_reject_rate"],
        "defect_recall": metrics["defect_recall"],
        "defect_class_auroc": dict(metrics.get("defect_class_auroc", {})),
        "class_names": list(evaluation["class_names"]),
        "confusion_matrix": evaluation["confusion_matrix"],
        "test_count": metrics["test_count"],
        "good_train": int(np.sum(result.dataset.labels[result.train_indices] == result.good_index)),
        "good_validation": good_validation,
        "seconds": result.seconds,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "cancelled": result.cancelled,
        "history": result.history,
    }


def _test_items(result) -> list[dict]:
    dataset = result.dataset
    items = []
    for position, (index, score) in enumerate(
        zip(result.test_indices, result.test_scores, strict=True)
    ):
        true_class = dataset.class_names[dataset.labels[index]]
        verdict = ANOMALY_CLASS if score >= result.threshold else result.good_class
        items.append(
            {
                "position": position,
                "index": int(index),
                "name": dataset.filenames[index],
                "true_class": true_class,
                "is_defect": true_class != result.good_class,
                "score": float(score),
                "verdict": verdict,
            }
        )
    return items


def score_table(result) -> list[dict]:
    """One row per test image, highest score first: image, true class, score, verdict, right.

    `right` is True when a good part is passed or a defect is flagged as an anomaly.
    """
    rows = [
        {
            "image": item["name"],
            "true class": item["true_class"],
            "score": item["score"],
            "verdict": item["verdict"],
            "right": item["is_defect"] == (item["verdict"] == ANOMALY_CLASS),
        }
        for item in _test_items(result)
    ]
    return sorted(rows, key=lambda row: -row["score"])


def sample_maps(result, limit: int = 4) -> list[dict]:
    """A few test images with their anomaly maps laid over them, in three groups.

    The groups: the defects with the highest scores (what the model finds most anomalous), the
    defects with the lowest scores (the hardest to catch; missed when under the threshold), and
    the good parts with the highest scores (the nearest to a false reject). An image appears
    once. The maps share one colour scale: the threshold is the middle, twice it the top
    (`ImageAnomalyPredictor.heatmaps`), so a calm good part looks blue and a defect red.

    Args:
        result: An `ImageAnomalyRunResult`.
        limit: Images per group, a positive integer. Default: 4.

    Returns:
        `[{"title", "items": [{"name", "true_class", "score", "verdict", "image", "overlay"}]}]`;
        `image` is the test image for display, `overlay` a uint8 RGB array; empty groups are
        left out, and a released result (`lightweight_result`) has none.

    Raises:
        ValueError: If `limit` is not a positive integer.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(
            f"Expected `limit` to be a positive integer. Received: limit={describe_value(limit)}"
        )

    if is_released(result.model):
        return []
    items = sorted(_test_items(result), key=lambda item: -item["score"])
    defects = [item for item in items if item["is_defect"]]
    highest = defects[:limit]
    lowest = [item for item in defects[::-1] if item not in highest][:limit]
    good = [item for item in items if not item["is_defect"]][:limit]
    groups = [
        ("Defects with the highest scores", highest),
        ("Defects with the lowest scores (the hardest to catch)", lowest),
        (f"Good parts ({result.good_class}) with the highest scores", good),
    ]
    chosen = [item for _, group in groups for item in group]
    if not chosen:
        return []
    predictor = ImageAnomalyPredictor(
        result.model,
        result.good_class,
        threshold=result.threshold,
        score_scale=result.score_scale,
        warmup=False,
    )
    images = result.dataset.images[[item["index"] for item in chosen]]
    overlays = iter(
        heatmap_overlay(image, heatmap)
        for image, heatmap in zip(images, predictor.heatmaps(images), strict=True)
    )
    pictures = iter(images)
    # `chosen` lists the groups' items in order: the iterators hand each item its own picture.
    return [
        {
            "title": title,
            "items": [
                {
                    "name": item["name"],
                    "true_class": item["true_class"],
                    "score": item["score"],
                    "verdict": item["verdict"],
                    "image": display_image(next(pictures)),
                    "overlay": next(overlays),
                }
                for item in group
            ],
        }
        for title, group in groups
        if group
    ]


def score_groups(result) -> dict[str, list[float]]:
    """The test scores by true class, the good class first: the score chart's input."""
    groups: dict[str, list[float]] = {result.good_class: []}
    for name in result.defect_classes:
        groups[name] = []
    for item in _test_items(result):
        groups[item["true_class"]].append(item["score"])
    return {name: scores for name, scores in groups.items() if scores}

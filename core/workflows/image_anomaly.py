"""Image anomaly detection trained on defect-free images only: split, fit, threshold, evaluate.

`run_image_anomaly_training` cuts the whole labelled data set (good and defect classes) with
`stratified_split`, so the split is reproducible from the recorded seed and fractions like a
classifier's. The model learns from the good images of the train part only; the threshold is the
`threshold_quantile` quantile (default 0.99, numpy's linear interpolation) of the image scores of
the good images of the validation part, so about 1 % of good parts are expected over it (with
~25 validation images that is close to their maximum); the test part (good and defect images)
gives the image AUROC, the false reject rate and the defect recall at that threshold, and the
pixel AUROC when defect masks are given. Methods and networks: `core.models.image_anomaly`.

Example:
    result = run_image_anomaly_training("sample_data/images", ImageAnomalyConfig(good_class="ok"),
                                        masks="sample_data/masks")
    record = save_image_anomaly_run(result, registry, "surface-anomaly")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from core.data import config_checks
from core.data.images import ImageDataset, load_images
from core.data.splits import stratified_split
from core.engine.image_anomaly_fitting import fit_autoencoder, fit_feature_gaussian
from core.engine.progress import CancellationToken, emit_train_end
from core.inference.image_anomaly import ImageAnomalyPredictor
from core.metrics.image_anomaly import (
    anomaly_threshold,
    evaluate_anomaly_scores,
    select_test_masks,
)
from core.models.image_anomaly import (
    ANOMALY_METHODS,
    DEFAULT_ANOMALY_METHOD,
    check_anomaly_input_shape,
)
from core.registry.metadata import image_dataset_fingerprint
from core.workflows.image_runs import image_preprocessing

ANOMALY_TASK = "image_anomaly"
ANOMALY_CLASS = "anomaly"


@dataclasses.dataclass
class ImageAnomalyConfig(config_checks.DictRoundTripMixin):
    """Settings of one image anomaly training run.

    Args:
        method: "feature-gaussian" (the default: better and faster on the sample data) or
            "autoencoder".
        good_class: The defect-free class the model learns. Default: "ok".
        image_size: Side of the square images, a multiple of 8 from 16 to 256. Default: 64.
        channels: 1 (grayscale, the default) or 3 (RGB).
        epochs: Autoencoder only: maximum epochs over the good training images. Default: 100.
        batch_size: Autoencoder only: images per step. Default: 16.
        learning_rate: Autoencoder only: Adam learning rate. Default: 2e-3.
        early_stopping_patience: Autoencoder only: epochs without a lower validation loss before
            stopping; 0 never stops early. The best weights are kept either way. Default: 20.
        flips: Train on horizontal and vertical flips of the good images too. Default: True.
        threshold_quantile: Quantile of the validation good scores that becomes the threshold,
            in [0.5, 1]. Default: 0.99.
        validation_fraction: Share of each class for validation, in (0, 1). Default: 0.15.
        test_fraction: Share of each class for test, in (0, 1). Default: 0.15.
        seed: Seed of the split, the weights and the flips. Default: 0.
    """

    method: str = DEFAULT_ANOMALY_METHOD
    good_class: str = "ok"
    image_size: int = 64
    channels: int = 1
    epochs: int = 100
    batch_size: int = 16
    learning_rate: float = 2e-3
    early_stopping_patience: int = 20
    flips: bool = True
    threshold_quantile: float = 0.99
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0

    def validate(self) -> ImageAnomalyConfig:
        """Checks every field; returns self. A ValueError names the field at fault."""
        config_checks.require_choices(self, {"method": ANOMALY_METHODS})
        config_checks.require_field(
            isinstance(self.good_class, str) and self.good_class not in ("", ANOMALY_CLASS),
            f"to be a class name other than '{ANOMALY_CLASS}'",
            self,
            "good_class",
        )
        config_checks.require_field(
            config_checks.is_integer(self.image_size), "to be an integer", self, "image_size"
        )
        check_anomaly_input_shape((self.image_size, self.image_size, 1))
        config_checks.require_field(self.channels in (1, 3), "to be 1 or 3", self, "channels")
        config_checks.require_integers(
            self, {"epochs": 1, "batch_size": 1, "early_stopping_patience": 0, "seed": 0}
        )
        config_checks.require_learning_rate(self)
        config_checks.require_field(
            isinstance(self.flips, bool), "to be True or False", self, "flips"
        )
        quantile = self.threshold_quantile
        config_checks.require_field(
            config_checks.is_number(quantile) and 0.5 <= quantile <= 1,
            "to be a number in [0.5, 1]",
            self,
            "threshold_quantile",
        )
        config_checks.require_split_fractions(self, allow_zero=False)
        return self


@dataclasses.dataclass
class ImageAnomalyRunResult:
    """One finished (or cancelled) anomaly training run, ready to inspect or register.

    Attributes:
        model: The anomaly map model (raw images in, `(H, W, 1)` map out).
        config: The configuration used.
        dataset: The loaded `ImageDataset`.
        train_indices, validation_indices, test_indices: The split, indices into `dataset`.
        threshold, score_scale: As stored in the metadata's `extra`.
        validation_scores: Scores of the good validation images (the threshold's source).
        test_scores: Scores of the test images, in `test_indices` order.
        metrics: The metadata's `metrics` (image AUROC, ... and `evaluation`).
        history: Per-epoch losses (autoencoder; empty for feature-gaussian).
        epochs_run, best_epoch, cancelled, seconds: How training went (`seconds`: fitting only).
        masks: The mask folder used for the pixel AUROC, or None.
        record: The registry record once saved, else None.
    """

    model: Any
    config: ImageAnomalyConfig
    dataset: Any
    train_indices: np.ndarray
    validation_indices: np.ndarray
    test_indices: np.ndarray
    threshold: float
    score_scale: float
    validation_scores: np.ndarray
    test_scores: np.ndarray
    metrics: dict
    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int | None
    cancelled: bool
    seconds: float
    masks: str | None = None
    record: object | None = None

    @property
    def good_class(self) -> str:
        return self.config.good_class

    @property
    def good_index(self) -> int:
        return self.dataset.class_names.index(self.config.good_class)

    @property
    def threshold_rule(self) -> str:
        """How the threshold was set, in words (stored as the metadata's `extra.threshold_rule`)."""
        return (
            f"quantile {self.config.threshold_quantile} of the scores of the "
            f"{len(self.validation_scores)} good validation images"
        )

    @property
    def defect_classes(self) -> list[str]:
        return [name for name in self.dataset.class_names if name != self.config.good_class]


def _load_dataset(data, config: ImageAnomalyConfig):
    size = config.image_size
    if isinstance(data, ImageDataset):
        dataset = data
    else:
        dataset = load_images(Path(data), image_size=(size, size), channels=config.channels)
    if dataset.images.shape[1:] != (size, size, config.channels):
        raise ValueError(
            f"Expected images of {size}x{size} pixels with {config.channels} channel(s). "
            f"Received: images of shape {tuple(dataset.images.shape[1:])}"
        )
    names = list(dataset.class_names)
    if config.good_class not in names:
        raise ValueError(
            f"Expected the good class to be one of the classes found in the data {names} "
            f"(the data must hold defect-free images). Received: good_class={config.good_class!r}"
        )
    # Good images alone are enough to train and set the threshold (a line may have no defect
    # photos yet); the image AUROC and defect recall then stay unknown until defects are given.
    return dataset


def run_image_anomaly_training(
    data,
    config: ImageAnomalyConfig | None = None,
    *,
    masks=None,
    listeners: Iterable[object] = (),
    cancellation: CancellationToken | None = None,
) -> ImageAnomalyRunResult:
    """Trains an anomaly model on the good images of a labelled data set and evaluates it.

    Args:
        data: An `ImageDataset` at the config's size, or a path the image loaders accept (class
            folders, zip, manifest). It must hold the good class and at least one defect class.
        config: An `ImageAnomalyConfig`; None uses the defaults.
        masks: Folder of defect masks named like the images (`<class>/<name>.png`, white =
            defect), for the pixel AUROC; None skips it.
        listeners: `core.engine.progress` listeners (the feature-gaussian method reports one "epoch"
            whose batches are feature extraction).
        cancellation: A `CancellationToken`; a cancelled run keeps what it learnt so far.

    Returns:
        An `ImageAnomalyRunResult`.

    Raises:
        ValueError: Bad config, data that cannot be loaded or split, no good class or no defect
            class, or masks given but none for the defect test images.
    """
    config = (config or ImageAnomalyConfig()).validate()
    listeners = list(listeners)
    dataset = _load_dataset(data, config)
    good_index = dataset.class_names.index(config.good_class)
    train, validation, test = stratified_split(
        dataset.labels,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    mask_selection = select_test_masks(masks, dataset, test, good_index)
    good_train = train[dataset.labels[train] == good_index]
    good_validation = validation[dataset.labels[validation] == good_index]
    if len(good_train) < 2:
        raise ValueError(
            f"Expected at least 2 good training images of class '{config.good_class}' after the "
            f"split. Received: {len(good_train)} of {int(np.sum(dataset.labels == good_index))}"
        )

    if config.method == "autoencoder":
        model, fit = fit_autoencoder(
            dataset.images[good_train],
            dataset.images[good_validation],
            config,
            listeners,
            cancellation,
        )
    else:
        model, fit = fit_feature_gaussian(
            dataset.images[good_train], config, listeners, cancellation
        )
    emit_train_end(listeners, **fit.fields())

    predictor = ImageAnomalyPredictor(model, config.good_class, threshold=0.0, score_scale=1.0)
    validation_scores = predictor.scores(dataset.images[good_validation])
    threshold, score_scale = anomaly_threshold(validation_scores, config.threshold_quantile)
    predictor.threshold, predictor.score_scale = threshold, score_scale
    test_maps, test_scores = predictor.maps_and_scores(dataset.images[test])
    metrics = evaluate_anomaly_scores(
        predictor,
        dataset,
        test,
        test_scores,
        test_maps if mask_selection is not None else None,
        mask_selection,
    )
    return ImageAnomalyRunResult(
        model=model,
        config=config,
        dataset=dataset,
        train_indices=train,
        validation_indices=validation,
        test_indices=test,
        threshold=threshold,
        score_scale=score_scale,
        validation_scores=validation_scores,
        test_scores=test_scores,
        metrics=metrics,
        masks=None if masks is None else str(masks),
        **fit.fields(),
    )


def image_anomaly_metadata(result: ImageAnomalyRunResult) -> dict:
    """Builds the registry metadata of a run (contract C1; validated by the registry on save)."""
    config = result.config
    dataset = result.dataset
    size = config.image_size
    good_validation = len(result.validation_scores)
    metadata = {
        "task": ANOMALY_TASK,
        "classes": [config.good_class, ANOMALY_CLASS],
        "input_shape": [size, size, config.channels],
        "preprocessing": image_preprocessing(size, size, config.channels)
        | {
            "output": "anomaly map (H, W, 1); image score = its maximum; anomaly when the "
            "score >= extra.threshold"
        },
        "training_config": config.to_dict(),
        "metrics": result.metrics,
        "history": result.history,
        "dataset_fingerprint": image_dataset_fingerprint(dataset),
        "extra": {
            "threshold": result.threshold,
            "score_scale": result.score_scale,
            "good_class": config.good_class,
            "defect_classes": result.defect_classes,
            "threshold_rule": result.threshold_rule,
            "score_kind": "anomaly_score",
            "model": result.model.name,
            "dataset": {
                "source": str(dataset.source),
                "class_counts": dataset.class_counts(),
                "rejected": len(dataset.rejected),
                "split": {
                    "train": len(result.train_indices),
                    "validation": len(result.validation_indices),
                    "test": len(result.test_indices),
                },
                "good_train": int(
                    np.sum(dataset.labels[result.train_indices] == result.good_index)
                ),
                "good_validation": good_validation,
            },
            "masks": result.masks,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "cancelled": result.cancelled,
            "training_seconds": result.seconds,
        },
    }
    return metadata


def save_image_anomaly_run(
    result: ImageAnomalyRunResult, registry, name: str, *, owner: str | None = None
):
    """Registers the run's model under `name` (a new version) and returns the record."""
    result.record = registry.save(result.model, name, image_anomaly_metadata(result), owner=owner)
    return result.record

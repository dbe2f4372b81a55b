"""The data side of the "does it help" experiment: checks, the real test set, the small real set.

Pure numpy (no TensorFlow): `core.decisions.gan_benefit` runs the trainings. The test set is the
GAN's own held-out images (stored with it by `core.engine.gan_training`), or, for data without them,
every image whose file name the GAN did not train on: no classifier is ever scored on an image the
GAN could have copied. Images the GAN neither trained on nor held out (a `per_class` cap leaves
many) are not tested on; the fidelity judge learns from them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from core.data.config_checks import is_integer
from core.data.images import ImageDataset, load_images
from core.data.validation import describe_value
from core.registry.metadata import image_dataset_fingerprint

# Two images per class is the least that gives a recall other than 0 or 1 per image.
MIN_TEST_IMAGES_PER_CLASS = 2
MAX_SYNTHETIC_PER_CLASS = 5000
MAX_REPEATS = 20
MAX_TRAINING_STEPS = 100_000


@dataclasses.dataclass
class BenefitData:
    """The loaded data split for the experiment.

    Attributes:
        dataset: The `ImageDataset` at the GAN's size, 1 channel.
        test_indices: Images the GAN never trained on (the real test set).
        trained_mask: Boolean per image: the GAN trained on it.
        notes: Remarks for the report (e.g. the data differ from the GAN's).
    """

    dataset: object
    test_indices: np.ndarray
    trained_mask: np.ndarray
    notes: list[str]

    @property
    def test_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.dataset.labels), dtype=bool)
        mask[self.test_indices] = True
        return mask


def check_arguments(
    real_per_class: object,
    synthetic_per_class: object,
    training_steps: object,
    repeats: object,
    seed: object,
) -> None:
    """Checks the experiment's numbers.

    Raises:
        ValueError: A number is out of range; the message names it.
    """
    limits = {
        "real_per_class": (real_per_class, 1, None),
        "synthetic_per_class": (synthetic_per_class, 1, MAX_SYNTHETIC_PER_CLASS),
        "training_steps": (training_steps, 1, MAX_TRAINING_STEPS),
        "repeats": (repeats, 1, MAX_REPEATS),
        "seed": (seed, 0, None),
    }
    for name, (value, minimum, maximum) in limits.items():
        in_range = is_integer(value) and value >= minimum and (maximum is None or value <= maximum)
        if not in_range:
            wanted = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise ValueError(
                f"Expected {name} to be an integer {wanted}. "
                f"Received: {name}={describe_value(value)}"
            )


def gan_image_size(metadata: Mapping) -> int:
    """The side of the GAN's square images, from its registry metadata."""
    size = (metadata.get("preprocessing") or {}).get("image_size")
    if not (isinstance(size, list | tuple) and len(size) == 2 and size[0] == size[1]):
        raise ValueError(
            "Expected GAN metadata with preprocessing.image_size [size, size]. "
            f"Received: image_size={describe_value(size)}"
        )
    return int(size[0])


def load_benefit_data(data, metadata: Mapping) -> BenefitData:
    """Loads the data at the GAN's size and finds the images the GAN never trained on.

    Args:
        data: An `ImageDataset` (used as is) or a path the image loaders accept.
        metadata: The GAN's registry metadata.

    Returns:
        A `BenefitData`.

    Raises:
        ValueError: If the images have another size, the classes differ from the GAN's, or a
            class has fewer than `MIN_TEST_IMAGES_PER_CLASS` images the GAN did not train on.
    """
    size = gan_image_size(metadata)
    if isinstance(data, ImageDataset):
        dataset = data
    else:
        dataset = load_images(Path(data), image_size=(size, size), channels=1)
    if tuple(dataset.images.shape[1:]) != (size, size, 1):
        raise ValueError(
            f"Expected grayscale images of {size}x{size} pixels, the GAN's size. "
            f"Received: images of shape {tuple(dataset.images.shape[1:])}"
        )
    gan_classes = list(metadata.get("classes") or [])
    if list(dataset.class_names) != gan_classes:
        raise ValueError(
            f"Expected the data's classes to equal the GAN's classes {gan_classes}. "
            f"Received: data classes {list(dataset.class_names)}"
        )
    extra = metadata.get("extra") or {}
    training_files = set(extra.get("training_files") or [])
    holdout_files = set(extra.get("holdout_files") or [])
    trained_mask = np.array([name in training_files for name in dataset.filenames], dtype=bool)
    held_out_mask = np.array([name in holdout_files for name in dataset.filenames], dtype=bool)
    notes = []
    # The GAN's own held-out list when these data have it; else every image it did not see.
    test_mask = held_out_mask if held_out_mask.any() else np.ones(len(trained_mask), dtype=bool)
    test_indices = np.flatnonzero(test_mask & ~trained_mask)
    fingerprint = image_dataset_fingerprint(dataset)
    if metadata.get("dataset_fingerprint") and fingerprint != metadata["dataset_fingerprint"]:
        notes.append(
            "These data differ from the data the GAN was trained on (the file list does not "
            f"match); {int(trained_mask.sum())} of the {len(trained_mask)} file names are ones "
            "the GAN trained on, and every other image is in the test set."
        )
    test_counts = np.bincount(dataset.labels[test_indices], minlength=len(dataset.class_names))
    short = {
        name: int(count)
        for name, count in zip(dataset.class_names, test_counts, strict=True)
        if count < MIN_TEST_IMAGES_PER_CLASS
    }
    if short:
        raise ValueError(
            f"Expected at least {MIN_TEST_IMAGES_PER_CLASS} images per class that the GAN did "
            "not train on, to test the classifiers on real images it never saw; the GAN "
            "trained on (nearly) all of these data. Train the GAN with images held out "
            "(`python -m core train gan --holdout 0.25`), or add new images of every class. "
            f"Received: unseen images per class {short}"
        )
    return BenefitData(dataset, test_indices, trained_mask, notes)


def choose_real_subset(
    labels: np.ndarray,
    test_mask: np.ndarray,
    trained_mask: np.ndarray,
    per_class: int,
    seed: int,
    number_of_classes: int,
) -> tuple[np.ndarray, dict[int, int]]:
    """Draws up to `per_class` real training images per class, never a test image.

    Images the GAN trained on come first (in a seeded random order), then any other non-test
    images: the baseline then sees no real image the GAN could not have learned from.

    Returns:
        `(indices, available)`: the sorted chosen indices, and for each class the number of
        non-test images there were to choose from.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    available = {}
    for label in range(number_of_classes):
        candidates = np.flatnonzero((labels == label) & ~test_mask)
        available[label] = len(candidates)
        preferred = rng.permutation(candidates[trained_mask[candidates]])
        others = rng.permutation(candidates[~trained_mask[candidates]])
        chosen.append(np.concatenate([preferred, others])[:per_class])
    indices = np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)
    return np.sort(indices), available


def epochs_for_steps(image_count: int, batch_size: int, training_steps: int) -> tuple[int, int]:
    """Epochs needed for at least `training_steps` gradient steps.

    Returns:
        `(epochs, steps_per_epoch)`.
    """
    steps_per_epoch = math.ceil(image_count / batch_size)
    return math.ceil(training_steps / steps_per_epoch), steps_per_epoch


def arm_summary(evaluation: Mapping) -> dict:
    """The numbers of one classifier kept by the report."""
    return {
        "accuracy": float(evaluation["accuracy"]),
        "macro_f1": float(evaluation["macro_f1"]),
        "per_class_recall": {row["class"]: float(row["recall"]) for row in evaluation["per_class"]},
    }


def mean_summary(summaries: Sequence[Mapping], class_names: Sequence[str]) -> dict | None:
    """Means of `arm_summary` dicts over repeats; None if there are none."""
    if not summaries:
        return None
    return {
        "accuracy": float(np.mean([summary["accuracy"] for summary in summaries])),
        "macro_f1": float(np.mean([summary["macro_f1"] for summary in summaries])),
        "per_class_recall": {
            name: float(np.mean([summary["per_class_recall"][name] for summary in summaries]))
            for name in class_names
        },
    }


def summary_difference(augmented: Mapping | None, baseline: Mapping | None) -> dict | None:
    """`augmented - baseline` for every number of two summaries; None if one is missing."""
    if augmented is None or baseline is None:
        return None
    return {
        "accuracy": augmented["accuracy"] - baseline["accuracy"],
        "macro_f1": augmented["macro_f1"] - baseline["macro_f1"],
        "per_class_recall": {
            name: recall - baseline["per_class_recall"][name]
            for name, recall in augmented["per_class_recall"].items()
        },
    }


def per_class_counts(labels: np.ndarray, class_names: Sequence[str]) -> dict[str, int]:
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts, strict=True)}

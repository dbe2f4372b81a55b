"""Does a GAN's synthetic data help a classifier? A controlled experiment on real test images.

Two classifiers with the same settings are trained (a) on a small real set and (b) on the same set
plus synthetic images of every class, for the same number of gradient steps, and both are scored
on real images the GAN never trained on. A third classifier, trained on all real non-test images,
then labels the synthetic images (fidelity: does a classifier that knows the real classes see
each synthetic image as the class it was made for?). The data side is
`core.decisions.gan_benefit_data`.

Example:
    >>> report = run_gan_benefit("sample_data/images", registry, "surface-gan")
    >>> report["difference"]["accuracy"]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np

from core.decisions.gan_benefit_data import (
    arm_summary,
    check_arguments,
    choose_real_subset,
    epochs_for_steps,
    gan_image_size,
    load_benefit_data,
    mean_summary,
    per_class_counts,
    summary_difference,
)
from core.engine.gan_generation import generate_images, load_generator
from core.engine.image_training import ImageTrainingConfig, train_image_classifier
from core.engine.progress import CancellationToken, ProgressBroadcaster
from core.inference.classifier import ImagePredictor
from core.metrics.evaluation import evaluate_classification

CLASSIFIER_MODEL = "defect_cnn"
CLASSIFIER_BATCH_SIZE = 32


def run_gan_benefit(
    data,
    registry,
    gan_reference: str,
    *,
    real_per_class: int = 20,
    synthetic_per_class: int = 100,
    training_steps: int = 600,
    repeats: int = 1,
    seed: int = 0,
    listeners: Iterable[object] = (),
    cancellation: CancellationToken | None = None,
) -> dict:
    """Measures whether a registered GAN's images improve a classifier trained on few real ones.

    Args:
        data: An `ImageDataset` at the GAN's size with 1 channel, or a path the image loaders
            accept; it should be the data the GAN was trained on (its held-out images are the
            test set).
        registry: The `ModelRegistry` holding the GAN.
        gan_reference: "name" or "name:version" of a model of task "gan".
        real_per_class: Real training images per class of both classifiers. Default: 20.
        synthetic_per_class: Synthetic images per class added for arm (b). Default: 100.
        training_steps: Gradient steps of every classifier. Default: 600.
        repeats: Runs with seeds `seed`, `seed + 1`, ...; the report holds their means.
            Default: 1.
        seed: First seed (real subset, synthetic noise, weights). Default: 0.
        listeners: `core.engine.progress` listeners: each classifier's training events, plus
            `set_message(text)` at every phase.
        cancellation: Token; the report then covers the phases that finished.

    Returns:
        A JSON-ready dict: `gan` ("name:version"), `classes`, `image_size`,
        `real_per_class`, `synthetic_per_class`, `training_steps`, `gan_trained_per_class`,
        `test_count`, `test_per_class`, `baseline`, `augmented`, `difference` (augmented minus
        baseline; these three are None if no run finished), `runs`, `fidelity` (None if the
        judge did not finish), `notes`, `seconds`, `cancelled`.

    Raises:
        ValueError: A bad argument, a model that is not a GAN, images of another size, classes
            that differ from the GAN's, or too few images the GAN did not train on.
    """
    started = time.perf_counter()
    check_arguments(real_per_class, synthetic_per_class, training_steps, repeats, seed)
    listeners = list(listeners)
    broadcaster = ProgressBroadcaster(listeners)
    broadcaster.emit("set_message", "Loading the GAN and the data")
    reference = registry.get(gan_reference).reference
    generator, metadata = load_generator(registry, reference)
    prepared = load_benefit_data(data, metadata)
    dataset = prepared.dataset
    class_names = list(dataset.class_names)
    size = gan_image_size(metadata)
    test_images = dataset.images[prepared.test_indices]
    test_labels = dataset.labels[prepared.test_indices]
    scorer = _Scorer(class_names, size, training_steps, test_images, test_labels, listeners)
    notes = list(prepared.notes)
    trained = (metadata.get("extra") or {}).get("dataset", {}).get("trained_per_class") or (
        per_class_counts(dataset.labels[prepared.trained_mask], class_names)
    )
    test_per_class = per_class_counts(test_labels, class_names)
    notes += _setting_notes(trained, real_per_class, test_per_class, metadata)
    if repeats == 1:
        notes.append(
            "One run: a difference of a few points can be chance; run repeats >= 3 to see the "
            "spread between runs."
        )

    def stopped() -> bool:
        return cancellation is not None and cancellation.cancelled

    baselines, augmenteds, runs = [], [], []
    fidelity_images = None
    for repeat in range(repeats):
        run_seed = seed + repeat
        real_indices, available = choose_real_subset(
            dataset.labels,
            prepared.test_mask,
            prepared.trained_mask,
            real_per_class,
            run_seed,
            len(class_names),
        )
        if repeat == 0:
            notes += _availability_notes(available, real_per_class, class_names)
        real_images, real_labels = dataset.images[real_indices], dataset.labels[real_indices]
        label = f"run {repeat + 1} of {repeats}"
        if stopped():
            break
        broadcaster.emit("set_message", f"Arm (a) {label}: real only")
        baseline = scorer.train_and_score(real_images, real_labels, run_seed, cancellation)
        if baseline is None or stopped():
            break
        broadcaster.emit("set_message", f"Arm (b) {label}: real + synthetic")
        synthetic_images, synthetic_labels = generate_images(
            generator, range(len(class_names)), synthetic_per_class, seed=run_seed
        )
        if fidelity_images is None:
            fidelity_images = (synthetic_images, synthetic_labels)
        augmented = scorer.train_and_score(
            np.concatenate([real_images, synthetic_images]),
            np.concatenate([real_labels, synthetic_labels]),
            run_seed,
            cancellation,
        )
        if augmented is None:
            break
        if repeat == 0:
            notes.append(_steps_note(baseline, augmented, training_steps))
        baselines.append(baseline["summary"])
        augmenteds.append(augmented["summary"])
        runs.append(_run_row(run_seed, baseline, augmented))

    fidelity = None
    if not stopped() and len(runs) == repeats:
        judge_indices = np.flatnonzero(~prepared.test_mask)
        broadcaster.emit(
            "set_message", f"Fidelity judge: training on {len(judge_indices)} real images"
        )
        fidelity = _fidelity(
            scorer, dataset, judge_indices, fidelity_images, seed, cancellation, class_names
        )
        if fidelity is not None:
            notes.append(
                f"The fidelity judge (trained on all {len(judge_indices)} real images outside "
                f"the test set) scored {fidelity['judge_test_accuracy']:.1%} on the real test "
                "set: its agreement with the synthetic images is only as trustworthy as that."
            )
    cancelled = stopped() or fidelity is None
    if cancelled:
        notes.append(
            f"Cancelled: {len(runs)} of {repeats} runs finished"
            + ("" if fidelity else ", no fidelity check")
            + "; the numbers cover the finished runs only."
        )
    baseline_mean = mean_summary(baselines, class_names)
    augmented_mean = mean_summary(augmenteds, class_names)
    broadcaster.emit("set_message", "Cancelled" if cancelled else "Done")
    return {
        "gan": reference,
        "classes": class_names,
        "image_size": size,
        "real_per_class": real_per_class,
        "synthetic_per_class": synthetic_per_class,
        "training_steps": training_steps,
        "repeats": repeats,
        "seed": seed,
        "data_source": str(dataset.source),
        "gan_trained_per_class": {name: int(count) for name, count in trained.items()},
        "test_count": len(test_labels),
        "test_per_class": test_per_class,
        "baseline": baseline_mean,
        "augmented": augmented_mean,
        "difference": summary_difference(augmented_mean, baseline_mean),
        "runs": runs,
        "fidelity": fidelity,
        "notes": notes,
        "seconds": round(time.perf_counter() - started, 2),
        "cancelled": bool(cancelled),
    }


class _Scorer:
    """Trains a classifier with the experiment's fixed settings and scores it on the test set."""

    def __init__(self, class_names, size, training_steps, test_images, test_labels, listeners):
        self.class_names = class_names
        self.size = size
        self.training_steps = training_steps
        self.test_images = test_images
        self.test_labels = test_labels
        self.listeners = listeners

    def train(self, images, labels, seed, cancellation):
        """Returns `(result, epochs, steps_per_epoch)`, or None if cancelled."""
        epochs, steps_per_epoch = epochs_for_steps(
            len(labels), CLASSIFIER_BATCH_SIZE, self.training_steps
        )
        config = ImageTrainingConfig(
            model=CLASSIFIER_MODEL,
            epochs=epochs,
            batch_size=CLASSIFIER_BATCH_SIZE,
            image_size=(self.size, self.size),
            channels=1,
            # Every epoch runs: the arms must get the same number of updates.
            early_stopping_patience=0,
            seed=seed,
        )
        result = train_image_classifier(
            images,
            labels,
            self.class_names,
            config,
            validation=None,
            listeners=self.listeners,
            cancellation=cancellation,
        )
        if result.cancelled:
            return None
        return result, epochs, steps_per_epoch

    def predictor(self, model):
        return ImagePredictor(
            model, self.class_names, image_size=(self.size, self.size), channels=1
        )

    def evaluate(self, predictor) -> dict:
        probabilities = predictor.predict_arrays(self.test_images)
        return evaluate_classification(self.test_labels, probabilities, self.class_names)

    def train_and_score(self, images, labels, seed, cancellation) -> dict | None:
        trained = self.train(images, labels, seed, cancellation)
        if trained is None:
            return None
        result, epochs, steps_per_epoch = trained
        evaluation = self.evaluate(self.predictor(result.model))
        return {
            "summary": arm_summary(evaluation),
            "images": len(labels),
            "epochs": epochs,
            "steps": epochs * steps_per_epoch,
            "steps_per_epoch": steps_per_epoch,
        }


def _fidelity(scorer, dataset, judge_indices, synthetic, seed, cancellation, class_names):
    """Trains the judge on all real non-test images and lets it label the synthetic ones."""
    trained = scorer.train(
        dataset.images[judge_indices], dataset.labels[judge_indices], seed, cancellation
    )
    if trained is None:
        return None
    predictor = scorer.predictor(trained[0].model)
    judge_test = scorer.evaluate(predictor)
    synthetic_images, synthetic_labels = synthetic
    judged = evaluate_classification(
        synthetic_labels, predictor.predict_arrays(synthetic_images), class_names, ok_class=None
    )
    return {
        "judge_test_accuracy": float(judge_test["accuracy"]),
        "judge_test_per_class_recall": arm_summary(judge_test)["per_class_recall"],
        "judge_training_images": len(judge_indices),
        "synthetic_per_class": per_class_counts(synthetic_labels, class_names),
        "agreement": float(judged["accuracy"]),
        "per_class_agreement": {row["class"]: float(row["recall"]) for row in judged["per_class"]},
        "confusion": judged["confusion_matrix"],
    }


def _run_row(run_seed: int, baseline: dict, augmented: dict) -> dict:
    row = {"seed": run_seed}
    for arm, numbers in (("baseline", baseline), ("augmented", augmented)):
        row[f"{arm}_accuracy"] = numbers["summary"]["accuracy"]
        row[f"{arm}_macro_f1"] = numbers["summary"]["macro_f1"]
        row[f"{arm}_per_class_recall"] = numbers["summary"]["per_class_recall"]
        row[f"{arm}_images"] = numbers["images"]
        row[f"{arm}_epochs"] = numbers["epochs"]
        row[f"{arm}_steps"] = numbers["steps"]
    return row


def _count_text(counts: Iterable[int]) -> str:
    counts = sorted(counts)
    return str(counts[0]) if counts[0] == counts[-1] else f"{counts[0]} to {counts[-1]}"


def _setting_notes(trained: dict, real_per_class: int, test_per_class: dict, metadata) -> list:
    notes = [
        f"The GAN trained on {_count_text(trained.values())} real images per class, the "
        f"baseline on {real_per_class}"
        + (
            ": part of any gain may come from the real images the GAN learned from that the "
            "baseline never saw."
            if max(trained.values(), default=0) > real_per_class
            else "."
        ),
        f"The test set is the {sum(test_per_class.values())} real images the GAN never trained "
        f"on ({_count_text(test_per_class.values())} per class); every classifier is scored on "
        "it and none trains on it.",
    ]
    extra = metadata.get("extra") or {}
    if extra.get("cancelled"):
        notes.append(
            f"The GAN's training was cancelled after {extra.get('epochs_run')} epochs: its "
            "images may be poor."
        )
    return notes


def _availability_notes(available: dict, real_per_class: int, class_names: Sequence[str]):
    missing = [class_names[label] for label, count in available.items() if count == 0]
    if missing:
        raise ValueError(
            "Expected real images of every class outside the test set to train on (the images "
            "the GAN trained on). Received: none for classes "
            f"{missing}; are these the data the GAN was trained on?"
        )
    short = {
        class_names[label]: count for label, count in available.items() if count < real_per_class
    }
    if not short:
        return []
    return [
        f"Fewer than {real_per_class} real training images outside the test set for {short}: "
        "the baseline uses all there are for those classes."
    ]


def _steps_note(baseline: dict, augmented: dict, training_steps: int) -> str:
    return (
        f"Both classifiers ({CLASSIFIER_MODEL}, batch {CLASSIFIER_BATCH_SIZE}, same seed and "
        f"settings) ran about {training_steps} gradient steps: the baseline "
        f"{baseline['epochs']} epochs of {baseline['steps_per_epoch']} steps over "
        f"{baseline['images']} images ({baseline['steps']} steps), the augmented one "
        f"{augmented['epochs']} epochs of {augmented['steps_per_epoch']} steps over "
        f"{augmented['images']} images ({augmented['steps']} steps), so the bigger set does not "
        "win by getting more updates."
    )

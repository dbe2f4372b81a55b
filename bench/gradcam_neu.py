"""Does Grad-CAM point at the defect? Measured on the NEU steel-surface set's boxes.

Loads the NEU set (`--data`, by default ../shared/data/neu_det beside the checkout) through
`core.data.images.load_images` at the model's input size, takes the test part of the same seeded
stratified split as training (`stratified_split` with the `ImageTrainingConfig` fractions and
`--split-seed`, as bench/neu_accuracy.py), computes each test image's Grad-CAM heatmap for its
true class, scales the peak to the 200x200 original and checks whether it falls inside one of the
image's Pascal-VOC boxes (annotations/*.xml).

For context it also prints the random-peak baseline: the expected share of hits of a peak drawn
uniformly over the image, i.e. the mean fraction of image area the boxes cover (crazing boxes
often cover most of the image, scratches a thin strip). One JSON line, per class too.

Usage:
    python bench/gradcam_neu.py --model PATH.keras [--image-size 96] [--split-seed 0]
        [--limit N] [--layer NAME] [--data DIR]
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchlib
import numpy as np

from core.data.images import load_images
from core.data.splits import stratified_split
from core.engine.image_training import ImageTrainingConfig
from core.inference import explain


def read_boxes(annotation_path: Path) -> tuple[tuple[int, int], list[tuple[float, ...]]]:
    """Returns `((width, height), [(xmin, ymin, xmax, ymax), ...])` of a Pascal-VOC file."""
    root = ElementTree.parse(annotation_path).getroot()
    size = root.find("size")
    width, height = int(size.findtext("width")), int(size.findtext("height"))
    boxes = []
    for box in root.iter("bndbox"):
        boxes.append(tuple(float(box.findtext(key)) for key in ("xmin", "ymin", "xmax", "ymax")))
    return (width, height), boxes


def peak_in_boxes(peak, heatmap_shape, original_size, boxes) -> bool:
    """True when the heatmap peak, scaled to the original image, lies inside a box."""
    row, column = peak
    width, height = original_size
    # The centre of the peak pixel, in original pixel coordinates.
    x = (column + 0.5) * width / heatmap_shape[1]
    y = (row + 0.5) * height / heatmap_shape[0]
    return any(xmin <= x <= xmax and ymin <= y <= ymax for xmin, ymin, xmax, ymax in boxes)


def box_area_fraction(original_size, boxes) -> float:
    """Share of the image's pixels inside at least one box (boxes may overlap)."""
    width, height = original_size
    covered = np.zeros((height, width), dtype=bool)
    for xmin, ymin, xmax, ymax in boxes:
        covered[int(ymin) : int(np.ceil(ymax)) + 1, int(xmin) : int(np.ceil(xmax)) + 1] = True
    return float(covered.mean())


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    parser.add_argument("--model", type=Path, required=True, help="a trained .keras classifier")
    parser.add_argument("--image-size", type=int, default=None, help="default: the model's")
    benchlib.add_data_argument(
        parser, "--data", benchlib.shared_data("neu_det"), "the NEU images and annotations/*.xml"
    )
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use N evenly spaced test images")
    parser.add_argument("--layer", default=None, help="layer to explain (default: last conv)")
    arguments = parser.parse_args()

    import keras

    model = keras.saving.load_model(arguments.model, safe_mode=True, compile=False)
    model_height, model_width, channels = model.inputs[0].shape[1:]
    size = arguments.image_size or model_height
    if (model_height, model_width) != (size, size):
        raise SystemExit(
            f"Expected --image-size to match the model's input {model_height}x{model_width}. "
            f"Received: --image-size={arguments.image_size}"
        )
    dataset = load_images(arguments.data, image_size=(size, size), channels=channels)
    config = ImageTrainingConfig()
    _, _, test = stratified_split(
        dataset.labels,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=arguments.split_seed,
    )
    if arguments.limit and arguments.limit < len(test):
        # Evenly spaced, so that a short run still covers every class (test is sorted by index).
        test = test[np.linspace(0, len(test) - 1, arguments.limit).round().astype(int)]

    with benchlib.Stopwatch() as gradcam:
        images = dataset.images[test]
        labels = dataset.labels[test]
        layer_name = arguments.layer or explain.find_last_convolution_layer(model)
        heatmaps = explain.grad_cam_batch(model, images, labels, layer_name=layer_name)
        predicted = np.argmax(model.predict(images.astype(np.float32), verbose=0), axis=1)

    hits, baselines = [], []
    for heatmap, index in zip(heatmaps, test, strict=True):
        stem = Path(dataset.filenames[index]).stem
        original_size, boxes = read_boxes(arguments.data / "annotations" / f"{stem}.xml")
        peak = explain.heatmap_peak(heatmap)
        hits.append(peak_in_boxes(peak, heatmap.shape, original_size, boxes))
        baselines.append(box_area_fraction(original_size, boxes))
    hits, baselines = np.array(hits), np.array(baselines)
    correct = predicted == labels
    per_class = {
        name: {
            "images": int(np.sum(labels == class_index)),
            "peak_in_box": round(float(hits[labels == class_index].mean()), 4),
            "random_baseline": round(float(baselines[labels == class_index].mean()), 4),
        }
        for class_index, name in enumerate(dataset.class_names)
        if np.any(labels == class_index)
    }
    benchlib.print_json(
        {
            "model": str(arguments.model),
            "image_size": [size, size],
            "layer": layer_name,
            "explained_class": "true",
            "test_images": len(test),
            "split_seed": arguments.split_seed,
            "accuracy": round(float(correct.mean()), 4),
            "peak_in_box_share": round(float(hits.mean()), 4),
            "peak_in_box_share_correct_only": round(float(hits[correct].mean()), 4)
            if correct.any()
            else None,
            "random_baseline_share": round(float(baselines.mean()), 4),
            "per_class": per_class,
            "gradcam_seconds": round(gradcam.seconds, 2),
        }
    )


if __name__ == "__main__":
    main()

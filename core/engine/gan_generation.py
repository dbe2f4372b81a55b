"""Making synthetic images with a registered GAN: sample grids, N images per class, a zip.

The zip holds one folder per class (`<class>/synthetic_00001.png`), the layout the image loaders
accept, so generated images can be inspected, added to a training set or uploaded back.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image

from core.data.config_checks import is_integer
from core.data.validation import describe_value

GAN_TASK = "gan"
GRID_COLUMNS = 8
# The grid uses the same noise every epoch, so the page shows one set of images improving.
GRID_SEED = 1234
MAX_IMAGES_PER_CLASS = 5000


def sample_grid(
    generator, number_of_classes: int, columns: int = GRID_COLUMNS, seed: int = GRID_SEED
) -> np.ndarray:
    """Draws `columns` images of every class: row `i` shows class `i`.

    Returns:
        A uint8 array (classes * size, columns * size), one grayscale mosaic.
    """
    images, _ = generate_images(generator, range(number_of_classes), columns, seed=seed)
    size = images.shape[1]
    return (
        images[..., 0]
        .reshape(number_of_classes, columns, size, size)
        .transpose(0, 2, 1, 3)
        .reshape(number_of_classes * size, columns * size)
    )


def generate_images(
    generator, class_indices: Iterable[int], per_class: int, *, seed: int = 0, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Generates `per_class` images of each class.

    Args:
        generator: A generator from `build_generator` (or loaded from the registry).
        class_indices: The classes to draw, as indices the generator was trained with.
        per_class: Images per class (>= 1).
        seed: Seed of the noise: equal seeds give equal images. Default: 0.
        batch_size: Images per generator call. Default: 256.

    Returns:
        `(images, labels)`: uint8 (count, size, size, 1) and int32 (count,), class by class.

    Raises:
        ValueError: If `per_class` is not a positive integer or a class index is out of range.
    """
    from core.models.gan import to_pixels  # Lazy: loads TensorFlow.

    if not is_integer(per_class) or per_class < 1:
        raise ValueError(
            f"Expected per_class to be a positive integer. Received: per_class={per_class!r}"
        )
    latent_dim = int(generator.inputs[0].shape[-1])
    number_of_classes = _generator_classes(generator)
    class_indices = [int(index) for index in class_indices]
    outside = [index for index in class_indices if not 0 <= index < number_of_classes]
    if outside:
        raise ValueError(f"Expected class indices in [0, {number_of_classes}). Received: {outside}")
    labels = np.repeat(np.asarray(class_indices, dtype=np.int32), per_class)
    noise = np.random.default_rng(seed).standard_normal((len(labels), latent_dim))
    batches = []
    for start in range(0, len(labels), batch_size):
        stop = start + batch_size
        batches.append(
            to_pixels(
                generator(
                    [noise[start:stop].astype(np.float32), labels[start:stop, None]],
                    training=False,
                )
            )
        )
    size = int(generator.outputs[0].shape[1])
    images = np.concatenate(batches) if batches else np.zeros((0, size, size, 1), np.uint8)
    return images, labels


def _generator_classes(generator) -> int:
    for layer in generator.layers:
        if type(layer).__name__ == "Embedding":
            return int(layer.input_dim)
    raise ValueError("Expected a conditional generator with a label Embedding layer.")


def load_generator(registry, reference: str):
    """Loads a registered GAN generator.

    Returns:
        `(generator, metadata)`.

    Raises:
        ValueError: If the model is unknown or is not a GAN.
    """
    generator, metadata = registry.load(reference)
    if metadata.get("task") != GAN_TASK:
        raise ValueError(
            f"Expected a GAN (task 'gan'). Received: model='{reference}' with "
            f"task={describe_value(metadata.get('task'))}"
        )
    return generator, metadata


def images_to_zip(
    images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], prefix: str = "synthetic"
) -> bytes:
    """Writes images as PNG files in class folders inside a zip archive.

    Args:
        images: uint8 (count, height, width, 1).
        labels: Class indices into `class_names`.
        class_names: Folder names.
        prefix: File name prefix. Default: "synthetic".

    Returns:
        The zip archive's bytes.
    """
    buffer = io.BytesIO()
    counters: dict[int, int] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for image, label in zip(images, labels, strict=True):
            label = int(label)
            counters[label] = counters.get(label, 0) + 1
            png = io.BytesIO()
            Image.fromarray(np.asarray(image)[..., 0]).save(png, format="PNG")
            archive.writestr(
                f"{class_names[label]}/{prefix}_{counters[label]:05d}.png", png.getvalue()
            )
    return buffer.getvalue()


def generate_zip(
    registry, reference: str, per_class: int, *, seed: int = 0, classes: Iterable[str] | None = None
) -> tuple[bytes, dict[str, int]]:
    """Generates `per_class` images of every (or each named) class with a registered GAN.

    Returns:
        `(zip bytes, images per class)`.

    Raises:
        ValueError: If the model is not a GAN, `per_class` is out of range or a class is unknown.
    """
    if not is_integer(per_class) or not 1 <= per_class <= MAX_IMAGES_PER_CLASS:
        raise ValueError(
            f"Expected per_class to be an integer in [1, {MAX_IMAGES_PER_CLASS}]. "
            f"Received: per_class={per_class!r}"
        )
    generator, metadata = load_generator(registry, reference)
    class_names = list(metadata["classes"])
    wanted = class_names if classes is None else list(classes)
    unknown = [name for name in wanted if name not in class_names]
    if unknown:
        raise ValueError(
            f"Expected classes among {class_names}. Received: unknown classes {unknown}"
        )
    indices = [class_names.index(name) for name in wanted]
    images, labels = generate_images(generator, indices, per_class, seed=seed)
    counts = dict.fromkeys(wanted, per_class)
    return images_to_zip(images, labels, class_names), counts

"""Writes LineSight's bundled sample data: steel-surface images and machine sensor series.

The output is deterministic: every image and every sensor table is drawn from its own random
generator seeded by (seed, stream, ...), and files are written with fixed options, so the same seed
gives the same bytes on every run. `python -m core sample-data [--out DIR]` calls
`generate_sample_data`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from core.data import synthetic_images, synthetic_sensors
from core.data.validation import describe_value

DEFAULT_SAMPLE_DIRECTORY = Path(__file__).resolve().parents[2] / "sample_data"
DEFAULT_SEED = 20261127
IMAGES_PER_CLASS = 160
SPOT_CHECKS_PER_CLASS = 2
TRAIN_UNITS = 64
TEST_UNITS = 16
LIVE_CYCLES = 400
LIVE_ANOMALIES = 6
PNG_COMPRESS_LEVEL = 9
MASK_FOREGROUND = 255

# Each kind of output draws from its own stream so that changing one never shifts another.
_IMAGE_STREAM = 0
_SPOT_CHECK_STREAM = 1
_TRAIN_STREAM = 2
_TEST_STREAM = 3
_LIVE_STREAM = 4


def generate_sample_data(
    output_directory: str | os.PathLike, seed: int = DEFAULT_SEED
) -> dict[str, object]:
    """Generates the sample images, defect masks, sensor tables and a README into a directory.

    Files this generator owns (`images/`, `masks/`, `spot_check/`, `sensors/`, `README.md`) are
    rewritten; stale images and masks from an earlier run are removed; anything else in the
    directory is left alone.

    Args:
        output_directory: Where to write; created if missing.
        seed: Base seed. Defaults to 20261127, the seed of the committed `sample_data/`.

    Returns:
        A summary: `output_directory`, `images_per_class` (class name to count),
        `masks_per_class` (defect class name to count), `empty_masks` (the `<class>/<file>`
        names of masks without a defect pixel, from hard defects wholly outside the frame),
        `spot_check_images`, `train_units`, `test_units`, `live_cycles`, `live_anomalies`,
        `file_count` and `total_bytes`.

    Raises:
        TypeError: If `output_directory` is not a path.
        ValueError: If `seed` is not a non-negative integer.
    """
    if not isinstance(output_directory, str | os.PathLike):
        raise TypeError(
            "Expected output_directory to be a str or os.PathLike. "
            f"Received: output_directory={describe_value(output_directory)}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(
            f"Expected seed to be a non-negative integer. Received: seed={describe_value(seed)}"
        )
    root = Path(output_directory)
    images_per_class, masks_per_class, empty_masks = _write_images(root, seed)
    spot_check_count = _write_spot_checks(root, seed)
    _write_sensors(root, seed)
    (root / "README.md").write_text(_readme_text(seed, empty_masks), encoding="utf-8")
    files = _owned_files(root)
    return {
        "output_directory": str(root),
        "images_per_class": images_per_class,
        "masks_per_class": masks_per_class,
        "empty_masks": empty_masks,
        "spot_check_images": spot_check_count,
        "train_units": TRAIN_UNITS,
        "test_units": TEST_UNITS,
        "live_cycles": LIVE_CYCLES,
        "live_anomalies": LIVE_ANOMALIES,
        "file_count": len(files),
        "total_bytes": sum(path.stat().st_size for path in files),
    }


def _write_png(path: Path, pixels: np.ndarray) -> None:
    # Pillow writes no timestamp or text chunks by default; fixed options keep the bytes stable.
    Image.fromarray(pixels).save(
        path, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL
    )


def _write_mask_png(path: Path, mask: np.ndarray) -> None:
    # Two-level masks compress far better with Pillow's optimiser, which is deterministic too.
    pixels = np.where(mask, MASK_FOREGROUND, 0).astype(np.uint8)
    Image.fromarray(pixels).save(
        path, format="PNG", optimize=True, compress_level=PNG_COMPRESS_LEVEL
    )


def _remove_stale_pngs(directory: Path, expected: set[str]) -> None:
    for path in directory.glob("*.png"):
        if path.name not in expected:
            path.unlink()


def _write_images(root: Path, seed: int) -> tuple[dict[str, int], dict[str, int], list[str]]:
    image_counts, mask_counts, empty_masks = {}, {}, []
    for class_index, class_name in enumerate(synthetic_images.IMAGE_CLASSES):
        directory = root / "images" / class_name
        directory.mkdir(parents=True, exist_ok=True)
        mask_directory = root / "masks" / class_name
        names = [f"{class_name}_{index:03d}.png" for index in range(IMAGES_PER_CLASS)]
        _remove_stale_pngs(directory, set(names))
        if class_name == "ok":
            # Good parts have no defect, so no mask; a folder from an older layout is emptied.
            if mask_directory.is_dir():
                _remove_stale_pngs(mask_directory, set())
        else:
            mask_directory.mkdir(parents=True, exist_ok=True)
            _remove_stale_pngs(mask_directory, set(names))
        for index, name in enumerate(names):
            rng = np.random.default_rng([seed, _IMAGE_STREAM, class_index, index])
            image, mask = synthetic_images.render_surface_image_with_mask(class_name, rng)
            _write_png(directory / name, image)
            if mask is not None:
                _write_mask_png(mask_directory / name, mask)
                if not mask.any():
                    empty_masks.append(f"{class_name}/{name}")
        image_counts[class_name] = len(names)
        if class_name != "ok":
            mask_counts[class_name] = len(names)
    return image_counts, mask_counts, empty_masks


def _write_spot_checks(root: Path, seed: int) -> int:
    directory = root / "spot_check"
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for class_index, class_name in enumerate(synthetic_images.IMAGE_CLASSES):
        for number in range(1, SPOT_CHECKS_PER_CLASS + 1):
            rng = np.random.default_rng([seed, _SPOT_CHECK_STREAM, class_index, number])
            name = f"{class_name}_spot_{number}.png"
            _write_png(directory / name, synthetic_images.render_surface_image(class_name, rng))
            names.append(name)
    _remove_stale_pngs(directory, set(names))
    return len(names)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _write_sensors(root: Path, seed: int) -> None:
    directory = root / "sensors"
    directory.mkdir(parents=True, exist_ok=True)
    train = synthetic_sensors.simulate_run_to_failure(
        TRAIN_UNITS, np.random.default_rng([seed, _TRAIN_STREAM])
    )
    test, remaining = synthetic_sensors.simulate_test_fleet(
        TEST_UNITS, np.random.default_rng([seed, _TEST_STREAM])
    )
    live, anomalies = synthetic_sensors.simulate_live_series(
        np.random.default_rng([seed, _LIVE_STREAM]), LIVE_CYCLES, LIVE_ANOMALIES
    )
    _write_csv(train, directory / "train.csv")
    _write_csv(test, directory / "test.csv")
    _write_csv(remaining, directory / "test_rul.csv")
    _write_csv(live, directory / "live.csv")
    _write_csv(anomalies, directory / "live_anomalies.csv")


def _owned_files(root: Path) -> list[Path]:
    files = [root / "README.md"]
    for name in ("images", "masks", "spot_check", "sensors"):
        files.extend(path for path in (root / name).rglob("*") if path.is_file())
    return sorted(files)


def _readme_text(seed: int, empty_masks: list[str]) -> str:
    classes = synthetic_images.IMAGE_CLASSES
    size = synthetic_images.IMAGE_SIZE
    constant = ", ".join(synthetic_sensors.CONSTANT_SENSORS)
    hard_percent = round(100 * synthetic_images.HARD_DEFECT_SHARE)
    defect_classes = ", ".join(f"`{name}`" for name in classes if name != "ok")
    threshold = f"{synthetic_images.MASK_RELIEF_THRESHOLD:g}"
    empty = ", ".join(f"`images/{name}`" for name in empty_masks) or "none in this seed"
    return f"""# LineSight sample data

Synthetic, generated by `core/sample_data.py` (seed {seed}); nothing here comes from a real plant.
Regenerate with:

    python -m core sample-data --out sample_data

The output is byte-identical on every run; a unit test compares a fresh generation with this
directory, so edit the generator, never these files.

## images/ (surface inspection)

{len(classes) * IMAGES_PER_CLASS} grayscale PNGs of steel surface, {size}x{size} pixels, in one
folder per class, {IMAGES_PER_CLASS} per class: `images/<class>/<class>_NNN.png`.

| class | what it looks like |
| --- | --- |
| `ok` | no defect; some carry harmless mill streaks, stains or dust specks |
| `scratch` | thin straight or gently curved groove with a bright lip, any direction |
| `pit` | one or a cluster of small round depressions with a bright rim |
| `crack` | dark jagged line that wanders and may branch |
| `inclusion` | rough elongated patch (mostly dark) along the rolling direction |

The background varies: rolled/brushed grain in either direction, mill marks, mottling, sensor
noise, lighting gradients, vignetting and exposure. About {hard_percent} % of defects are hard
cases (faint, small or partly outside the frame). The classes are learnable but not trivially
separable (`bench/sample_separability.py`): the one-convolution seed CNN stays far below 100 %
test accuracy, while a small CNN with batch normalisation, global pooling and flips reaches
about 95-99 %.

## masks/ (defect footprints)

For every defect image ({defect_classes}) a binary mask with the same name:
`masks/<class>/<class>_NNN.png`, 8-bit grayscale, {size}x{size}, 0 = background, 255 = defect.
A pixel is marked when the defect's own relief moves it by at least {threshold} gray levels
before lighting and exposure, so faint hard cases keep their footprint; `ok` images have no
mask (mill streaks, stains and dust are not defects). A hard defect drawn wholly outside the
frame leaves an empty mask (here: {empty}); such an image shows no defect although
its folder says it has one. Load them with `core.data.masks.load_masks`, for pixel-level metrics.

## spot_check/

{len(classes) * SPOT_CHECKS_PER_CLASS} further images ({SPOT_CHECKS_PER_CLASS} per class), not in
`images/`, named `<class>_spot_N.png`, for trying a trained model on unseen parts.

## sensors/ (predictive maintenance)

In the style of NASA's C-MAPSS turbofan data (FD001): one operating condition, so `setting_1`
and `setting_2` are small noise around 0 and `setting_3` is always 100.

- `train.csv`: {TRAIN_UNITS} machines run to failure, long format, columns `unit, cycle,
  setting_1..setting_3, sensor_01..sensor_14, failure_mode`. Lifetimes vary from about
  {synthetic_sensors.MINIMUM_LIFETIME} to {synthetic_sensors.MAXIMUM_LIFETIME} cycles; the last
  row of a unit is the cycle it failed on, so RUL = last cycle - cycle.
- `test.csv`: {TEST_UNITS} further machines (units 1-{TEST_UNITS}), same columns, cut off
  before failure; `test_rul.csv` (`unit, rul`) gives the true remaining cycles after each unit's
  last row.
- `live.csv`: one machine still in service, {LIVE_CYCLES} cycles, columns `cycle,
  setting_1..setting_3, sensor_01..sensor_14` (no label), with {LIVE_ANOMALIES} injected
  anomalous stretches listed in `live_anomalies.csv` (`start_cycle, end_cycle` inclusive,
  `kind` = spike, level_shift, stuck or noise_burst, `sensors` joined by `;`).

A hidden wear level grows roughly exponentially to 1 at failure and drives 11 sensors with
different signs and strengths. The failure mode decides which ones move most: `bearing_wear`
mostly temperatures and shaft speeds (sensor_02, 03, 04, 07, 08, 13), `seal_leak` mostly pressures
and bypass ratio (sensor_06, 09, 11, 12, 14). {constant} are constant (uninformative).
Floats are rounded to {synthetic_sensors.DECIMALS} decimals.
"""

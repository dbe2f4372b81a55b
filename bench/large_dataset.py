"""Streaming image training on growing datasets: peak memory and time against dataset size.

Renders N synthetic steel-surface images (`core.data.synthetic_images`, 5 classes, grayscale
PNG files, 64x64 by default) once for the largest N, then for each N trains with
`core.workflows.image_streamed.run_streaming_image_training` on a manifest listing the first N
files.
Each run happens in a fresh Python process, so its peak resident memory (the child's own
`ru_maxrss`) belongs to that run alone. Early stopping is off, so every run trains the same
number of epochs. Optionally the largest N is also trained in memory (`run_image_training`) for
comparison. The machine may be shared, so each run also reports its CPU time (all threads) and the
load average. Prints a markdown table, a line on linearity (seconds per 1,000 images) and one JSON
line with the raw numbers.

Usage:
    python bench/large_dataset.py [--sizes 2500 5000 10000 20000] [--epochs 2]
        [--image-size 64] [--model defect_cnn] [--batch-size 32] [--data-dir DIR]
        [--workers 2] [--no-in-memory]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import benchlib
import numpy as np

from core.data.synthetic_images import IMAGE_CLASSES, render_surface_image

DEFAULT_SIZES = (2500, 5000, 10000, 20000)
GENERATION_SEED = 2024


# Data -------------------------------------------------------------------------------------------


def image_name(index: int) -> str:
    """The file of image `index`, relative to the data folder; classes take turns."""
    class_name = IMAGE_CLASSES[index % len(IMAGE_CLASSES)]
    return f"{class_name}/{class_name}_{index:06d}.png"


def render_range(arguments: tuple[str, int, int, int]) -> None:
    """Renders images [start, stop) into `root` (run in a worker process)."""
    from PIL import Image

    root, start, stop, size = arguments
    for index in range(start, stop):
        # One generator per image: the same image whichever worker renders it.
        generator = np.random.default_rng([GENERATION_SEED, index])
        class_name = IMAGE_CLASSES[index % len(IMAGE_CLASSES)]
        pixels = render_surface_image(class_name, generator, size)
        Image.fromarray(pixels).save(Path(root) / image_name(index))


def generate_images(root: Path, count: int, size: int, workers: int) -> float:
    """Renders `count` images of `size` pixels into `root` unless already there; returns seconds."""
    marker = root / f"generated_{count}_{size}.txt"
    if marker.exists():
        return 0.0
    clock = benchlib.Stopwatch()
    for class_name in IMAGE_CLASSES:
        (root / class_name).mkdir(parents=True, exist_ok=True)
    chunk = 500
    tasks = [
        (str(root), start, min(start + chunk, count), size) for start in range(0, count, chunk)
    ]
    with multiprocessing.Pool(workers) as pool:
        for _ in pool.imap_unordered(render_range, tasks):
            pass
    marker.write_text("done\n")
    return clock.elapsed


def write_manifest(root: Path, count: int) -> Path:
    """Writes a manifest of the first `count` images (balanced: classes take turns)."""
    manifest = root / f"manifest_{count}.csv"
    lines = ["filename,label"]
    lines += [f"{image_name(index)},{image_name(index).split('/')[0]}" for index in range(count)]
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


# One run, in a child process --------------------------------------------------------------------


def run_child(manifest: Path, mode: str, options: argparse.Namespace) -> dict:
    """Trains once on `manifest` ("stream" or "memory") and returns the measurements."""
    from core.engine.image_training import ImageTrainingConfig
    from core.workflows.image import run_image_training
    from core.workflows.image_streamed import run_streaming_image_training

    config = ImageTrainingConfig(
        model=options.model,
        epochs=options.epochs,
        batch_size=options.batch_size,
        image_size=(options.image_size, options.image_size),
        channels=1,
        early_stopping_patience=0,
    )
    run = run_streaming_image_training if mode == "stream" else run_image_training
    with benchlib.Stopwatch() as total:
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        result = run(manifest, config)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    training = result.training
    return {
        "mode": mode,
        "images": len(result.dataset),
        "train_images": len(result.train_indices),
        "epochs_run": training.epochs_run,
        "training_seconds": training.seconds,
        "total_seconds": total.seconds,
        "images_per_second": len(result.train_indices) * training.epochs_run / training.seconds,
        # CPU time of all threads: on a shared machine it moves less than wall time.
        "cpu_seconds": (usage.ru_utime + usage.ru_stime)
        - (usage_before.ru_utime + usage_before.ru_stime),
        "peak_rss_mb": benchlib.peak_rss_mb(),
        "load_average": os.getloadavg()[1],
        "test_accuracy": result.evaluation["accuracy"],
    }


def run_in_fresh_process(manifest: Path, mode: str, options: argparse.Namespace) -> dict:
    child_arguments = ["--child", str(manifest), "--mode", mode, "--epochs", str(options.epochs)]
    child_arguments += ["--image-size", str(options.image_size), "--model", options.model]
    child_arguments += ["--batch-size", str(options.batch_size)]
    with benchlib.Stopwatch() as process:
        what = f"The {mode} run on {manifest.name}"
        measurements = benchlib.run_child(__file__, child_arguments, what)
    # Process start-up and the TensorFlow import count here, not in `total_seconds`.
    measurements["process_seconds"] = process.seconds
    return measurements


# Report -----------------------------------------------------------------------------------------


def markdown_table(rows: list[dict]) -> str:
    header = (
        "| mode | images | train images | epochs | training s | total s | images/s (training) "
        "| s per 1k images (total) | CPU s per 1k images | peak RSS MB | test accuracy "
        "| load (5 min) |"
    )
    lines = [header, "|" + "---|" * 12]
    for row in rows:
        lines.append(
            f"| {row['mode']} | {row['images']:,} | {row['train_images']:,} | {row['epochs_run']} "
            f"| {row['training_seconds']:.1f} | {row['total_seconds']:.1f} "
            f"| {row['images_per_second']:.0f} | {1000 * row['total_seconds'] / row['images']:.2f} "
            f"| {1000 * row['cpu_seconds'] / row['images']:.2f} "
            f"| {row['peak_rss_mb']:.0f} | {row['test_accuracy']:.3f} | {row['load_average']:.1f} |"
        )
    return "\n".join(lines)


def linearity_line(rows: list[dict]) -> str:
    """Seconds per 1,000 images at each size, and a straight-line fit of total seconds."""
    streamed = [row for row in rows if row["mode"] == "stream"]
    if not streamed:
        return "Linearity: no streaming run."
    parts = ", ".join(
        f"{row['images']:,}: {1000 * row['total_seconds'] / row['images']:.2f} total, "
        f"{1000 * row['training_seconds'] / row['images']:.2f} training, "
        f"{1000 * row['cpu_seconds'] / row['images']:.2f} CPU"
        for row in streamed
    )
    line = f"Linearity (streaming, seconds per 1,000 images): {parts}."
    if len(streamed) >= 2:
        counts = np.array([row["images"] for row in streamed], dtype=float)
        for key, label in (("total_seconds", "wall"), ("cpu_seconds", "CPU")):
            seconds = np.array([row[key] for row in streamed])
            # A fixed cost (model build, graph tracing) plus a cost per image: a + b * N.
            slope, intercept = np.polyfit(counts, seconds, 1)
            worst = float(np.max(np.abs(seconds - (intercept + slope * counts)) / seconds))
            line += (
                f" Fit ({label}): {intercept:.1f} s + {1000 * slope:.2f} s per 1,000 images, "
                f"largest deviation {100 * worst:.1f} %."
            )
    return line


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = benchlib.argument_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--model", default="defect_cnn")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data-dir", type=Path, help="Keep (and reuse) the images here.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-in-memory", action="store_true", help="Skip the in-memory run.")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("stream", "memory"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    options = parse_arguments(argv)
    if options.child is not None:
        benchlib.print_json(run_child(options.child, options.mode, options))
        return
    sizes = sorted(set(options.sizes))
    root = options.data_dir or Path(tempfile.mkdtemp(prefix="linesight_large_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        seconds = generate_images(root, max(sizes), options.image_size, options.workers)
        print(f"Generated {max(sizes):,} images in {seconds:.1f} s into {root}", flush=True)
        rows = []
        for size in sizes:
            rows.append(run_in_fresh_process(write_manifest(root, size), "stream", options))
            benchlib.print_json(rows[-1])
        if not options.no_in_memory:
            rows.append(run_in_fresh_process(write_manifest(root, max(sizes)), "memory", options))
            benchlib.print_json(rows[-1])
    finally:
        if options.data_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(
        f"{options.model}, {options.image_size}x{options.image_size} grayscale, "
        f"{options.epochs} epochs, batch {options.batch_size}, {os.cpu_count()} CPU cores"
    )
    print(markdown_table(rows))
    print(linearity_line(rows))
    benchlib.print_json({"generation_seconds": seconds, "runs": rows})


if __name__ == "__main__":
    main()

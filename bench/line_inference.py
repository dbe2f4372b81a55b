"""Throughput and memory of streamed line-side prediction (`python -m core predict`).

Copies the sample images (`--images`, by default sample_data/images: 800 PNGs of 128x128) under
new names into a temporary folder until it holds N images, then predicts them with the demo model
`demo-defect-cnn` into a Parquet file through `core.inference.line.predict_to_outputs`. Each run
is a fresh process, so its peak resident memory (`ru_maxrss`) is its own. For comparison,
`--compare-in-memory` also runs the in-memory way (every file's bytes and every decoded image in
memory at once, as `predict` did before streaming). Bounded memory shows as a peak that stays flat
as N grows.

Prints one JSON line per run and a markdown table.

Usage:
    python bench/line_inference.py [--sizes 1000 5000 20000] [--batch-size 64]
        [--compare-in-memory] [--images DIR]
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import benchlib


def make_images(source: Path, folder: Path, count: int) -> None:
    """Fills `folder` with `count` PNGs: those of `source` again and again, under new names."""
    samples = sorted(source.rglob("*.png"))
    if not samples:
        raise ValueError(f"Expected PNG images to copy. Received: --images {source}")
    folder.mkdir(parents=True)
    for index in range(count):
        shutil.copyfile(samples[index % len(samples)], folder / f"part_{index:06d}.png")


def run_once(folder: Path, registry: Path, mode: str, batch_size: int) -> dict:
    """Predicts every image of `folder` in this process and returns the measurements."""
    from core.inference.line import predict_to_outputs
    from core.workflows.image import load_predictor

    with benchlib.temporary_registry(registry, demo_models=True) as model_registry:
        predictor, _ = load_predictor(model_registry, "demo-defect-cnn")
    before = benchlib.peak_rss_mb()
    clock = benchlib.Stopwatch()
    if mode == "streamed":
        out = folder.parent / f"{folder.name}.parquet"
        summary = predict_to_outputs(predictor, [folder], out=out, batch_size=batch_size)
        predicted = summary.predicted
    else:
        files = [(path.name, path.read_bytes()) for path in sorted(folder.rglob("*.png"))]
        batch = predictor.predict_bytes(files)
        batch.to_frame().to_parquet(folder.parent / f"{folder.name}.in_memory.parquet")
        predicted = len(batch.rows)
    seconds = clock.elapsed
    return {
        "mode": mode,
        "images": predicted,
        "seconds": round(seconds, 2),
        "images_per_second": round(predicted / seconds, 1),
        "peak_rss_mb_after_model_load": round(before, 1),
        "peak_rss_mb": round(benchlib.peak_rss_mb(), 1),
    }


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--compare-in-memory", action="store_true")
    benchlib.add_data_argument(
        parser, "--images", benchlib.SAMPLE_DATA / "images", "PNG images to copy (any depth)"
    )
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "REGISTRY", "MODE"))
    arguments = parser.parse_args()
    if arguments.child:
        folder, registry, mode = arguments.child
        benchlib.print_json(run_once(Path(folder), Path(registry), mode, arguments.batch_size))
        return

    modes = ["streamed"] + (["in_memory"] if arguments.compare_in_memory else [])
    rows = []
    with tempfile.TemporaryDirectory(prefix="linesight-bench-") as temporary:
        registry = Path(temporary) / "registry"
        for size in arguments.sizes:
            folder = Path(temporary) / f"images_{size}"
            make_images(arguments.images, folder, size)
            for mode in modes:
                child = ["--batch-size", str(arguments.batch_size)]
                child += ["--child", str(folder), str(registry), mode]
                result = benchlib.run_child(__file__, child, f"The {mode} run on {size} images")
                benchlib.print_json(result)
                rows.append(result)
            shutil.rmtree(folder)
    print()
    print("| mode | images | seconds | images/s | peak RSS after model load (MB) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['mode']} | {row['images']:,} | {row['seconds']} | "
            f"{row['images_per_second']:,.0f} | {row['peak_rss_mb_after_model_load']} | "
            f"{row['peak_rss_mb']} |"
        )


if __name__ == "__main__":
    main()

"""Accuracy and size of every export format of a registered image model, on its test split.

Registers the bundled demo models in a temporary registry (or uses `--registry`), then runs
`core.deploy.export_check.check_exports`: the model's own seeded split, `.keras` against float32,
float16 and int8 TensorFlow Lite (int8 calibrated on the training split). Prints one JSON line. The
same check is `python -m core models check-export NAME --data PATH`.

Usage:
    python bench/export_formats.py [--model demo-defect-cnn] [--data sample_data/images]
        [--registry DIR]

`--data` defaults to the checkout's sample_data/images.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchlib

from core.deploy.export_check import check_exports


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    parser.add_argument("--model", default="demo-defect-cnn")
    benchlib.add_data_argument(
        parser, "--data", benchlib.SAMPLE_DATA / "images", "the model's training images"
    )
    parser.add_argument("--registry", type=Path, help="default: a temporary one")
    arguments = parser.parse_args()

    with benchlib.temporary_registry(arguments.registry, demo_models=True) as registry:
        benchlib.print_json(check_exports(registry, arguments.model, arguments.data))


if __name__ == "__main__":
    main()

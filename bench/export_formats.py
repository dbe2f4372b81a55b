"""Accuracy and size of every export format of a registered image model, on its test split.

Registers the bundled demo models in a temporary registry (or uses `--registry`), then runs
`core.deploy.export_check.check_exports`: the model's own seeded split, `.keras` against float32,
float16 and int8 TensorFlow Lite (int8 calibrated on the training split). Prints one JSON line. The
same check is `python -m core models check-export NAME --data PATH`.

Usage:
    python bench/export_formats.py [--model demo-defect-cnn] [--data sample_data/images]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.demo.models import ensure_demo_models
from core.deploy.export_check import check_exports
from core.registry.store import ModelRegistry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo-defect-cnn")
    parser.add_argument("--data", type=Path, default=Path("sample_data/images"))
    parser.add_argument("--registry", type=Path)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="linesight-bench-") as directory:
        registry = ModelRegistry(arguments.registry or Path(directory) / "registry")
        ensure_demo_models(registry)
        print(json.dumps(check_exports(registry, arguments.model, arguments.data)))


if __name__ == "__main__":
    main()

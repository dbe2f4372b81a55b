"""Entry point for `python -m core`."""

import os
import sys

# TensorFlow's C++ start-up notices (CUDA probing on CPU machines) would drown the CLI's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

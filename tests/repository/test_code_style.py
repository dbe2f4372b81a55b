"""The repository stays lint-clean and formatted (ruff, configured in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPOSITORY_ROOT


def ruff_command() -> list[str]:
    # The venv's own ruff first: the venv may not be on PATH when python is called directly.
    beside_python = Path(sys.executable).parent / "ruff"
    executable = str(beside_python) if beside_python.exists() else shutil.which("ruff")
    if executable is None:
        pytest.skip("ruff is not installed; install the test extra: pip install -e '.[test]'")
    return [executable]


@pytest.mark.parametrize(
    "arguments", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"]
)
def test_ruff_is_clean(arguments):
    completed = subprocess.run(
        [*ruff_command(), *arguments],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


# Modules the home page and the CLI's start-up may touch: they must stay light.
LIGHT_MODULES = [
    "core.cli.main",
    "core.charts.common",
    "core.metrics.evaluation",
    "core.data.sample_data",
]


def test_light_core_modules_import_neither_streamlit_nor_tensorflow():
    script = (
        "import sys, pkgutil, importlib, core.data\n"
        "names = [m.name for m in pkgutil.walk_packages(core.data.__path__, 'core.data.')]\n"
        f"for name in names + {LIGHT_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print('streamlit' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY_ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    streamlit_imported, tensorflow_imported = completed.stdout.split()
    assert streamlit_imported == "False"
    assert tensorflow_imported == "False", "core modules must import TensorFlow lazily"

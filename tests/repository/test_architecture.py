"""The layers hold: import-linter contracts, no import cycles, small modules, lazy TensorFlow.

`core/` is one package per role; `[tool.importlinter]` in pyproject.toml says which package may
import which. These tests run the contracts, show that they catch a forbidden import, and check
the rules import-linter does not: no cycle between any two modules, no module over 400 lines, and
imports inside functions only where TensorFlow must load lazily.
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPOSITORY_ROOT

grimp = pytest.importorskip(
    "grimp", reason="import-linter is not installed: pip install -e '.[test]'"
)

MAX_MODULE_LINES = 400
# Imports that may stay inside a function: TensorFlow is loaded only when a model is built, trained
# or run, so that the Home page and the CLI start without it.
LAZY_MODULES = ("tensorflow", "keras", "ai_edge_litert", "core.models.gan")
LAZY_MARK = "Lazy: loads TensorFlow."


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).parent / "lint-imports"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "importlinter"]
    return subprocess.run(
        [*command, "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": str(Path(sys.executable).parent)},
        check=False,
    )


def test_import_contracts_are_kept():
    completed = lint_imports(REPOSITORY_ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Contracts: 4 kept, 0 broken." in completed.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("engine/progress.py", "import streamlit", "only core.ui imports streamlit"),
        ("data/validation.py", "from core.registry import store", "core layers"),
        ("charts/common.py", "import keras", "charts are pure"),
    ],
)
def test_contracts_catch_a_forbidden_import(tmp_path, module, forbidden, contract):
    shutil.copytree(
        REPOSITORY_ROOT / "core",
        tmp_path / "core",
        ignore=shutil.ignore_patterns("__pycache__", "bundled_models"),
    )
    shutil.copy(REPOSITORY_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "core" / module
    path.write_text(path.read_text() + f"\n{forbidden}\n")
    completed = lint_imports(tmp_path)
    assert completed.returncode != 0
    broken = completed.stdout.split("Broken contracts")[-1]
    assert contract in broken, completed.stdout


def test_no_import_cycle_between_core_modules():
    graph = grimp.build_graph("core", exclude_type_checking_imports=True, cache_dir=None)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} <-> {imported}")
    assert not cycles, cycles


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (REPOSITORY_ROOT / folder).rglob("*.py"))


def test_no_module_in_core_or_pages_is_over_400_lines():
    long = {
        str(path.relative_to(REPOSITORY_ROOT)): length
        for path in python_files("core", "pages")
        if (length := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these by responsibility: {long}"


def function_imports(path: Path):
    tree = ast.parse(path.read_text())
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    yield node, [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    yield node, [node.module or ""]


def test_imports_inside_functions_only_load_tensorflow_lazily_and_say_so():
    offenders = []
    for path in python_files("core"):
        lines = path.read_text().splitlines()
        for node, modules in function_imports(path):
            lazy = all(module.startswith(LAZY_MODULES) for module in modules)
            marked = LAZY_MARK in lines[node.lineno - 1] or LAZY_MARK in lines[node.lineno - 2]
            if not (lazy and marked):
                offenders.append(f"{path.relative_to(REPOSITORY_ROOT)}:{node.lineno} {modules}")
    assert not offenders, offenders


def test_every_package_docstring_lists_its_modules():
    missing = []
    for package in sorted((REPOSITORY_ROOT / "core").iterdir()):
        init = package / "__init__.py"
        if not init.exists():
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        for module in sorted(package.glob("*.py")):
            named = (f"`{module.stem}`", f"`core.{package.name}.{module.stem}`")
            if module.name != "__init__.py" and not any(name in docstring for name in named):
                missing.append(f"core/{package.name}/{module.name}")
    assert not missing, f"name these modules in their package's __init__ docstring: {missing}"


def test_core_holds_no_flat_modules():
    flat = sorted(
        path.name
        for path in (REPOSITORY_ROOT / "core").glob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )
    assert not flat, f"move these into the package of their role: {flat}"

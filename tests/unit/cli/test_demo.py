"""Tests for core/cli/demo.py: `python -m core demo-reset`."""

import json
import subprocess
import sys

from core.cli.main import build_parser, main
from core.demo.models import bundled_demo_models
from core.registry.attachments import ROBUSTNESS, write_json_attachment
from core.registry.store import ModelRegistry
from tests.conftest import REPOSITORY_ROOT

DEMO_REFERENCES = [f"{name}:1" for name in bundled_demo_models()]


def last_json_line(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_demo_reset_is_a_command_with_the_common_options():
    arguments = build_parser().parse_args(["demo-reset", "--registry", "somewhere", "--json"])
    assert (arguments.command, arguments.registry, arguments.json) == (
        "demo-reset",
        "somewhere",
        True,
    )


def test_demo_reset_prints_what_it_restored_and_a_json_summary(tmp_path, capsys):
    directory = tmp_path / "registry"
    assert main(["demo-reset", "--registry", str(directory), "--json"]) == 0
    output = capsys.readouterr().out
    summary = last_json_line(output)
    assert summary["demo_models"] == summary["reimported"] == DEMO_REFERENCES
    assert output.startswith(f"Resetting the demo models in {directory} ...\nDemo reset.\n")
    assert f"- Demo models as bundled: {', '.join(DEMO_REFERENCES)}" in output

    registry = ModelRegistry(directory)
    write_json_attachment(registry.get("demo-rul:1"), ROBUSTNESS, {"rows": []})
    assert main(["demo-reset", "--registry", str(directory)]) == 0
    output = capsys.readouterr().out
    assert "- Removed files beside demo models: demo-rul:1/robustness.json" in output
    assert not output.strip().splitlines()[-1].startswith("{")


def test_demo_reset_reads_the_registry_variable_in_a_fresh_process(tmp_path):
    directory = tmp_path / "registry"
    completed = subprocess.run(
        [sys.executable, "-m", "core", "demo-reset", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPOSITORY_ROOT,
        env={"PATH": "/usr/bin:/bin", "LINESIGHT_REGISTRY": str(directory)},
        check=True,
    )
    assert last_json_line(completed.stdout)["demo_models"] == DEMO_REFERENCES
    assert sorted(ModelRegistry(directory).names()) == sorted(bundled_demo_models())

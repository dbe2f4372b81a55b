"""Tests for core/cli/signoff.py: the `report` and `robustness` commands."""

import json

import pytest

from core.cli.main import main
from core.cli.signoff import robustness_lines
from core.demo.models import DEMO_IMAGE_MODEL


def last_json_line(capsys) -> tuple[dict, str, str]:
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.out, captured.err


def test_robustness_lines_show_each_change_with_its_flips():
    result = {
        "model": "demo-defect-cnn:1",
        "test_count": 120,
        "clean_accuracy": 0.9333,
        "decision": "Verdicts are the most probable class (no operating point is stored).",
        "rows": [
            {"label": "Blur σ 1 px", "accuracy": 0.55, "accuracy_change": -0.3833,
             "flip_share": 0.4167},
        ],
    }  # fmt: skip
    assert robustness_lines(result) == [
        "demo-defect-cnn:1 on 120 test images: clean accuracy 93.3%",
        "  perturbation           accuracy     change  flipped",
        "  Blur σ 1 px               55.0%  -38.3 pts    41.7%",
        "  Verdicts are the most probable class (no operating point is stored).",
    ]


def test_report_writes_the_html_file_and_stores_it_with_the_model(tmp_path, capsys):
    registry = tmp_path / "registry"
    out = tmp_path / "reports"
    out.mkdir()
    arguments = ["report", "demo-rul", "--out", str(out), "--robustness", "skip"]
    assert main([*arguments, "--registry", str(registry), "--json"]) == 0
    summary, printed, _ = last_json_line(capsys)
    written = out / "demo-rul-v1-signoff.html"
    assert summary["out"] == str(written)
    assert summary["stored"] == str(registry / "demo-rul" / "1" / "signoff_report.html")
    assert summary["bytes"] == written.stat().st_size
    document = written.read_text(encoding="utf-8")
    assert "<h1>Sign-off report: demo-rul:1</h1>" in document
    assert "(command line)</td>" in document  # Who made it.
    assert (registry / "demo-rul" / "1" / "signoff_report.html").read_text() == document
    assert f"Wrote {written} (" in printed


def test_report_and_robustness_errors_exit_with_code_two(tmp_path, capsys):
    registry = ["--registry", str(tmp_path / "registry")]
    missing = tmp_path / "missing" / "report.html"
    assert main(["report", "demo-rul", "--out", str(missing), *registry]) == 2
    assert capsys.readouterr().err == (
        "error: Expected --out to be a file in an existing folder, or a folder. "
        f"Received: out='{missing}'\n"
    )
    assert main(["robustness", "demo-rul", *registry, "--json"]) == 2
    summary, _, errors = last_json_line(capsys)
    assert errors.startswith("error: Expected an image model (task among ['image_classification'")
    assert summary["error_type"] == "ValueError"


@pytest.mark.slow
def test_robustness_prints_the_table_and_stores_the_result(tmp_path, capsys):
    registry = tmp_path / "registry"
    assert main(["robustness", DEMO_IMAGE_MODEL, "--registry", str(registry), "--json"]) == 0
    summary, printed, _ = last_json_line(capsys)
    assert summary["model"] == "demo-defect-cnn:1" and len(summary["rows"]) == 14
    assert summary["created_by"].endswith("(command line)")
    assert "demo-defect-cnn:1 on 120 test images: clean accuracy 93.3%" in printed
    assert "  Rotation ±10°" in printed
    stored = json.loads((registry / DEMO_IMAGE_MODEL / "1" / "robustness.json").read_text())
    assert stored["rows"] == summary["rows"]

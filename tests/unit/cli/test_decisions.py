"""Tests for core/cli/decisions.py: `python -m core operating-point`."""

import argparse
import json

import pytest

from core.cli.decisions import defect_rate_argument
from core.cli.main import main
from core.demo.models import DEMO_IMAGE_MODEL
from core.registry.attachments import OPERATING_POINT

COSTS = ["--missed-defect-cost", "500", "--false-reject-cost", "5", "--defect-rate", "2%"]


def run(capsys, registry, *arguments) -> tuple[int, str, str]:
    code = main(["operating-point", *arguments, "--registry", str(registry)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_defect_rate_as_fraction_percentage_or_per_million():
    assert defect_rate_argument("0.02") == 0.02
    assert defect_rate_argument("2%") == 0.02
    assert defect_rate_argument(" 2 % ") == 0.02
    assert defect_rate_argument("20000ppm") == 0.02
    with pytest.raises(argparse.ArgumentTypeError) as error:
        defect_rate_argument("two")
    assert str(error.value) == (
        "expected a fraction (0.02), a percentage (2%) or parts per million (20000ppm). "
        "Received: 'two'"
    )


@pytest.mark.slow
def test_chooses_stores_and_shows_the_operating_point(capsys, tmp_path):
    registry = tmp_path / "registry"
    code, out, _ = run(capsys, registry, DEMO_IMAGE_MODEL, *COSTS, "--json")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == f"Scoring the validation images of {DEMO_IMAGE_MODEL} ..."
    assert lines[1].startswith(f"Operating point of {DEMO_IMAGE_MODEL}:1 (images from ")
    assert lines[2].startswith("  threshold: ")
    assert "1 - p(ok) is at or above it is rejected" in lines[2]
    assert any(line.startswith("  escapes per million parts: ") for line in lines)
    assert any(line.startswith("  false rejects per million parts: ") for line in lines)
    assert any(
        line.endswith("(missed defect 500, false reject 5, defect rate 2.00%)") for line in lines
    )
    payload = json.loads(lines[-1])
    point = payload["operating_point"]
    assert payload["model"] == f"{DEMO_IMAGE_MODEL}:1"
    assert point["defect_rate"] == 0.02
    assert point["validation_count"] == 120
    stored = json.loads((registry / DEMO_IMAGE_MODEL / "1" / OPERATING_POINT).read_text())
    assert stored == point

    code, out, _ = run(capsys, registry, DEMO_IMAGE_MODEL, "--show", "--json")
    assert code == 0
    assert out.splitlines()[0] == f"Operating point of {DEMO_IMAGE_MODEL}:1:"
    assert json.loads(out.strip().splitlines()[-1])["operating_point"] == point


def test_show_without_a_stored_point_and_input_errors(capsys, tmp_path):
    registry = tmp_path / "registry"
    code, out, _ = run(capsys, registry, "demo-seed-cnn", "--show", "--json")
    assert code == 0
    assert out.splitlines()[0] == (
        "demo-seed-cnn:1 has no operating point yet: choose one with --missed-defect-cost, "
        "--false-reject-cost and --defect-rate."
    )
    assert json.loads(out.splitlines()[-1]) == {"model": "demo-seed-cnn:1", "operating_point": None}

    code, _, err = run(capsys, registry, DEMO_IMAGE_MODEL, "--missed-defect-cost", "500")
    assert code == 2
    assert err.strip() == (
        "error: Expected --missed-defect-cost, --false-reject-cost and --defect-rate (or "
        "--show). Received: missing ['--false-reject-cost', '--defect-rate']"
    )
    code, _, err = run(capsys, registry, DEMO_IMAGE_MODEL, "--show", *COSTS[:2])
    assert code == 2
    assert err.strip() == (
        "error: Expected either --show alone or the costs to choose a new operating point. "
        "Received: --show with ['--missed-defect-cost']"
    )
    code, _, err = run(
        capsys, registry, DEMO_IMAGE_MODEL, *COSTS[:4], "--defect-rate", "2", "--json"
    )
    assert code == 2
    assert err.strip() == (
        "error: Expected `defect_rate` to be the line's share of defective parts, a number in "
        "(0, 1) (0.02 for 2 %). Received: defect_rate=2.0"
    )
    code, _, err = run(capsys, registry, "demo-rul", *COSTS)
    assert code == 2
    assert "Expected an image model (task among ['image_classification', 'image_anomaly'])" in err
    assert not (registry / DEMO_IMAGE_MODEL / "1" / OPERATING_POINT).exists()

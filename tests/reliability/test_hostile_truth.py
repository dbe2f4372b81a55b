"""A true-RUL file that lists a unit twice is refused with the unit and lines named, at once.

Before, `evaluate` crashed with a traceback after scoring, and the sensor page's training failed
with "InvalidIndexError" only after the whole training had run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.data.sensor_sources import sample_source, uploaded_evaluation_data
from core.data.truth_files import read_final_rul
from core.engine.series_config import SeriesTrainingConfig
from core.jobs.sensor import make_training_work
from tests.conftest import REPOSITORY_ROOT

SENSORS = REPOSITORY_ROOT / "sample_data" / "sensors"
TWICE = b"unit,rul\n1,30\n2,41\n1,12\n"
MESSAGE = "Expected each unit at most once in 'rul.csv' (one true RUL per unit). Received: unit=1"


def test_a_unit_listed_twice_is_refused_with_its_lines():
    with pytest.raises(ValueError) as caught:
        read_final_rul(TWICE, name="rul.csv")
    assert str(caught.value) == MESSAGE + " on lines 2 and 4"


def test_the_sensor_page_refuses_it_before_queueing_a_training():
    evaluation = uploaded_evaluation_data(
        ("test.csv", (SENSORS / "test.csv").read_bytes()), ("rul.csv", TWICE)
    )
    with pytest.raises(ValueError, match=r"Expected each unit at most once in 'rul\.csv'"):
        make_training_work(sample_source(), SeriesTrainingConfig(task="rul"), evaluation=evaluation)


@pytest.mark.slow
def test_cli_evaluate_exits_2_with_the_message(tmp_path):
    truth = tmp_path / "rul.csv"
    truth.write_bytes(TWICE)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "evaluate",
            "--model",
            "demo-rul",
            "--data",
            str(SENSORS / "test.csv"),
            "--rul",
            str(truth),
        ],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert MESSAGE in completed.stderr
    assert "Traceback" not in completed.stderr

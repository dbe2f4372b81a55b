"""Files that are small on disk but huge in memory are refused before anything is materialised.

A 1 MB Parquet file of 5,000,000 rows x 40 columns of zeros expands to 1.6 GB of float64 (more
while pandas converts it); a CSV's header bounds how many of its rows may be read. Each loader
refuses with the limit named, the data check goes on with the other files, and the process's
memory does not grow by what the file would have expanded to.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pyarrow import parquet

from core.data import series_io
from core.data.inspection import inspect_uploads
from core.data.series_loading import load_series
from tests.conftest import REPOSITORY_ROOT

GOOD = b"unit,cycle,s1,s2\n1,1,0.5,10\n1,2,0.6,11\n2,1,0.4,12\n2,2,0.5,13\n"
TOO_MANY_VALUES = "Expected at most 20,000,000 values (rows x columns)"


def parquet_bytes(rows: int, columns: int, **options) -> bytes:
    table = pa.table({f"sensor_{index}": np.zeros(rows) for index in range(columns)})
    buffer = io.BytesIO()
    parquet.write_table(table, buffer, compression="zstd", row_group_size=1_000_000, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def parquet_bomb() -> bytes:
    return parquet_bytes(5_000_000, 40)


def memory_megabytes(field: str) -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith(field)).split()[1]) / 1024


def reset_peak_memory() -> None:
    # Writing 5 to clear_refs resets this process's peak resident size (VmHWM), so the peak
    # measured next belongs to the call under test, not to building the bomb.
    Path("/proc/self/clear_refs").write_text("5")


def test_parquet_bomb_is_refused_from_its_metadata_without_growing_memory(parquet_bomb):
    assert len(parquet_bomb) < 3 * 1024**2
    reset_peak_memory()
    before = memory_megabytes("VmRSS")
    with pytest.raises(ValueError) as caught:
        load_series(parquet_bomb, name="zeros.parquet")
    message = str(caught.value)
    assert message.startswith(TOO_MANY_VALUES)
    assert "name='zeros.parquet' has 5,000,000 rows x 40 columns = 200,000,000 values" in message
    # The table would be 1.6 GB; reading the metadata costs nothing measurable.
    assert memory_megabytes("VmHWM") - before < 100


def test_data_check_refuses_the_bomb_and_inspects_the_other_file(parquet_bomb):
    report = inspect_uploads([("zeros.parquet", parquet_bomb), ("good.csv", GOOD)])
    rejected = {item["name"]: item["reason"] for item in report["rejected"]}
    assert rejected["zeros.parquet"].startswith(TOO_MANY_VALUES)
    assert [series["name"] for series in report["series"]] == ["good.csv"]


def test_long_strings_are_bounded_by_the_decompressed_size():
    notes = ["x" * 8_000_000] * 40  # One string in the file, 320 MB once every row holds it.
    text = pa.table({"unit": [1] * 40, "cycle": list(range(40)), "note": notes})
    buffer = io.BytesIO()
    parquet.write_table(text, buffer, compression="zstd")
    with pytest.raises(ValueError, match=r"Expected at most 256 MB of column data once"):
        load_series(buffer.getvalue(), name="notes.parquet")


def test_a_csv_is_read_only_as_far_as_its_header_allows(monkeypatch):
    monkeypatch.setattr(series_io, "MAX_SERIES_CELLS", 40)
    rows = "".join(f"1,{cycle},0.5,1\n" for cycle in range(1, 12)).encode()
    with pytest.raises(ValueError) as caught:
        load_series(b"unit,cycle,s1,s2\n" + rows, name="long.csv")
    assert str(caught.value).startswith("Expected at most 40 values (rows x columns)")
    assert "name='long.csv' has 11 rows x 4 columns = 44 values" in str(caught.value)
    assert len(load_series(b"unit,cycle,s1,s2\n" + rows[: rows.index(b"1,10,")]).frame) == 9


def test_too_many_columns_are_refused_from_the_header():
    header = ",".join(f"c{index}" for index in range(2_500)).encode()
    with pytest.raises(ValueError, match=r"Expected at most 2,000 columns\. Received: name='w"):
        load_series(header + b"\n" + b",".join([b"1"] * 2_500) + b"\n", name="wide.csv")


@pytest.mark.slow
def test_cli_inspect_refuses_the_bomb_in_bounded_memory(tmp_path, parquet_bomb):
    path = tmp_path / "zeros.parquet"
    path.write_bytes(parquet_bomb)
    # VmHWM, not ru_maxrss: ru_maxrss survives exec and would count this test process's memory.
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from core.cli.main import main\n"
        "code = main(['inspect', sys.argv[1]])\n"
        "status = Path('/proc/self/status').read_text()\n"
        "peak = next(line for line in status.splitlines() if line.startswith('VmHWM'))\n"
        "print('PEAK', int(peak.split()[1]) // 1024)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert TOO_MANY_VALUES in output
    peak = int(output.split("PEAK")[-1].split()[0])
    assert peak < 800, f"peak RSS {peak} MB: the file was materialised"

"""NASA C-MAPSS turbofan files: find them in a folder and load them as sensor series.

C-MAPSS (Saxena et al., PHM08) ships per sub-dataset FD001..FD004 a training file train_FD00x.txt
(engines run to failure), a test file test_FD00x.txt (engines cut off before failure) and
RUL_FD00x.txt (the true remaining useful life of each test engine at its last row). The text files
are read by `core.data.cmapss_text`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from core.data import series
from core.data.cmapss_text import SENSOR_COLUMNS, SETTING_COLUMNS
from core.data.validation import describe_value

_FILE_PATTERN = re.compile(r"^(train|test|rul)_(fd\d{3})\.txt$", re.IGNORECASE)


def cmapss_mapping() -> series.ColumnMapping:
    """Returns the column roles of a C-MAPSS table read by `read_cmapss_text`."""
    return series.ColumnMapping(
        unit="unit", time="cycle", sensors=list(SENSOR_COLUMNS), settings=list(SETTING_COLUMNS)
    )


def find_cmapss_files(directory: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Lists the C-MAPSS files of a directory.

    Args:
        directory: A directory holding files such as train_FD001.txt, test_FD001.txt, RUL_FD001.txt.

    Returns:
        `{"FD001": {"train": path, "test": path, "rul": path}, ...}` with only the files found.
    """
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(Path(directory).iterdir()):
        match = _FILE_PATTERN.match(path.name)
        if match and path.is_file():
            found.setdefault(match.group(2).upper(), {})[match.group(1).lower()] = path
    return found


def _check_subset(subset: str) -> str:
    if not isinstance(subset, str) or not re.fullmatch(r"FD\d{3}", subset.upper()):
        raise ValueError(
            f"Expected a C-MAPSS subset such as 'FD001'. Received: subset={describe_value(subset)}"
        )
    return subset.upper()


def load_cmapss(
    path: str | os.PathLike,
    *,
    subset: str | None = None,
    window: int | None = None,
    allow_missing: bool = False,
) -> series.SeriesDataset:
    """Loads a C-MAPSS text file, or the training units of a C-MAPSS directory.

    Args:
        path: A C-MAPSS text file, or a directory holding train_FD00x.txt.
        subset: Which training file of a directory to load ('FD001', ...). Defaults to None: the
            only one present.
        window: Passed to `series.dataset_from_frame`. Defaults to None.
        allow_missing: Passed to `series.dataset_from_frame`. Defaults to False.

    Returns:
        A `series.SeriesDataset` with `source_format='cmapss'`.

    Raises:
        ValueError: If the path is missing, the directory has no (or several, without `subset`)
            training files, or the file is not C-MAPSS text.
    """
    path = Path(path)
    if path.is_dir():
        found = find_cmapss_files(path)
        training = {key: files["train"] for key, files in found.items() if "train" in files}
        if subset is not None:
            subset = _check_subset(subset)
        elif len(training) == 1:
            subset = next(iter(training))
        if subset not in training:
            raise ValueError(
                "Expected a directory holding one train_FD00x.txt file (or pass subset=). "
                f"Received: path='{path}', subset={subset!r}, training files "
                f"{sorted(file.name for file in training.values())}"
            )
        path = training[subset]
    elif not path.is_file():
        raise ValueError(
            f"Expected a C-MAPSS text file or a directory holding train_FD00x.txt. "
            f"Received: path='{path}'"
        )
    frame, source_format = series.read_series_file(path)
    if source_format != "cmapss":
        raise ValueError(
            "Expected a C-MAPSS text file: space separated, no header, 26 numbers per line. "
            f"Received: name='{path.name}' read as {source_format} with columns "
            f"{[str(column) for column in frame.columns][:10]}"
        )
    return series.dataset_from_frame(
        frame,
        cmapss_mapping(),
        source_format="cmapss",
        window=window,
        allow_missing=allow_missing,
        notes=frame.attrs.get("notes", []),
    )


def _read_rul_values(path: Path) -> list[int]:
    values = []
    for line_number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        if not text.isdigit():
            raise ValueError(
                "Expected one non-negative whole number per line of a C-MAPSS RUL file. "
                f"Received: name='{path.name}', line {line_number}={describe_value(text)}"
            )
        values.append(int(text))
    return values


def load_cmapss_test(
    directory: str | os.PathLike, subset: str = "FD001", *, window: int | None = None
) -> tuple[series.SeriesDataset, pd.Series]:
    """Loads the test units of a C-MAPSS subset and their true remaining useful life.

    Args:
        directory: A directory holding test_FD00x.txt and RUL_FD00x.txt.
        subset: The sub-dataset. Defaults to 'FD001'.
        window: Passed to `series.dataset_from_frame`. Defaults to None.

    Returns:
        `(dataset, rul)`: the test series, and the true RUL at the last row of each unit as an
        integer `pd.Series` named 'rul', indexed by unit id (in `dataset.units()` order).

    Raises:
        ValueError: If the subset name is malformed, a file is missing or malformed, or the RUL
            file does not hold one value per test unit.
    """
    subset = _check_subset(subset)
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"Expected a C-MAPSS directory. Received: directory='{directory}'")
    files = find_cmapss_files(directory).get(subset, {})
    missing = [kind for kind in ("test", "rul") if kind not in files]
    if missing:
        expected = [f"test_{subset}.txt", f"RUL_{subset}.txt"]
        raise ValueError(
            f"Expected {expected} in the directory. Received: directory='{directory}' without "
            f"{[name for name in expected if name.split('_')[0].lower() in missing]}"
        )
    dataset = load_cmapss(files["test"], window=window)
    values = _read_rul_values(files["rul"])
    units = dataset.units()
    if len(values) != len(units):
        raise ValueError(
            f"Expected one RUL value per test unit ({len(units)} units in "
            f"{files['test'].name}). Received: {len(values)} values in {files['rul'].name}"
        )
    rul = pd.Series(values, index=pd.Index(units, name="unit"), name="rul", dtype="int64")
    return dataset, rul

"""One entry for any sensor series file: CSV, Parquet, C-MAPSS text or a C-MAPSS folder.

`load_series` reads the file (`core.data.series_io`), finds the column roles
(`core.data.series.detect_column_mapping`, or the C-MAPSS layout) and validates the table into a
`SeriesDataset` (`core.data.series.dataset_from_frame`).
"""

from __future__ import annotations

import os
from pathlib import Path

from core.data import cmapss, series_validation
from core.data.series import ColumnMapping, SeriesDataset, dataset_from_frame, detect_column_mapping
from core.data.series_io import read_series_file

__all__ = ["load_series"]


def load_series(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    mapping: ColumnMapping | None = None,
    window: int | None = None,
    allow_missing: bool = False,
) -> SeriesDataset:
    """Reads and validates a sensor series file (CSV, Parquet or C-MAPSS).

    Args:
        source: A path, the bytes of an uploaded file, or a directory holding train_FD00x.txt
            (C-MAPSS training units).
        name: File name for messages and format detection (see `read_series_file`).
        mapping: Column roles; defaults to `detect_column_mapping` (or the C-MAPSS layout).
        window: Window length the series will be cut into; units shorter than it are listed in
            `problems`. Defaults to None (no check).
        allow_missing: Keep rows with NaN/inf values (inf becomes NaN) instead of failing.
            Defaults to False.

    Returns:
        A `SeriesDataset`.

    Raises:
        ValueError: If the file cannot be read or fails a check of `dataset_from_frame`; the
            message names the file (`name`, or the path's name).
    """
    if isinstance(source, str | os.PathLike) and Path(source).is_dir():
        return cmapss.load_cmapss(source, window=window, allow_missing=allow_missing)
    frame, source_format = read_series_file(source, name=name)
    notes = list(frame.attrs.get("notes", []))
    if mapping is None:
        if source_format == "cmapss":
            mapping = cmapss.cmapss_mapping()
        else:
            mapping = detect_column_mapping(frame)
        ignored = [str(column) for column in frame.columns if column not in mapping.columns()]
        if ignored:
            notes.append(f"Ignored columns that are not numeric sensors: {ignored[:20]}")
    if name is None and isinstance(source, str | os.PathLike):
        name = Path(source).name
    try:
        return dataset_from_frame(
            frame,
            mapping,
            source_format=source_format,
            window=window,
            allow_missing=allow_missing,
            notes=notes,
        )
    except ValueError as error:
        raise series_validation.name_file_in_error(error, name) from error

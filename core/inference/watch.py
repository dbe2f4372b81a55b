"""Watch a folder on the line: score each new image once it is completely written.

The folder is polled (no extra dependency, works on network shares where file-system events do
not): a file is ready when its size and modification time are the same at two polls in a row, so
a camera still writing it is left alone. Rows are appended to a results CSV and flushed per batch,
so another program can tail it; unreadable files go to `<results stem>.rejected.csv`. On a
restart, files already listed in either file are skipped.

Example:

    with FolderWatcher("inbox", predictor, "results.csv") as watcher:
        summary = watcher.run(interval=1.0, timeout=3600)
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path

from core.data.image_decoding import SUPPORTED_IMAGE_SUFFIXES
from core.data.tables import neutralise_spreadsheet_text
from core.data.validation import describe_value
from core.inference.line import DEFAULT_BATCH_SIZE, InputItem, score_batches
from core.inference.writers import (
    REJECTED_COLUMNS,
    CsvRowWriter,
    prediction_columns,
    rejected_path_for,
)

WATCH_EXTRA_COLUMNS = ["scored_at"]


@dataclasses.dataclass
class WatchSummary:
    """What a watch did.

    Attributes:
        scored: Images scored (rows appended).
        predicted_counts: Images per predicted class.
        rejected_count: Files refused (appended to the rejected file).
        already_scored: Files skipped at start because the results listed them.
        polls: Folder scans made.
        seconds: Wall time.
        stopped: Why it stopped: 'once', 'max_files', 'timeout' or 'interrupted'.
    """

    scored: int = 0
    predicted_counts: dict = dataclasses.field(default_factory=dict)
    rejected_count: int = 0
    already_scored: int = 0
    polls: int = 0
    seconds: float = 0.0
    stopped: str = ""


class FolderWatcher:
    """Scores the images that appear in a folder (recursively), each once.

    Args:
        directory: The folder to watch.
        predictor: An `ImagePredictor` (see `core.inference.line.score_batches`).
        results: The results CSV; rows are appended, a header is written when it is new.
        batch_size: Most images per prediction call. Defaults to 64.
        on_batch: Called with `(records, rejections)` after each batch is written (records are
            the row dicts, rejections `(source, RejectedFile)` pairs).
        clock, sleep: Time functions, injectable for tests. Default to `time.monotonic` and
            `time.sleep`.

    Raises:
        ValueError: If `directory` is not a folder, `results` does not end in .csv, or the
            results file has other columns than this model's.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        predictor,
        results: str | os.PathLike,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_batch: Callable[[list, list], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ValueError(
                f"Expected an existing folder to watch. Received: directory={str(directory)!r}"
            )
        self.results = Path(results)
        if self.results.suffix.lower() != ".csv":
            raise ValueError(
                f"Expected a results file ending in .csv. Received: results={str(results)!r}"
            )
        self.predictor = predictor
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.clock = clock
        self.sleep = sleep
        self.columns = prediction_columns(predictor.class_names) + WATCH_EXTRA_COLUMNS
        self.rejected_results = rejected_path_for(self.results)
        # Neutralised names, compared with the neutralised names read back from the files.
        self._done = _names_in(self.results, self.columns) | _names_in(
            self.rejected_results, list(REJECTED_COLUMNS)
        )
        self.already_scored = len(self._done)
        self._pending: dict[str, tuple[int, int]] = {}
        # A refused file is tried again if it changes (a writer that paused between two polls).
        self._refused_signatures: dict[str, tuple[int, int]] = {}
        self._writer = CsvRowWriter(self.results, self.columns, append=True)
        self._rejected_writer = CsvRowWriter(self.rejected_results, REJECTED_COLUMNS, append=True)
        self.summary = WatchSummary(already_scored=self.already_scored)
        self._counts: collections.Counter = collections.Counter()

    def scan(self) -> dict[str, tuple[int, int]]:
        """Returns `{name: (size, mtime_ns)}` of the image files not scored yet."""
        found = {}
        for directory, folder_names, file_names in os.walk(self.directory):
            folder_names[:] = [name for name in folder_names if not name.startswith(".")]
            for file_name in file_names:
                if file_name.startswith(".") or not file_name.lower().endswith(
                    SUPPORTED_IMAGE_SUFFIXES
                ):
                    continue
                path = Path(directory, file_name)
                name = path.relative_to(self.directory).as_posix()
                if neutralise_spreadsheet_text(name) in self._done:
                    continue
                try:
                    status = path.stat()
                except OSError:
                    continue  # Deleted or moved since the listing; the next poll decides.
                signature = (status.st_size, status.st_mtime_ns)
                if self._refused_signatures.get(name) != signature:
                    found[name] = signature
        return found

    def poll_once(self, *, wait_until_stable: bool = True, limit: int | None = None) -> int:
        """Scans the folder once and scores the files that are ready.

        Args:
            wait_until_stable: Score a file only when its size and modification time did not
                change since the previous poll. False scores every file found now (`--once`).
            limit: Most files to process in this poll; None for all.

        Returns:
            The number of files processed (scored or refused).
        """
        found = self.scan()
        self.summary.polls += 1
        ready = [
            name
            for name, signature in found.items()
            if not wait_until_stable or self._pending.get(name) == signature
        ]
        ready.sort(key=lambda name: (found[name][1], name))  # Oldest first, as written.
        if limit is not None:
            ready = ready[: max(limit, 0)]
        self._pending = {name: found[name] for name in found if name not in ready}
        source = self.directory.as_posix()
        items = (InputItem(name, self.directory / name, source=source) for name in ready)
        for batch in score_batches(self.predictor, items, batch_size=self.batch_size):
            scored_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            records = [
                record | {"scored_at": scored_at}
                for record in batch.records(self.predictor.class_names)
            ]
            rejections = [{"source": s, **refusal.as_dict()} for s, refusal in batch.rejected]
            self._writer.write(records)
            self._rejected_writer.write(rejections)
            self._done.update(neutralise_spreadsheet_text(record["name"]) for record in records)
            for _, refusal in batch.rejected:
                if refusal.name in found:
                    self._refused_signatures[refusal.name] = found[refusal.name]
            self._counts.update(record["predicted"] for record in records)
            self.summary.scored += len(records)
            self.summary.rejected_count += len(rejections)
            self.summary.predicted_counts = dict(sorted(self._counts.items()))
            if self.on_batch is not None:
                self.on_batch(records, batch.rejected)
        return len(ready)

    def run(
        self,
        *,
        interval: float = 1.0,
        once: bool = False,
        max_files: int | None = None,
        timeout: float | None = None,
    ) -> WatchSummary:
        """Polls until stopped; Ctrl+C (KeyboardInterrupt) stops it cleanly.

        Args:
            interval: Seconds between polls. Defaults to 1.0.
            once: Score what is there now, without waiting for files to settle, and stop.
            max_files: Stop once this many images were scored; None for no limit.
            timeout: Stop after this many seconds; None for no limit.

        Returns:
            The `WatchSummary` (`stopped` says why it stopped).

        Raises:
            ValueError: If interval, max_files or timeout is not positive.
        """
        for name, value in (("interval", interval), ("max_files", max_files), ("timeout", timeout)):
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(
                    f"Expected {name} to be a positive number. Received: "
                    f"{name}={describe_value(value)}"
                )
        started = self.clock()
        try:
            while True:
                remaining = None if max_files is None else max_files - self.summary.scored
                self.poll_once(wait_until_stable=not once, limit=remaining)
                if once:
                    self.summary.stopped = "once"
                    break
                if max_files is not None and self.summary.scored >= max_files:
                    self.summary.stopped = "max_files"
                    break
                elapsed = self.clock() - started
                if timeout is not None and elapsed >= timeout:
                    self.summary.stopped = "timeout"
                    break
                wait = interval if timeout is None else min(interval, timeout - elapsed)
                self.sleep(wait)
        except KeyboardInterrupt:
            self.summary.stopped = "interrupted"
        self.summary.seconds = self.clock() - started
        return self.summary

    def close(self) -> None:
        self._writer.close()
        self._rejected_writer.close()

    def __enter__(self) -> FolderWatcher:
        return self

    def __exit__(self, *exception) -> None:
        self.close()


def _names_in(path: Path, columns: list[str]) -> set[str]:
    """The `name` column of an existing results file, as written (neutralised).

    Raises:
        ValueError: If the file's header is not `columns` (another model's results).
    """
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        expected = [neutralise_spreadsheet_text(column) for column in columns]
        if header != expected:
            raise ValueError(
                f"Expected the existing results file to have the columns {expected} (this "
                f"model's). Received: columns={describe_value(header, 200)} in {str(path)!r}; "
                "choose another results file"
            )
        position = header.index("name")
        return {row[position] for row in reader if len(row) > position}

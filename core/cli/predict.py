"""Line-side inference commands of `python -m core`: predict (streamed) and watch (a folder).

Both read images lazily and predict them in batches, so memory stays bounded whatever the number
of images; see `core.inference.line` and `core.inference.watch`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TextIO

import pandas as pd

from core.cli.common import open_registry, print_json
from core.inference.line import DEFAULT_BATCH_SIZE, count_input_items, predict_to_outputs
from core.inference.verdicts import decision_summary
from core.inference.watch import FolderWatcher
from core.inference.writers import check_output_path
from core.workflows.image import load_predictor

PREVIEW_COLUMNS = ["source", "name", "predicted", "confidence"]


def add_predict_parsers(subcommands, add_common_options) -> None:
    """Adds `predict` and `watch` to the CLI."""
    predict = subcommands.add_parser(
        "predict", help="Predict images (files, folders, zips, globs) with a registered model."
    )
    predict.add_argument("--model", required=True, help="NAME or NAME:VERSION.")
    predict.add_argument(
        "--input",
        required=True,
        nargs="+",
        help="Image files, folders (recursive), zips or quoted glob patterns ('line3/**/*.png').",
    )
    predict.add_argument(
        "--out", help="Write rows to this .csv or .parquet file (and <stem>.rejected.csv)."
    )
    add_batch_size_option(predict)
    add_common_options(predict)
    predict.set_defaults(handler=command_predict)

    watch = subcommands.add_parser(
        "watch", help="Score each new image dropped into a folder; append rows to a CSV."
    )
    watch.add_argument("directory", metavar="DIR", help="The folder to watch (recursively).")
    watch.add_argument("--model", required=True, help="NAME or NAME:VERSION.")
    watch.add_argument(
        "--results", required=True, help="Results CSV to append to (created when missing)."
    )
    watch.add_argument(
        "--interval", type=positive_number(float), default=1.0, help="Seconds between polls."
    )
    watch.add_argument("--once", action="store_true", help="Score the images there now, then stop.")
    watch.add_argument(
        "--max-files", type=positive_number(int), help="Stop after scoring this many images."
    )
    watch.add_argument("--timeout", type=positive_number(float), help="Stop after these seconds.")
    add_batch_size_option(watch)
    add_common_options(watch)
    watch.set_defaults(handler=command_watch)


def add_batch_size_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch-size",
        type=positive_number(int),
        default=DEFAULT_BATCH_SIZE,
        help=f"Images per prediction call (default {DEFAULT_BATCH_SIZE}).",
    )


def positive_number(kind: type) -> Callable[[str], int | float]:
    """An argparse `type` accepting only positive numbers of `kind` (int or float)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(
                f"Expected a positive {kind.__name__}. Received: {text!r}"
            )
        return value

    return parse


class CountProgress:
    """Shows `1,280/5,000 images, 3 skipped, 812 images/s` on standard error as work goes on.

    On a terminal the line is redrawn in place; elsewhere (a log file) a line is added at most
    every `log_interval` seconds, so logs stay short.

    Args:
        total: The number of images expected, or None when unknown.
        stream: Where to write. Defaults to standard error.
        clock: Returns seconds; injectable for tests. Defaults to `time.monotonic`.
        log_interval: Seconds between lines when `stream` is not a terminal. Defaults to 5.
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_interval: float = 5.0,
    ):
        self.total = total
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.interactive else log_interval
        self._last_draw: float | None = None
        self._drawn_counts: tuple[int, int] | None = None
        self.predicted = 0
        self.rejected = 0

    def text(self) -> str:
        """The progress line, e.g. '640/5,000 images, 2 skipped, 790 images/s'."""
        done = self.predicted + self.rejected
        count = f"{done:,}/{self.total:,}" if self.total else f"{done:,}"
        seconds = max(self.clock() - self.started, 1e-9)
        rate = self.predicted / seconds
        return f"{count} images, {self.rejected:,} skipped, {rate:,.0f} images/s"

    def update(self, predicted: int, rejected: int) -> None:
        """Adds to the counts; redraws when the last drawing is old enough."""
        self.predicted += predicted
        self.rejected += rejected
        now = self.clock()
        if self._last_draw is None or now - self._last_draw >= self.interval:
            self._draw()
            self._last_draw = now

    def note(self, text: str) -> None:
        """Writes a message on its own line (clearing the progress line on a terminal)."""
        prefix = "\r\033[K" if self.interactive else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()

    def finish(self) -> None:
        """Draws the final counts (unless a log line shows them already) and ends the line."""
        if self.interactive or self._drawn_counts != (self.predicted, self.rejected):
            self._draw()
        if self.interactive:
            self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        self._drawn_counts = (self.predicted, self.rejected)
        end = "" if self.interactive else "\n"
        start = "\r\033[K" if self.interactive else ""
        self.stream.write(f"{start}{self.text()}{end}")
        self.stream.flush()


def command_predict(arguments: argparse.Namespace) -> int:

    if arguments.out:
        check_output_path(arguments.out)  # Before the model loads: fail in a second, not ten.
    predictor, metadata = load_predictor(open_registry(arguments), arguments.model)
    reference = f"{metadata['name']}:{metadata['version']}"
    print(decision_summary(predictor), file=sys.stderr, flush=True)
    progress = CountProgress(count_input_items(arguments.input))
    summary = predict_to_outputs(
        predictor,
        arguments.input,
        out=arguments.out,
        batch_size=arguments.batch_size,
        progress=progress,
        on_rejected=lambda source, refusal: progress.note(
            f"  skipped {refusal.name}: {refusal.reason}"
        ),
    )
    progress.finish()
    if summary.predicted == 0:
        first = summary.rejected[0] if summary.rejected else {"name": "-", "reason": "-"}
        raise ValueError(
            "Expected at least one readable image in --input. Received: "
            f"input={arguments.input} with 0 images read and {summary.rejected_count} refused "
            f"(first: {first['name']}: {first['reason']})"
        )
    rate = f"{summary.images_per_second:,.0f} images/s"
    print(
        f"Predicted {summary.predicted:,} images with {reference} in {summary.seconds:.1f} s "
        f"({rate}); {summary.rejected_count:,} skipped.",
        flush=True,
    )
    if arguments.out:
        print(f"Wrote {arguments.out} and {summary.rejected_out}", flush=True)
    else:
        frame = pd.DataFrame(summary.preview)[PREVIEW_COLUMNS]
        print(frame.to_string(index=False, float_format="{:.3f}".format), flush=True)
        if summary.predicted > len(frame):
            print(f"... {summary.predicted - len(frame):,} more rows (use --out)", flush=True)
    if arguments.json:
        print_json(
            {
                "model": reference,
                "decision": decision_summary(predictor),
                "predicted": summary.predicted,
                "predicted_counts": summary.predicted_counts,
                "rejected_count": summary.rejected_count,
                "rejected": summary.rejected,
                "out": summary.out,
                "rejected_out": summary.rejected_out,
                "seconds": round(summary.seconds, 3),
                "images_per_second": round(summary.images_per_second, 1),
            }
        )
    return 0


def command_watch(arguments: argparse.Namespace) -> int:
    predictor, metadata = load_predictor(open_registry(arguments), arguments.model)
    reference = f"{metadata['name']}:{metadata['version']}"
    print(decision_summary(predictor), file=sys.stderr, flush=True)

    def report(records: list, rejections: list) -> None:
        for record in records:
            print(f"{record['name']}\t{record['predicted']}\t{record['confidence']:.3f}")
        for _, refusal in rejections:
            print(f"  skipped {refusal.name}: {refusal.reason}", file=sys.stderr)
        sys.stdout.flush()

    with FolderWatcher(
        arguments.directory,
        predictor,
        arguments.results,
        batch_size=arguments.batch_size,
        on_batch=report,
    ) as watcher:
        print(
            f"Watching {arguments.directory} with {reference}; appending to {arguments.results} "
            f"({watcher.already_scored:,} files already listed). Ctrl+C stops.",
            file=sys.stderr,
            flush=True,
        )
        summary = watcher.run(
            interval=arguments.interval,
            once=arguments.once,
            max_files=arguments.max_files,
            timeout=arguments.timeout,
        )
    print(
        f"Stopped ({summary.stopped}): scored {summary.scored:,} images, skipped "
        f"{summary.rejected_count:,} in {summary.seconds:.1f} s.",
        flush=True,
    )
    if arguments.json:
        print_json(
            {
                "model": reference,
                "directory": arguments.directory,
                "results": arguments.results,
                "rejected_out": str(watcher.rejected_results),
                "scored": summary.scored,
                "predicted_counts": summary.predicted_counts,
                "rejected_count": summary.rejected_count,
                "already_scored": summary.already_scored,
                "polls": summary.polls,
                "stopped": summary.stopped,
                "seconds": round(summary.seconds, 3),
            }
        )
    return 0

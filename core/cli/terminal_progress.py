"""A text progress bar for the CLI: a `core.engine.progress` listener writing to standard error.

Standard error keeps standard output clean, so the last line of `--json` output stays one JSON
object.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

BAR_WIDTH = 24
# Shown when present: a classifier logs loss and accuracy, a GAN its two losses.
BATCH_KEYS = ("loss", "accuracy", "d_loss", "g_loss")
EPOCH_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "d_loss", "g_loss")


def format_logs(logs: Mapping[str, float], keys: tuple[str, ...]) -> str:
    return " ".join(f"{key} {logs[key]:.4f}" for key in keys if key in logs)


class TerminalProgressBar:
    """Draws `epoch 3/30 [#####.....] 12/40 loss 0.5210 accuracy 0.8125` as training runs.

    Args:
        stream: Where to draw (default: standard error).
    """

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.total_epochs = 0
        self.steps_per_epoch: int | None = None

    def on_train_begin(self, total_epochs: int, steps_per_epoch: int | None) -> None:
        self.total_epochs = total_epochs
        self.steps_per_epoch = steps_per_epoch

    def on_batch_end(self, epoch: int, step: int, logs: Mapping[str, float]) -> None:
        if self.steps_per_epoch:
            done = min(step, self.steps_per_epoch) / self.steps_per_epoch
            bar = "#" * int(done * BAR_WIDTH)
            position = f"[{bar:<{BAR_WIDTH}}] {step}/{self.steps_per_epoch}"
        else:
            position = f"step {step}"
        metrics = format_logs(logs, BATCH_KEYS)
        self.stream.write(f"\repoch {epoch}/{self.total_epochs} {position} {metrics}   ")
        self.stream.flush()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        metrics = format_logs(logs, EPOCH_KEYS)
        self.stream.write(f"\repoch {epoch}/{self.total_epochs} done: {metrics}{' ' * 20}\n")
        self.stream.flush()

    def on_train_end(self, logs: Mapping[str, object]) -> None:
        self.stream.flush()

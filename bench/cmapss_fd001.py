"""RUL accuracy of the default sensor-series model on NASA C-MAPSS FD001.

Trains on the 100 run-to-failure engines of train_FD001.txt with `SeriesTrainingConfig()`
defaults (or the overrides given; 15 % of the engines validate, none are held out for testing)
and evaluates at the last cycle of the 100 test engines of test_FD001.txt against RUL_FD001.txt.
Prints RMSE, the NASA Score, epochs and training time as one JSON line. Acceptance: RMSE <= 13.0
(Li, Ding & Sun 2018: 12.61) with training within 15 minutes on a 2-core CPU.

Usage:
    python bench/cmapss_fd001.py [--data DIR] [--set key=value ...] [--save model.keras]

`--set` overrides a config field with a JSON value, e.g. `--set model="lstm" --set epochs=20`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data.cmapss import load_cmapss, load_cmapss_test
from core.engine.series_training import SeriesTrainingConfig, train_series_model

DEFAULT_DATA = Path("/work/shared/data/cmapss_fd001")


class EpochPrinter:
    """Prints one line per epoch to stderr, so a long run can be followed in its log."""

    def __init__(self):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        shown = {key: round(value, 3) for key, value in logs.items() if key != "learning_rate"}
        elapsed = time.perf_counter() - self.started
        print(f"epoch {epoch} {elapsed:.0f}s {shown}", file=sys.stderr, flush=True)


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        overrides[key] = json.loads(text)
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--save", type=Path, help="Also save the trained model (.keras) here.")
    arguments = parser.parse_args()

    overrides = parse_overrides(arguments.set)
    config = SeriesTrainingConfig.from_dict(
        {**SeriesTrainingConfig().to_dict(), "test_fraction": 0.0, **overrides}
    ).validate()
    loading_started = time.perf_counter()
    train = load_cmapss(arguments.data, subset="FD001")
    test, final_rul = load_cmapss_test(arguments.data, "FD001")
    loading_seconds = time.perf_counter() - loading_started

    started = time.perf_counter()
    result = train_series_model(train, config, listeners=[EpochPrinter()], test=(test, final_rul))
    total_seconds = time.perf_counter() - started
    if arguments.save:
        result.model.save(arguments.save)
    evaluation = result.evaluation
    print(
        json.dumps(
            {
                "model": config.model,
                "members": config.members,
                "rmse": round(evaluation["rmse"], 3),
                "score": round(evaluation["score"], 1),
                "mae": round(evaluation["mae"], 3),
                "rmse_capped_truth": round(evaluation.get("rmse_capped_truth", float("nan")), 3),
                "all_cycles_rmse": round(evaluation["all_cycles"]["rmse"], 3),
                "test_engines": evaluation["count"],
                "epochs_run": result.epochs_run,
                "best_epoch": result.best_epoch,
                "best_val_loss": round(result.history["val_loss"][result.best_epoch - 1], 3),
                "training_seconds": round(result.seconds, 1),
                "total_seconds": round(total_seconds, 1),
                "loading_seconds": round(loading_seconds, 1),
                "features": len(result.scaler.feature_columns_),
                "dropped_sensors": result.scaler.dropped_sensors_,
                "overrides": overrides,
                "split_sizes": [len(result.train_units), len(result.validation_units), 0],
            }
        )
    )


if __name__ == "__main__":
    main()

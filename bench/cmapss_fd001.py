"""RUL accuracy of the default sensor-series model on NASA C-MAPSS FD001.

Trains on the 100 run-to-failure engines of train_FD001.txt with `SeriesTrainingConfig()`
defaults (or the overrides given; 15 % of the engines validate, none are held out for testing)
and evaluates at the last cycle of the 100 test engines of test_FD001.txt against RUL_FD001.txt.
Prints RMSE, the NASA Score, epochs and training time as one JSON line. Acceptance: RMSE <= 13.0
(Li, Ding & Sun 2018: 12.61) with training within 15 minutes on a 2-core CPU.

Usage:
    python bench/cmapss_fd001.py [--data DIR] [--set key=value ...] [--save model.keras]

`--data` defaults to ../shared/data/cmapss_fd001 beside the checkout.

`--set` overrides a config field with a JSON value, e.g. `--set model="lstm" --set epochs=20`.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchlib

from core.data.cmapss import load_cmapss, load_cmapss_test
from core.engine.series_training import SeriesTrainingConfig, train_series_model


def main() -> None:
    parser = benchlib.argument_parser(__doc__)
    benchlib.add_data_argument(
        parser, "--data", benchlib.shared_data("cmapss_fd001"), "the NASA C-MAPSS FD001 files"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--save", type=Path, help="Also save the trained model (.keras) here.")
    arguments = parser.parse_args()

    overrides = benchlib.parse_overrides(arguments.set)
    config = SeriesTrainingConfig.from_dict(
        {**SeriesTrainingConfig().to_dict(), "test_fraction": 0.0, **overrides}
    ).validate()
    with benchlib.Stopwatch() as loading:
        train = load_cmapss(arguments.data, subset="FD001")
        test, final_rul = load_cmapss_test(arguments.data, "FD001")

    with benchlib.Stopwatch() as total:
        listeners = [benchlib.EpochPrinter(digits=3)]
        result = train_series_model(train, config, listeners=listeners, test=(test, final_rul))
    if arguments.save:
        result.model.save(arguments.save)
    evaluation = result.evaluation
    benchlib.print_json(
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
            "total_seconds": round(total.seconds, 1),
            "loading_seconds": round(loading.seconds, 1),
            "features": len(result.scaler.feature_columns_),
            "dropped_sensors": result.scaler.dropped_sensors_,
            "overrides": overrides,
            "split_sizes": [len(result.train_units), len(result.validation_units), 0],
        }
    )


if __name__ == "__main__":
    main()

"""Line-side inference commands of `python -m core`: predict."""

from __future__ import annotations

import argparse

from core.cli_commands import open_registry, print_json


def add_predict_parsers(subcommands, add_common_options) -> None:
    """Adds `predict` to the CLI."""
    predict = subcommands.add_parser("predict", help="Predict images with a registered model.")
    predict.add_argument("--model", required=True, help="NAME or NAME:VERSION.")
    predict.add_argument(
        "--input", required=True, nargs="+", help="Image files, folders or zips (one or more)."
    )
    predict.add_argument("--out", help="Write predictions to this CSV file.")
    add_common_options(predict)
    predict.set_defaults(handler=command_predict)


def command_predict(arguments: argparse.Namespace) -> int:
    from core.image_workflow import predict_inputs

    batch = predict_inputs(open_registry(arguments), arguments.model, arguments.input)
    frame = batch.to_frame()
    if arguments.out:
        frame.to_csv(arguments.out, index=False)
        print(f"Wrote {len(frame)} predictions to {arguments.out}", flush=True)
    else:
        print(frame[["name", "predicted", "confidence"]].to_string(index=False), flush=True)
    for rejected in batch.rejected:
        print(f"  skipped {rejected.name}: {rejected.reason}", flush=True)
    if arguments.json:
        counts = frame["predicted"].value_counts().to_dict() if len(frame) else {}
        print_json(
            {
                "model": arguments.model,
                "predicted": len(frame),
                "predicted_counts": counts,
                "out": arguments.out,
                "rejected": [item.as_dict() for item in batch.rejected],
            }
        )
    return 0

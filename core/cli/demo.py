"""The guided demo's command of `python -m core`: demo-reset (see `core.demo.tour.reset_demo`).

The home page refuses the reset while login is on (demo models have no owner, so no user may
change them); whoever runs the server runs this command instead.
"""

from __future__ import annotations

import argparse

from core.cli.common import print_json
from core.demo.tour import reset_demo, reset_message
from core.registry.store import ModelRegistry, resolve_registry_directory


def add_demo_parsers(subcommands, add_common_options) -> None:
    """Adds `demo-reset` to the CLI."""
    reset = subcommands.add_parser(
        "demo-reset",
        help="Restore the bundled demo models: drop versions, files and tour models added to them.",
    )
    add_common_options(reset)
    reset.set_defaults(handler=command_demo_reset)


def command_demo_reset(arguments: argparse.Namespace) -> int:
    """Resets the demo models of the registry and prints what changed."""
    registry = ModelRegistry(resolve_registry_directory(arguments.registry))
    print(f"Resetting the demo models in {registry.directory} ...", flush=True)
    summary = reset_demo(registry)
    print(reset_message(summary), flush=True)
    if arguments.json:
        print_json(summary)
    return 0

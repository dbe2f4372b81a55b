"""Pieces every command of `python -m core` shares: options, JSON output, opening the registry,
timed steps."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import time
from collections.abc import Iterable, Iterator

from core.demo.models import ensure_demo_models
from core.registry.store import ModelRegistry, resolve_registry_directory

__all__ = [
    "TimedStep",
    "add_arguments",
    "given_options",
    "open_registry",
    "print_json",
    "record_keys",
    "timed_step",
]


def print_json(payload: dict) -> None:
    """Prints `payload` as one JSON line (the contract of `--json`)."""
    print(json.dumps(payload, sort_keys=True, default=str), flush=True)


def open_registry(arguments: argparse.Namespace):
    """Opens the registry; like the app, a fresh one gets the bundled demo models first."""

    registry = ModelRegistry(resolve_registry_directory(getattr(arguments, "registry", None)))
    ensure_demo_models(registry)
    return registry


def given_options(arguments: argparse.Namespace, names: Iterable[str]) -> dict:
    """The options `names` that were given (not None), keyed by name, to pass on as keywords.

    An option left out is left out of the result, so the config or function it goes to applies
    its own default.
    """
    values = {name: getattr(arguments, name) for name in names}
    return {name: value for name, value in values.items() if value is not None}


def record_keys(record) -> dict:
    """The `--json` keys naming a registered model version: model, version and reference."""
    return {"model": record.name, "version": record.version, "reference": record.reference}


def add_arguments(parser: argparse.ArgumentParser, arguments: Iterable[tuple]) -> None:
    """Adds a table of arguments to `parser`: each row is `(name, settings)`, the positional name
    or option flag and the keywords of `parser.add_argument`."""
    for name, settings in arguments:
        parser.add_argument(name, **settings)


@dataclasses.dataclass
class TimedStep:
    """The wall time of a `timed_step` block, in seconds, set when the block ends."""

    seconds: float = 0.0


@contextlib.contextmanager
def timed_step(message: str) -> Iterator[TimedStep]:
    """Prints `message` (what the command starts doing), then times the block.

    Example:
        with timed_step(f"Scoring {name} ...") as step:
            result = work()
        print(f"Done in {step.seconds:.1f} s.")
    """
    step = TimedStep()
    start = time.perf_counter()
    print(message, flush=True)
    yield step
    step.seconds = time.perf_counter() - start

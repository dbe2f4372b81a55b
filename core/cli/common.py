"""Pieces every command of `python -m core` shares: options, JSON output, opening the registry."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable

from core.demo.models import ensure_demo_models
from core.registry.store import ModelRegistry, resolve_registry_directory

__all__ = ["given_options", "open_registry", "print_json", "record_keys"]


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

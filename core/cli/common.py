"""Pieces every command of `python -m core` shares: JSON output and opening the registry."""

from __future__ import annotations

import argparse
import json

from core.demo.models import ensure_demo_models
from core.registry.store import ModelRegistry, resolve_registry_directory

__all__ = ["open_registry", "print_json"]


def print_json(payload: dict) -> None:
    """Prints `payload` as one JSON line (the contract of `--json`)."""
    print(json.dumps(payload, sort_keys=True, default=str), flush=True)


def open_registry(arguments: argparse.Namespace):
    """Opens the registry; like the app, a fresh one gets the bundled demo models first."""

    registry = ModelRegistry(resolve_registry_directory(getattr(arguments, "registry", None)))
    ensure_demo_models(registry)
    return registry

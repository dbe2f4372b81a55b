"""Child processes and outside views of the registry for the reliability tests.

The children run `run_worker` through `python -c`: each loads TensorFlow once, builds its models,
then saves on command, so the tests can start 8 saves at once or SIGKILL a save midway.
"""

import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from core.registry.store import ModelRegistry
from core.registry.writing import STAGING_DIRECTORY
from tests.helpers.registry import SAMPLE, make_metadata

WRITERS = 8
# Saves a "loop" worker makes at most; every kill comes long before that.
LOOP_SAVES = 40
WORKER_CODE = (
    "import sys; from tests.reliability.durability_helpers import run_worker; "
    "run_worker(sys.argv[1])"
)


# Child processes: each loads TensorFlow once, then saves on command.


def bias_model(bias: float):
    """Input(4) -> Dense(2) with zero weights: every prediction equals `bias`."""
    import keras

    inputs = keras.Input(shape=(4,))
    constant = keras.initializers.Constant(bias)
    outputs = keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer=constant)(inputs)
    return keras.Model(inputs, outputs)


def large_model(seed: int):
    """About 8 MB of float32 weights, so that a save lasts long enough to be killed midway."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(4,))
    hidden = inputs
    for _ in range(3):
        hidden = keras.layers.Dense(1024)(hidden)
    return keras.Model(inputs, keras.layers.Dense(2)(hidden))


def run_worker(index: str) -> None:
    """Runs in a child process: builds two models, prints "ready", then obeys stdin lines.

    Each line is a JSON command {"mode", "directory"}: "once" saves the bias model (every output
    equals `index`) as 'pump' and reports; "loop" saves the large model as 'press' again and
    again, reporting each version, until the parent kills the process.
    """
    number = int(index)
    small, large = bias_model(float(number)), large_model(number)
    predictions = large.predict(SAMPLE, verbose=0).tolist()
    print(json.dumps({"ready": os.getpid(), "predictions": predictions}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        registry = ModelRegistry(command["directory"])
        once = command["mode"] == "once"
        model, name = (small, "pump") if once else (large, "press")
        for _ in range(1 if once else LOOP_SAVES):
            started = time.time()
            record = registry.save(model, name, make_metadata())
            report = {"version": record.version, "started": started, "ended": time.time()}
            print(json.dumps(report), flush=True)


def send(worker: subprocess.Popen, mode: str, directory) -> None:
    worker.stdin.write(json.dumps({"mode": mode, "directory": str(directory)}) + "\n")
    worker.stdin.flush()


# Looking at the registry from outside.


def fingerprints(registry: ModelRegistry) -> dict[str, tuple]:
    """{reference: ((file name, sha256), ...)} over every file of every listed version."""
    return {
        record.reference: tuple(
            sorted(
                (path.name, hashlib.sha256(path.read_bytes()).hexdigest())
                for path in record.path.iterdir()
            )
        )
        for record in registry.list()
    }


def staging_entries(directory) -> dict[str, dict[str, int]]:
    """{entry: {file name: size}} in the staging directory; entries that vanish are skipped."""
    found = {}
    try:
        entries = list(os.scandir(directory / STAGING_DIRECTORY))
    except FileNotFoundError:
        return found
    for entry in entries:
        try:
            found[entry.name] = {item.name: item.stat().st_size for item in os.scandir(entry.path)}
        except FileNotFoundError:
            continue  # Claimed (renamed away) while we looked.
    return found


def poll_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.0002)
    return False


def describe_leftover(files: dict[str, int], full_size: int | None = None) -> str:
    """Which phase of a save a staging directory left by a killed writer shows."""
    if any(name.startswith((".metadata.json", "metadata.json")) for name in files):
        return "claiming a version (metadata written, not yet renamed)"
    if "model.keras" in files:
        of_size = f" of {full_size / 1e6:.1f}" if full_size else ""
        return f"writing model.keras ({files['model.keras'] / 1e6:.1f}{of_size} MB)"
    return "staging directory created, model.keras not yet opened"


# Moments of a save at which the parent kills the writer, seen from the staging directory.
KILL_TRIGGERS = {
    "staging directory appears": lambda new, full_size: bool(new),
    "model.keras appears": lambda new, full_size: any(
        "model.keras" in files for files in new.values()
    ),
    "model.keras half written": lambda new, full_size: any(
        files.get("model.keras", 0) >= full_size // 2 for files in new.values()
    ),
    "metadata being written": lambda new, full_size: any(
        name.startswith((".metadata.json", "metadata.json"))
        for files in new.values()
        for name in files
    ),
}


def kill_during_saves(worker, directory, trigger, delay: float, full_size: int) -> dict:
    """Starts the worker's saves and SIGKILLs it when `trigger` fires (or after `delay` s).

    Returns:
        Whether the trigger fired, the versions the worker reported complete, the durations of
        its saves, and the staging entries it left behind.
    """
    before = set(staging_entries(directory))

    def new_entries():
        return {
            name: files for name, files in staging_entries(directory).items() if name not in before
        }

    send(worker, "loop", directory)
    if trigger is None:
        time.sleep(delay)
        fired = True
    else:
        fired = poll_until(lambda: trigger(new_entries(), full_size), timeout=5)
    worker.kill()
    worker.wait(timeout=30)
    reports = [json.loads(line) for line in worker.stdout.read().splitlines()]
    return {
        "fired": fired,
        "reported": [report["version"] for report in reports],
        "durations": [report["ended"] - report["started"] for report in reports],
        "leftovers": new_entries(),
    }


def write_tiny_image_folder(folder) -> None:
    """Two classes of 12 noisy 16x16 PNGs: enough for the CLI to train one short epoch."""
    from PIL import Image

    generator = np.random.default_rng(0)
    for offset, class_name in enumerate(["ok", "scratch"]):
        (folder / class_name).mkdir(parents=True)
        for index in range(12):
            pixels = generator.random((16, 16, 3)) * 100 + 100 * offset
            Image.fromarray(pixels.astype("uint8")).save(folder / class_name / f"{index}.png")

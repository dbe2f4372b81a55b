"""Reliability: parallel saves, SIGKILL during a save, and more jobs than the bound.

The registry promises that a version appears in one rename of a complete staging directory. These
tests attack that promise with real processes: 8 writers at once, SIGKILL at chosen moments of a
save, and a training CLI killed while it registers its model. The job manager promises that each
submission runs once, waits with its place shown, or is refused with a clear message.

`pytest -s` prints what each kill found (the README's reliability table is drawn from it).
"""

import json
import os
import random
import shutil
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import core.registry.writing
from core.data.atomic_files import write_bytes_atomically
from core.demo.models import bundled_demo_models, ensure_demo_models
from core.jobs.image import queue_text
from core.jobs.job import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED
from core.jobs.manager import JobManager, JobRefused
from core.registry.store import ModelRegistry
from core.registry.writing import STAGING_DIRECTORY
from tests.conftest import REPOSITORY_ROOT
from tests.helpers.registry import SAMPLE, make_metadata
from tests.reliability.durability_helpers import (
    KILL_TRIGGERS,
    WORKER_CODE,
    WRITERS,
    describe_leftover,
    fingerprints,
    kill_during_saves,
    large_model,
    poll_until,
    send,
    staging_entries,
    write_tiny_image_folder,
)

TWO_HOURS = 2 * 3600


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """8 child processes with TensorFlow loaded, and each one's large-model predictions.

    Importing TensorFlow costs seconds of CPU per process, so the parallel-save test and the kill
    test share these processes; the kill test uses each one up. Survivors are killed at the end.
    """
    logs = tmp_path_factory.mktemp("worker-logs")
    started = []
    for index in range(WRITERS):
        with open(logs / f"worker-{index}.log", "wb") as log:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER_CODE, str(index)],
                    cwd=REPOSITORY_ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            )
    try:
        predictions = []
        for worker in started:
            line = worker.stdout.readline()
            errors = "".join(path.read_text(errors="replace") for path in logs.glob("*.log"))
            assert line.startswith('{"ready"'), f"a worker failed: {line!r}\n{errors[-3000:]}"
            predictions.append(json.loads(line)["predictions"])
        yield list(zip(started, predictions, strict=True))
    finally:
        for worker in started:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=30)
            worker.stdin.close()
            worker.stdout.close()


# 1. Eight processes save the same name at once.


@pytest.mark.slow
def test_eight_processes_saving_one_name_at_once_get_eight_loadable_versions(tmp_path, workers):
    directory = tmp_path / "registry"
    # Every child has TensorFlow loaded and its models built: these lines start 8 saves at once.
    for worker, _ in workers:
        send(worker, "once", directory)
    lines = [worker.stdout.readline() for worker, _ in workers]
    assert all(line.startswith('{"version"') for line in lines), lines
    reports = [json.loads(line) for line in lines]

    registry = ModelRegistry(directory)
    version_of_writer = {index: report["version"] for index, report in enumerate(reports)}
    assert sorted(version_of_writer.values()) == list(range(1, WRITERS + 1))
    assert [record.reference for record in registry.list()] == [
        f"pump:{version}" for version in range(1, WRITERS + 1)
    ]
    assert registry.problems() == []
    for index, version in version_of_writer.items():
        model, metadata = registry.load("pump", version)
        assert metadata["version"] == version
        # Writer `index` saved a model whose every output is `index`.
        np.testing.assert_allclose(model.predict(SAMPLE, verbose=0), np.full((2, 2), index))
    assert list((directory / STAGING_DIRECTORY).iterdir()) == []
    overlapping = max(
        sum(
            other["started"] < report["ended"] and report["started"] < other["ended"]
            for other in reports
        )
        for report in reports
    )
    durations = [report["ended"] - report["started"] for report in reports]
    print(
        f"\n8 writers: saves took {min(durations):.3f}-{max(durations):.3f} s, "
        f"up to {overlapping} overlapping"
    )


# 2. SIGKILL while saving.


@pytest.mark.slow
def test_sigkill_during_saves_leaves_earlier_versions_intact_and_nothing_partial(tmp_path, workers):
    directory = tmp_path / "registry"
    randomness = random.Random(20261127)
    plans = [(label, trigger, 0.0) for label, trigger in KILL_TRIGGERS.items()]
    plans += [(None, None, randomness.uniform(0.02, 0.4)) for _ in range(4)]
    registry = ModelRegistry(directory)
    model = large_model(seed=1000)
    for _ in range(2):  # Versions that exist before the first kill.
        registry.save(model, "press", make_metadata())
    full_size = registry.get("press").model_path.stat().st_size
    known = fingerprints(registry)
    findings = []
    for (worker, expected), (label, trigger, delay) in zip(workers, plans, strict=True):
        next_version = len(known) + 1
        outcome = kill_during_saves(worker, directory, trigger, delay, full_size)

        current = fingerprints(registry)
        assert registry.problems() == []
        # Earlier versions are byte for byte what they were; new ones follow without a gap.
        assert {reference: current[reference] for reference in known} == known
        new_versions = sorted(int(reference[6:]) for reference in set(current) - set(known))
        assert new_versions == list(range(next_version, next_version + len(new_versions)))
        # A version may be complete on disk although its writer died before hearing so.
        assert new_versions[: len(outcome["reported"])] == outcome["reported"]
        assert len(new_versions) - len(outcome["reported"]) in (0, 1)
        for version in new_versions:
            files = [name for name, _ in current[f"press:{version}"]]
            assert files == ["metadata.json", "model.keras"]
            loaded, metadata = registry.load("press", version)
            assert metadata["version"] == version
            np.testing.assert_allclose(
                loaded.predict(SAMPLE, verbose=0), expected, rtol=1e-5, atol=1e-6
            )
        known = current
        findings.append(
            {
                "kill": label if label else f"after {delay:.2f} s",
                "fired": outcome["fired"],
                "versions": new_versions,
                "unreported": len(new_versions) - len(outcome["reported"]),
                "durations": outcome["durations"],
                "left": [
                    describe_leftover(files, full_size) for files in outcome["leftovers"].values()
                ],
            }
        )

    assert any(finding["left"] for finding in findings), "no kill landed inside a save"
    # Killed writers' staging directories were never listed nor reported (checked above); once
    # older than an hour, the next save clears them.
    for name in staging_entries(directory):
        past = time.time() - TWO_HOURS
        os.utime(directory / STAGING_DIRECTORY / name, (past, past))
    assert registry.save(model, "press", make_metadata()).version == len(known) + 1
    assert list((directory / STAGING_DIRECTORY).iterdir()) == []

    durations = [seconds for finding in findings for seconds in finding["durations"]]
    print(
        f"\n{len(durations)} saves of {full_size / 1e6:.1f} MB by killed writers: "
        f"{min(durations, default=0):.3f}-{max(durations, default=0):.3f} s, "
        f"median {float(np.median(durations)) if durations else 0:.3f} s"
    )
    for finding in findings:
        print(
            f"kill {finding['kill']!r} (fired: {finding['fired']}): new versions "
            f"{finding['versions']} (complete but unreported: {finding['unreported']}); "
            f"left in staging: {finding['left'] or 'nothing'}"
        )


# The training CLI killed while it registers its model.


@pytest.mark.slow
def test_sigkill_of_the_training_cli_while_it_registers_its_model(tmp_path):
    data, directory = tmp_path / "parts", tmp_path / "registry"
    write_tiny_image_folder(data)
    registry = ModelRegistry(directory)
    # The CLI first seeds a fresh registry with the demo models; seeding it here leaves the
    # training's own save as the only staging directory to watch for.
    ensure_demo_models(registry)
    demo = bundled_demo_models()["demo-defect-cnn"]
    demo_metadata = json.loads((demo / "metadata.json").read_text(encoding="utf-8"))
    registry.import_model_file(demo / "model.keras", "widget", demo_metadata)
    before = fingerprints(registry)
    command = [sys.executable, "-m", "core", "train", "image", "--data", str(data)]
    command += ["--epochs", "1", "--image-size", "16", "--registry", str(directory)]
    with open(tmp_path / "cli.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "--name", "widget"], cwd=REPOSITORY_ROOT, stdout=log, stderr=log
        )
    try:
        poll_until(lambda: staging_entries(directory) or process.poll() is not None, timeout=300)
        exit_code = process.poll()
    finally:
        process.kill()
        process.wait(timeout=30)
    leftovers = staging_entries(directory)
    output = (tmp_path / "cli.log").read_text(errors="replace")
    assert exit_code in (None, 0), output[-3000:]

    after = fingerprints(registry)
    assert registry.problems() == []
    assert {reference: after[reference] for reference in before} == before
    new = sorted(set(after) - set(before))
    assert new in ([], ["widget:2"])
    if new:
        assert registry.load("widget:2")[1]["version"] == 2
    later = registry.import_model_file(demo / "model.keras", "widget", demo_metadata)
    assert later.version == 2 + len(new)
    print(
        f"\ntraining CLI killed when its staging directory appeared: new versions {new}; left "
        f"in staging: {[describe_leftover(files) for files in leftovers.values()]}"
    )


# Faults inside one process.


def complete_metadata() -> dict:
    return make_metadata(
        created_at="2025-01-02T03:04:05+00:00", tensorflow_version="2.21.0", keras_version="3.15.1"
    )


def test_a_staging_directory_removed_mid_save_fails_the_save_instead_of_listing_a_broken_model(
    tmp_path, monkeypatch
):
    source = tmp_path / "source.keras"
    source.write_bytes(b"model bytes")
    registry = ModelRegistry(tmp_path / "registry")
    real_fsync_file = core.registry.writing.fsync_file

    def fsync_then_lose_the_staging_directory(path):
        real_fsync_file(path)
        # Someone else (a cleaner of old leftovers, a person) removes the directory mid-save.
        shutil.rmtree(path.parent)

    monkeypatch.setattr(core.registry.writing, "fsync_file", fsync_then_lose_the_staging_directory)
    with pytest.raises(FileNotFoundError, match="Expected the staging directory of the save"):
        registry.import_model_file(source, "pump", complete_metadata())
    monkeypatch.undo()
    assert registry.list() == []
    assert registry.problems() == []
    assert registry.import_model_file(source, "pump", complete_metadata()).version == 1


def test_atomically_written_files_are_as_readable_as_plainly_written_ones(tmp_path):
    plain, atomic = tmp_path / "plain.keras", tmp_path / "atomic.txt"
    plain.write_bytes(b"model bytes")
    write_bytes_atomically(atomic, b"text")
    record = ModelRegistry(tmp_path / "registry").import_model_file(
        plain, "pump", complete_metadata()
    )
    # Another user serving a shared registry must be able to read the metadata, as the model.
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(atomic.stat().st_mode) == expected
    assert stat.S_IMODE((record.path / "metadata.json").stat().st_mode) == expected
    assert atomic.read_bytes() == b"text"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


# 3. More jobs than the bound.

REFUSAL = (
    "Expected a free place: LineSight is busy with 1 running and 3 queued job(s) (limit 1 "
    "running + 3 queued). Received: a new 'train' job; try again when one finishes."
)


def recording_work(label: int, started: list, release: threading.Event):
    """Work that notes its start in `started` (list.append is atomic), then waits for release."""

    def work(progress, cancellation):
        started.append(label)
        release.wait(timeout=30)
        return label

    return work


def test_ten_jobs_from_several_owners_run_once_in_order_or_are_refused():
    manager = JobManager(max_running=1, max_queued=3)
    release, started, outcomes = threading.Event(), [], {}
    barrier = threading.Barrier(10)

    def submit(label: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[label] = manager.submit(
                f"session-{label % 3}", "train", recording_work(label, started, release)
            )
        except JobRefused as error:
            outcomes[label] = error

    threads = [threading.Thread(target=submit, args=(label,)) for label in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    accepted = [job for job in outcomes.values() if not isinstance(job, JobRefused)]
    refused = [error for error in outcomes.values() if isinstance(error, JobRefused)]
    assert (len(outcomes), len(accepted), len(refused)) == (10, 4, 6)
    assert {str(error) for error in refused} == {REFUSAL}
    # One job runs; three wait, each told how many jobs are ahead of it.
    by_place = sorted(accepted, key=lambda job: manager.queue_position(job.job_id) or 0)
    assert [job.state for job in by_place] == [RUNNING, QUEUED, QUEUED, QUEUED]
    assert [queue_text(manager.queue_position(job.job_id)) for job in by_place] == [
        "",
        "1 job ahead",
        "2 jobs ahead",
        "3 jobs ahead",
    ]

    # Cancelling a waiting job frees its place: the job behind moves up, a newcomer gets in.
    cancelled = manager.cancel(by_place[2].owner, by_place[2].job_id)
    assert cancelled.state == CANCELLED
    assert manager.queue_position(cancelled.job_id) is None
    assert queue_text(manager.queue_position(by_place[3].job_id)) == "2 jobs ahead"
    newcomer = manager.submit("session-new", "train", recording_work(10, started, release))
    assert queue_text(manager.queue_position(newcomer.job_id)) == "3 jobs ahead"
    with pytest.raises(JobRefused) as refusal:
        manager.submit("session-late", "train", recording_work(11, started, release))
    assert str(refusal.value) == REFUSAL

    release.set()
    order = [by_place[0], by_place[1], by_place[3], newcomer]
    assert [manager.wait(job.owner, job.job_id, timeout=30).state for job in order] == [
        SUCCEEDED
    ] * 4
    # First in, first out; each exactly once; the cancelled job never.
    assert started == [job.result for job in order]
    assert cancelled.state == CANCELLED


def test_jobs_submitted_while_others_finish_are_never_lost_or_run_twice():
    manager = JobManager(max_running=1, max_queued=3)
    release, started = threading.Event(), []
    release.set()
    accepted, refused, order_lock = [], [], threading.Lock()

    def submit_many(owner: str, first_label: int) -> None:
        for label in range(first_label, first_label + 15):
            # The lock makes the acceptance order observable; the manager's own lock still
            # races against its worker threads finishing jobs.
            with order_lock:
                try:
                    accepted.append(
                        manager.submit(owner, "train", recording_work(label, started, release))
                    )
                except JobRefused as error:
                    refused.append(error)
            time.sleep(0.001)

    threads = [
        threading.Thread(target=submit_many, args=(f"session-{index}", 100 * index))
        for index in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(accepted) + len(refused) == 60
    assert {str(error) for error in refused} <= {REFUSAL}
    finished = [manager.wait(job.owner, job.job_id, timeout=30) for job in accepted]
    assert {job.state for job in finished} == {SUCCEEDED}
    assert started == [job.result for job in accepted]


def test_a_job_that_calls_sys_exit_fails_visibly_and_frees_its_slot():
    def exits(progress, cancellation):
        sys.exit(2)

    manager = JobManager(max_running=1, max_queued=1)
    job = manager.submit("alice", "train", exits)
    waiting = manager.submit("alice", "train", lambda progress, cancellation: "done")
    finished = manager.wait("alice", job.job_id, timeout=5)
    assert (finished.state, finished.error) == (FAILED, "SystemExit: 2")
    assert manager.wait("alice", waiting.job_id, timeout=5).result == "done"


def test_a_job_whose_thread_cannot_start_fails_visibly_and_frees_its_slot(monkeypatch):
    def refuse_to_start(thread):
        raise RuntimeError("can't start new thread")

    manager = JobManager(max_running=1, max_queued=1)
    monkeypatch.setattr(threading.Thread, "start", refuse_to_start)
    job = manager.submit("alice", "train", lambda progress, cancellation: "never")
    monkeypatch.undo()
    assert (job.state, job.error) == (FAILED, "RuntimeError: can't start new thread")
    after = manager.submit("alice", "train", lambda progress, cancellation: "done")
    assert manager.wait("alice", after.job_id, timeout=5).result == "done"

"""Tests for core/inference/watch.py: polling a folder and scoring each new image once."""

import csv
import io

import numpy as np
import pytest
from PIL import Image

from core.inference.watch import FolderWatcher

COLUMNS = ["source", "name", "predicted", "confidence", "p_bright", "p_dark", "scored_at"]


class FakePredictor:
    """Predicts 'bright' for images brighter than mid-grey; records each batch size."""

    image_size = (8, 8)
    channels = 1

    def __init__(self):
        self.class_names = ["bright", "dark"]
        self.batch_sizes = []

    def predict_arrays(self, images):
        self.batch_sizes.append(len(images))
        bright = images.reshape(len(images), -1).mean(axis=1) / 255.0
        return np.stack([bright, 1.0 - bright], axis=1).astype(np.float32)


class FakeTime:
    """A clock that only moves when `sleep` is called, and records the sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def read_rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def make_watcher(inbox, results, **options):
    return FolderWatcher(inbox, options.pop("predictor", FakePredictor()), results, **options)


def test_files_dropped_between_polls_are_scored_once(inbox, tmp_path):
    results = tmp_path / "results.csv"
    (inbox / "a.png").write_bytes(png_bytes(220))
    (inbox / "notes.txt").write_text("not an image: ignored")
    with make_watcher(inbox, results) as watcher:
        assert watcher.poll_once() == 0, "first sight: wait until the size is stable"
        assert watcher.poll_once() == 1
        assert watcher.poll_once() == 0
        (inbox / "line2").mkdir()
        (inbox / "line2" / "b.png").write_bytes(png_bytes(10))
        assert watcher.poll_once() == 0
        assert watcher.poll_once() == 1
        assert watcher.poll_once() == 0
        # Rows are flushed per batch: readable while the watcher still runs.
        rows = read_rows(results)
        assert watcher.summary.scored == 2
        assert watcher.summary.predicted_counts == {"bright": 1, "dark": 1}
    assert [(row["name"], row["predicted"]) for row in rows] == [
        ("a.png", "bright"),
        ("line2/b.png", "dark"),
    ]
    assert list(rows[0]) == COLUMNS
    assert rows[0]["source"] == inbox.as_posix()
    assert rows[0]["scored_at"].endswith("+00:00")


def test_a_file_still_being_written_waits_until_it_is_stable(inbox, tmp_path):
    content = png_bytes(220)
    partial = inbox / "camera.png"
    partial.write_bytes(content[:20])
    with make_watcher(inbox, tmp_path / "results.csv") as watcher:
        assert watcher.poll_once() == 0
        with open(partial, "ab") as handle:
            handle.write(content[20:40])
        assert watcher.poll_once() == 0, "the size changed since the last poll"
        with open(partial, "ab") as handle:
            handle.write(content[40:])
        assert watcher.poll_once() == 0
        assert watcher.poll_once() == 1
        assert watcher.summary.scored == 1
        assert watcher.summary.rejected_count == 0


def test_a_restart_skips_files_already_in_the_results(inbox, tmp_path):
    results = tmp_path / "results.csv"
    for index in range(3):
        (inbox / f"part_{index}.png").write_bytes(png_bytes(200))
    (inbox / "=cmd.png").write_bytes(png_bytes(200))
    (inbox / "bad.png").write_bytes(b"not a png")
    with make_watcher(inbox, results) as watcher:
        watcher.run(once=True)
    predictor = FakePredictor()
    with make_watcher(inbox, results, predictor=predictor) as watcher:
        assert watcher.already_scored == 5, "4 scored + 1 refused, '=cmd.png' included"
        assert watcher.poll_once(wait_until_stable=False) == 0
        (inbox / "part_3.png").write_bytes(png_bytes(200))
        assert watcher.poll_once(wait_until_stable=False) == 1
    assert predictor.batch_sizes == [1]
    names = [row["name"] for row in read_rows(results)]
    assert sorted(names) == ["'=cmd.png", "part_0.png", "part_1.png", "part_2.png", "part_3.png"]
    assert results.read_text().count("source,name") == 1, "the header is written once"


def test_refused_files_go_to_the_rejected_file_and_are_retried_when_they_change(inbox, tmp_path):
    (inbox / "bad.png").write_bytes(b"not a png")
    with make_watcher(inbox, tmp_path / "results.csv") as watcher:
        assert watcher.poll_once(wait_until_stable=False) == 1
        assert watcher.poll_once(wait_until_stable=False) == 0, "unchanged: not retried"
        (inbox / "bad.png").write_bytes(png_bytes(30))
        assert watcher.poll_once(wait_until_stable=False) == 1
        assert watcher.summary.scored == 1
        assert watcher.summary.rejected_count == 1
    rejected = read_rows(tmp_path / "results.rejected.csv")
    assert [row["name"] for row in rejected] == ["bad.png"]
    assert "the file is not a readable image" in rejected[0]["reason"]
    assert [row["name"] for row in read_rows(tmp_path / "results.csv")] == ["bad.png"]


def test_once_scores_everything_present_without_waiting(inbox, tmp_path):
    for index in range(5):
        (inbox / f"part_{index}.png").write_bytes(png_bytes(200))
    fake_time = FakeTime()
    predictor = FakePredictor()
    with make_watcher(
        inbox,
        tmp_path / "results.csv",
        predictor=predictor,
        batch_size=2,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    ) as watcher:
        summary = watcher.run(once=True)
    assert (summary.stopped, summary.scored, summary.polls) == ("once", 5, 1)
    assert predictor.batch_sizes == [2, 2, 1]
    assert fake_time.sleeps == []


def test_max_files_stops_after_that_many_scored(inbox, tmp_path):
    for index in range(5):
        (inbox / f"part_{index}.png").write_bytes(png_bytes(200))
    fake_time = FakeTime()
    with make_watcher(
        inbox, tmp_path / "results.csv", clock=fake_time.clock, sleep=fake_time.sleep
    ) as watcher:
        summary = watcher.run(interval=0.5, max_files=2)
    assert (summary.stopped, summary.scored, summary.polls) == ("max_files", 2, 2)
    assert fake_time.sleeps == [0.5]
    assert len(read_rows(tmp_path / "results.csv")) == 2


def test_timeout_and_interrupt_stop_cleanly(inbox, tmp_path):
    fake_time = FakeTime()
    with make_watcher(
        inbox, tmp_path / "results.csv", clock=fake_time.clock, sleep=fake_time.sleep
    ) as watcher:
        summary = watcher.run(interval=1.0, timeout=2.5)
    assert (summary.stopped, summary.polls, summary.seconds) == (
        "timeout",
        4,
        2.5,
    )  # Polls at 0, 1, 2 and 2.5 s.
    assert fake_time.sleeps == [1.0, 1.0, 0.5]

    def interrupt(seconds):
        raise KeyboardInterrupt

    with make_watcher(inbox, tmp_path / "results.csv", sleep=interrupt) as watcher:
        assert watcher.run(interval=1.0).stopped == "interrupted"


def test_bad_arguments_are_refused_with_clear_messages(inbox, tmp_path):
    with pytest.raises(ValueError) as error:
        make_watcher(tmp_path / "missing", tmp_path / "results.csv")
    assert str(error.value) == (
        f"Expected an existing folder to watch. Received: directory='{tmp_path / 'missing'}'"
    )
    with pytest.raises(ValueError) as error:
        make_watcher(inbox, tmp_path / "results.parquet")
    assert str(error.value) == (
        "Expected a results file ending in .csv. "
        f"Received: results='{tmp_path / 'results.parquet'}'"
    )
    other = tmp_path / "other.csv"
    other.write_text("name,score\na.png,1\n")
    with pytest.raises(ValueError, match=r"Expected the existing results file to have the colum"):
        make_watcher(inbox, other)
    with (
        make_watcher(inbox, tmp_path / "results.csv") as watcher,
        pytest.raises(ValueError, match=r"positive number. Received: interval=0"),
    ):
        watcher.run(interval=0)

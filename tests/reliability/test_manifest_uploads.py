"""Manifest uploads: an image listed many times is refused before anything is written to disk.

A 24 KB manifest listing one 2 MB image 1,000 times under different paths used to write 1.97 GB
to a temporary folder and load the same pixels under several labels. Two uploads with the same
file name were silently merged.
"""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest
from PIL import Image

from core.data.image_sources import manifest_image_source


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_image_listed_a_thousand_times_is_refused_without_writing_it(monkeypatch):
    rows = "".join(
        f"copy_{index}/part.png,{'ok' if index % 2 else 'crack'}\n" for index in range(1000)
    )
    files = [("labels.csv", ("filename,label\n" + rows).encode()), ("part.png", png(0))]
    source = manifest_image_source(files, "labels.csv")
    written = []
    original = pathlib.Path.write_bytes

    def watched(path, data):
        written.append((path.name, len(data)))
        return original(path, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", watched)
    with pytest.raises(ValueError) as caught:
        source.load((16, 16), 1)
    message = str(caught.value)
    assert message.startswith("Expected each uploaded image to be listed once in 'labels.csv'")
    assert "'part.png' on rows 2, 3, 4, 5, 6 and 995 more" in message
    assert written == [("labels.csv", len(files[0][1]))], "no copy of the image was written"


def test_two_uploads_with_one_file_name_are_refused():
    files = [
        ("labels.csv", b"filename,label\na/part.png,ok\nb/part.png,crack\n"),
        ("a/part.png", png(1)),
        ("b/part.png", png(2)),
    ]
    with pytest.raises(ValueError, match=r"Received: 1 name\(s\) uploaded more than once: \["):
        manifest_image_source(files, "labels.csv")


def test_a_manifest_listing_each_image_once_still_loads():
    files = [
        ("labels.csv", b"filename,label\nok/a.png,ok\ncrack/b.png,crack\n"),
        ("a.png", png(3)),
        ("b.png", png(4)),
    ]
    dataset = manifest_image_source(files, "labels.csv").load((16, 16), 1)
    assert dataset.class_names == ["crack", "ok"]
    assert len(dataset) == 2

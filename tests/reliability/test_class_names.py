"""Class names that differ only in case or spaces are refused, not trained as separate classes.

A zip with `ok/` and `OK/`, or a manifest labelling `scratch` and `Scratch `, would otherwise
train four classes of two kinds of part without a word.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.data.images import load_image_zip
from core.data.inspection import inspect_uploads


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(folders) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, folder in enumerate(folders):
            for image in range(2):
                archive.writestr(f"{folder}/part_{index}_{image}.png", png(index * 10 + image))
    return buffer.getvalue()


def test_case_and_space_variants_of_a_class_are_refused_with_each_group_named():
    data = zip_of(["ok", "OK", "scratch", "Scratch ", "pit"])
    with pytest.raises(ValueError) as caught:
        load_image_zip(data, name="parts.zip", image_size=(16, 16))
    message = str(caught.value)
    assert message.startswith("Expected class names that differ by more than letter case")
    assert "'OK' and 'ok'" in message
    assert "'Scratch ' and 'scratch'" in message
    assert "'pit'" not in message


def test_distinct_names_still_load():
    dataset = load_image_zip(zip_of(["ok", "scratch"]), name="parts.zip", image_size=(16, 16))
    assert dataset.class_names == ["ok", "scratch"]


def test_the_data_check_lists_the_refused_zip_and_goes_on():
    report = inspect_uploads(
        [("bad.zip", zip_of(["ok", "OK"])), ("good.zip", zip_of(["ok", "scratch"]))]
    )
    assert [item["name"] for item in report["rejected"]] == ["bad.zip"]
    assert [archive["name"] for archive in report["image_archives"]] == ["good.zip"]

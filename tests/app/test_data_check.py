"""AppTest of the Check data page: uploads that share a name are each reported.

A Mac names every zip it makes `Archive.zip`; two different zips of one name used to stop the page
with StreamlitDuplicateElementKey and a server path.
"""

import io
import zipfile

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(classes, seed: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, name in enumerate(classes):
            archive.writestr(f"{name}/part_{index}.png", png(seed + index))
            archive.writestr(f"{name}/broken_{index}.png", b"\x89PNG broken")
    return buffer.getvalue()


def test_two_zips_with_one_name_are_both_reported(isolated_registry):
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("pages/data_check.py").run()
    first, second = zip_of(["ok", "crack"], 0), zip_of(["ok", "pit", "scratch"], 10)
    app.file_uploader(key="data_check_upload").set_value(
        [("Archive.zip", first, "application/zip"), ("Archive.zip", second, "application/zip")]
    ).run()
    assert not app.exception, app.exception
    headers = [element.value for element in app.subheader]
    assert headers.count("Image set: Archive.zip") == 2
    assert len(app.get("plotly_chart")) == 2

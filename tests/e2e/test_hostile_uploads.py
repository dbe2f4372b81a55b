"""End to end: hostile files uploaded to the running app are refused one by one, the good file is
checked, the server keeps serving and nothing is written into the app's folder."""

import urllib.request
from pathlib import Path

import pytest

from core.data import bundled
from tests.conftest import REPOSITORY_ROOT
from tests.e2e.conftest import wait_for_app_idle
from tests.e2e.test_spot_check import open_from_sidebar
from tests.reliability.test_hostile_zips import raw_zip, zeros_member

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 90_000


def repository_files() -> set[Path]:
    ignored = {".git", ".pytest_cache", ".ruff_cache", ".hypothesis", "registry"}
    return {
        path
        for path in REPOSITORY_ROOT.rglob("*")
        if path.is_file()
        and not ignored & set(path.relative_to(REPOSITORY_ROOT).parts)
        and "__pycache__" not in path.parts
    }


def test_hostile_uploads_are_refused_and_the_server_keeps_serving(page, app_url, tmp_path):
    good = bundled.spot_check_files()[0]
    hostile = {
        "drawing.png": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        "empty.png": b"",
        "noise.png": bytes(range(256)) * 16,
        # 40 members of 64 MiB of zeros: 2.5 GiB once expanded, a few MB uploaded.
        "bomb.zip": raw_zip([zeros_member(f"ok/{index}.png", 64 * 2**20) for index in range(40)]),
    }
    paths = [good]
    for name, data in hostile.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    before = repository_files()
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    open_from_sidebar(page, app_url, "Check data")
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(
        [str(path) for path in paths]
    )
    page.get_by_text(f"{len(hostile)} file(s) could not be used; the rest were checked.").wait_for(
        timeout=TIMEOUT_MS
    )
    wait_for_app_idle(page, TIMEOUT_MS)
    assert good.name in page.locator("[data-testid='stMain']").inner_text()

    with urllib.request.urlopen(f"{app_url}/_stcore/health", timeout=10) as response:
        assert response.status == 200
    page.reload()
    page.get_by_role("link", name="Spot check").wait_for(timeout=TIMEOUT_MS)
    assert repository_files() == before, "an upload wrote into the app's folder"
    assert not page_errors, f"the browser reported errors: {page_errors}"

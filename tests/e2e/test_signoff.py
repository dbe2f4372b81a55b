"""End to end: the sign-off page runs the robustness check of the demo model, draws its chart,
makes the sign-off report and downloads it as HTML."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import wait_for_app_idle

pytestmark = pytest.mark.e2e

TIMEOUT = 120_000
PLOTLY = "[data-testid='stPlotlyChart'] .js-plotly-plot"
CREATED_FILES = ("robustness.json", "signoff_report.html")


@pytest.fixture
def cleanup_attachments(tmp_path_factory):
    """Removes the attachments this test adds to the shared e2e registry's demo model."""
    created = []
    yield created
    # The e2e server's registry is the session's `e2e-registry*` temporary folder.
    for reference in created:
        name, version = reference.split(":")
        folders = list(tmp_path_factory.getbasetemp().glob(f"e2e-registry*/{name}/{version}"))
        assert folders, f"Expected the e2e registry to hold {reference} to clean up"
        for folder in folders:
            for file_name in CREATED_FILES:
                (folder / file_name).unlink(missing_ok=True)
            assert not any((folder / file_name).exists() for file_name in CREATED_FILES)


def test_signoff_runs_robustness_and_downloads_the_report(page, app_url, cleanup_attachments):
    page.goto(app_url)
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_role("link", name="Sign-off").click()
    page.get_by_role("heading", name="Sign-off", level=1).wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    model = page.get_by_role("combobox", name="Model")
    expect(model).to_have_value(re.compile(r"^demo-defect-cnn:\d+$"), timeout=TIMEOUT)
    reference = model.input_value()
    cleanup_attachments.append(reference)

    page.get_by_role("button", name="Run robustness check").click()
    page.locator(PLOTLY).first.wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    assert page.get_by_text("No robustness check for this version yet.").count() == 0
    assert page.locator(PLOTLY).count() == 1

    page.get_by_role("button", name="Make sign-off report").click()
    download_button = page.get_by_role("button", name="Download sign-off report (HTML)")
    download_button.wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    with page.expect_download(timeout=TIMEOUT) as download_info:
        download_button.click()
    download = download_info.value
    name, version = reference.split(":")
    assert download.suggested_filename == f"{name}-v{version}-signoff.html"
    document = download.path().read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>")
    assert f"<h1>Sign-off report: {reference}</h1>" in document
    assert "data:image/png;base64," in document
    assert "http://" not in document and "https://" not in document

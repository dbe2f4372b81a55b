"""End to end: train a GAN on the sample for one epoch, see its grid, save it, download images."""

import zipfile

import pytest
from playwright.sync_api import expect

from core.data.bundled import sample_data_directory
from tests.e2e.conftest import wait_for_app_idle
from tests.e2e.test_train_images import choose_radio, set_number

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 90_000
TRAINING_TIMEOUT_MS = 150_000
CHART = "[data-testid='stPlotlyChart'] .js-plotly-plot"


def test_train_a_gan_watch_the_grid_save_generate_and_download(page, app_url, screenshot_path):
    # A frontend exception (e.g. "Bad delta path index" from a polling fragment) blanks the
    # page: none may happen.
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(app_url, timeout=120_000)  # Generous: the CPU may be busy training.
    wait_for_app_idle(page)
    page.get_by_role("link", name="Synthetic images").click()
    page.get_by_text("2. Train a GAN").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Dataset: sample images (sample_data/images)").wait_for(timeout=TIMEOUT_MS)
    wait_for_app_idle(page)

    choose_radio(page, "Image size", "64")
    set_number(page, "Epochs", 1)
    set_number(page, "Images per class for training (0 = all)", 60)
    page.get_by_role("button", name="Train GAN").click()

    page.get_by_text("Sample grid after epoch 1").wait_for(timeout=TRAINING_TIMEOUT_MS)
    expect(page.locator("[data-testid='stImage'] img").first).to_be_visible()
    save = page.get_by_role("button", name="Save to registry")
    save.wait_for(timeout=TRAINING_TIMEOUT_MS)
    wait_for_app_idle(page)
    page.locator(CHART).filter(has_text="Losses").first.wait_for(timeout=TIMEOUT_MS)
    expect(page.get_by_label("GAN name (letters, digits, _ . -)")).to_have_value("sample-gan64")

    page.get_by_role("heading", name="2. Train a GAN").evaluate(
        "element => element.scrollIntoView()"
    )
    page.screenshot(path=screenshot_path("synthetic.png"))

    save.click()
    page.get_by_text("Saved as sample-gan64:1").wait_for(timeout=TIMEOUT_MS)
    wait_for_app_idle(page)
    set_number(page, "Images per class", 4)
    page.get_by_role("button", name="Generate", exact=True).click()
    download_button = page.get_by_role("button", name="Download zip")
    download_button.wait_for(timeout=TIMEOUT_MS)
    wait_for_app_idle(page)
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        download_button.click()
    download = download_info.value
    assert download.suggested_filename == "synthetic-sample-gan64.zip"
    with zipfile.ZipFile(download.path()) as archive:
        names = archive.namelist()
    folders = sorted({name.split("/")[0] for name in names})
    classes = sorted(path.name for path in (sample_data_directory() / "images").iterdir())
    assert folders == classes
    assert len(names) == 4 * len(classes)
    assert not page_errors, f"the browser reported errors: {page_errors}"

"""End to end: a fresh start spot-checks the sample images with the demo model, then the models
page compares and exports the demo models. Screenshots: spot_check.png and models.png (see
`screenshot_path`)."""

import re

import pytest
from playwright.sync_api import expect

from core.data import bundled
from tests.e2e.conftest import wait_for_app_idle

pytestmark = pytest.mark.e2e

TIMEOUT = 90_000
IMAGES = "[data-testid='stImage'] img, [data-testid='stFullScreenFrame'] img"
PLOTLY = "[data-testid='stPlotlyChart'] .js-plotly-plot"


def wait_for_images(page, count: int) -> None:
    page.wait_for_function(
        """([selector, count]) => {
            const images = [...document.querySelectorAll(selector)];
            return images.length >= count && images.every((image) => image.complete
                && image.naturalWidth > 0);
        }""",
        arg=[IMAGES, count],
        timeout=TIMEOUT,
    )


def open_from_sidebar(page, app_url, title: str) -> None:
    page.goto(app_url)
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)


def test_spot_check_a_sample_image_shows_prediction_and_heatmap(page, app_url, screenshot_path):
    open_from_sidebar(page, app_url, "Spot check")
    model = page.get_by_role("combobox", name="Model")
    expect(model).to_have_value(re.compile(r"^demo-defect-cnn:\d+"), timeout=TIMEOUT)

    samples = bundled.spot_check_files()
    uploader = page.locator("[data-testid='stFileUploader'] input[type='file']")
    uploader.set_input_files([str(path) for path in samples[:1]])
    page.get_by_text("Look closer").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_text("Grad-CAM of").first.wait_for(timeout=TIMEOUT)
    # The grid shows the image and its heatmap; the close-up shows both again.
    wait_for_images(page, 4)
    page.locator(PLOTLY).first.wait_for(timeout=TIMEOUT)
    assert page.get_by_text(samples[0].name).count() >= 1
    assert page.get_by_text("1 of 1 predictions shown.").is_visible()

    # One sample per class (the uploader adds them to the first) fills the grid for the screenshot.
    uploader.set_input_files([str(path) for path in samples[2::2]])
    total = 1 + len(samples[2::2])
    page.get_by_text(f"{total} of {total} predictions shown.").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    # Image and heatmap per grid cell, then the close-up pair: all loaded before the screenshot.
    wait_for_images(page, 2 * total + 2)
    page.screenshot(path=screenshot_path("spot_check.png"), full_page=True)


def test_models_page_compares_and_exports_the_demo_models(page, app_url, screenshot_path):
    open_from_sidebar(page, app_url, "Models")
    page.get_by_text("Confusion matrices (test set)").wait_for(timeout=TIMEOUT)
    page.locator(PLOTLY).nth(3).wait_for(timeout=TIMEOUT)  # Two matrices, two curve panels.
    assert page.locator(PLOTLY).count() == 4
    page.screenshot(path=screenshot_path("models.png"), full_page=True)

    wait_for_app_idle(page, TIMEOUT)
    for label, extension in (
        ("Keras (.keras)", ".keras"),
        ("TensorFlow Lite (.tflite)", ".tflite"),
    ):
        if extension != ".keras":  # Converted on the server first, then offered.
            page.get_by_role("button", name=f"Prepare {label}").click()
            wait_for_app_idle(page, TIMEOUT)
        with page.expect_download(timeout=TIMEOUT) as download_info:
            page.get_by_role("button", name=label, exact=True).click()
        download = download_info.value
        assert download.suggested_filename.endswith(extension)
        assert download.suggested_filename.startswith("demo-")
        path = download.path()
        assert path is not None and path.stat().st_size > 1000

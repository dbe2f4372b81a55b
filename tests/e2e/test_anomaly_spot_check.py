"""End to end: the bundled image anomaly model (trained on good parts only) spot-checks sample
images in the browser: a verdict per image, its anomaly map, and the threshold it was judged by.
Screenshot: anomaly_spot_check.png (see `screenshot_path`)."""

import pytest

from core.data import bundled
from tests.e2e.conftest import wait_for_app_idle
from tests.e2e.test_spot_check import TIMEOUT, open_from_sidebar, wait_for_images

pytestmark = pytest.mark.e2e


def test_spot_check_with_the_anomaly_model_flags_defects_and_draws_anomaly_maps(
    page, app_url, screenshot_path
):
    open_from_sidebar(page, app_url, "Spot check")
    model = page.get_by_role("combobox", name="Model")
    model.click()
    page.get_by_role("option", name="demo-image-anomaly:1").click()
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_text("Classes: ok, anomaly.").wait_for(timeout=TIMEOUT)

    by_name = {path.name: path for path in bundled.spot_check_files()}
    chosen = ["crack_spot_1.png", "ok_spot_1.png", "pit_spot_2.png"]
    uploader = page.locator("[data-testid='stFileUploader'] input[type='file']")
    uploader.set_input_files([str(by_name[name]) for name in chosen])
    page.get_by_text("3 of 3 predictions shown.").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_text("Anomaly map of").first.wait_for(timeout=TIMEOUT)
    # Streamlit's markdown typesets ">=" as "≥".
    page.get_by_text("Verdicts: 'anomaly' when the anomaly score ≥").wait_for(timeout=TIMEOUT)
    # Image and anomaly map per grid cell, then the close-up pair.
    wait_for_images(page, 2 * len(chosen) + 2)
    grid_text = page.locator("[data-testid='stMarkdownContainer']").all_inner_texts()
    verdicts = {
        name: text.split()[0]
        for text in grid_text
        for name in chosen
        if name in text and text.split()[0] in ("ok", "anomaly")
    }
    assert verdicts == {"crack_spot_1.png": "anomaly", "ok_spot_1.png": "ok",
                        "pit_spot_2.png": "anomaly"}  # fmt: skip
    page.screenshot(path=screenshot_path("anomaly_spot_check.png"), full_page=True)

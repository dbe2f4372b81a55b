"""End to end: upload the sample fleet, train one epoch, see RUL and the maintenance plan.

Screenshot: sensor_monitor.png (see `screenshot_path`).
"""

import pytest
from playwright.sync_api import expect

from tests.conftest import REPOSITORY_ROOT
from tests.e2e.conftest import wait_for_app_idle

pytestmark = pytest.mark.e2e

TIMEOUT = 90_000
TRAINING_TIMEOUT_MS = 240_000
PLOTLY = "[data-testid='stPlotlyChart'] .js-plotly-plot"
FLEET = REPOSITORY_ROOT / "sample_data" / "sensors" / "train.csv"


def test_upload_fleet_train_one_epoch_and_see_rul_and_maintenance(page, app_url, screenshot_path):
    page.goto(app_url, timeout=120_000)  # Generous: the CPU may be busy training.
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_role("link", name="Sensor monitor").click()
    page.get_by_role("heading", name="Sensor monitor", level=1).wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)

    page.locator("[data-testid='stRadio']").filter(has_text="Sensor data").get_by_text(
        "Upload a file", exact=True
    ).click()
    wait_for_app_idle(page, TIMEOUT)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(FLEET))
    page.get_by_text("Dataset: upload train.csv").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    # The sensor curves of the first unit are drawn under the preview.
    page.locator(PLOTLY).first.wait_for(timeout=TIMEOUT)

    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("1")
    epochs.press("Enter")
    wait_for_app_idle(page, TIMEOUT)
    page.locator("[data-testid='stRadio']").filter(has_text="Evaluate on").get_by_text(
        "Bundled test data", exact=True
    ).click()
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_role("button", name="Start training").click()

    page.get_by_text("Maintenance plan", exact=True).wait_for(timeout=TRAINING_TIMEOUT_MS)
    wait_for_app_idle(page, TIMEOUT)
    expect(page.get_by_text("Cancel training")).to_have_count(0, timeout=30_000)
    heading = page.get_by_role("heading", name="Remaining useful life")
    expect(heading).to_be_visible()
    rul_chart = page.locator(PLOTLY).filter(has_text="RUL (cycles)")
    expect(rul_chart.first).to_be_visible(timeout=TIMEOUT)
    ranking = page.locator(PLOTLY).filter(has_text="units due within 30 cycles")
    expect(ranking).to_have_count(1, timeout=TIMEOUT)
    # The maintenance table is a canvas data grid: its header cells exist for accessibility.
    table = page.locator("[data-testid='stDataFrame']").filter(has_text="predicted_rul")
    table.first.wait_for(state="attached", timeout=TIMEOUT)
    expect(page.locator("[data-testid='stMetric']").filter(has_text="RMSE")).to_have_count(1)

    heading.evaluate("element => element.scrollIntoView()")
    page.screenshot(path=screenshot_path("sensor_monitor.png"))

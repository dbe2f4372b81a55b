"""End to end: the guided demo from the home page through its four steps, then Reset demo.

The e2e server's registry is shared with the other e2e tests: the tour saves one model
(demo-tour-defect-cnn) and Reset demo removes it again, leaving the demo models as bundled.
The screenshot of the spot check step is demo_tour.png (see `screenshot_path`).
"""

import re

import pytest
from playwright.sync_api import expect

from core.demo.models import bundled_demo_models
from tests.e2e.conftest import wait_for_app_idle

pytestmark = pytest.mark.e2e

TIMEOUT = 90_000
TRAINING_TIMEOUT_MS = 300_000  # The demo trains in well under a minute; the CPU may be busy.
PLOTLY = "[data-testid='stPlotlyChart'] .js-plotly-plot"


def click_button(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def wait_for_step(page, number: int, title: str) -> None:
    page.get_by_text(f"Demo step {number} of 4: {title}").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)


def test_guided_demo_walks_through_four_steps_then_resets(page, app_url, screenshot_path):
    page.goto(app_url, timeout=120_000)
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_role("heading", name="Guided demo").wait_for(timeout=TIMEOUT)

    # Step 1: spot check with the bundled sample images switched on.
    click_button(page, "Start demo")
    wait_for_step(page, 1, "Spot check sample images")
    page.get_by_role("heading", name="Spot check", level=1).wait_for(timeout=TIMEOUT)
    checked = page.locator("[data-testid='stMetric']").filter(has_text="Images checked")
    checked.wait_for(timeout=TIMEOUT)
    assert int(checked.locator("[data-testid='stMetricValue']").inner_text()) > 0
    page.get_by_role("heading", name="Look closer").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    page.screenshot(path=screenshot_path("demo_tour.png"))

    # Step 2: the training page, preset on the sample with a quick setting.
    click_button(page, "Next: Train a model")
    wait_for_step(page, 2, "Train a model")
    page.get_by_text("Dataset: sample images (sample_data/images)").wait_for(timeout=TIMEOUT)
    expect(page.get_by_label("Epochs", exact=True)).to_have_value("10")
    expect(page.get_by_role("button", name="Next: Read the results")).to_be_disabled()
    click_button(page, "Start training")

    # Step 3: the results, once the job has finished; the save name is the tour's.
    page.get_by_text("Confusion matrix", exact=True).wait_for(timeout=TRAINING_TIMEOUT_MS)
    wait_for_step(page, 3, "Read the results")
    name_field = page.get_by_label("Model name (letters, digits, _ . -)")
    expect(name_field).to_have_value("demo-tour-defect-cnn")
    click_button(page, "Save model")
    page.get_by_text(re.compile(r"Saved as demo-tour-defect-cnn:\d+")).wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)

    # Step 4: the sensor monitor scores the bundled test machines with the demo RUL model.
    click_button(page, "Next: Predict remaining useful life")
    wait_for_step(page, 4, "Predict remaining useful life")
    page.get_by_role("heading", name="Remaining useful life").wait_for(timeout=TIMEOUT)
    page.get_by_text("Compared with the bundled truth in test_rul.csv.").wait_for(timeout=TIMEOUT)
    expect(page.locator(PLOTLY).filter(has_text="RUL (cycles)").first).to_be_visible(
        timeout=TIMEOUT
    )
    expect(page.get_by_role("button", name=re.compile("^Next"))).to_have_count(0)

    click_button(page, "End demo")
    page.get_by_role("heading", name="Guided demo").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    expect(page.get_by_text("Demo step")).to_have_count(0)

    # Reset demo, confirmed: the tour's model goes, the demo models are as bundled.
    click_button(page, "Reset demo")
    page.get_by_text("Reset the demo models?").wait_for(timeout=TIMEOUT)
    click_button(page, "Yes, reset the demo")
    success = page.locator("[data-testid='stAlertContentSuccess']")
    success.wait_for(timeout=TIMEOUT)
    message = success.inner_text()
    assert "Demo models as bundled:" in message
    for name in bundled_demo_models():
        assert f"{name}:" in message
    assert re.search(r"Removed models saved by the demo tour: demo-tour-defect-cnn:\d+", message)

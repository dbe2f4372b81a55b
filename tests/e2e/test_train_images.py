"""End to end: train on the sample data, watch the curves, inspect the results, save the model."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import wait_for_app_idle

pytestmark = pytest.mark.e2e

TRAINING_TIMEOUT_MS = 150_000
CHART = "[data-testid='stPlotlyChart']"


def open_training_page(page, app_url):
    """Opens the app at its root (so st.navigation is in charge), then the training page."""
    page.goto(app_url, timeout=120_000)  # Generous: the CPU may be busy training.
    wait_for_app_idle(page)
    page.get_by_role("link", name="Train image model").click()
    page.get_by_text("2. Model and settings").wait_for(timeout=90_000)
    wait_for_app_idle(page)


def choose_radio(page, group_label: str, option: str):
    group = page.locator("[data-testid='stRadio']").filter(has_text=group_label)
    group.get_by_text(option, exact=True).click()
    wait_for_app_idle(page)


def set_number(page, label: str, value: int):
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    wait_for_app_idle(page)


def configure_quick_run(page, epochs: int, model: str = "seed_cnn", size: str = "32"):
    choose_radio(page, "Model preset", model)
    choose_radio(page, "Image size", size)
    set_number(page, "Epochs", epochs)


def click_confusion_cell(page, row: int, column: int, classes: int):
    """Clicks one cell of the confusion-matrix heatmap (rows: true, columns: predicted)."""
    chart = page.locator(f"[class*='st-key-train_images_confusion'] {CHART}")
    chart.scroll_into_view_if_needed()
    plot_area = chart.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(
        plot_area["x"] + (column + 0.5) * plot_area["width"] / classes,
        plot_area["y"] + (row + 0.5) * plot_area["height"] / classes,
    )


def test_train_on_sample_watch_curves_inspect_and_save(page, app_url, screenshot_path):
    open_training_page(page, app_url)
    assert page.get_by_text("Dataset: sample images (sample_data/images)").is_visible()
    configure_quick_run(page, epochs=2)
    page.get_by_role("button", name="Start training").click()

    # While it trains: the progress bar and the live loss/accuracy curves.
    page.get_by_text("Cancel training").wait_for(timeout=60_000)
    live_curve = page.locator(f"{CHART} .js-plotly-plot").filter(has_text="accuracy")
    live_curve.first.wait_for(timeout=TRAINING_TIMEOUT_MS)

    page.get_by_text("Confusion matrix", exact=True).wait_for(timeout=TRAINING_TIMEOUT_MS)
    wait_for_app_idle(page)
    # Polling stops once the job is finished: the progress panel and its button go away.
    expect(page.get_by_text("Cancel training")).to_have_count(0, timeout=30_000)
    assert page.get_by_text("Per-class metrics").is_visible()
    classes = page.locator("[data-testid='stMetric']").filter(has_text="Classes")
    class_count = int(classes.locator("[data-testid='stMetricValue']").inner_text())

    # Choosing a cell with the mouse shows the images behind it: the top-left cell is class 1
    # predicted as class 1.
    click_confusion_cell(page, 0, 0, class_count)
    caption = page.get_by_text("test image(s) of class")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
        ".some(e => /of class (\\S+) predicted as \\1$/.test(e.innerText.trim()))",
        timeout=30_000,
    )
    assert caption.count() == 1

    page.get_by_role("heading", name="3. Training").evaluate("element => element.scrollIntoView()")
    page.screenshot(path=screenshot_path("train_images.png"))

    page.get_by_label("Model name (letters, digits, _ . -)").fill("e2e-seed-model")
    page.get_by_label("Model name (letters, digits, _ . -)").press("Enter")
    wait_for_app_idle(page)
    page.get_by_role("button", name="Save model").click()
    page.get_by_text("Saved as e2e-seed-model:1").wait_for(timeout=60_000)

    page.get_by_role("link", name="Models").click()
    page.get_by_role("heading", name="Models", exact=True).wait_for(timeout=60_000)
    page.get_by_text("Saved as e2e-seed-model:1").wait_for(state="detached", timeout=60_000)
    # The registry table is a canvas data grid: its cells exist in the DOM for accessibility.
    page.locator("[data-testid='stDataFrame'] [role='gridcell']").filter(
        has_text="e2e-seed-model:1"
    ).first.wait_for(state="attached", timeout=60_000)

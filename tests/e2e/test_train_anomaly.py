"""End to end: train an anomaly model on the sample's good parts in the browser, inspect its test
scores and anomaly maps, save it, and find it offered on the Spot check page.
Screenshot: train_anomaly.png (see `screenshot_path`).

The e2e server shares one registry with the other e2e tests, so the model saved here is deleted
again at the end.
"""

import re
import uuid

import pytest
from playwright.sync_api import expect

from core.registry.store import ModelRegistry
from tests.e2e.conftest import wait_for_app_idle
from tests.e2e.test_spot_check import wait_for_images

pytestmark = pytest.mark.e2e

TIMEOUT = 90_000
TRAINING_TIMEOUT_MS = 150_000
PLOTLY = "[data-testid='stPlotlyChart'] .js-plotly-plot"


@pytest.fixture
def model_name(app_url, tmp_path_factory):
    """A unique model name; its versions are deleted from the e2e server's registry afterwards."""
    name = f"e2e-anomaly-{uuid.uuid4().hex[:8]}"
    yield name
    # `app_url` made the registry with `tmp_path_factory.mktemp("e2e-registry")`.
    # pytest may add an "e2e-registrycurrent" link to it: resolve before counting.
    registries = sorted(
        {path.resolve() for path in tmp_path_factory.getbasetemp().glob("e2e-registry*")}
    )
    assert len(registries) == 1, registries
    registry = ModelRegistry(registries[0])
    if name in registry.names():
        registry.delete(name)


def test_train_an_anomaly_model_save_it_and_spot_check_with_it(
    page, app_url, model_name, screenshot_path
):
    page.goto(app_url, timeout=120_000)
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_role("link", name="Train anomaly model").click()
    page.get_by_role("heading", name="Train an anomaly model", level=1).wait_for(timeout=TIMEOUT)
    page.get_by_text("2. Good class and method").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    assert page.get_by_text("Dataset: sample images (sample_data/images)").is_visible()
    expect(page.get_by_role("combobox", name="Good class (defect-free parts)")).to_have_value("ok")

    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Sample anomaly maps").wait_for(timeout=TRAINING_TIMEOUT_MS)
    wait_for_app_idle(page, TIMEOUT)
    # Polling stops once the job is finished: the progress panel and its button go away.
    expect(page.get_by_text("Cancel training")).to_have_count(0, timeout=30_000)
    metrics = page.locator("[data-testid='stMetric']")
    auroc = metrics.filter(has_text="Image AUROC").locator("[data-testid='stMetricValue']")
    expect(auroc).to_have_text(re.compile(r"^(0\.\d{3}|1\.000)$"))
    image_auroc = float(auroc.inner_text())
    assert image_auroc > 0.8, image_auroc
    pixel = metrics.filter(has_text="Pixel AUROC").locator("[data-testid='stMetricValue']")
    expect(pixel).to_have_text(re.compile(r"^0\.\d{3}$"))
    # Class counts, test scores, ROC curve and confusion matrix.
    page.locator(PLOTLY).nth(3).wait_for(timeout=TIMEOUT)
    wait_for_images(page, 5 * 4 + 3 * 4)  # Thumbnails (4 per class) and three map galleries.

    page.get_by_role("heading", name="3. Training").evaluate("element => element.scrollIntoView()")
    page.screenshot(path=screenshot_path("train_anomaly.png"))

    name_field = page.get_by_label("Model name (letters, digits, _ . -)")
    expect(name_field).to_have_value("sample-anomaly-feature-gaussian")
    name_field.fill(model_name)
    name_field.press("Enter")
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_role("button", name="Save model").click()
    page.get_by_text(f"Saved as {model_name}:1").wait_for(timeout=TIMEOUT)

    page.get_by_role("link", name="Spot check").click()
    page.get_by_role("heading", name="Spot check", level=1).wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_role("combobox", name="Model").click()
    option = page.get_by_role("option", name=f"{model_name}:1 (anomaly model, test AUROC")
    expect(option).to_have_count(1, timeout=TIMEOUT)
    expect(option).to_contain_text(f"{image_auroc:.3f}")
    option.click()
    wait_for_app_idle(page, TIMEOUT)
    page.get_by_text("Classes: ok, anomaly.").wait_for(timeout=TIMEOUT)

"""End to end: choose the demo model's operating point from costs and see it charted.

The e2e server shares one registry with the other e2e tests, so the operating point stored here is
removed again at the end: they see the demo model unchanged.
"""

import re

import pytest
from playwright.sync_api import expect

from core.demo.models import DEMO_IMAGE_MODEL
from core.registry.attachments import OPERATING_POINT
from tests.e2e.conftest import wait_for_app_idle

pytestmark = pytest.mark.e2e

TIMEOUT = 90_000
PLOTLY = "[data-testid='stPlotlyChart'] .js-plotly-plot"


@pytest.fixture
def demo_attachment(app_url, tmp_path_factory):
    """The demo model's operating-point file in the e2e server's registry, removed afterwards."""
    # `app_url` made the registry with `tmp_path_factory.mktemp("e2e-registry")`.
    # pytest may add an "e2e-registrycurrent" link to it: resolve before counting.
    registries = sorted(
        {path.resolve() for path in tmp_path_factory.getbasetemp().glob("e2e-registry*")}
    )
    assert len(registries) == 1, registries
    path = registries[0] / DEMO_IMAGE_MODEL / "1" / OPERATING_POINT
    assert not path.exists(), "another test left an operating point on the demo model"
    yield path
    path.unlink(missing_ok=True)


def set_number(page, label: str, value: float) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    wait_for_app_idle(page, TIMEOUT)


def test_choose_the_demo_models_threshold_from_costs(page, app_url, demo_attachment):
    page.goto(f"{app_url}/operating_point", timeout=120_000)
    page.get_by_role("heading", name="Operating point", level=1).wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)
    model = page.get_by_role("combobox", name="Model")
    expect(model).to_have_value(re.compile(rf"^{DEMO_IMAGE_MODEL}:1"), timeout=TIMEOUT)
    page.get_by_text(f"{DEMO_IMAGE_MODEL}:1 has no operating point yet").wait_for(timeout=TIMEOUT)

    set_number(page, "Cost of a missed defect", 800)
    set_number(page, "Cost of a false reject", 4)
    set_number(page, "Line defect rate (%)", 1.5)
    page.get_by_role("button", name="Choose threshold").click()
    page.get_by_text("Chosen operating point").wait_for(timeout=TIMEOUT)
    wait_for_app_idle(page, TIMEOUT)

    metrics = page.locator("[data-testid='stMetric']")
    threshold = metrics.filter(has_text="Threshold").locator("[data-testid='stMetricValue']")
    escapes = metrics.filter(has_text="Escapes per million parts")
    expect(escapes.locator("[data-testid='stMetricValue']")).to_have_text(re.compile(r"^[\d,]+$"))
    expect(threshold).to_have_text(re.compile(r"^0\.\d+|^1$"))
    page.locator(PLOTLY).nth(2).wait_for(timeout=TIMEOUT)  # ROC, precision-recall, cost.
    assert page.locator(PLOTLY).count() == 3
    assert page.get_by_text(f"Stored with {DEMO_IMAGE_MODEL}:1").is_visible()

    stored = demo_attachment.read_text()
    assert '"missed_defect_cost": 800.0' in stored
    assert '"defect_rate": 0.015' in stored

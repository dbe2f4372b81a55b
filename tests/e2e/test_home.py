"""End to end: a fresh start opens on the home page with the sample grid."""

import pytest

from tests.e2e.conftest import wait_for_app_idle

pytestmark = pytest.mark.e2e


def test_home_page_shows_sample_grid(page, app_url, screenshot_path):
    page.goto(app_url)
    wait_for_app_idle(page)
    page.get_by_text("Surface images per class").wait_for(timeout=60_000)
    selector = "[data-testid='stImage'] img, [data-testid='stFullScreenFrame'] img"
    # The grid's images arrive one by one: wait for all of them, not only the first.
    page.wait_for_function(
        "([selector, count]) => document.querySelectorAll(selector).length >= count",
        arg=[selector, 5 * 6],
        timeout=60_000,
    )
    assert page.locator(selector).count() >= 5 * 6
    page.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").first.wait_for(timeout=60_000)
    page.screenshot(path=screenshot_path("home.png"), full_page=True)

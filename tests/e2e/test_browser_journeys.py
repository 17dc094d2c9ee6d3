"""In a real browser: a funnel with a breakdown, an audience saved from it, retention, paths and lifecycle."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.e2e.conftest import choose, load_sample, wait_idle
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e
SHOTS = ROOT / "tests" / "e2e" / "screenshots"


def test_funnel_audience_retention_paths_lifecycle(app_server, page):
    load_sample(page, app_server)
    page.get_by_role("link", name="Journeys").click()
    page.get_by_role("button", name="Compute the funnel").click()
    page.get_by_text("Users entering", exact=True).wait_for(timeout=120_000)
    charts = page.locator("[data-testid='stPlotlyChart']")
    expect(charts.first.locator(".barlayer")).to_have_count(1, timeout=60_000)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("949")

    # Broken down by channel: one bar per channel and a table per group.
    choose(page, "Break down by", "attribute: channel")
    for attempt in range(3):  # a click during the rerun the new choice started can be lost: click again
        wait_idle(page)
        page.get_by_role("button", name="Compute the funnel").click()
        try:
            page.get_by_text("Per channel").wait_for(timeout=60_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
    expect(charts.first.locator(".legend .traces")).to_have_count(6, timeout=60_000)

    # The users who put something in the cart but did not check out, saved under a name of our own.
    choose(page, "Users who", "reached step 3 (add_to_cart) but not step 4 (begin_checkout)")
    name = page.get_by_label("Audience name (138 users)")
    name.fill("Cart quitters")
    name.press("Enter")
    page.get_by_role("button", name="Save audience").first.click()
    page.get_by_text("Saved 'Cart quitters' (138 users)").wait_for(timeout=60_000)
    page.get_by_text("Saved audiences (1)").wait_for()
    page.screenshot(path=str(SHOTS / "journeys_funnel.png"), full_page=True)

    for tab, button, layer in (("Retention", "Compute retention", ".heatmaplayer"),
                               ("Paths", "Compute the paths", ".sankey"),
                               ("Lifecycle", "Compute the lifecycle", ".barlayer")):
        page.get_by_role("tab", name=tab).click()
        page.get_by_role("button", name=button).click()
        panel = page.get_by_role("tabpanel", name=tab)
        expect(panel.locator(layer).first).to_be_visible(timeout=120_000)
        page.screenshot(path=str(SHOTS / f"journeys_{tab.lower()}.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0

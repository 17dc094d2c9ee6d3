"""In a real browser: load the social sample, attribute its conversions, rank its posts, save an audience."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def test_social_sample_attribution_content_and_audience(app_server, page):
    page.goto(app_server)
    page.get_by_role("button", name="Load the sample social log").click()
    page.get_by_text("Rows kept").wait_for()
    page.get_by_role("link", name="Channels").click()
    page.get_by_role("button", name="Compute attribution").click()
    page.get_by_text("What attribution can and cannot say.").wait_for(timeout=120_000)
    charts = page.locator("[data-testid='stPlotlyChart']")
    expect(charts).to_have_count(3, timeout=60_000)  # model comparison, removal effects, top paths
    expect(charts.nth(0).locator(".legend .traces")).to_have_count(5, timeout=60_000)  # the five models
    expect(page.get_by_role("button", name="Compute attribution")).to_be_disabled()  # stored: shown, not redone

    page.get_by_role("tab", name="Content performance").click()
    page.get_by_role("button", name="Compute content performance").click()
    page.get_by_text("73 values of content_id").wait_for(timeout=120_000)
    page.get_by_role("button", name="Find these users").click()
    page.get_by_text("Users in the audience").wait_for(timeout=60_000)
    page.get_by_role("button", name="Save audience").click()
    page.get_by_text("Saved as").wait_for()
    page.set_viewport_size({"width": 1400, "height": 4000})
    page.screenshot(path=str(ROOT / "tests" / "e2e" / "screenshots" / "channels.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0

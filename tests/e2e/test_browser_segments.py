"""In a real browser: run a segmentation, see the profiles and a map."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import load_sample
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def test_segment_and_see_map_and_profiles(app_server, page):
    load_sample(page, app_server)
    page.get_by_role("link", name="Segments").click()
    page.get_by_role("button", name="Help me choose k (2 to 12)").click()
    page.get_by_text("ranks best").wait_for(timeout=120_000)
    page.get_by_role("button", name="Segment", exact=True).click()
    page.get_by_text("3. The segments").wait_for(timeout=120_000)
    charts = page.locator("[data-testid='stPlotlyChart']")
    expect(charts).to_have_count(3)  # sweep, sizes, profile heatmap
    heatmap = charts.nth(2)
    expect(heatmap.locator(".heatmaplayer")).to_have_count(1)
    page.get_by_text("PCA", exact=True).click()
    page.get_by_role("button", name="Draw the PCA map").click()
    expect(charts).to_have_count(4, timeout=120_000)
    # WebGL scatter: one trace per segment in the legend (one "Users" card per segment). Both are counted
    # again until they agree: on a busy machine the previous run's cards can linger for a moment.
    traces = charts.nth(3).locator(".legend .traces")
    deadline = time.monotonic() + 60
    while traces.count() != len(page.get_by_text("Users", exact=True).all()) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert traces.count() == len(page.get_by_text("Users", exact=True).all()) > 1
    page.screenshot(path=str(ROOT / "tests" / "e2e" / "screenshots" / "segments.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0

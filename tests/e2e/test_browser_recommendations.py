"""In a real browser: compare recommenders on the sample, see the chart and table, list and download top-K."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import load_sample
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def test_compare_recommenders_and_download_the_lists(app_server, page):
    load_sample(page, app_server)
    page.get_by_role("link", name="Recommendations").click()
    page.get_by_text("2. Which recommender finds what users come to next").wait_for()
    for name in ("Item-to-item kNN (cosine)", "ALS (implicit)"):  # keep it quick: popularity and EASE
        page.get_by_role("button", name=f"Remove {name}").first.click()
        expect(page.get_by_role("button", name=f"Remove {name}")).to_have_count(0)
    expect(page.get_by_text("Last-5 hold-out: for every user with more than 5 products")).to_be_visible()
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.get_by_text("Best by NDCG@20: EASE (Steck 2019).").wait_for(timeout=180_000)
    chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="Recommenders compared").first
    legend = chart.locator(".legend .traces")
    expect(legend).to_have_count(2)
    texts = [t.text_content() or "" for t in legend.all()]  # SVG text: no inner_text
    assert any("Popularity" in t for t in texts) and any("EASE" in t for t in texts)

    page.get_by_role("button", name="Recommend for every user").click()
    download = page.get_by_role("button", name="Download recommendations (CSV: user_id, rank, item_id, score)")
    download.wait_for(timeout=180_000)
    with page.expect_download() as info:
        download.click()
    header = open(info.value.path(), encoding="utf-8").readline().strip()
    assert header == "user_id,rank,item_id,score"
    page.get_by_text("5. Users who bought X also bought").scroll_into_view_if_needed()
    page.screenshot(path=str(ROOT / "tests" / "e2e" / "screenshots" / "recommendations.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0

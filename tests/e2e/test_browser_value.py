"""In a real browser: fit the value models on the sample, see validation and value charts, reload, see them again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import load_sample
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def test_fit_value_models_and_see_them_again_after_a_reload(app_server, page):
    load_sample(page, app_server)
    page.get_by_role("link", name="Value").click()
    page.get_by_text("1. Settings").wait_for()
    page.get_by_role("button", name="Fit the value models").click()
    page.get_by_text("6. Per customer").wait_for(timeout=300_000)
    charts = page.locator("[data-testid='stPlotlyChart']")
    expect(charts).to_have_count(4, timeout=60_000)  # by past purchases, weekly tracking, P(alive), customer value
    titles = " ".join(t.text_content() or "" for t in page.locator(".gtitle").all())
    assert "Holdout purchases by past repeat purchases" in titles and "Customer value over the next 365 days" in titles
    expect(page.get_by_text("Gradient boosting", exact=True).first).to_be_attached()
    expect(page.get_by_role("button", name="Download per-customer values (CSV)")).to_be_visible()
    assert page.locator("[data-testid='stException']").count() == 0
    page.get_by_text("3. Is the model any good?").scroll_into_view_if_needed()
    page.screenshot(path=str(ROOT / "tests" / "e2e" / "screenshots" / "value.png"))

    page.reload()  # a new session: the stored fit is shown without fitting again
    page.get_by_text("6. Per customer").wait_for(timeout=120_000)
    expect(page.get_by_role("button", name="Fit the value models").first).to_be_disabled(timeout=60_000)
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(4, timeout=60_000)

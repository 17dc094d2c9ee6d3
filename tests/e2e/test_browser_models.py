"""In a real browser: train two classifiers and see two ROC curves, then the closer look."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import load_sample
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def test_train_two_models_and_see_two_roc_curves(app_server, page):
    load_sample(page, app_server)
    page.get_by_role("link", name="Models").click()
    page.get_by_text("2. Train and compare").wait_for()
    page.get_by_role("button", name="Remove Random forest").first.click()
    expect(page.get_by_role("button", name="Remove Random forest")).to_have_count(0)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("3. A closer look").wait_for(timeout=180_000)
    roc = page.locator("[data-testid='stPlotlyChart']").first
    legend = roc.locator(".legend .traces")
    expect(legend).to_have_count(3)  # two models and the chance line
    texts = [t.text_content() or "" for t in legend.all()]  # SVG text: no inner_text
    assert sum("AUC" in t and "±" in t for t in texts) == 2
    assert any("Logistic regression" in t for t in texts) and any("Gradient boosting" in t for t in texts)
    page.get_by_text("4. Decide with money").scroll_into_view_if_needed()
    page.screenshot(path=str(ROOT / "tests" / "e2e" / "screenshots" / "models.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0

"""In a real browser: upload a log, map its columns, import, and see the feature table."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e

SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"


def test_upload_map_import_and_see_features(app_server, page, tmp_path):
    log = tmp_path / "crm_export.csv"
    log.write_text("Customer;Date;Action;Revenue\n"
                   + "".join(f"c{i % 40};{1 + i % 28:02d}/03/2025 1{i % 10}:00;{'buy' if i % 7 == 0 else 'view'};"
                             f"{'12,50' if i % 7 == 0 else ''}\n" for i in range(400)))
    page.goto(app_server)
    page.get_by_text("The workspace is empty").wait_for()
    page.locator("input[type=file]").set_input_files(str(log))
    page.get_by_text("Which column is which?").wait_for()
    # The guess maps Customer/Date/Action/Revenue; pick the date order explicitly.
    page.get_by_text("Day first (31/12/2025)").click()
    page.get_by_role("button", name="Import").click()
    page.get_by_text(re.compile(r"Imported 'crm_export'")).first.wait_for()
    page.get_by_text("Rows kept").wait_for()

    page.get_by_role("link", name="Features").click()
    page.get_by_text("Summary statistics").wait_for()
    users = page.locator("[data-testid='stMetric']").filter(has_text="Users")
    assert users.locator("[data-testid='stMetricValue']").inner_text() == "40"
    page.locator("[data-testid='stDataFrame']").nth(1).wait_for()  # feature table and summary
    page.locator("[data-testid='stPlotlyChart']").first.wait_for()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "features.png"), full_page=True)
    # No Streamlit exception box anywhere.
    assert page.locator("[data-testid='stException']").count() == 0


def test_bad_upload_in_browser_shows_message(app_server, page, tmp_path):
    bad = tmp_path / "report.csv"
    bad.write_bytes(b"%PDF-1.7\n binary")
    page.goto(app_server)
    page.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_text("is a PDF document, not a behaviour log").wait_for()
    assert page.locator("[data-testid='stException']").count() == 0


def test_first_request_of_a_fresh_server_can_be_any_page(app_server, page):
    """A bookmark to /features on a just-started server still gets the whole app (navigation, sidebar)."""
    page.goto(app_server + "/features")
    page.get_by_text("There is no dataset yet").wait_for()
    sidebar = page.locator("[data-testid='stSidebar']")
    # The page body can arrive before the navigation is drawn: wait for the links rather than count them once.
    for name in ("Data", "Features", "Segments", "Models"):
        expect(sidebar.get_by_role("link", name=name)).to_have_count(1)
    assert page.locator("[data-testid='stSidebarNav']").count() == 0  # the folder mode's own menu stays off
    assert page.get_by_text("No datasets yet: upload a log on the Data page.").count() == 1


def test_the_app_works_offline_favicon_included(app_server, page):
    """Nothing is fetched from another host (the favicon was a Material icon from Google's CDN)."""
    outside = []
    own = (app_server, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(own) else outside.append(r.url))
    page.goto(app_server + "/features")
    page.get_by_text("There is no dataset yet").wait_for()
    page.wait_for_function("document.querySelector(\"link[rel*='icon']\") !== null")
    icon = page.evaluate("document.querySelector(\"link[rel*='icon']\").href")
    assert icon.startswith(app_server), icon
    assert page.request.get(icon).status == 200
    assert outside == []

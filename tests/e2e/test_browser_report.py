"""In a real browser: download the report from the sidebar, open it offline, and see interactive charts.

The downloaded file is opened from disk (``file://``) in a context with the
network off; a Content-Security-Policy violation, a script error or any request
that is not the file itself fails the test.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests import report_support
from tests.report_support import HOSTILE_SEGMENTS

pytestmark = pytest.mark.e2e

report_template = report_support.report_template  # the fixture (sample + segmentation + training run)
HOSTILE_NAME = "<img src=x onerror=window.__pwned=1> ![x](http://evil)"


def open_offline(browser, path, color_scheme: str = "light"):
    """The report opened from disk with the network off; returns (page, context, problems seen)."""
    context = browser.new_context(viewport={"width": 1300, "height": 900}, color_scheme=color_scheme)
    context.set_offline(True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith("file://") else None)
    page.goto(path.as_uri())
    page.locator(".js-plotly-plot .main-svg").first.wait_for()
    page.wait_for_load_state("load")
    return page, context, problems


def test_download_report_from_the_sidebar_and_open_it_offline(app_server, page, browser, tmp_path):
    page.goto(app_server)
    page.get_by_role("button", name="Load the sample shop log").click()
    page.get_by_text("Rows kept").wait_for()
    page.get_by_label("New name").fill(HOSTILE_NAME)
    page.get_by_label("New name").press("Enter")
    page.get_by_role("button", name="Rename").click()
    page.locator("[data-testid='stMain'] h4").filter(has_text="onerror=window.__pwned=1").wait_for()

    page.get_by_role("link", name="Features").click()
    page.get_by_text("Summary statistics").wait_for()
    button = page.locator("[data-testid='stSidebar']").get_by_role("button", name="Download report")
    with page.expect_download(timeout=180_000) as info:
        button.click()
    download = info.value
    assert re.fullmatch(r"img_src_x_onerror_window___pwned_1_[a-z_]+_evil_report\.html", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    report, context, problems = open_offline(browser, saved)
    try:
        charts = report.locator(".js-plotly-plot")
        assert charts.count() >= 1
        for i in range(charts.count()):
            assert charts.nth(i).locator("svg.main-svg").count() >= 1
        assert report.locator("h1").inner_text() == HOSTILE_NAME
        assert report.locator("img").count() == 0 and report.evaluate("window.__pwned") is None
        assert "No segmentation has been saved" in report.locator("#segments").inner_text()
        assert problems == []
    finally:
        context.close()


def test_full_report_renders_every_chart_offline_in_light_and_dark(browser, tmp_path, report_template):
    from analytics.report import build_report
    from analytics.workspace import Workspace, close_all

    root = tmp_path / "ws"
    shutil.copytree(report_template[0], root)
    path = tmp_path / "report.html"
    try:
        path.write_text(build_report(Workspace(root), report_template[1]), encoding="utf-8")
    finally:
        close_all()
    for scheme, dark in (("light", "false"), ("dark", "true")):
        report, context, problems = open_offline(browser, path, color_scheme=scheme)
        try:
            charts = report.locator(".js-plotly-plot")
            assert charts.count() == 13
            for i in range(charts.count()):
                assert charts.nth(i).locator("svg.main-svg").count() >= 1
            # The charts follow the reader's theme (the page's script restyles them once loaded).
            report.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')].every(el => "
                                     f"(el._fullLayout.paper_bgcolor === '#16181d') === {dark})")
            # Interactive: hovering a bar of the segment sizes shows Plotly's hover label.
            bar = report.locator(".js-plotly-plot").filter(has_text="Segment sizes").locator(".bars path").first
            bar.scroll_into_view_if_needed()
            box = bar.bounding_box()
            report.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            assert "users" in report.locator(".hoverlayer .hovertext").first.text_content()
            cells = report.locator("#segments td").all_inner_texts()
            assert HOSTILE_SEGMENTS[0] in cells and HOSTILE_SEGMENTS[1] in cells
            assert report.locator("img").count() == 0
            assert problems == []
        finally:
            context.close()

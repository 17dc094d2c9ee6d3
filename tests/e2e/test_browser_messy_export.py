"""In a real browser: an export with a title block in a legacy encoding, read right after choosing its encoding."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e

SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"

CITIES = ["Plzeň", "Ústí nad Labem", "České Budějovice", "Brno"]


def test_title_block_and_encoding_choice(app_server, page, tmp_path):
    log = tmp_path / "objednavky.csv"
    log.write_bytes(("Export objednávek - e-shop\r\n\r\nzákazník;datum;akce;částka;město;kampaň;sku\r\n" + "".join(
        f"z{i % 25};{1 + i % 27:02d}.02.2025 1{i % 10}:00;{'nákup' if i % 4 == 0 else 'zobrazení'};"
        f"{f'{i},50' if i % 4 == 0 else ''};{CITIES[i % 4]};{['jaro', 'léto'][i % 2]};p{i % 11}\r\n"
        for i in range(300))).encode("cp1250"))
    page.goto(app_server)
    page.get_by_text("The workspace is empty").wait_for()
    page.locator("input[type=file]").set_input_files(str(log))
    page.get_by_text("Which column is which?").wait_for()
    page.get_by_text(re.compile(r"Skipped 2 line\(s\) before the header \(a title: 'Export objedn")).wait_for()
    page.get_by_text(re.compile(r"detected with \d+% confidence")).first.wait_for()

    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Text encoding")
    box.click()
    page.get_by_role("option", name="Windows-1250 (Central European)").click()
    page.get_by_text("Windows-1250 (Central European), as you chose").first.wait_for()
    item = page.locator("[data-testid='stSelectbox']").filter(has_text="Item / product id")
    expect(item.get_by_role("combobox")).to_have_value("sku")  # the selected option is the box's input value
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "messy_export_mapping.png"), full_page=True)

    page.get_by_role("button", name="Import").click()
    page.get_by_text(re.compile(r"Imported 'objednavky'")).first.wait_for()
    page.get_by_text("What was detected").click()
    page.get_by_text(re.compile(r"item / product id 'sku' as item_id")).wait_for()
    page.screenshot(path=str(SCREENSHOTS / "messy_export_imported.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0

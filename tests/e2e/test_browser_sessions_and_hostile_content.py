"""Several browser sessions on one server, and hostile text in files: isolation and escaping."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def log(prefix: str, users: int = 6) -> str:
    rows = [f"{prefix}_user,{prefix}_time,{prefix}_event"]
    rows += [f"{prefix}{i % users},2025-03-{1 + i % 20:02d} 10:00:00,view" for i in range(40)]
    return "\n".join(rows) + "\n"


def selected_roles(page) -> str:
    """Text of the role select boxes (what a user sees as the current mapping)."""
    page.get_by_text("Which column is which?").wait_for()
    boxes = page.locator("[data-testid='stMain'] [data-testid='stSelectbox'] input")
    # Wait for all five role boxes (user, time, event, amount, session) to be drawn, not just the first.
    expect(boxes.nth(4)).to_have_value(re.compile(r".+"), timeout=60_000)
    return " ".join(box.input_value() for box in boxes.all())


def test_sessions_do_not_see_each_others_uploads_or_choices(app_server, browser, tmp_path):
    files = {}
    for prefix in ("alpha", "beta", "gamma"):
        files[prefix] = tmp_path / f"{prefix}.csv"
        files[prefix].write_text(log(prefix))
    contexts = {p: browser.new_context(viewport={"width": 1400, "height": 1000}) for p in files}
    pages = {p: c.new_page() for p, c in contexts.items()}
    try:
        for p, page in pages.items():
            page.set_default_timeout(60_000)
            page.goto(app_server)
            page.locator("input[type=file]").set_input_files(str(files[p]))
        # Each session's mapping screen shows its own upload only.
        for p, page in pages.items():
            text = selected_roles(page)
            assert f"{p}_user" in text
            assert all(f"{other}_user" not in text for other in files if other != p)
        # alpha imports; beta and gamma are still mapping their own files.
        pages["alpha"].get_by_role("button", name="Import").click()
        pages["alpha"].get_by_text("Imported 'alpha'").first.wait_for()
        for p in ("beta", "gamma"):
            assert "alpha_user" not in selected_roles(pages[p])
        pages["beta"].get_by_role("button", name="Import").click()
        pages["beta"].get_by_text("Imported 'beta'").first.wait_for()
        # The workspace is shared by design: when alpha's session runs again it lists beta's
        # dataset too, but its active dataset (a per-session choice) stays alpha.
        alpha = pages["alpha"]
        alpha.get_by_role("link", name="Features").click()
        alpha.get_by_text("Summary statistics").wait_for()
        alpha.get_by_role("link", name="Data").click()
        alpha.get_by_text("Datasets", exact=True).wait_for()
        expect(alpha.locator("[data-testid='stMain'] td").filter(has_text="beta.csv")).to_have_count(1)
        picker = "[data-testid='stSidebar'] [data-testid='stSelectbox'] input"
        assert alpha.locator(picker).input_value().startswith("alpha")
        assert pages["beta"].locator(picker).input_value().startswith("beta")
        # gamma never imported: its upload is still its own, untouched by the others.
        assert "gamma_user" in selected_roles(pages["gamma"])
    finally:
        for c in contexts.values():
            c.close()


HOSTILE = (
    'user_id,event_time,event,"<img src=x onerror=""window.__pwned=1"">"\n'
    '"<script>window.__pwned=2</script>",2025-01-01 10:00,"<b>buy</b>","<svg onload=window.__pwned=3>"\n'
    'u2,2025-01-02 10:00,"<b>buy</b>",x\n'
    'u3,2025-01-03 11:00,view,"=HYPERLINK(""http://evil"")"\n'
)


def test_html_in_cells_names_and_dataset_names_stays_text(app_server, page, tmp_path):
    path = tmp_path / "hostile.csv"
    path.write_text(HOSTILE)
    page.goto(app_server)
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_text("Which column is which?").wait_for()
    page.get_by_label("Dataset name").fill("<b>bold</b> <img src=x onerror=window.__pwned=4>")
    page.get_by_label("Dataset name").press("Enter")
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Rows kept").wait_for()
    # The name shows as literal text, never as markup.
    page.locator("[data-testid='stMain'] h4").filter(has_text="<b>bold</b>").wait_for()
    assert page.locator("[data-testid='stMain'] b", has_text="bold").count() == 0
    page.get_by_role("link", name="Features").click()
    page.get_by_text("Summary statistics").wait_for()
    page.locator("[data-testid='stPlotlyChart']").first.wait_for()
    page.wait_for_timeout(1000)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("[data-testid='stMain'] img[src='x']").count() == 0
    assert page.locator("[data-testid='stMain'] svg[onload]").count() == 0

"""A server shared by a team, seen from a browser: hostile names stay text, connecting stays inside its roots."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

LOG = "user_id,event_time,event,amount\nu1,2025-01-01 10:00,view,\nu1,2025-01-02 10:00,purchase,9.5\n" \
      "u2,2025-01-03 09:00,view,\n"


@pytest.fixture
def server_env(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "events.csv").write_text(LOG)
    return {"MARKETLENS_CONNECT_ROOTS": str(lake)}


def test_markdown_in_a_dataset_name_loads_nothing(app_server, page, tmp_path):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    path = tmp_path / "shop.csv"
    path.write_text(LOG)
    tracker = "http://evil.example/track.png"
    page.goto(app_server)
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_text("Which column is which?").wait_for()
    page.get_by_label("Dataset name").fill(f"![pixel]({tracker}) [win a prize](http://evil.example/phish)")
    page.get_by_label("Dataset name").press("Enter")
    page.get_by_role("button", name="Import").click()
    page.get_by_text("Rows kept").wait_for()
    page.locator("[data-testid='stMain'] h4").filter(has_text="![pixel](http").wait_for()  # the characters typed
    for link in ("Features", "Segments", "Models", "Data"):
        page.get_by_role("link", name=link).click()
        page.wait_for_timeout(1500)
    assert not [u for u in requests if "evil.example" in u]
    assert page.locator("[data-testid='stMain'] a[href*='evil.example']").count() == 0
    assert page.locator("img[src*='evil.example']").count() == 0


def test_connecting_outside_the_roots_is_refused_without_reading(app_server, page, tmp_path):
    page.goto(app_server)
    page.get_by_text("Connect a large log").click()
    for uri in ("/etc/passwd", "file:///etc/passwd", "hdfs:///etc/passwd"):
        page.get_by_label("Path or URI").fill(uri)
        page.get_by_label("Path or URI").press("Enter")
        page.get_by_role("button", name="Connect").click()
        page.locator("[data-testid='stAlertContentError']").first.wait_for()
        text = page.locator("[data-testid='stMain']").inner_text()
        assert ("outside the folders" in text or "does not read" in text) and "root:x:0:0" not in text
    lake_log = str(tmp_path / "lake" / "events.csv")
    page.get_by_label("Path or URI").fill(lake_log)
    page.get_by_label("Path or URI").press("Enter")
    page.get_by_role("button", name="Connect").click()
    page.get_by_text("Rows kept").wait_for()

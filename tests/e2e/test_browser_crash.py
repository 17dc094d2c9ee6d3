"""Kill the app server (SIGKILL) while it imports an upload, restart it, and find everything intact."""

from __future__ import annotations

import pytest

from analytics.workspace import Workspace
from sample_data.generate import generate, write_csv
from tests.e2e.conftest import free_port, start_server, wait_healthy
from tests.helpers import SAMPLE_LOG
from tests.test_crash_safety import check

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_server_killed_during_import_restarts_intact(browser, tmp_path):
    big = tmp_path / "big.csv"
    events, _ = generate(2_000_000, seed=21)
    write_csv(events, big)
    ws = tmp_path / "ws"
    port = free_port()
    server = start_server(ws, port)
    url = f"http://127.0.0.1:{port}"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        wait_healthy(url, server)
        page.goto(url)
        page.get_by_role("button", name="Load the sample shop log").click()
        page.get_by_text("Rows kept").wait_for()
        page.locator("input[type=file]").set_input_files(str(big))
        page.get_by_text("Which column is which?").wait_for()
        page.get_by_role("button", name="Import").click()
        page.get_by_text("Reading and converting rows").wait_for()
        page.wait_for_timeout(300)
        server.kill()  # SIGKILL, mid-import
        server.wait()
    finally:
        context.close()
    after = check(ws)  # opens the workspace like a restart does
    # The sample imported before the kill is there, whole; anything else listed is complete too.
    reference = Workspace(tmp_path / "reference").import_file(SAMPLE_LOG)
    [sample] = [d for d in after if d["name"] == "Sample shop"]
    assert (sample["rows"], sample["events"], sample["users"]) == (reference.rows, reference.rows, reference.users)
    for d in after:
        assert d["events"] == d["rows"] and d["features_complete"]
    server = start_server(ws, port)
    try:
        wait_healthy(url, server)
        page = browser.new_page()
        page.goto(url)
        page.get_by_text("Datasets", exact=True).wait_for(timeout=60_000)
        assert page.locator("[data-testid='stException']").count() == 0
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

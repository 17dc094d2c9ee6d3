"""Start the real app (``streamlit run``) on a free port and drive it in headless Chromium.

Follows Streamlit's own e2e setup: start the server, poll ``/_stcore/health``,
then open pages with Playwright using Debian's ``/usr/bin/chromium``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
# Assertions wait as long as actions do: on 2 busy cores a Plotly chart's script can take more than
# Playwright's default 5 s to load after the text above it is on screen (flaked in a clean-clone CI run).
expect.set_options(timeout=60_000)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workspace: Path, port: int, extra_env: dict | None = None,
                 cwd: Path = ROOT) -> subprocess.Popen:
    """``streamlit run app.py`` with its output in ``<workspace>.log`` (a pipe nobody reads would fill up
    and stall the server)."""
    env = {**os.environ, "MARKETLENS_WORKSPACE": str(workspace), "PYTHONPATH": str(ROOT), **(extra_env or {})}
    log = open(Path(str(workspace) + ".log"), "ab")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}; see its log next to the workspace")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy")


@pytest.fixture
def server_env() -> dict:
    """Environment variables for the app server (a test overrides this fixture to set some)."""
    return {}


@contextlib.contextmanager
def running_server(workspace: Path, port: int, env: dict, host: str = "127.0.0.1"):
    """An app server on ``port`` once it is healthy (yields its URL, as ``host`` names it); stopped afterwards."""
    proc = start_server(workspace, port, env)
    url = f"http://{host}:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def app_server(tmp_path, server_env):
    """URL of a running app with an empty workspace in ``tmp_path``."""
    with running_server(tmp_path / "ws", free_port(), server_env) as url:
        yield url


def find_chromium(playwright=None) -> str | None:
    """Chromium wherever the system put it: MARKETLENS_CHROMIUM, then the usual names on the PATH, then
    the browser Playwright downloaded itself (if any)."""
    candidates = [os.environ.get("MARKETLENS_CHROMIUM"),
                  *(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome"))]
    if playwright is not None:
        try:
            candidates.append(playwright.chromium.executable_path)
        except Exception:  # noqa: BLE001 - Playwright without a browser of its own
            pass
    return next((c for c in candidates if c and Path(c).exists()), None)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = find_chromium(p)
        assert chromium, "No Chromium found: run `make test`, which installs Debian's chromium"
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, keep what a person would look at: the screen and the server's log.

    Both go into the failure report (CI prints it), so a failure seen only on another machine can be explained."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    pg, tmp = item.funcargs.get("page"), item.funcargs.get("tmp_path")
    if pg is not None and tmp is not None:
        shot = tmp / "failure.png"
        with contextlib.suppress(Exception):  # the page may be gone already
            pg.screenshot(path=str(shot), full_page=True)
            text = pg.locator("[data-testid='stMain']").inner_text(timeout=5_000)
            report.sections.append(("screen at failure", f"{shot}\n{text[-4000:]}"))
    for log in sorted(tmp.glob("*.log")) if tmp is not None else []:
        report.sections.append((f"server log {log.name}", log.read_text(errors="replace")[-6000:]))


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def load_sample(page, url: str) -> None:
    """Open the app on an empty workspace and load the sample shop log."""
    page.goto(url)
    page.get_by_role("button", name="Load the sample shop log").click()
    page.get_by_text("Rows kept").wait_for()


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until the app has finished its current script run (Streamlit marks its root with the run's state).

    A click or a choice made while a run is still drawing the page can be overtaken by that run: wait first."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)


def choose(page, label: str, option: str) -> None:
    """Pick an option of the visible select box with this label (again if a rerun closed the list meanwhile)."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).locator("visible=true").first
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):
        wait_idle(page)
        box.click()
        try:
            wanted.click(timeout=20_000)
            break
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    expect(box.get_by_role("combobox")).to_have_value(option, timeout=60_000)
    wait_idle(page)

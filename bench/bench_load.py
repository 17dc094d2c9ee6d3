"""Load: N browser sessions at once, each uploading a log, building features, segmenting and training.

Usage::

    python bench/bench_load.py [--sessions 10] [--events 20000]

Starts one app server (``streamlit run``) on an empty workspace, then drives N
headless Chromium sessions concurrently (Playwright, the Chromium the tests find).
Each session uploads its own generated log, imports it, opens the Features
page, runs a K-means segmentation and trains a logistic regression. The script
checks every session finished with its own dataset and no error box, and prints
the wall time per session and in total, and the server's peak memory (RSS of
the server process tree, sampled every 0.2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sample_data.generate import generate, write_csv  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, find_chromium, free_port, start_server, wait_healthy  # noqa: E402


class PeakMemory:
    """Sample the RSS of a process and its children in a background thread."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def one_session(browser, url: str, log: Path, name: str, timeout_ms: int) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    t0 = time.perf_counter()
    steps = {}
    await page.goto(url)
    await page.locator("input[type=file]").set_input_files(str(log))
    await page.get_by_text("Which column is which?").wait_for()
    await page.get_by_role("button", name="Import").click()
    await page.get_by_text(f"Imported '{name}'").first.wait_for()
    steps["import"] = time.perf_counter() - t0
    await page.get_by_role("link", name="Features").click()
    await page.get_by_text("Summary statistics").wait_for()
    steps["features"] = time.perf_counter() - t0
    await page.get_by_role("link", name="Segments").click()
    await page.get_by_role("button", name="Segment", exact=True).click()
    await page.get_by_text("3. The segments").wait_for()
    steps["segments"] = time.perf_counter() - t0
    await page.get_by_role("link", name="Models").click()
    await page.get_by_text("2. Train and compare").wait_for()
    for model in ("Random forest", "Gradient boosting"):
        await page.get_by_role("button", name=f"Remove {model}").first.click()
    await page.get_by_role("button", name="Train", exact=True).click()
    await page.get_by_text("3. A closer look").wait_for()
    steps["model"] = time.perf_counter() - t0
    sidebar = await page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox'] input").input_value()
    errors = await page.locator("[data-testid='stException'], [data-testid='stAlertContentError']").count()
    await context.close()
    return {"name": name, "steps": steps, "own_dataset": sidebar.startswith(name), "errors": errors}


async def run(n: int, events: int, timeout_s: int) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="marketlens-load-") as tmp:
        tmp = Path(tmp)
        logs = []
        for i in range(n):
            ev, _ = generate(events, seed=100 + i)
            path = tmp / f"shop{i:02d}.csv"
            write_csv(ev, path)
            logs.append(path)
        port = free_port()
        server = start_server(tmp / "ws", port)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, server)
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
                with PeakMemory(server.pid) as mem:
                    t0 = time.perf_counter()
                    results = await asyncio.gather(*(one_session(browser, url, log, log.stem, timeout_s * 1000)
                                                     for log in logs))
                    total = time.perf_counter() - t0
                await browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    ok = sum(r["own_dataset"] and r["errors"] == 0 for r in results)
    print(f"{n} concurrent sessions, {events:,}-event logs each: {ok}/{n} finished correctly in {total:.1f} s; "
          f"server peak RSS {mem.peak / 2**20:,.0f} MB")
    for r in results:
        s = r["steps"]
        print(f"  {r['name']}: import {s['import']:.1f} s, features {s['features']:.1f} s, "
              f"segments {s['segments']:.1f} s, model {s['model']:.1f} s; own dataset {r['own_dataset']}, "
              f"errors {r['errors']}")
    if ok != n:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per step before giving up")
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.events, args.timeout))


if __name__ == "__main__":
    main()

"""Benchmark: the scoring service over loopback (ingest rate, score latency under load, kill -9 durability).

Usage::

    python bench/bench_service.py [--events 200000] [--users 20000] [--rates 50,200] [--seconds 15]

It imports the committed sample into a workspace in ``bench/out/``, trains a logistic
regression on it, starts ``python -m analytics serve`` in its own process, then:

1. ingest: NDJSON batches of 2,000 generated events (``--users`` users, times in the last
   30 days) sent back to back by 2 clients: events/s acknowledged;
2. score: ``GET /v1/users/{id}`` at each of ``--rates`` requests/s (open loop, one aiohttp client, latency
   counted from when each request was due) for ``--seconds``
   while events keep streaming in (1,000 events/s): latency percentiles;
3. durability: events streamed in batches with unique ids, ``kill -9`` of the service in
   the middle, restart, then every acknowledged event must be stored exactly once (the
   last unacknowledged batch is sent again and must not duplicate anything).

Figures are printed (with the service's peak RSS), never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import duckdb
import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "service"
KEY = "bench-key"
EVENTS = ["page_view"] * 8 + ["view_item"] * 4 + ["search"] * 2 + ["add_to_cart", "begin_checkout", "purchase"]


def prepare() -> tuple[Path, Path]:
    """A workspace with the sample and a saved model (made once)."""
    ws_dir, model_dir = OUT / "ws", OUT / "model"
    if not model_dir.exists():
        sys.path.insert(0, str(ROOT))
        from analytics import models as M
        from analytics.models.training_set import build_training_set
        from analytics.workspace import Workspace

        ws = Workspace(ws_dir)
        ds = ws.import_file(ROOT / "sample_data" / "sample_events.csv.gz", name="Sample shop")
        M.save_model(M.fit_model(build_training_set(ws, ds.id), "lr"), model_dir)
        ws.close()
    (OUT / "keys.txt").write_text(KEY + "\n")
    return ws_dir, model_dir


def start(ws_dir: Path, model_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "analytics", "serve", str(model_dir), "--workspace", str(ws_dir),
                             "--port", str(port), "--key-file", str(OUT / "keys.txt")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(OUT / "service.log", "ab"))
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the service exited ({proc.returncode}); see {OUT / 'service.log'}")
        time.sleep(0.2)
    raise SystemExit("the service did not start")


def events(n: int, users: int, rng: random.Random, tag: str = "") -> list[dict]:
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    for i in range(n):
        ev = rng.choice(EVENTS)
        ts = now - timedelta(seconds=rng.uniform(60, 30 * 86400))
        out.append({"user_id": f"b{rng.randrange(users):06d}", "event_time": ts.isoformat() + "Z", "event": ev,
                    "amount": round(rng.uniform(5, 200), 2) if ev == "purchase" else None,
                    "channel": rng.choice(["email", "paid_search", "organic"]), "platform": "web",
                    "country": "GB", "item_id": f"{tag}{i}" if tag else None})
    return out


def ndjson(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def post(client: httpx.Client, base: str, rows: list[dict]) -> httpx.Response:
    return client.post(f"{base}/v1/events", content=ndjson(rows), timeout=60,
                       headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-ndjson"})


def bench_ingest(base: str, n_events: int, users: int) -> dict:
    rng = random.Random(0)
    batches = [events(2000, users, rng) for _ in range(n_events // 2000)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool, httpx.Client() as c1, httpx.Client() as c2:
        codes = list(pool.map(lambda ib: post((c1, c2)[ib[0] % 2], base, ib[1]).status_code, enumerate(batches)))
    seconds = time.perf_counter() - t0
    assert all(c == 200 for c in codes), codes[:5]
    return {"events": len(batches) * 2000, "seconds": round(seconds, 2), "events_per_s": round(len(batches) * 2000
                                                                                              / seconds)}


def bench_score(base: str, users: int, rate: int, seconds: float) -> dict:
    """Open loop: request ``i`` is sent at ``start + i / rate`` whatever the answers before it, from one aiohttp
    client (a pool of Python threads would mostly measure its own contention for the interpreter lock on
    these 2 cores). Latency is counted from the due time, so a late send counts against the service."""
    stop = threading.Event()

    def stream() -> None:
        rng = random.Random(1)
        with httpx.Client() as c:
            while not stop.is_set():
                t = time.perf_counter()
                post(c, base, events(200, users, rng))
                time.sleep(max(0.0, 0.2 - (time.perf_counter() - t)))

    async def load() -> tuple[list[float], dict[int, int], float]:
        rng = random.Random(2)
        n = int(rate * seconds)
        lat: list[float] = []
        codes: dict[int, int] = {}
        connector = aiohttp.TCPConnector(limit=128)
        async with aiohttp.ClientSession(base, connector=connector, headers={"X-API-Key": KEY}) as client:

            async def get(path: str) -> int:
                async with client.get(path) as r:
                    await r.read()
                    return r.status

            await asyncio.gather(*(get("/health") for _ in range(32)))  # open connections first
            loop = asyncio.get_running_loop()
            start_at = loop.time() + 0.5

            async def one(i: int) -> None:
                due = start_at + i / rate
                await asyncio.sleep(max(0.0, due - loop.time()))
                status = await get(f"/v1/users/b{rng.randrange(users):06d}")
                lat.append((loop.time() - due) * 1000)
                codes[status] = codes.get(status, 0) + 1

            await asyncio.gather(*(one(i) for i in range(n)))
            return lat, codes, n / (loop.time() - start_at)

    feeder = threading.Thread(target=stream, daemon=True)
    feeder.start()
    try:
        lat, codes, achieved = asyncio.run(load())
    finally:
        stop.set()
        feeder.join()
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    served = httpx.get(f"{base}/metrics", headers={"X-API-Key": KEY}).json()["latency_ms"]["/v1/users/{id}"]
    return {"requests": len(lat), "rate_asked": rate, "rate_achieved": round(achieved, 1), "p50_ms": round(p50, 1),
            "p95_ms": round(p95, 1), "p99_ms": round(p99, 1), "status_codes": codes,
            "in_service_ms": {k: served[k] for k in ("n", "p50", "p95", "p99")}}


def bad_inputs(base: str) -> dict:
    """Status and error text of hostile requests over loopback (never a 500)."""
    auth = {"Authorization": f"Bearer {KEY}"}
    future = {"user_id": "x", "event_time": "2099-01-01T00:00:00Z", "event": "page_view"}
    with httpx.Client(timeout=120) as c:
        cases = {
            "100 MB body": c.post(f"{base}/v1/events", content=b"x" * (100 * 2**20), headers=auth),
            "malformed JSON": c.post(f"{base}/v1/events", content=b'{"user_id": ', headers=auth),
            "event from the future": c.post(f"{base}/v1/events", json=[future], headers=auth),
            "unknown user": c.get(f"{base}/v1/users/nobody-ever", headers=auth),
            "wrong key": c.get(f"{base}/v1/users/b000001", headers={"X-API-Key": "wrong"}),
        }
    return {name: f"{r.status_code} {r.json().get('error', '')[:70]}" for name, r in cases.items()}


def bench_crash(ws_dir: Path, model_dir: Path, port: int, proc: subprocess.Popen) -> tuple[dict, subprocess.Popen]:
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(3)
    acked: list[list[dict]] = []
    pending: list[list[dict]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client() as c:
            k = 0
            while not stop.is_set():
                batch = events(500, 1000, rng, tag=f"crash{k}-")
                pending[:] = [batch]
                try:
                    if post(c, base, batch).status_code == 200:
                        acked.append(batch)
                except httpx.HTTPError:
                    return
                k += 1

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    time.sleep(3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    t.join()
    proc = start(ws_dir, model_dir, port)
    with httpx.Client() as c:
        resend = post(c, base, pending[0]).json() if pending else {}
    proc.send_signal(signal.SIGTERM)  # graceful: the store is closed, then read it here
    proc.wait(timeout=60)
    store = next((ws_dir / "service").glob("*/events.duckdb"))
    con = duckdb.connect(str(store), read_only=True)
    ids = [e["item_id"] for b in acked for e in b]
    found = dict(con.execute("SELECT item_id, count(*) FROM live_events WHERE item_id LIKE 'crash%' "
                             "GROUP BY item_id").fetchall())
    con.close()
    missing = sum(1 for i in ids if i not in found)
    twice = sum(1 for v in found.values() if v > 1)
    proc = start(ws_dir, model_dir, port)
    return {"acknowledged_batches": len(acked), "acknowledged_events": len(ids), "missing_after_restart": missing,
            "stored_twice": twice, "resent_unacked_batch": resend}, proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--rates", default="50,200", help="request rates of the score phase, one run each")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--port", type=int, default=8677)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    ws_dir, model_dir = prepare()
    for old in (ws_dir / "service").glob("*/events.duckdb*"):
        old.unlink()
    proc = start(ws_dir, model_dir, args.port)
    base = f"http://127.0.0.1:{args.port}"
    rss = [0]
    watching = threading.Event()

    def watch() -> None:
        while not watching.wait(0.5):
            try:
                rss[0] = max(rss[0], psutil.Process(proc.pid).memory_info().rss)
            except psutil.Error:
                pass

    threading.Thread(target=watch, daemon=True).start()
    try:
        ingest = bench_ingest(base, args.events, args.users)
        print("ingest (batched NDJSON, 2 clients):", json.dumps(ingest), flush=True)
        t0 = time.perf_counter()
        while httpx.get(f"{base}/metrics", headers={"X-API-Key": KEY}).json()["users_pending_refresh"] > 0:
            time.sleep(0.5)
        print(f"features of all {args.users:,} users refreshed {time.perf_counter() - t0:.1f} s after the last "
              "acknowledged batch", flush=True)
        for rate in (int(r) for r in args.rates.split(",")):
            scoring = bench_score(base, args.users, rate, args.seconds)
            print("single-user score while 1,000 events/s stream in:", json.dumps(scoring), flush=True)
        metrics = httpx.get(f"{base}/metrics", headers={"X-API-Key": KEY}).json()
        print("service /metrics latency_ms:", json.dumps(metrics["latency_ms"]), flush=True)
        print(f"service peak RSS: {rss[0] / 2**20:.0f} MB", flush=True)
        print("bad inputs:", json.dumps(bad_inputs(base), indent=1), flush=True)
        crash, proc = bench_crash(ws_dir, model_dir, args.port, proc)
        print("kill -9 during ingestion, restart:", json.dumps(crash), flush=True)
    finally:
        watching.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()

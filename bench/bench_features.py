"""Benchmark: behaviour log file -> workspace -> per-user feature table, against plain pandas.

Usage::

    python bench/bench_features.py [--sizes 1000000 10000000] [--keep]

For each size it generates a log with ``sample_data/generate.py`` (cached in
``bench/out/``) and runs, each in a fresh process so peak memory is its own:

- MarketLens: ingest into a new workspace (sniff, clean, dedupe, store), then
  build the feature table; time of each step and peak RSS of the process;
- pandas: ``read_csv`` (pyarrow engine), parse times, drop duplicates and the
  same features (``bench/pandas_reference.py``); time and peak RSS;
- bare DuckDB, the floor issue 18 compares with: one in-memory statement that reads the
  file and aggregates per user (events, purchases, revenue, first and last time, distinct
  days), without cleaning, storing, sessions or attributes; and the same with sessions
  (30-minute gaps by a window function), the costliest feature. "x bare" is MarketLens'
  total over the first.

Figures are printed, never asserted: the test suite does not time anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def drop_from_os_cache(path: Path) -> None:
    """Drop a file's pages from the OS file cache (Linux), so the next read comes from disk, as after a reboot."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def log_for(n_events: int) -> Path:
    path = OUT / f"events_{n_events}.csv"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "sample_data" / "generate.py"), "--events", str(n_events),
                        "-o", str(path)], check=True)
    return path


MARKETLENS = """
import json, resource, sys, time
from analytics.workspace import Workspace
ws = Workspace(sys.argv[2])
t0 = time.perf_counter()
ds = ws.import_file(sys.argv[1], features=False)
t1 = time.perf_counter()
table = ws.features_table(ds.id)
t2 = time.perf_counter()
n = ws.cursor().execute(f"SELECT count(*) FROM {table}").fetchone()[0]
print(json.dumps({"ingest_s": t1 - t0, "features_s": t2 - t1, "rows": ds.rows, "users": n,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PANDAS = """
import json, resource, sys, time
from bench.pandas_reference import read_log, features
t0 = time.perf_counter()
ev = read_log(sys.argv[1])
t1 = time.perf_counter()
f = features(ev, "purchase", text_attributes=["channel", "platform", "country", "category"])
t2 = time.perf_counter()
print(json.dumps({"read_s": t1 - t0, "features_s": t2 - t1, "users": len(f),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


BARE = """
import duckdb, json, sys, time
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")  # the bar would print on stdout
src = f"read_csv('{sys.argv[1]}', timestampformat='%Y-%m-%dT%H:%M:%SZ')"
per_user = ("count(*) AS events, count(*) FILTER (event = 'purchase') AS purchases, sum(amount) AS revenue, "
            "min(event_time) AS first_ts, max(event_time) AS last_ts, count(DISTINCT event_time::DATE) AS days")
t0 = time.perf_counter()
n = con.execute(f"SELECT count(*) FROM (SELECT user_id, {per_user} FROM {src} GROUP BY user_id)").fetchone()[0]
t1 = time.perf_counter()
con.execute(f\"\"\"SELECT count(*) FROM (SELECT user_id, {per_user}, sum(new_session) AS sessions FROM (
    SELECT *, coalesce(event_time - lag(event_time) OVER (PARTITION BY user_id ORDER BY event_time)
                       > INTERVAL 30 MINUTE, true)::INT AS new_session FROM {src}) GROUP BY user_id)\"\"\").fetchone()
t2 = time.perf_counter()
print(json.dumps({"bare_s": t1 - t0, "bare_sessions_s": t2 - t1, "users": n}))
"""


def run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    print(f"{'events':>11} {'file MB':>8} | {'ingest s':>8} {'features s':>10} {'total s':>8} {'peak MB':>8} | "
          f"{'pandas s':>8} {'peak MB':>8} | {'speed-up':>8} | {'bare s':>6} {'+sessions':>9} {'x bare':>6}")
    for n in args.sizes:
        path = log_for(n)
        with tempfile.TemporaryDirectory(prefix="marketlens-bench-") as ws:
            ml = run(MARKETLENS, str(path), ws)
        pd_ = run(PANDAS, str(path))
        bare = run(BARE, str(path))
        total = ml["ingest_s"] + ml["features_s"]
        pandas_total = pd_["read_s"] + pd_["features_s"]
        assert ml["users"] == pd_["users"] == bare["users"], (ml, pd_, bare)
        print(f"{ml['rows']:>11,} {path.stat().st_size / 1e6:>8.0f} | {ml['ingest_s']:>8.2f} {ml['features_s']:>10.2f} "
              f"{total:>8.2f} {ml['peak_rss_mb']:>8.0f} | {pandas_total:>8.2f} {pd_['peak_rss_mb']:>8.0f} | "
              f"{pandas_total / total:>7.1f}x | {bare['bare_s']:>6.2f} {bare['bare_sessions_s']:>9.2f} "
              f"{total / bare['bare_s']:>5.1f}x", flush=True)


if __name__ == "__main__":
    main()

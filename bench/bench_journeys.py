"""Benchmark: funnel, weekly retention and paths on the 10M-event log, against plain pandas.

Usage::

    python bench/bench_journeys.py [--events 10000000] [--workspace DIR] [--keep]

The log is generated with ``sample_data/generate.py`` into ``bench/out/`` if it
is not there (``events_10m.csv`` for the default size), then imported once into
a temporary workspace (``--workspace DIR --keep`` reuses one). Each view then
runs in a fresh process that opens the workspace, so its peak RSS is its own:

- 5-step funnel (page_view > view_item > add_to_cart > begin_checkout >
  purchase), 7-day window; target <= 2 s;
- weekly retention matrix (first event, any event); target <= 2 s;
- 3-step paths Sankey after the first add_to_cart; target <= 3 s;

timed twice (first run on a freshly opened workspace, then again; the CPU
seconds of the first run are printed too, a figure that other work on a shared
machine disturbs less than wall time), and the
same three in plain pandas (``bench/pandas_journeys.py``) after one
``read_csv``; the numbers of both are checked to be equal. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
STEPS = ["page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"]
TARGETS = {"funnel": 2.0, "retention": 2.0, "paths": 3.0}


def log_for(n_events: int) -> Path:
    name = "events_10m.csv" if n_events == 10_000_000 else f"events_{n_events}.csv"
    path = OUT / name
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "sample_data" / "generate.py"), "--events", str(n_events),
                        "-o", str(path)], check=True)
    return path


IMPORT = """
import json, sys, time
from analytics.workspace import Workspace, close_all
ws = Workspace(sys.argv[2])
t0 = time.perf_counter()
ds = ws.import_file(sys.argv[1], name="bench", features=False)
print(json.dumps({"import_s": time.perf_counter() - t0, "rows": ds.rows, "users": ds.users}))
close_all()
"""

ENGINE = """
import json, resource, sys, time
from analytics.workspace import Workspace, close_all
from analytics.journeys import funnel, paths, retention
ws = Workspace(sys.argv[1])
ds = ws.datasets()[0]
con, table = ws.cursor(), ds.events_table
view = sys.argv[2]
steps = json.loads(sys.argv[3])
run = {
    "funnel": lambda: funnel(con, table, steps, 7),
    "retention": lambda: retention(con, table, "week"),
    "paths": lambda: paths(con, table, "add_to_cart", 3),
}[view]
times, cpu = [], []
for _ in range(2):
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    result = run()
    times.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
if view == "funnel":
    check = [s.users for s in result.steps]
elif view == "retention":
    check = [result.matrix.sizes, result.matrix.counts]
else:
    check = {f"{t.step}|{t.from_event}|{t.to_event}": t.users for t in result.transitions.itertuples()}
print(json.dumps({"first_s": times[0], "again_s": times[1], "cpu_s": cpu[0], "check": check,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
close_all()
"""

PANDAS = """
import json, resource, sys, time
import pandas as pd
from bench.pandas_journeys import funnel_times, paths_table, retention_counts
from bench.pandas_reference import read_log
steps = json.loads(sys.argv[2])
t0 = time.perf_counter()
ev = read_log(sys.argv[1])[["user_id", "ts", "event"]]
out = {"read_s": time.perf_counter() - t0}
t0 = time.perf_counter()
times = funnel_times(ev, steps, 7)
out["funnel_s"] = time.perf_counter() - t0
out["funnel"] = [int(times[f"t{k}"].notna().sum()) for k in range(1, len(steps) + 1)]
t0 = time.perf_counter()
sizes, table = retention_counts(ev, "week")
out["retention_s"] = time.perf_counter() - t0
table = table.reindex(index=sizes.index, columns=range(int(table.columns.max()) + 1), fill_value=0)
out["retention"] = [[int(n) for n in sizes], [[int(x) for x in row] for row in table.to_numpy()]]
t0 = time.perf_counter()
wide = paths_table(ev, "add_to_cart", 3)
out["paths_s"] = time.perf_counter() - t0
pairs = {}
for k in range(3):
    near, far = wide[f"e{k}"], wide[f"e{k + 1}"].astype(object).fillna("(end)")
    ok = near.notna()
    for (a, b), n in pd.DataFrame({"a": near[ok], "b": far[ok]}).groupby(["a", "b"]).size().items():
        pairs[f"{k + 1}|{a}|{b}"] = int(n)
out["paths"] = pairs
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def same_retention(engine: list, pandas: list) -> bool:
    """Engine triangle (ragged) against the pandas crosstab (rectangular, zeros past the data)."""
    sizes, counts = engine
    p_sizes, p_table = pandas
    padded = [list(p_row) + [0] * max(0, len(row) - len(p_row)) for row, p_row in zip(counts, p_table)]
    return sizes == p_sizes and len(counts) == len(p_table) and all(
        row == p_row[:len(row)] and not any(p_row[len(row):]) for row, p_row in zip(counts, padded))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--workspace", type=Path, help="workspace folder to use (kept with --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the workspace for another run")
    args = parser.parse_args()
    path = log_for(args.events)
    ws = args.workspace or Path(tempfile.mkdtemp(prefix="marketlens-bench-journeys-"))
    try:
        if not (ws / "workspace.duckdb").exists():
            imp = run(IMPORT, str(path), str(ws))
            print(f"imported {imp['rows']:,} events of {imp['users']:,} users ({path.stat().st_size / 1e6:.0f} MB) "
                  f"in {imp['import_s']:.1f} s", flush=True)
        load = os.getloadavg()
        engine = {view: run(ENGINE, str(ws), view, json.dumps(STEPS)) for view in TARGETS}
        pandas = run(PANDAS, str(path), json.dumps(STEPS))
    finally:
        if not args.keep:
            shutil.rmtree(ws, ignore_errors=True)
    agree = {
        "funnel": engine["funnel"]["check"] == pandas["funnel"],
        "retention": same_retention(engine["retention"]["check"], pandas["retention"]),
        "paths": engine["paths"]["check"] == pandas["paths"],
    }
    print(f"pandas read_csv + parse: {pandas['read_s']:.1f} s; pandas process peak RSS {pandas['peak_rss_mb']:.0f} MB")
    print(f"load average before the runs: {load[0]:.1f} (1 min) {load[1]:.1f} (5 min) on {os.cpu_count()} cores")
    print(f"{'view':<10} | {'target s':>8} | {'DuckDB s':>8} {'again s':>8} {'CPU s':>6} {'peak MB':>8} | "
          f"{'pandas s':>8} | {'speed-up':>8} | same numbers")
    for view, target in TARGETS.items():
        e = engine[view]
        p = pandas[f"{view}_s"]
        print(f"{view:<10} | {target:>8.1f} | {e['first_s']:>8.2f} {e['again_s']:>8.2f} {e['cpu_s']:>6.2f} "
              f"{e['peak_rss_mb']:>8.0f} | {p:>8.2f} | {p / e['first_s']:>7.1f}x | {agree[view]}", flush=True)
    print("funnel users per step:", engine["funnel"]["check"])


if __name__ == "__main__":
    main()

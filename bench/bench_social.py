"""Benchmark: attribution (five models, path table) on the 10M-event shop log, channel as the touch.

Usage::

    python bench/bench_social.py [--events 10000000] [--social-events 2000000]

Generates ``bench/out/events_10m.csv`` with ``sample_data/generate.py`` when it
is missing, imports it into a temporary workspace (as ``bench_features.py``
does), then times :func:`analytics.attribution.attribute` in a fresh process
(purchase as the conversion, 30-day lookback, every other event a touch), and
the social engagement and content tables on a generated social log.

Peak RSS is the process's (``ru_maxrss``). CPU seconds (user + system, both
threads) and the machine's load average are printed too, since a busy shared
machine stretches wall time. Figures are printed, never asserted.
Target (issue 21): attribution <= 10 s on 2 cores.
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


def log_for(n_events: int) -> Path:
    name = "events_10m.csv" if n_events == 10_000_000 else f"events_{n_events}.csv"
    path = OUT / name
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "sample_data" / "generate.py"), "--events", str(n_events),
                        "-o", str(path)], check=True)
    return path


def social_log_for(n_events: int) -> Path:
    path = OUT / f"social_{n_events}.csv"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "sample_data" / "generate_social.py"), "--events", str(n_events),
                        "-o", str(path)], check=True)
    return path


IMPORT = """
import json, resource, sys, time
from analytics.workspace import Workspace
ws = Workspace(sys.argv[2])
t0 = time.perf_counter()
ds = ws.import_file(sys.argv[1], features=False)
print(json.dumps({"id": ds.id, "rows": ds.rows, "users": ds.users, "ingest_s": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# A fresh process per measurement, so its peak RSS is the step's own (plus opening the workspace).
ATTRIBUTION = """
import json, resource, sys, time
from analytics.workspace import Workspace
from analytics.attribution import attribute
ws = Workspace(sys.argv[1])
ds = ws.get(sys.argv[2])
con = ws.cursor()
threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
t0, c0 = time.perf_counter(), cpu()
r = attribute(con, ds.events_table, "purchase", by=sys.argv[3], lookback_days=30)
t1 = time.perf_counter()
print(json.dumps({"attribution_s": t1 - t0, "cpu_s": cpu() - c0, "conversions": r.conversions,
                  "attributed": r.attributed,
                  "journeys": r.journeys, "paths": r.distinct_paths, "capped": r.capped_paths, "threads": threads,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SOCIAL = """
import json, resource, sys, time
from analytics.workspace import Workspace
from analytics.social import content_performance, engagement_features
ws = Workspace(sys.argv[1])
ds = ws.get(sys.argv[2])
con = ws.cursor()
t0 = time.perf_counter()
f = engagement_features(con, ds.events_table)
t1 = time.perf_counter()
c = content_performance(con, ds.events_table, by="content_id", conversion="purchase")
t2 = time.perf_counter()
print(json.dumps({"engagement_s": t1 - t0, "content_s": t2 - t1, "posts": len(c.table), "feature_users": len(f.table),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="shop log size for attribution")
    parser.add_argument("--social-events", type=int, default=2_000_000, help="social log size for the social tables")
    args = parser.parse_args()

    path = log_for(args.events)
    with tempfile.TemporaryDirectory(prefix="marketlens-bench-") as ws:
        imp = run(IMPORT, str(path), ws)
        a = run(ATTRIBUTION, ws, imp["id"], "channel")
    print("Attribution on the shop log, channel as the touch: 5 models + path table (target <= 10 s on 2 cores)")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(f"{'events':>11} {'file MB':>8} {'users':>8} {'conversions':>11} {'journeys':>9} {'paths':>8} "
          f"{'threads':>7} | {'ingest s':>8} {'RSS MB':>7} | {'attribution s':>13} {'CPU s':>6} {'peak RSS MB':>11}")
    print(f"{imp['rows']:>11,} {path.stat().st_size / 1e6:>8.0f} {imp['users']:>8,} {a['conversions']:>11,} "
          f"{a['journeys']:>9,} {a['paths']:>8,} {a['threads']:>7} | {imp['ingest_s']:>8.2f} "
          f"{imp['peak_rss_mb']:>7.0f} | {a['attribution_s']:>13.2f} {a['cpu_s']:>6.1f} {a['peak_rss_mb']:>11.0f}",
          flush=True)

    spath = social_log_for(args.social_events)
    with tempfile.TemporaryDirectory(prefix="marketlens-bench-") as ws:
        imp = run(IMPORT, str(spath), ws)
        s = run(SOCIAL, ws, imp["id"])
        a = run(ATTRIBUTION, ws, imp["id"], "campaign")
    print("\nSocial log (generate_social.py): engagement features, content table, attribution by campaign")
    print(f"{'events':>11} {'users':>8} {'posts':>6} | {'ingest s':>8} | {'engagement s':>12} {'content s':>9} "
          f"{'peak RSS MB':>11} | {'attribution s':>13} {'peak RSS MB':>11}")
    print(f"{imp['rows']:>11,} {imp['users']:>8,} {s['posts']:>6} | {imp['ingest_s']:>8.2f} | "
          f"{s['engagement_s']:>12.2f} {s['content_s']:>9.2f} {s['peak_rss_mb']:>11.0f} | "
          f"{a['attribution_s']:>13.2f} {a['peak_rss_mb']:>11.0f}", flush=True)


if __name__ == "__main__":
    main()

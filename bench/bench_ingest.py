"""Benchmark: the ingest step alone (file -> cleaned events in a new workspace), repeated, with peak RSS.

Usage::

    python bench/bench_ingest.py [--events 10000000] [--log PATH] [--json] [--repeat 3] [--code DIR ...]

Each run is a fresh process importing the log into an empty workspace (stage,
hash, sniff, detect the encoding, clean, de-duplicate, profile; no feature
table). With several ``--code`` folders (e.g. a checkout of the previous
version and this one) the runs alternate between them, so that both see the
same machine state; the median of each is printed. ``--json`` imports the same events written as a
Mixpanel export instead (one JSON object per line, time, user and attributes inside ``properties``;
converted once into ``bench/out/``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_features import log_for  # noqa: E402

INGEST = """
import json, resource, sys, time
from analytics.workspace import Workspace
ws = Workspace(sys.argv[2])
t0 = time.perf_counter()
ds = ws.import_file(sys.argv[1], features=False)
t1 = time.perf_counter()
print(json.dumps({"ingest_s": t1 - t0, "rows": ds.rows, "users": ds.users,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def json_log_for(csv_log: Path) -> Path:
    """The events of ``csv_log`` as a Mixpanel export (JSON lines), written once beside it."""
    import duckdb

    path = csv_log.with_suffix(".jsonl")
    if not path.exists():
        con = duckdb.connect()
        con.execute(f"""COPY (SELECT event, {{'time': epoch(CAST(event_time AS TIMESTAMP))::BIGINT,
                                             'distinct_id': user_id, 'price': amount, 'channel': channel,
                                             'platform': platform,
                                             'mp_country_code': country, 'category': category,
                                             'product_id': item_id}} AS properties
                              FROM read_csv('{csv_log}')) TO '{path}' (FORMAT json)""")
    return path


def run(code: Path, log: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    with tempfile.TemporaryDirectory(prefix="marketlens-bench-") as ws:
        out = subprocess.run([sys.executable, "-c", INGEST, str(log), ws], env=env, check=True, capture_output=True,
                             text=True, cwd=code)
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_average() -> float:
    return os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--log", type=Path, help="an existing log (default: generated into bench/out/)")
    parser.add_argument("--json", action="store_true", help="import the same events as JSON lines")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--code", type=Path, nargs="+", default=[ROOT], help="source trees to compare")
    args = parser.parse_args()
    log = args.log or log_for(args.events)
    if args.json:
        log = json_log_for(log)
    runs: dict[Path, list[dict]] = {c: [] for c in args.code}
    for i in range(args.repeat):
        for code in args.code:
            r = run(code, log)
            runs[code].append(r)
            print(f"run {i + 1} {code}: {r['ingest_s']:.2f} s, {r['rows']:,} rows, peak {r['peak_rss_mb']:.0f} MB "
                  f"(load average {load_average():.2f})", flush=True)
    print(f"\n{'code':<40} {'rows':>12} {'file MB':>8} {'median s':>9} {'min s':>7} {'peak MB':>8}")
    for code, rs in runs.items():
        secs = [r["ingest_s"] for r in rs]
        print(f"{str(code):<40} {rs[0]['rows']:>12,} {log.stat().st_size / 1e6:>8.0f} {statistics.median(secs):>9.2f} "
              f"{min(secs):>7.2f} {max(r['peak_rss_mb'] for r in rs):>8.0f}")


if __name__ == "__main__":
    main()

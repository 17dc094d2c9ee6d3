"""Benchmark: the ingest step alone (file -> cleaned events in a new workspace), repeated, with peak RSS.

Usage::

    python bench/bench_ingest.py [--events 10000000] [--log PATH] [--json | --ga4] [--repeat 3] [--code DIR ...]

Each run is a fresh process importing the log into an empty workspace (stage,
hash, sniff, detect the encoding, clean, de-duplicate, profile; no feature
table). With several ``--code`` folders (e.g. a checkout of the previous
version and this one) the runs alternate between them, so that both see the
same machine state; the median of each is printed. ``--json`` imports the same events written as a
Mixpanel export instead (one JSON object per line, time, user and attributes inside ``properties``;
converted once into ``bench/out/``); ``--ga4`` as GA4's BigQuery export in Parquet (structs for device,
geo, traffic source and e-commerce, eight key/value event parameters, a list of items). Nothing is
asserted.
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


def convert(sql: str) -> None:
    """Run a conversion in a process of its own: Linux carries a process's peak RSS over to the children
    it starts, so converting here would show the conversion's memory as every later import's peak."""
    subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect().execute(sys.argv[1])", sql], check=True)


def json_log_for(csv_log: Path) -> Path:
    """The events of ``csv_log`` as a Mixpanel export (JSON lines), written once beside it."""
    path = csv_log.with_suffix(".jsonl")
    if not path.exists():
        convert(f"""COPY (SELECT event, {{'time': epoch(CAST(event_time AS TIMESTAMP))::BIGINT,
                                             'distinct_id': user_id, 'price': amount, 'channel': channel,
                                             'platform': platform,
                                             'mp_country_code': country, 'category': category,
                                             'product_id': item_id}} AS properties
                              FROM read_csv('{csv_log}')) TO '{path}' (FORMAT json)""")
    return path


def ga4_log_for(csv_log: Path) -> Path:
    """The events of ``csv_log`` shaped as GA4's BigQuery export, in Parquet, written once beside it."""
    path = csv_log.with_suffix(".ga4.parquet")
    if not path.exists():
        def param(key: str, string: str = "NULL", number: str = "NULL") -> str:
            return f"{{'key': '{key}', 'value': {{'string_value': {string}, 'int_value': {number}}}}}"

        params = ", ".join([param("page_location", string="'https://shop.example/' || coalesce(category, 'home')"),
                            param("page_title", string="coalesce(category, 'Home')"),
                            param("ga_session_id", number="hash(user_id, CAST(ts AS DATE)) % 1000000000"),
                            param("ga_session_number", number="1"),
                            param("engagement_time_msec", number="1000"),
                            param("source", string="channel"), param("medium", string="'referral'"),
                            param("campaign", string="'(organic)'")])
        convert(f"""COPY (
            SELECT strftime(ts, '%Y%m%d') AS event_date, epoch_us(ts) AS event_timestamp, event AS event_name,
                   [{params}] AS event_params, user_id AS user_pseudo_id,
                   {{'category': platform, 'operating_system': 'Android'}} AS device,
                   {{'country': country, 'city': NULL::VARCHAR}} AS geo,
                   {{'source': channel, 'medium': 'referral', 'name': '(organic)'}} AS traffic_source,
                   {{'purchase_revenue': amount, 'transaction_id': NULL::VARCHAR}} AS ecommerce,
                   CASE WHEN item_id IS NOT NULL THEN [{{'item_id': item_id, 'item_category': category}}] END AS items
            FROM (SELECT *, CAST(event_time AS TIMESTAMP) AS ts FROM read_csv('{csv_log}')))
            TO '{path}' (FORMAT parquet)""")
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
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="import the same events as JSON lines")
    shape.add_argument("--ga4", action="store_true", help="import the same events as a GA4 export in Parquet")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--code", type=Path, nargs="+", default=[ROOT], help="source trees to compare")
    args = parser.parse_args()
    log = args.log or log_for(args.events)
    if args.json:
        log = json_log_for(log)
    elif args.ga4:
        log = ga4_log_for(log)
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

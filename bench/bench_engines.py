"""Benchmark: the same feature pipeline on DuckDB and on Spark (local mode) on one machine.

Usage::

    python bench/bench_engines.py [--sizes 10000000] [--master local[*]]

For each size, each engine runs in a fresh process: file -> cleaned events ->
per-user feature table (collected). Spark is expected to lose on one machine
(JVM start, shuffles, a generic CSV reader); its value is in running the same
definitions where a log does not fit one machine. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import tempfile

from bench.bench_features import log_for, run

DUCKDB = """
import json, resource, sys, time
from analytics.workspace import Workspace
t0 = time.perf_counter()
ws = Workspace(sys.argv[2])
ds = ws.connect(sys.argv[1], engine="duckdb")
n = len(ws.features(ds.id))
print(json.dumps({"seconds": time.perf_counter() - t0, "users": n,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SPARK = """
import json, resource, sys, time
from analytics.engines import spark as sp
from analytics.features import FeatureParams
t0 = time.perf_counter()
session = sp.session(sys.argv[3])
t1 = time.perf_counter()
log = sp.load_log(session, sys.argv[1])
frame, _ = sp.build_features(log, FeatureParams("purchase"))
n = sp.to_arrow(frame).num_rows
print(json.dumps({"seconds": time.perf_counter() - t0, "startup_s": t1 - t0, "users": n,
                  "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args()
    print(f"{'events':>11} {'file MB':>8} | {'DuckDB s':>8} {'peak MB':>8} | {'Spark s':>8} {'(JVM start)':>11} "
          f"{'driver MB':>9} | users")
    for n in args.sizes:
        path = log_for(n)
        with tempfile.TemporaryDirectory(prefix="marketlens-bench-") as ws:
            duck = run(DUCKDB, str(path), ws)
        spark = run(SPARK, str(path), "", args.master)
        assert duck["users"] == spark["users"], (duck, spark)
        print(f"{n:>11,} {path.stat().st_size / 1e6:>8.0f} | {duck['seconds']:>8.1f} {duck['peak_rss_mb']:>8.0f} | "
              f"{spark['seconds']:>8.1f} {spark['startup_s']:>11.1f} {spark['driver_peak_rss_mb']:>9.0f} | "
              f"{duck['users']:,}", flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: a browser upload, as Streamlit hands it over, into the workspace.

Streamlit keeps an uploaded file in memory (``UploadedFile`` is a BytesIO over
the bytes). MarketLens writes it to disk in 8 MB chunks, hashing on the way,
and lets DuckDB read the file; the bytes are never parsed from memory or
copied whole. This prints, per size: the upload held in memory, the peak RSS of
the process during staging + import (+ features), and what that peak adds on
top of the upload itself.

Usage::

    python bench/bench_upload.py [--sizes 1000000 10000000]
"""

from __future__ import annotations

import argparse
import tempfile

from bench.bench_features import log_for, run

CODE = """
import io, json, resource, sys, time
from analytics.workspace import Workspace
data = open(sys.argv[1], "rb").read()
upload = io.BytesIO(data)                      # what st.file_uploader returns
held = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
ws = Workspace(sys.argv[2])
t0 = time.perf_counter()
staged = ws.stage(upload, "upload.csv")
t1 = time.perf_counter()
ds = ws.import_staged(staged)
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"bytes_mb": len(data) / 2**20, "rss_holding_upload_mb": held, "peak_mb": peak,
                  "stage_s": t1 - t0, "import_and_features_s": t2 - t1, "rows": ds.rows}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    print(f"{'events':>11} {'upload MB':>9} | {'RSS with upload':>15} {'peak RSS':>9} {'added':>7} | "
          f"{'stage s':>7} {'import+features s':>17}")
    for n in args.sizes:
        path = log_for(n)
        with tempfile.TemporaryDirectory(prefix="marketlens-bench-") as ws:
            r = run(CODE, str(path), ws)
        print(f"{r['rows']:>11,} {r['bytes_mb']:>9.0f} | {r['rss_holding_upload_mb']:>15.0f} {r['peak_mb']:>9.0f} "
              f"{r['peak_mb'] - r['rss_holding_upload_mb']:>7.0f} | {r['stage_s']:>7.2f} "
              f"{r['import_and_features_s']:>17.2f}", flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: customer summary + BG/NBD + Gamma-Gamma (and Pareto/NBD) on ~500k customers.

Usage::

    python bench/bench_value.py [--copies 9] [--pymc-python /tmp/pymcm/bin/python]

Data: the 10M-event benchmark log (``sample_data/generate.py --events 10000000``,
cached in ``bench/out/``, ~60k buyers) loaded into a DuckDB file; its purchase rows
are then copied ``--copies`` times under new user ids (``u123~1``, ...), so the
events table holds the 10M original events plus the copies and ~544k customers
(9 copies). The copies keep the log's real timing and spend patterns; every
copy is a separate customer.

Each step runs in a fresh process so its peak RSS is its own:

1. summary (calibration end 2025-05-01, 60-day holdout) + BG/NBD + Gamma-Gamma
   (target <= 10 s on 2 cores);
2. summary + Pareto/NBD (target <= 30 s for the fit);
3. holdout validation with the gradient-boosting challenger, and per-customer
   predictions with a 365-day CLV (no target; for the record);
4. optionally pymc-marketing's ``BetaGeoModel`` MAP fit on the same summary, run
   with another interpreter (a throwaway virtualenv that has pymc-marketing).

Figures are printed, never asserted: the test suite does not time anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LOG = OUT / "events_10m.csv"
DB = OUT / "value_bench.duckdb"
SUMMARY = OUT / "value_summary_500k.csv"
CAL_END, HOLDOUT = "2025-05-01", 60

SETUP = """
import sys, duckdb
log, db, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect(db)
con.execute("SET threads = 2")
con.execute(f'''CREATE OR REPLACE TABLE events AS
  SELECT user_id, CAST(event_time AS TIMESTAMP) AS ts, event, amount
  FROM read_csv('{log}', header = true, columns = {{'user_id': 'VARCHAR', 'event_time': 'TIMESTAMP',
      'event': 'VARCHAR', 'amount': 'DOUBLE', 'channel': 'VARCHAR', 'platform': 'VARCHAR',
      'country': 'VARCHAR', 'category': 'VARCHAR'}})''')
con.execute(f'''CREATE OR REPLACE TABLE events_big AS
  SELECT * FROM events
  UNION ALL
  SELECT user_id || '~' || CAST(k AS VARCHAR), ts, event, amount
  FROM events, range(1, {copies}) r(k) WHERE event = 'purchase' ''')
print(con.execute("SELECT count(*) FROM events_big").fetchone()[0])
"""

HEAD = """
import json, resource, sys, time
import duckdb
sys.path.insert(0, sys.argv[1])
from analytics.value import *
con = duckdb.connect(sys.argv[2], read_only=True)
con.execute("SET threads = 2")
con.execute("SET enable_progress_bar = false")  # it would print to stdout
def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {}
t0 = time.perf_counter()
summary = customer_summary(con, "events_big", "purchase", sys.argv[3], holdout_days=int(sys.argv[4]))
out["summary_s"] = time.perf_counter() - t0
out["customers"] = summary.n_customers
out["repeat_customers"] = summary.n_repeat_customers
"""

STEP_BG_GG = HEAD + """
t = time.perf_counter()
report = fit_value_models(summary, models=("bgnbd",))
out["bgnbd_s"] = time.perf_counter() - t
t = time.perf_counter()
gg = fit_value_models(summary, models=("gg",))
out["gg_s"] = time.perf_counter() - t
out["total_s"] = time.perf_counter() - t0
out["bgnbd"] = report.fits["bgnbd"].params
out["gg"] = gg.fits["gamma_gamma"].params
out["warnings"] = report.warnings + gg.warnings
summary.frame[["frequency", "recency", "T", "monetary_value"]].to_csv(sys.argv[5], index=False)
out["peak_rss_mb"] = rss()
print(json.dumps(out))
"""

STEP_PNBD = HEAD + """
t = time.perf_counter()
report = fit_value_models(summary, models=("paretonbd",))
out["paretonbd_s"] = time.perf_counter() - t
out["paretonbd"] = report.fits["paretonbd"].params
out["warnings"] = report.warnings
out["peak_rss_mb"] = rss()
print(json.dumps(out))
"""

STEP_VALIDATE = HEAD + """
report = fit_value_models(summary, models=("bgnbd", "gg"))
t = time.perf_counter()
v = validate_value(con, "events_big", summary, report, random_state=0)
out["validate_s"] = time.perf_counter() - t
out["scores"] = {k: s.to_dict() for k, s in v.scores.items()}
full = customer_summary(con, "events_big", "purchase")
full_report = fit_value_models(full, models=("bgnbd", "gg"))
t = time.perf_counter()
pv = predict_value(full, full_report, horizon_days=365)
out["predict_s"] = time.perf_counter() - t
out["predict_customers"] = len(pv)
out["peak_rss_mb"] = rss()
print(json.dumps(out))
"""

PYMC = """
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from pymc_marketing.clv import BetaGeoModel
t1 = time.perf_counter()
f = pd.read_csv(sys.argv[1])
data = pd.DataFrame({"customer_id": range(len(f)), "frequency": f["frequency"], "recency": f["recency"],
                     "T": f["T"]})
t2 = time.perf_counter()
model = BetaGeoModel(data=data)
model.fit(method="map")
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "fit_map_s": t3 - t2, "params": model.fit_summary().to_dict(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(python: str, code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([python, "-c", code, *args], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=9, help="copies of each buyer (9: ~544k customers)")
    parser.add_argument("--pymc-python", help="interpreter of a virtualenv with pymc-marketing, for comparison")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the DuckDB file from the log")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if not LOG.exists():
        subprocess.run([sys.executable, str(ROOT / "sample_data" / "generate.py"), "--events", "10000000",
                        "-o", str(LOG)], check=True)
    if args.rebuild or not DB.exists():
        res = subprocess.run([sys.executable, "-c", SETUP, str(LOG), str(DB), str(args.copies)], check=True,
                             capture_output=True, text=True)
        print(f"events table: {int(res.stdout.split()[-1]):,} rows ({args.copies} copies of each buyer)")
    window = (CAL_END, str(HOLDOUT))
    a = run(sys.executable, STEP_BG_GG, str(ROOT), str(DB), *window, str(SUMMARY))
    print(f"\ncustomers {a['customers']:,} (repeat {a['repeat_customers']:,}), calibration end {CAL_END}, "
          f"holdout {HOLDOUT} days")
    print(f"{'step':<34} {'seconds':>8} {'peak RSS MB':>12}")
    print(f"{'summary (DuckDB SQL)':<34} {a['summary_s']:>8.2f}")
    print(f"{'BG/NBD fit (+ standard errors)':<34} {a['bgnbd_s']:>8.2f}")
    print(f"{'Gamma-Gamma fit (+ standard errors)':<34} {a['gg_s']:>8.2f}")
    print(f"{'summary + BG/NBD + Gamma-Gamma':<34} {a['total_s']:>8.2f} {a['peak_rss_mb']:>12.0f}   (target <= 10 s)")
    b = run(sys.executable, STEP_PNBD, str(ROOT), str(DB), *window)
    print(f"{'Pareto/NBD fit (+ standard errors)':<34} {b['paretonbd_s']:>8.2f} {b['peak_rss_mb']:>12.0f}   "
          "(target <= 30 s)")
    c = run(sys.executable, STEP_VALIDATE, str(ROOT), str(DB), *window)
    print(f"{'validation + challenger':<34} {c['validate_s']:>8.2f}")
    print(f"{'predictions + 365-day CLV':<34} {c['predict_s']:>8.2f} {c['peak_rss_mb']:>12.0f}   "
          f"({c['predict_customers']:,} customers)")
    print("\nparameters (days):")
    print("  BG/NBD     ", {k: round(v, 4) for k, v in a["bgnbd"].items()})
    print("  Pareto/NBD ", {k: round(v, 4) for k, v in b["paretonbd"].items()})
    print("  Gamma-Gamma", {k: round(v, 4) for k, v in a["gg"].items()})
    for w in a["warnings"] + b["warnings"]:
        print("  warning:", w)
    print("\nholdout:")
    for s in c["scores"].values():
        print(f"  {s['label']:<18} predicted {s['holdout_predicted_total']:>10,.0f} actual "
              f"{s['holdout_actual_total']:>10,.0f} bias {s['bias_pct']:+6.1f}%  MAE {s['mae']:.3f}  "
              f"AUC {s['auc']:.3f}")
    if args.pymc_python:
        p = run(args.pymc_python, PYMC, str(SUMMARY))
        print(f"\npymc-marketing BetaGeoModel MAP: import {p['import_s']:.1f} s, fit {p['fit_map_s']:.1f} s, "
              f"peak RSS {p['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()

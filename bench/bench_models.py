"""Benchmark: classifier cross-validation on 50k and 500k users.

Usage::

    python bench/bench_models.py [--users 50000 500000] [--source auto|log|resample] [--models lr,rf,hgb]

How the per-user training sets are made (``--source``):

- ``log``: a behaviour log of about 63 events per user is generated with
  ``sample_data/generate.py`` (seed 11, cached as Parquet in ``bench/out/``),
  imported into a fresh workspace (clean, store) and turned into a training set
  by :func:`analytics.models.build_training_set` with the default target
  (purchase in the last 30 days): exactly what the app does. 500k users is a
  33M-event log, which takes several minutes to generate and import.
- ``resample``: the 50k-user training set built as above, resampled with
  replacement to the wanted size; every numeric feature is multiplied by
  lognormal noise (sigma 0.1, counts rounded), labels travel with their rows,
  user ids are renamed. Same columns, types, missing values and class balance
  as a real table, in seconds.
- ``auto`` (default): ``log`` up to 100k users, ``resample`` above.

Each size runs in a fresh process (so peak RSS is its own) and prints:

- users, positives, features, and how long building the training set took;
- time to the first finished model (``iter_train``, cheapest first): what the
  Models page waits for its first ROC curve after Train (the training set is
  already built when the class counts are shown);
- every model's 5-fold CV time (wall clock and process CPU time, all threads)
  and ROC AUC, and the total. On a shared machine the wall time depends on the
  other processes; the header prints the load average;
- peak RSS of the process.

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
EVENTS_PER_USER = 63.2  # sample_data.generate's mean over the 182-day window


def log_for(n_users: int) -> Path:
    """A generated log of about ``n_users`` users as Parquet (cached)."""
    path = OUT / f"users_{n_users}.parquet"
    if not path.exists():
        import pyarrow.parquet as pq

        sys.path.insert(0, str(ROOT))
        from sample_data.generate import generate

        OUT.mkdir(parents=True, exist_ok=True)
        events, _ = generate(int(n_users * EVENTS_PER_USER), seed=11)
        pq.write_table(events, path)
    return path


RUN = r"""
import json, resource, sys, tempfile, time
import numpy as np, pandas as pd
from analytics.workspace import Workspace, close_all
from analytics.models import TrainingSet, build_training_set
from analytics import models as M

log, n_users, source, models = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
out = {"users_wanted": n_users, "source": source}
with tempfile.TemporaryDirectory(prefix="marketlens-bench-") as root:
    ws = Workspace(root)
    t0 = time.perf_counter()
    ds = ws.import_file(log, features=False)
    out["import_s"] = time.perf_counter() - t0
    out["events"] = ds.rows
    t0 = time.perf_counter()
    ts = build_training_set(ws, ds.id)
    out["training_set_s"] = time.perf_counter() - t0
    close_all()

if source == "resample":
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, ts.n_users, size=n_users)
    X = ts.X.iloc[idx].reset_index(drop=True)
    for c in X.columns:
        if pd.api.types.is_numeric_dtype(X[c]):
            v = X[c].to_numpy(dtype=float) * rng.lognormal(0.0, 0.1, size=n_users)
            X[c] = np.round(v) if c.startswith("n_") or c in ("frequency", "active_days") else v
    ts = TrainingSet(X=X, y=ts.y[idx], user_ids=np.array([f"r{i}" for i in range(n_users)], dtype=object),
                     target=ts.target, feature_params=ts.feature_params)
    out["resample_s"] = time.perf_counter() - t0

out.update(users=ts.n_users, positives=ts.positives, features=len(ts.X.columns))
t0, c0 = time.perf_counter(), time.process_time()
first = None
per_model = []
for r in M.iter_train(ts, models, n_folds=5):
    now = time.perf_counter() - t0
    first = first if first is not None else (r.key, now)
    cpu, c0 = time.process_time() - c0, time.process_time()
    per_model.append({"model": r.key, "seconds": r.seconds, "cpu_s": cpu, "fit_seconds": r.fit_seconds,
                      "auc": r.auc_mean, "auc_std": r.auc_std, "ap": r.average_precision, "sample": r.sample_note,
                      "error": r.error})
out["total_cv_s"] = time.perf_counter() - t0
out["total_cpu_s"] = sum(m["cpu_s"] for m in per_model)
out["first_model"], out["first_model_s"] = first
out["models"] = per_model
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run(log: Path, n_users: int, source: str, models: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", RUN, str(log), str(n_users), source, models],
                          env=env, check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[50_000, 500_000])
    parser.add_argument("--source", choices=["auto", "log", "resample"], default="auto")
    parser.add_argument("--models", default="lr,rf,hgb")
    parser.add_argument("--base-users", type=int, default=50_000, help="log size resampled from (resample)")
    args = parser.parse_args()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"models: {args.models}, 5-fold stratified CV, {os.cpu_count()} cores, load average {load}", flush=True)
    for n in args.users:
        source = args.source if args.source != "auto" else ("log" if n <= 100_000 else "resample")
        base = n if source == "log" else args.base_users
        r = run(log_for(base), n, source, args.models)
        how = (f"log of {r['events']:,} events imported in {r['import_s']:.1f} s" if source == "log" else
               f"resampled from a {base:,}-user log's training set in {r['resample_s']:.1f} s")
        print(f"\n{r['users']:,} users ({r['positives']:,} positives, {r['features']} features; {how}; "
              f"training set built in {r['training_set_s']:.1f} s)")
        for m in r["models"]:
            auc = "failed" if m["error"] else f"AUC {m['auc']:.3f} ± {m['auc_std']:.3f}, AP {m['ap']:.3f}"
            print(f"  {m['model']:>5}: {m['seconds']:6.1f} s (fit {m['fit_seconds']:5.1f} s, "
                  f"CPU {m['cpu_s']:5.1f} s)  {auc}"
                  + (f"  [{m['sample']}]" if m["sample"] else ""))
        print(f"  total CV: {r['total_cv_s']:.1f} s (CPU {r['total_cpu_s']:.1f} s); first model "
              f"({r['first_model']}) after {r['first_model_s']:.1f} s; peak RSS {r['peak_rss_mb']:,.0f} MB", flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: the whole journey on the 10M-event log, in one process, as the app walks it.

Usage::

    python bench/bench_journey.py [--events 10000000] [--code PATH] [--runs cold warm]

Steps, each timed (wall clock and process CPU, all threads) with the peak RSS
during the step (psutil, sampled every 20 ms); as in the app, UMAP's code is loaded from
the numba cache (or compiled) in a background thread from the start:

1. import and clean the log file into a new workspace (sniff, clean, dedupe, store);
2. the per-user feature table, read into pandas (what the pages show);
3. the training set: features as of the cutoff plus labels after it (default target);
4. k sweep 2..12 and K-means at the recommended k (with profiles, names, stability);
5. a UMAP map of 20,000 users (stratified by segment);
6. logistic regression + random forest + gradient boosting, 5-fold cross-validation.

"first ROC" is import end to the first curve the Models page draws: feature table + training
set + the first fold of the first model (the page draws a provisional curve after each fold);
the time to the first finished model is printed beside it.

Runs, each in a fresh process with a fresh workspace:

- ``cold``: an empty numba cache (as after an install that never ran ``make run``, whose
  warm-up fills it) and the log in the OS file cache;
- ``installed``: a user's first journey after ``make run``: the numba cache the warm-up filled,
  the log read from disk (its pages dropped from the OS file cache first, as after a reboot);
- ``warm``: the filled numba cache and the log in the OS file cache.

``installed`` and ``warm`` fill a new numba cache with ``python -m analytics warm-up`` when no
run before them did and no ``--numba-cache DIR`` was given.

``--code PATH`` runs the journey with the ``analytics`` package of another
checkout (e.g. ``git archive main | tar -x -C /tmp/before``), so before and
after are measured back to back in the same conditions; the shared machine's
load average is printed beside every run. Figures are printed, never asserted.
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
sys.path.insert(0, str(ROOT))

from bench.bench_features import drop_from_os_cache, log_for  # noqa: E402

JOURNEY = r"""
import json, os, sys, threading, time, warnings
warnings.filterwarnings("ignore")
import psutil

proc = psutil.Process()
steps = []


class Peak:
    # Peak RSS of the process during one step: a sampler thread, reset per step.
    def __init__(self):
        self.peak, self.stop = proc.memory_info().rss, threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, proc.memory_info().rss)


def step(name, fn):
    peak = Peak()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak.stop.set()
    steps.append({"step": name, "seconds": wall, "cpu_s": cpu,
                  "peak_rss_mb": max(peak.peak, proc.memory_info().rss) / 2**20})
    print(json.dumps(steps[-1]), file=sys.stderr, flush=True)
    return out


log, root = sys.argv[1], sys.argv[2]
from analytics import segments
from analytics.models import build_training_set, iter_train
from analytics.workspace import Workspace

ws = Workspace(root)
# As app.py does when the server starts: UMAP's compiled code is loaded (or compiled) in the background.
threading.Thread(target=segments.warm_up, name="marketlens-umap-warmup", daemon=True).start()
ds = step("import and clean", lambda: ws.import_file(log, features=False))
features = step("feature table", lambda: ws.features(ds.id))
training = step("training set", lambda: build_training_set(ws, ds.id))


def segmentation():
    columns = segments.choose_features(features).columns
    sweep = segments.k_sweep(features, columns, random_state=0)
    return segments.segment(features, sweep.recommended_k, columns=columns, random_state=0)


seg = step("k sweep + K-means", segmentation)
step("UMAP of 20k users", lambda: segments.embed(features, "umap", labels=seg.labels, columns=seg.columns,
                                                  max_points=20_000, random_state=0))
first, aucs = [], {}


def models():
    t0 = time.perf_counter()
    # The Models page draws a curve after each fold (on_fold) and again when a model is done.
    first_curve = []
    for r in iter_train(training, ["lr", "rf", "hgb"], n_folds=5, random_state=0,
                        on_fold=lambda r: first_curve.append(time.perf_counter() - t0)):
        first.append(time.perf_counter() - t0)
        aucs[r.key] = r.auc_mean
    first.insert(0, min([*first_curve, first[0]]))


step("LR + RF + GB, 5-fold", models)
print(json.dumps({"steps": steps, "events": ds.rows, "users": len(features), "train_users": training.n_users,
                  "first_curve_s": first[0], "first_model_s": first[1], "auc": aucs,
                  "peak_rss_mb": max(s["peak_rss_mb"] for s in steps)}))
"""


def run_journey(log: Path, code: Path, numba_cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "NUMBA_CACHE_DIR": str(numba_cache)}
    with tempfile.TemporaryDirectory(prefix="marketlens-journey-") as ws:
        # Each step's line goes to stderr as it finishes (shown live); the summary comes on stdout.
        proc = subprocess.run([sys.executable, "-c", JOURNEY, str(log), ws], env=env, stdout=subprocess.PIPE,
                              text=True, cwd=code)
    if proc.returncode:
        raise SystemExit(f"the journey failed (exit {proc.returncode}); its error is above")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load"] = os.getloadavg()
    return out


def print_run(label: str, r: dict) -> None:
    load = ", ".join(f"{v:.1f}" for v in r["load"])
    print(f"\n{label}: {r['events']:,} events, {r['users']:,} users ({r['train_users']:,} in the training set); "
          f"load average after the run {load}")
    print(f"  {'step':<24} {'wall s':>7} {'CPU s':>7} {'peak RSS MB':>12}")
    for s in r["steps"]:
        print(f"  {s['step']:<24} {s['seconds']:>7.1f} {s['cpu_s']:>7.1f} {s['peak_rss_mb']:>12,.0f}")
    total = sum(s["seconds"] for s in r["steps"])
    by = {s["step"]: s["seconds"] for s in r["steps"]}
    first_roc = by["feature table"] + by["training set"] + r.get("first_curve_s", r["first_model_s"])
    first_model = by["feature table"] + by["training set"] + r["first_model_s"]
    print(f"  {'whole journey':<24} {total:>7.1f} {sum(s['cpu_s'] for s in r['steps']):>7.1f} "
          f"{r['peak_rss_mb']:>12,.0f}")
    print(f"  first ROC curve {first_roc:.1f} s after the import (first fold of the first model; the whole "
          f"model {first_model:.1f} s); AUC "
          + ", ".join(f"{k} {v:.4f}" for k, v in r["auc"].items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose analytics package runs the journey")
    parser.add_argument("--runs", nargs="+", choices=["cold", "installed", "warm"],
                        default=["cold", "installed", "warm"])
    parser.add_argument("--numba-cache", type=Path, help="use (and keep) this numba cache folder instead of a new "
                                                         "empty one, e.g. one filled by `python -m analytics warm-up "
                                                         "--cache-dir DIR`")
    args = parser.parse_args()
    log = log_for(args.events)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"journey on {log.name} ({log.stat().st_size / 1e6:,.0f} MB) with {args.code}; {os.cpu_count()} cores, "
          f"load average {load}", flush=True)
    cache = args.numba_cache or Path(tempfile.mkdtemp(prefix="marketlens-numba-"))
    try:
        filled = bool(args.numba_cache)
        for label in args.runs:
            if label != "cold" and not filled:
                # Nothing filled the new cache yet: fill it as `make run` does.
                subprocess.run([sys.executable, "-m", "analytics", "warm-up", "--cache-dir", str(cache)],
                               cwd=args.code, env={**os.environ, "PYTHONPATH": str(args.code.resolve())}, check=True)
            if label == "installed":
                drop_from_os_cache(log)
            print_run(label, run_journey(log, args.code.resolve(), cache))
            filled = True
    finally:
        if not args.numba_cache:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()

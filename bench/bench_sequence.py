"""Benchmark: the sequence models (``seq``, ``agg+seq``) against gradient boosting on aggregates, same folds.

Usage::

    python bench/bench_sequence.py [--users 50000] [--folds 5] [--only hidden|sample]

Two logs, each in a fresh process (so peak RSS is its own):

- ``hidden``: a generated log where order matters and counts do not
  (``tests/sequence_data.py``: buyers left right after a cart, the others right
  after a search; same event counts, recency and gaps), ``--users`` users with
  12 to 200 events each (about 50 on average), seed 7. Target: purchase in the
  30 days after the cutoff.
- ``sample``: the committed sample log (``sample_data/sample_events.csv.gz``),
  default target (purchase in the last 30 days).

Printed for each: users and events; for ``hgb``, ``seq`` and ``agg+seq`` the
k-fold cross-validation wall and CPU time (all threads; the machine may be shared,
so the load average is printed too) and ROC AUC (mean +- std over the same
stratified folds); the time to score every user with ``seq`` fitted on all
users (events read from the workspace, windowed, network applied), and peak RSS.
Targets (issue 15): 5-fold ``seq`` on 50k users <= 5 min, scoring 50k <= 20 s,
``seq`` above ``hgb`` on the hidden-signal log. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))


def hidden_log(n_users: int) -> Path:
    from tests.sequence_data import hidden_signal_events

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"hidden_signal_{n_users}.parquet"
    if not path.exists():
        events, _ = hidden_signal_events(n_users, seed=7, max_events=200, mean_events=50)
        events.to_parquet(path, index=False)
    return path


def run(which: str, n_users: int, n_folds: int) -> None:
    from analytics import models as M
    from analytics.workspace import temporary_workspace
    from tests.sequence_data import CUTOFF

    t0 = time.perf_counter()
    if which == "hidden":
        log = hidden_log(n_users)
        target = M.TargetDefinition(kind="event", target_event="purchase", horizon_days=30, cutoff=CUTOFF)
    else:
        log = ROOT / "sample_data" / "sample_events.csv.gz"
        target = None
    with temporary_workspace(in_memory=False) as ws:
        ds = ws.import_file(log)
        training = M.build_training_set(ws, ds.id, target, n_folds=n_folds, check_leaks=False)
        print(f"== {which}: {ds.rows:,} events, {training.n_users:,} users ({training.positives:,} positive), "
              f"{len(training.X.columns)} aggregate features; log ready in {time.perf_counter() - t0:.1f} s "
              f"(load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")
        t = time.perf_counter()
        seqs = training.sequences()
        print(f"   sequences: {seqs.n_events:,} events kept, built in {time.perf_counter() - t:.1f} s")
        def cross_validate(keys: list[str]) -> None:
            results = M.iter_train(training, keys, n_folds=n_folds, keep_order=True)
            while True:
                cpu = time.process_time()
                r = next(results, None)
                if r is None:
                    break
                auc = "failed: " + str(r.error) if r.error else f"AUC {r.auc_mean:.4f} ± {r.auc_std:.4f}"
                print(f"   {r.key:8s} {n_folds}-fold CV {r.seconds:7.1f} s wall, {time.process_time() - cpu:7.1f} s "
                      f"CPU   {auc}   (load {os.getloadavg()[0]:.1f})", flush=True)
                for note in [*r.notes[:1], *([r.sample_note] if r.sample_note else [])]:
                    print(f"            {note}", flush=True)

        # The slowest last, so the key figures come first.
        cross_validate(["hgb", "seq"])
        t = time.perf_counter()
        model = M.fit_model(training, "seq")
        fit_s = time.perf_counter() - t
        t, cpu = time.perf_counter(), time.process_time()
        scored = M.score_dataset(ws, ds.id, model)
        print(f"   seq fitted on all users in {fit_s:.1f} s; scoring {len(scored):,} users (features and events read, "
              f"windowed, network applied): {time.perf_counter() - t:.1f} s wall, {time.process_time() - cpu:.1f} s "
              f"CPU (load {os.getloadavg()[0]:.1f})", flush=True)
        cross_validate(["agg+seq"])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"   peak RSS {peak_mb:,.0f} MB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--only", choices=["hidden", "sample"])
    args = p.parse_args()
    if args.only:
        run(args.only, args.users, args.folds)
        return
    for which in ("hidden", "sample"):
        subprocess.run([sys.executable, __file__, "--only", which, "--users", str(args.users), "--folds",
                        str(args.folds)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


if __name__ == "__main__":
    main()

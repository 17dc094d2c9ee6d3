"""Benchmark: the Segments and Models pages' work on the 1.58M-user table of the 100M-event log.

Usage::

    python bench/bench_big_tables.py [--copies 10] [--base 10000000]

``bench/bench_scale.py`` builds the 103M-event log as ``--copies`` copies of the
10M-event benchmark log, each with its own user ids, so its feature table is
that many copies of the 10M log's table. This benchmark builds that table (and
the training set) the same way, from one import of the 10M log, instead of
importing 6.85 GB again, then runs in one process what the pages run on it,
with their default caps and samples:

- Segments: feature choice, k sweep 2..12 (K-means fitted on a 50,000-user
  sample, silhouette on 4,000), K-means at the recommended k on every user,
  a UMAP map (50,000 users) and a PCA map (200,000 users);
- Models: logistic regression, random forest and gradient boosting, 5-fold
  cross-validation on every user of the training set.

Each step prints seconds and the process's peak RSS during it (psutil, every
20 ms), and the memory the machine has. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_features import log_for  # noqa: E402

PROC = psutil.Process()


def step(name: str, fn):
    peak = [PROC.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], PROC.memory_info().rss)

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    done.set()
    print(f"  {name:<44} {seconds:>7.1f} s  peak RSS {max(peak[0], PROC.memory_info().rss) / 2**20:>7,.0f} MB",
          flush=True)
    return out


def copies_of(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` copies of a per-user table, copy ``i``'s user ids prefixed like bench_scale's log."""
    parts = [frame.assign(user_id=frame["user_id"].astype(str).radd(f"c{i}_")) for i in range(n)]
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--base", type=int, default=10_000_000)
    args = parser.parse_args()

    from analytics import segments
    from analytics.models import build_training_set, iter_train
    from analytics.models.training_set import TrainingSet
    from analytics.workspace import Workspace

    log = log_for(args.base)
    print(f"{args.copies} copies of {log.name}; machine memory {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"load average {', '.join(f'{v:.1f}' for v in psutil.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="marketlens-big-") as root:
        ws = Workspace(root)
        ds = step("import the base log", lambda: ws.import_file(log, features=False))
        base = step("its feature table and training set", lambda: (ws.features(ds.id), build_training_set(ws, ds.id)))
        features = copies_of(base[0], args.copies)
        t = base[1]
        frame = copies_of(t.X.assign(user_id=t.user_ids, _y=t.y), args.copies)
        training = TrainingSet(X=frame.drop(columns=["user_id", "_y"]), y=frame["_y"].to_numpy(),
                               user_ids=frame["user_id"].to_numpy(dtype=object), target=t.target,
                               feature_params=t.feature_params, dataset_id=t.dataset_id)
        del base, frame
        print(f"feature table {len(features):,} users x {features.shape[1] - 1} features; training set "
              f"{training.n_users:,} users, {int(training.y.sum()):,} positive")

        print("Segments page")
        columns = step("feature choice", lambda: segments.choose_features(features).columns)
        sweep = step("k sweep 2..12", lambda: segments.k_sweep(features, columns, random_state=0))
        seg = step(f"K-means, k = {sweep.recommended_k}, every user",
                   lambda: segments.segment(features, sweep.recommended_k, columns=columns, random_state=0))
        for method in ("umap", "pca"):
            step(f"{method.upper()} map (default cap)",
                 lambda m=method: segments.embed(features, m, labels=seg.labels, columns=seg.columns, random_state=0))

        print("Models page")
        aucs = {}

        def train() -> None:
            for r in iter_train(training, ["lr", "rf", "hgb"], n_folds=5, random_state=0):
                aucs[r.key] = (r.auc_mean, r.seconds, r.train_rows)

        step("LR + RF + GB, 5-fold, every user", train)
        for key, (auc, seconds, rows) in aucs.items():
            print(f"    {key}: AUC {auc:.4f}, {seconds:.1f} s, trained on {rows:,} users per fold")
        ws.close()
    print(f"process peak RSS {PROC.memory_info().rss / 2**20:,.0f} MB now; "
          f"load average {', '.join(f'{v:.1f}' for v in psutil.getloadavg())}")


if __name__ == "__main__":
    main()

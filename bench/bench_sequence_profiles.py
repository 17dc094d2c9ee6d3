"""Benchmark: behaviour-sequence profiles and the sequential recommender on a generated log with products (2 cores).

Usage::

    python bench/bench_sequence_profiles.py [--users 50000] [--items 10000] [--interactions 1000000]
                                            [--models pop,itemknn,ease,als,gru4rec] [--skip-recommend]

The log is :func:`bench.bench_recommend.make_log` (seeded, cached in ``bench/out/``):
power-law products, 30 taste groups, views/carts/purchases, and bundles whose
second product follows the first an hour later (the one sequential signal in it).

1. **Profiles** (the Segments page's "behaviour-sequence embedding"):
   DuckDB -> each user's last 100 events (:func:`analytics.sequences.tokens.build_sequences`),
   the next-event network trained with the page's settings
   (:class:`analytics.sequences.profiles.ProfileSettings`: <= 20,000 users, <= 4 epochs,
   32 numbers per user), then every user read; then K-means (k = 5) on the vectors.
2. **Next item**: :func:`analytics.recommend.evaluate` of the models under the last-5
   hold-out, the sequential one (``gru4rec``) beside the others, same split, same metrics.

Printed: seconds per step, the process's peak RSS after each part (``ru_maxrss``
never goes down, so part 1's figure is the profiles' own), metrics. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--models", default="pop,itemknn,ease,als,gru4rec")
    parser.add_argument("--skip-recommend", action="store_true")
    args = parser.parse_args(argv)

    import duckdb
    from sklearn.cluster import KMeans

    from analytics.recommend import build_interactions, evaluate, parse_models
    from analytics.sequences.profiles import ProfileSettings, user_profiles
    from analytics.sequences.threads import torch_thread_count
    from analytics.sequences.tokens import build_sequences
    from bench.bench_recommend import make_log

    print(f"cores {os.cpu_count()}, torch threads {torch_thread_count()}, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    path = make_log(args.users, args.items, args.interactions)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"CREATE TABLE events AS SELECT *, NULL::DOUBLE AS amount FROM read_parquet('{path}')")
    users = con.execute("SELECT DISTINCT user_id FROM events ORDER BY 1").fetchnumpy()["user_id"]
    print(f"log: {args.interactions:,} events of {len(users):,} users, {args.items:,} products; "
          f"peak RSS {peak_mb():,.0f} MB", flush=True)

    # --- 1. profiles -----------------------------------------------------------------------------------------
    settings = ProfileSettings()
    t = time.perf_counter()
    seqs = build_sequences(con, "events", users, max_len=settings.max_len)
    t_seq = time.perf_counter() - t
    s = seqs.summary()
    print(f"\n1. profiles ({settings.to_dict()})\n   sequences: {s['events']:,} events kept, "
          f"{s['item_tokens']:,} product tokens, {s['truncated_users']:,} users truncated; {t_seq:.1f} s", flush=True)
    marks: dict[str, float] = {}

    def progress(fraction: float, message: str) -> None:
        if fraction >= 0.85:  # profiles report training into [0, 0.85], reading the users into [0.85, 1]
            marks.setdefault("embed_start", time.perf_counter())

    t = time.perf_counter()
    c = time.process_time()
    prof = user_profiles(seqs, settings, progress)
    t_prof, c_prof = time.perf_counter() - t, time.process_time() - c
    start_embed = marks.get("embed_start", t + t_prof)
    stages = {"train": start_embed - t, "embed": t + t_prof - start_embed}
    print(f"   trained on {prof.users_trained:,} users / {prof.events_trained:,} events, {prof.epochs} epochs "
          f"(losses {', '.join(f'{v:.3f}' for v in prof.losses)})")
    print(f"   train {stages.get('train', float('nan')):.1f} s, read all {len(users):,} users "
          f"{stages.get('embed', float('nan')):.1f} s; total {t_prof:.1f} s wall, {c_prof:.1f} s CPU; "
          f"peak RSS {peak_mb():,.0f} MB", flush=True)
    t = time.perf_counter()
    labels = KMeans(5, n_init=4, random_state=0).fit_predict(prof.vectors)
    print(f"   K-means k=5 on the {prof.vectors.shape[1]}-number profiles: {time.perf_counter() - t:.1f} s, sizes "
          f"{sorted(np.bincount(labels).tolist(), reverse=True)}", flush=True)
    del seqs, prof

    # --- 2. next item --------------------------------------------------------------------------------------
    if args.skip_recommend:
        return 0
    t = time.perf_counter()
    it = build_interactions(con, "events", "item_id")
    print(f"\n2. next item: {it.n_users:,} users x {it.n_items:,} products, {it.matrix.nnz:,} pairs "
          f"({time.perf_counter() - t:.1f} s)", flush=True)
    names = parse_models(args.models)
    t = time.perf_counter()
    result = evaluate(it, names, protocol="last-n", ks=(10, 20))
    print(f"   last-5 hold-out, {result.users_evaluated:,} test users: {time.perf_counter() - t:.1f} s for "
          f"{len(names)} models")
    cols = ["recall@20", "ndcg@20", "hit_rate@20", "coverage@20", "fit_seconds", "recommend_seconds"]
    print(result.metrics[cols].round(4).to_string())
    for name, why in result.skipped.items():
        print(f"   skipped {name}: {why}")
    print(f"\npeak RSS {peak_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

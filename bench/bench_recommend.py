"""Benchmark: recommenders on 1M interactions of 50k users and 10k products (2 cores).

Usage::

    python bench/bench_recommend.py [--users 50000] [--items 10000] [--interactions 1000000]
                                    [--models pop,pop_recent,itemknn,ease,als] [--protocol last-n]

The log is generated here (seeded, cached as Parquet in ``bench/out/``) with
the same kind of structure as the sample shop: power-law product popularity,
users with a persistent taste (one of 30 taste groups of products), product
views, carts and purchases, and bundles bought one after the other. It is
loaded into DuckDB as an events table and goes through what the app does:

1. :func:`analytics.recommend.build_interactions` (SQL in DuckDB);
2. :func:`analytics.recommend.evaluate`: every model fitted on the training
   split and its top 20 scored for every test user (last-5 hold-out by default);
3. every model refitted on all data and the top 20 computed for every user.

Printed: sizes, seconds per step and model, metrics, and the process's peak RSS.
Targets (issue 14): step 2 <= 60 s for all models together; step 3's top-20 for
all users <= 10 s per model. Figures are printed, never asserted.
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
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))


def make_log(n_users: int, n_items: int, n_interactions: int, seed: int = 5) -> Path:
    """Generated product events (``user_id, ts, event, item_id``) as Parquet, cached by size."""
    path = OUT / f"recommend_{n_users}_{n_items}_{n_interactions}.parquet"
    if path.exists():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_groups = 30
    group = rng.integers(0, n_groups, n_items)
    pop = 1.0 / (rng.permutation(n_items) + 1.0) ** 1.0
    user_group = rng.integers(0, n_groups, n_users)
    activity = rng.gamma(1.2, 1.0, n_users)
    user = rng.choice(n_users, size=n_interactions, p=activity / activity.sum())
    # 60% of a user's products come from their taste group, the rest from the whole catalogue.
    own = rng.random(n_interactions) < 0.6
    cdf_all = np.cumsum(pop) / pop.sum()
    item = np.searchsorted(cdf_all, rng.random(n_interactions))
    by_group = [np.flatnonzero(group == g) for g in range(n_groups)]
    cdfs = [np.cumsum(pop[idx]) / pop[idx].sum() for idx in by_group]
    g_of = user_group[user]
    for g in range(n_groups):
        m = own & (g_of == g)
        item[m] = by_group[g][np.searchsorted(cdfs[g], rng.random(int(m.sum())))]
    # Bundles: 500 pairs among popular products; the partner follows a purchase of the first.
    top = np.argsort(-pop)[:1000]
    partner = np.full(n_items, -1)
    a, b = top[0::2], top[1::2]
    partner[a], partner[b] = b, a
    event = rng.choice(np.array(["view_item", "add_to_cart", "purchase"]), size=n_interactions, p=[0.7, 0.18, 0.12])
    ts = np.datetime64("2025-01-01T00:00:00") + rng.integers(0, 180 * 86_400, n_interactions).astype("timedelta64[s]")
    follow = (event == "purchase") & (partner[item] >= 0) & (rng.random(n_interactions) < 0.5)
    idx = np.flatnonzero(follow)
    extra_user, extra_item = user[idx], partner[item[idx]]
    extra_ts = ts[idx] + np.timedelta64(3600, "s")
    keep = n_interactions - len(idx)  # keep the total at n_interactions
    user = np.r_[user[:keep], extra_user]
    item = np.r_[item[:keep], extra_item]
    event = np.r_[event[:keep], np.full(len(idx), "purchase")]
    ts = np.r_[ts[:keep], extra_ts]
    table = pa.table({"user_id": pa.array([f"u{u:06d}" for u in user]),
                      "ts": pa.array(ts.astype("datetime64[s]"), type=pa.timestamp("s")),
                      "event": pa.array(event.astype(str)), "item_id": pa.array([f"p{i:05d}" for i in item])})
    OUT.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--models", default="pop,pop_recent,itemknn,ease,als")
    parser.add_argument("--protocol", default="last-n", choices=["last-n", "time-split"])
    args = parser.parse_args(argv)

    import duckdb

    from analytics.recommend import build_interactions, evaluate, make_model, parse_models

    print(f"cores {os.cpu_count()}, load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    t = time.perf_counter()
    path = make_log(args.users, args.items, args.interactions)
    print(f"log: {path.name} ({path.stat().st_size / 1e6:.0f} MB) ready in {time.perf_counter() - t:.1f} s", flush=True)

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{path}')")
    t = time.perf_counter()
    it = build_interactions(con, "events", "item_id")
    t_build = time.perf_counter() - t
    s = it.summary()
    print(f"interactions: {args.interactions:,} events -> {s['records']:,} records, {s['user_item_pairs']:,} pairs, "
          f"{s['users']:,} users, {s['items']:,} products; built in {t_build:.1f} s", flush=True)

    names = parse_models(args.models)
    t, c = time.perf_counter(), time.process_time()
    result = evaluate(it, names, protocol=args.protocol, ks=(10, 20))
    t_eval, c_eval = time.perf_counter() - t, time.process_time() - c
    print(f"\nevaluation ({result.protocol}, {result.users_evaluated:,} test users, top 20 against "
          f"{result.items:,} products): {t_eval:.1f} s wall, {c_eval:.1f} s CPU (all threads) for {len(names)} "
          "models (target <= 60 s)")
    cols = ["recall@20", "ndcg@20", "hit_rate@20", "coverage@20", "fit_seconds", "recommend_seconds"]
    print(result.metrics[cols].round(4).to_string())
    for name, why in result.skipped.items():
        print(f"  skipped {name}: {why}")
    for note in result.notes:
        print(f"  note: {note}")

    print(f"\nall {it.n_users:,} users, top 20 (model fitted on all data):")
    print(f"{'model':<12} {'fit s':>7} {'top-20 s':>9} {'top-20 CPU s':>13}")
    users = np.arange(it.n_users)
    for name in names:
        model = make_model(name)
        t = time.perf_counter()
        model.fit(it)
        t_fit = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        items, _ = model.recommend(users, 20)
        t_rec, c_rec = time.perf_counter() - t, time.process_time() - c
        print(f"{name:<12} {t_fit:>7.1f} {t_rec:>9.1f} {c_rec:>13.1f}   (target <= 10 s)", flush=True)
        del items
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

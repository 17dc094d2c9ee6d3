"""Benchmark: k sweep, segmentation, UMAP and t-SNE maps on realistic per-user feature tables.

Usage::

    python bench/bench_segmentation.py [--sizes 50000 500000] [--skip-tsne] [--skip-umap]

Data: a 1M-event log from ``sample_data/generate.py`` (cached in ``bench/out/``)
is imported into a temporary Workspace and turned into its real feature table
(about 15k users). Larger tables are drawn from its rows with replacement and
every numeric value is multiplied by lognormal noise (sigma 0.05), so sizes and
distributions stay those of the generator's five customer types while no two
users are identical. Clustering uses 15 numeric features (the default set
plus the other counts and purchase timings).

Each measurement runs in a fresh process, so peak RSS is its own and "cold"
really means a new interpreter:

- k sweep 2..12 (inertia, Calinski-Harabasz, Davies-Bouldin on every user,
  silhouette on a 4,000-user sample) on 50k and 500k users; target <= 15 s at 500k;
- K-means k=5 with profiles, names and stability, and Ward on a sample, at 500k;
- UMAP of 50k users: first process with an empty numba cache, a new process
  with the disk cache filled ("cold start"), and a second call in the same
  process ("warm"); target <= 20 s warm and no tens of seconds of compilation;
- t-SNE of 20k users: openTSNE as used by ``analytics.segments.maps``, scikit-learn's
  default TSNE, and a tuned scikit-learn TSNE, with trustworthiness (k=10) on a
  3,000-point seeded subsample; target: >= 2x faster than scikit-learn default. Then ours
  again with 50% and 80% of the users exact copies of 300 others (``--tsne-copies``), as
  users with one visit are in real logs.

Figures are printed, never asserted.
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
OUT = ROOT / "bench" / "out"
BASE = OUT / "segmentation_base_features.parquet"
LOG_EVENTS = 1_000_000

PRELUDE = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
from analytics import segments as seg
def table(n):
    base = pd.read_parquet(sys.argv[1])
    rng = np.random.default_rng(n)
    df = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
    num = [c for c in df.columns if c != "user_id" and pd.api.types.is_numeric_dtype(df[c])]
    df[num] = df[num].astype(float) * rng.lognormal(0.0, 0.05, (n, len(num)))
    df["user_id"] = [f"b{i:07d}" for i in range(n)]
    return df
COLUMNS = json.loads(sys.argv[2])
def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def emit(**kw):
    print(json.dumps({**kw, "peak_rss_mb": rss()}))
"""

SWEEP = PRELUDE + """
n = int(sys.argv[3])
df = table(n)
t0 = time.perf_counter()
prep = seg.prepare(df, COLUMNS)
t1 = time.perf_counter()
sweep = seg.k_sweep(prep, random_state=0)
t2 = time.perf_counter()
emit(users=n, features=len(prep.columns), prepare_s=t1 - t0, sweep_s=t2 - t1, k=sweep.recommended_k,
     silhouette_sample=sweep.silhouette_sample_size, fit_sample=sweep.fit_sample_size, reason=sweep.reason)
"""

SEGMENT = PRELUDE + """
n = int(sys.argv[3])
df = table(n)
t0 = time.perf_counter()
r = seg.segment(df, 5, columns=COLUMNS, random_state=0, stability_resamples=10)
t1 = time.perf_counter()
h = seg.segment(df, 5, method="hierarchical", columns=COLUMNS, random_state=0, stability_resamples=10)
t2 = time.perf_counter()
emit(users=n, kmeans_s=t1 - t0, hierarchical_s=t2 - t1, kmeans_stability=r.stability,
     hierarchical_stability=h.stability, names=r.names)
"""

UMAP = PRELUDE + """
t0 = time.perf_counter()
from analytics import segments as emb
emb.load_umap(sys.argv[4])
t1 = time.perf_counter()
n = int(sys.argv[3])
X = seg.prepare(table(n), COLUMNS).X
t2 = time.perf_counter()
e = emb.embed(X, "umap", random_state=0)
t3 = time.perf_counter()
e2 = emb.embed(X, "umap", random_state=0)
t4 = time.perf_counter()
from sklearn.manifold import trustworthiness
s = np.random.default_rng(0).choice(len(e.indices), 3000, replace=False)
tw = trustworthiness(X[e.indices][s], e.coords[s], n_neighbors=10)
emit(users=n, import_s=t1 - t0, first_s=t3 - t2, second_s=t4 - t3, trustworthiness=tw,
     same=bool(np.allclose(e.coords, e2.coords)))
"""

WARMUP = PRELUDE + """
t0 = time.perf_counter()
from analytics import segments as emb
w = emb.warm_up(cache_dir=sys.argv[4])
t1 = time.perf_counter()
n = int(sys.argv[3])
X = seg.prepare(table(n), COLUMNS).X
t2 = time.perf_counter()
e = emb.embed(X, "umap", random_state=0)
t3 = time.perf_counter()
emit(users=n, warm_up_s=t1 - t0, first_after_warm_up_s=t3 - t2)
"""

TSNE = PRELUDE + """
n = int(sys.argv[3])
which = sys.argv[4]
X = seg.prepare(table(n), COLUMNS).X.astype(np.float32)
copies = int(float(sys.argv[5]) * n)  # real logs: many users with the same features (one visit, one page)
if copies:
    X[n - copies:] = X[np.random.default_rng(1).integers(0, 300, copies)]
t0 = time.perf_counter()
if which == "openTSNE (ours)":
    from analytics import segments as emb
    Y = emb.embed(X, "tsne", random_state=0).coords
elif which == "sklearn default":
    from sklearn.manifold import TSNE
    Y = TSNE(random_state=0).fit_transform(X)
else:
    from sklearn.manifold import TSNE
    Y = TSNE(random_state=0, angle=0.8, max_iter=500, n_jobs=2).fit_transform(X)
t1 = time.perf_counter()
from sklearn.manifold import trustworthiness
s = np.random.default_rng(0).choice(n, 3000, replace=False)
emit(users=n, method=which, seconds=t1 - t0, trustworthiness=trustworthiness(X[s], Y[s], n_neighbors=10))
"""


def base_features() -> Path:
    """The generator's log (1M events) through a temporary Workspace: the real feature table."""
    if BASE.exists():
        return BASE
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"events_{LOG_EVENTS}.csv"
    if not log.exists():
        subprocess.run([sys.executable, str(ROOT / "sample_data" / "generate.py"), "--events", str(LOG_EVENTS),
                        "-o", str(log)], check=True)
    code = ("import sys\nfrom analytics.workspace import Workspace\nws = Workspace(sys.argv[2])\n"
            "ds = ws.import_file(sys.argv[1])\nws.features(ds.id).to_parquet(sys.argv[3])\n")
    with tempfile.TemporaryDirectory(prefix="marketlens-bench-") as ws:
        subprocess.run([sys.executable, "-c", code, str(log), ws, str(BASE)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return BASE


def columns(base: Path) -> list[str]:
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from analytics import segments as seg

    df = pd.read_parquet(base)
    chosen = seg.choose_features(df, [c for c in seg.numeric_candidates(df) if c != "n_purchase"]).columns
    default = [c for c in seg.DEFAULT_FEATURES if c in chosen]
    return (default + [c for c in chosen if c not in default])[:15]


def run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NUMBA_CACHE_DIR", None)
    # cwd: "python -c" puts the working folder first on sys.path, ahead of PYTHONPATH.
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 500_000])
    parser.add_argument("--umap-users", type=int, default=50_000)
    parser.add_argument("--tsne-users", type=int, default=20_000)
    parser.add_argument("--tsne-copies", type=float, nargs="*", default=[0.5, 0.8],
                        help="also time t-SNE with these shares of users identical to others")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--skip-tsne", action="store_true")
    args = parser.parse_args()
    base = base_features()
    cols = columns(base)
    common = [str(base), json.dumps(cols)]
    print(f"{os.cpu_count()} cores; base table {base.name}; {len(cols)} features: {', '.join(cols)}\n")

    if not args.skip_sweep:
        sweep_and_segment(common, args.sizes)
    if not args.skip_umap:
        umap_figures(common, args.umap_users)
    if not args.skip_tsne:
        tsne_figures(common, args.tsne_users, args.tsne_copies)


def sweep_and_segment(common: list[str], sizes: list[int]) -> None:
    print(f"{'users':>9} | {'prepare s':>9} {'sweep s':>8} {'peak MB':>8} | k  (silhouette sample, fit sample)")
    for n in sizes:
        r = run(SWEEP, *common, str(n))
        print(f"{n:>9,} | {r['prepare_s']:>9.2f} {r['sweep_s']:>8.2f} {r['peak_rss_mb']:>8.0f} | "
              f"{r['k']}  ({r['silhouette_sample']:,}, {r['fit_sample']:,})", flush=True)
    print(f"    reason at {sizes[-1]:,}: {r['reason']}\n")

    n = max(sizes)
    r = run(SEGMENT, *common, str(n))
    print(f"segment k=5 on {n:,} users (profiles, names, 10 stability resamples): K-means {r['kmeans_s']:.1f} s "
          f"(stability {r['kmeans_stability']:.2f}), Ward on 5,000 + assign {r['hierarchical_s']:.1f} s "
          f"(stability {r['hierarchical_stability']:.2f}); peak {r['peak_rss_mb']:.0f} MB")
    print(f"    names: {', '.join(r['names'])}\n", flush=True)


def umap_figures(common: list[str], m: int) -> None:
    cache = Path(tempfile.mkdtemp(prefix="marketlens-numba-"))
    try:
        first = run(UMAP, *common, str(m), str(cache))
        again = run(UMAP, *common, str(m), str(cache))
        shutil.rmtree(cache)
        warm = run(WARMUP, *common, str(m), str(cache))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"UMAP of {m:,} users (seeded, exact neighbours, PCA init):")
    print(f"    new process, empty numba cache: import {first['import_s']:.1f} s, first map "
          f"{first['first_s']:.1f} s, second map {first['second_s']:.1f} s; peak {first['peak_rss_mb']:.0f} MB")
    print(f"    new process, disk cache filled: import {again['import_s']:.1f} s, first map "
          f"{again['first_s']:.1f} s, second map (warm) {again['second_s']:.1f} s; "
          f"trustworthiness {again['trustworthiness']:.3f}; same map twice: {again['same']}")
    print(f"    warm_up() with an empty cache: {warm['warm_up_s']:.1f} s, then first map "
          f"{warm['first_after_warm_up_s']:.1f} s\n", flush=True)


def tsne_figures(common: list[str], m: int, copies: list[float]) -> None:
    print(f"t-SNE of {m:,} users:")
    results = {}
    for which in ("openTSNE (ours)", "sklearn tuned", "sklearn default"):
        r = run(TSNE, *common, str(m), which, "0")
        results[which] = r
        print(f"    {which:<16} {r['seconds']:>7.1f} s  trustworthiness {r['trustworthiness']:.3f}  "
              f"peak {r['peak_rss_mb']:.0f} MB", flush=True)
    ratio = results["sklearn default"]["seconds"] / results["openTSNE (ours)"]["seconds"]
    print(f"    speed-up of ours over sklearn default: {ratio:.1f}x")
    for share in copies:
        r = run(TSNE, *common, str(m), "openTSNE (ours)", str(share))
        print(f"    ours with {share:.0%} of the users copies of 300 others: {r['seconds']:.1f} s  "
              f"trustworthiness {r['trustworthiness']:.3f}", flush=True)


if __name__ == "__main__":
    main()

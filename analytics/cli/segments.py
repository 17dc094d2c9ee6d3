"""Commands on segments: ``segment`` (K-means or Ward), ``embed`` (t-SNE, UMAP, PCA maps) and ``warm-up``."""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics.cli.common import (
    import_log,
    mapping_args,
    report,
    scratch_workspace,
    table_path,
    whole_number,
    write_frame,
)

# Columns that mark a file as a feature table written by `features` (not a log).
FEATURE_MARKERS = {"recency_days", "frequency", "monetary", "n_events", "n_sessions"}


def register(sub) -> None:
    p = sub.add_parser("segment", help="segment users (K-means or hierarchical) and write user_id -> segment")
    p.add_argument("source", help="a behaviour log, or a feature table (CSV/Parquet with user_id) from `features`")
    p.add_argument("--k", default="auto", help="number of segments, or auto (default) to choose it from a sweep")
    p.add_argument("--method", choices=["kmeans", "hierarchical"], default="kmeans")
    p.add_argument("--features", help="comma-separated feature columns to cluster on (default: RFM and behaviour); "
                                      "with --space sequence, the columns that describe the segments")
    p.add_argument("--space", choices=["features", "sequence"], default="features",
                   help="what to cluster: the aggregate features (default) or behaviour-sequence embeddings learned "
                        "by a recurrent network from the order of each user's events (needs a log and PyTorch: "
                        "pip install -r requirements-deep.txt)")
    p.add_argument("-o", "--output", type=table_path, required=True,
                   help="OUT.csv or OUT.parquet: user_id, segment, segment_id")
    mapping_args(p)
    p.add_argument("--json", action="store_true", help="print k and why, silhouette, sizes, names, stability")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("embed", help="place users on a 2-D map (t-SNE, UMAP or PCA) and write the coordinates")
    p.add_argument("source", help="a behaviour log, or a feature table (CSV/Parquet with user_id)")
    p.add_argument("--method", choices=["tsne", "umap", "pca"], default="umap")
    p.add_argument("--max-points", type=int, help="sample cap (default: 20k t-SNE, 50k UMAP, 200k PCA)")
    p.add_argument("-o", "--output", type=table_path, required=True, help="OUT.csv or OUT.parquet: user_id, x, y")
    mapping_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("warm-up", help="compile UMAP's code into the disk cache now, so no map waits for it "
                                       "(make run does this)")
    p.add_argument("--cache-dir", type=Path, help="numba cache folder (default: NUMBA_CACHE_DIR or "
                                                  "<workspace>/cache/numba, where the app looks)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_warm_up)


def feature_table(args: argparse.Namespace, with_profiles: bool = False):
    """The per-user table to segment or map: read as given, or computed from a log.

    ``with_profiles``: also learn the users' behaviour-sequence profiles from the log
    (returns ``(features, profiles)``); a feature table alone has no sequences.
    """
    import pandas as pd

    from analytics.errors import InvalidParameterError

    path = Path(args.source)
    if path.is_file():
        try:
            head = (pd.read_parquet(path) if path.suffix.lower() == ".parquet"
                    else pd.read_csv(path, nrows=5 if path.stat().st_size > 50_000_000 else None))
        except Exception:  # noqa: BLE001 - not a table pandas reads directly: treat it as a log
            head = None
        if head is not None and "user_id" in head.columns and FEATURE_MARKERS & set(head.columns):
            if with_profiles:
                raise InvalidParameterError(f"{path.name} is a feature table: sequence embeddings are learned from "
                                            "the order of the events, so give the behaviour log instead.")
            return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    args.log = path
    if with_profiles:
        from analytics.sequences.profiles import dataset_profiles

        with scratch_workspace() as ws:
            ds = import_log(ws, args, features=True)
            features = ws.features(ds.id)
            return features, dataset_profiles(ws, ds.id, features["user_id"].astype(str).to_numpy())
    with scratch_workspace() as ws:
        ds = import_log(ws, args, features=True)
        return ws.features(ds.id)


def cmd_segment(args: argparse.Namespace) -> int:
    from analytics import segments

    k = args.k if args.k == "auto" else whole_number(args.k, "--k")
    columns = [c.strip() for c in args.features.split(",")] if args.features else None
    profiles = None
    if args.space == "sequence":
        from analytics.sequences import require_torch

        require_torch()  # say how to install it before reading the log
        features, profiles = feature_table(args, with_profiles=True)
        result = segments.segment(features, k, method=args.method, columns=columns, space="sequence",
                                  matrix=profiles.aligned(features["user_id"]))
    else:
        result = segments.segment(feature_table(args), k, method=args.method, columns=columns)
    out = result.assignments.rename(columns={"segment": "segment_id", "segment_name": "segment"})
    write_frame(out[["user_id", "segment", "segment_id"]], args.output)
    brief = result.brief() | {"output": str(args.output)}
    if profiles is not None:
        brief["sequence_profiles"] = profiles.meta()
    sizes = ", ".join(f"{r['name']} {r['share']:.0%}" for r in brief["segments"])
    report(args, brief, f"{result.k} segments ({brief['k_reason']}): {sizes}; wrote {args.output}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from analytics import segments

    features = feature_table(args)
    choice = segments.choose_features(features)
    emb = segments.embed(features, args.method, columns=choice.columns, max_points=args.max_points)
    frame = emb.frame(user_ids=features["user_id"].to_numpy())[["user_id", "x", "y"]]
    write_frame(frame, args.output)
    summary = emb.meta() | {"points": len(frame), "output": str(args.output), "features": choice.columns}
    report(args, summary, f"{emb.method} map of {len(frame):,} users in {emb.seconds:.1f} s; wrote {args.output}")
    return 0


def cmd_warm_up(args: argparse.Namespace) -> int:
    from analytics import segments
    from analytics.segments.umap_loader import configure_numba_cache

    folder = configure_numba_cache(args.cache_dir)
    before = _cached_functions(folder)
    seconds = segments.warm_up(cache_dir=folder)
    after = _cached_functions(folder)
    summary = {"seconds": round(seconds, 2), "cache_dir": str(folder), "cached_functions": after,
               "newly_compiled": after - before}
    how = (f"compiled {after - before} functions" if after > before else "loaded from the cache")
    report(args, summary, f"UMAP is ready for maps: {how} in {seconds:.1f} s ({folder})")
    return 0


def _cached_functions(folder: Path) -> int:
    """Functions with compiled code in numba's cache folder (one index file each)."""
    return sum(1 for _ in folder.rglob("*.nbi"))

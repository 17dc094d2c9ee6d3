"""Command line: the same pipeline as the app, for scripts and schedules.

Every command prints one readable line and exits non-zero on bad input
(exit 2 for problems with the input, 3 for anything unexpected); ``--json``
prints a machine-readable summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from analytics.errors import InvalidParameterError, MarketLensError
from analytics.ingest.formats import DATE_ORDERS
from analytics.ingest.roles import mapping_with

EXIT_INPUT, EXIT_BUG = 2, 3


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MarketLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback unless asked
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run again with --debug for details)", file=sys.stderr)
        return EXIT_BUG
    finally:
        from analytics.workspace import close_all

        close_all()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analytics", description="MarketLens without the browser.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("features", help="clean a behaviour log and write its per-user feature table")
    p.add_argument("log", help="CSV/TSV (optionally .gz), Parquet or .xlsx file; with --engine spark also a "
                               "Parquet directory, CSV files or a Hadoop-compatible URI")
    p.add_argument("-o", "--output", type=Path, required=True, help="OUT.csv or OUT.parquet")
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="where the events are cleaned and aggregated (default: duckdb, in this process)")
    p.add_argument("--spark-master", help="Spark master: local[*] (default), spark://host:7077 or sc://host:15002; "
                                          "default from MARKETLENS_SPARK_MASTER")
    _mapping_args(p)
    _feature_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("import", help="import a log into the workspace (MARKETLENS_WORKSPACE)")
    p.add_argument("log")
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.add_argument("--if-new", action="store_true", help="do nothing if a file with the same content is there")
    _mapping_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("train", help="train classifiers for a future behaviour and save the best one")
    p.add_argument("log", help="the behaviour log (as for features)")
    p.add_argument("--target-event", help="predict this event in the horizon (default: the purchase event)")
    p.add_argument("--churn", action="store_true", help="predict churn: no event at all in the horizon")
    p.add_argument("--horizon-days", type=float, default=30, help="days after the cutoff (default 30)")
    p.add_argument("--cutoff", type=_date, help="YYYY-MM-DD (default: the last event minus the horizon)")
    p.add_argument("--models", default="lr,rf,hgb", help="comma-separated: " + ", ".join(_model_keys()))
    p.add_argument("--folds", type=int, default=5, help="stratified cross-validation folds (default 5)")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the saved model (must not exist)")
    _mapping_args(p)
    p.add_argument("--json", action="store_true", help="print per-model metrics and the best model as JSON")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score the users of a log with a saved model")
    p.add_argument("model_dir", type=Path, help="a folder written by `train` (or saved in the app)")
    p.add_argument("log", help="the behaviour log to score")
    p.add_argument("-o", "--output", type=Path, required=True, help="OUT.csv: user_id, score, rank")
    p.add_argument("--as-of", type=_date, help="score as of this date (default: the log's last event)")
    _mapping_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("segment", help="segment users (K-means or hierarchical) and write user_id -> segment")
    p.add_argument("source", help="a behaviour log, or a feature table (CSV/Parquet with user_id) from `features`")
    p.add_argument("--k", default="auto", help="number of segments, or auto (default) to choose it from a sweep")
    p.add_argument("--method", choices=["kmeans", "hierarchical"], default="kmeans")
    p.add_argument("--features", help="comma-separated feature columns to cluster on (default: RFM and behaviour)")
    p.add_argument("-o", "--output", type=Path, required=True, help="OUT.csv: user_id, segment, segment_id")
    _mapping_args(p)
    p.add_argument("--json", action="store_true", help="print k and why, silhouette, sizes, names, stability")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("embed", help="place users on a 2-D map (t-SNE, UMAP or PCA) and write the coordinates")
    p.add_argument("source", help="a behaviour log, or a feature table (CSV/Parquet with user_id)")
    p.add_argument("--method", choices=["tsne", "umap", "pca"], default="umap")
    p.add_argument("--max-points", type=int, help="sample cap (default: 20k t-SNE, 50k UMAP, 200k PCA)")
    p.add_argument("-o", "--output", type=Path, required=True, help="OUT.csv: user_id, x, y")
    _mapping_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("datasets", help="list the datasets in the workspace")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)
    return parser


def _mapping_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("column roles (guessed when not given)")
    g.add_argument("--user-col", help="column with the user id")
    g.add_argument("--time-col", help="column with the event time")
    g.add_argument("--event-col", help="column with the event name")
    g.add_argument("--no-event-col", action="store_true",
                   help="the file has no event column: every row is --event-name")
    g.add_argument("--event-name", default="purchase", help="event of every row without an event column")
    g.add_argument("--amount-col", help="column with the amount (money)")
    g.add_argument("--no-amount-col", action="store_true", help="do not use any column as the amount")
    g.add_argument("--session-col", help="column with a session id")
    g.add_argument("--date-order", choices=DATE_ORDERS, default="auto",
                   help="day-first (dmy) or month-first (mdy) dates; auto decides from the data")
    g.add_argument("--skip-bad-rows", action="store_true",
                   help="import even if some rows have the wrong number of fields (they are reported)")


def _feature_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("features")
    g.add_argument("--purchase-event", help="event that counts as a purchase (default: guessed)")
    g.add_argument("--as-of", type=_date, help="reference date YYYY-MM-DD (default: the last event)")
    g.add_argument("--top-events", type=int, default=10, help="count columns for this many event types")


def _date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from exc


def _role_changes(args: argparse.Namespace) -> dict:
    """The role flags as overrides of the guessed mapping."""
    changes = {role: getattr(args, flag) for role, flag in
               (("user_id", "user_col"), ("timestamp", "time_col"), ("event", "event_col"),
                ("amount", "amount_col"), ("session_id", "session_col")) if getattr(args, flag)}
    if args.no_event_col:
        changes["event"] = None
    if args.no_amount_col:
        changes["amount"] = None
    return changes | {"event_name": args.event_name, "date_order": args.date_order}


def _import(ws, args: argparse.Namespace, features: bool, name: str | None = None):
    """Stage, apply the role flags to the guess, import: shared by ``features`` and ``import``."""
    staged = ws.stage_path(args.log)
    try:
        insp = ws.inspect(staged)
        mapping = mapping_with(insp.source.columns, insp.guess.mapping, **_role_changes(args))
        return ws.import_staged(staged, mapping, name=name, allow_bad_rows=args.skip_bad_rows,
                                features=features, inspection=insp)
    finally:
        ws.discard(staged)


def cmd_features(args: argparse.Namespace) -> int:
    from analytics.exports import write_table
    from analytics.sql import quote_ident
    from analytics.workspace import Workspace

    if args.output.suffix.lower() not in (".csv", ".parquet"):
        raise InvalidParameterError(f"The output must end in .csv or .parquet, got '{args.output.name}'.")
    overrides = {"top_events": args.top_events, "as_of": args.as_of}
    if args.purchase_event:
        overrides["purchase_event"] = args.purchase_event
    with tempfile.TemporaryDirectory(prefix="marketlens-cli-") as tmp:
        ws = Workspace(tmp)
        if args.engine == "spark":
            ds = ws.connect(args.log, engine="spark", master=args.spark_master, changes=_role_changes(args),
                            feature_overrides=overrides)
        else:
            args.log = Path(args.log)
            ds = _import(ws, args, features=False)
        params = ws.feature_params(ds.id, **overrides)
        table = ws.features_table(ds.id, params)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        cur = ws.cursor()
        write_table(cur, quote_ident(table), args.output)
        n_users, n_cols = cur.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0], len(
            cur.execute(f"DESCRIBE {quote_ident(table)}").fetchall())
        summary = _summary(ds) | {"engine": args.engine, "purchase_event": params.purchase_event,
                                  "output": str(args.output),
                                  "feature_users": int(n_users), "feature_columns": n_cols,
                                  "as_of": ws.feature_meta(ds.id, params)["as_of"]}
    _report(args, summary, f"wrote {n_users:,} users x {n_cols} columns to {args.output} "
                           f"({summary['rows_kept']:,} of {summary['rows_read']:,} rows kept)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from analytics.workspace import Workspace, content_hash_file

    ws = Workspace()
    args.log = Path(args.log)
    if args.if_new and args.log.is_file():
        existing = ws.find_by_content(content_hash_file(args.log))
        if existing:
            _report(args, _summary(existing) | {"skipped": True},
                    f"'{existing.name}' already holds this file; nothing imported")
            return 0
    ds = _import(ws, args, features=True, name=args.name)
    _report(args, _summary(ds), f"imported '{ds.name}': {ds.rows:,} events of {ds.users:,} users")
    return 0


def _model_keys() -> list[str]:
    from analytics.models import MODELS

    return list(MODELS)


def cmd_train(args: argparse.Namespace) -> int:
    from analytics import labels, models
    from analytics.workspace import Workspace

    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    if args.output.exists():
        raise InvalidParameterError(f"'{args.output}' already exists; give a new folder for the model.")
    with tempfile.TemporaryDirectory(prefix="marketlens-cli-") as tmp:
        ws = Workspace(tmp)
        args.log = Path(args.log)
        ds = _import(ws, args, features=False)
        target = labels.TargetDefinition(kind="churn" if args.churn else "event", target_event=args.target_event,
                                         horizon_days=args.horizon_days, cutoff=args.cutoff)
        training = labels.build_training_set(ws, ds.id, target, n_folds=args.folds)
        report = models.train_models(training, keys, n_folds=args.folds)
        best = report.best
        if best is None:
            raise InvalidParameterError("No model could be evaluated on this target: "
                                        + "; ".join(r.error or "; ".join(r.notes) for r in report.results))
        trained = models.fit_model(training, best.key, cv_result=best)
        models.save_model(trained, args.output)
    summary = report.to_dict() | {"model_dir": str(args.output), "saved_model": best.key,
                                  "warnings": training.warnings}
    _report(args, summary, f"best: {best.label} of {len(report.results)} model(s) on {training.n_users:,} users "
                           f"({training.positives:,} positive); saved to {args.output}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from analytics import models
    from analytics.workspace import Workspace

    model = models.load_model(args.model_dir)
    with tempfile.TemporaryDirectory(prefix="marketlens-cli-") as tmp:
        ws = Workspace(tmp)
        args.log = Path(args.log)
        ds = _import(ws, args, features=False)
        feats = ws.features(ds.id, ws.feature_params(ds.id, **model.feature_overrides(), as_of=args.as_of))
        scored = models.target_list(models.score(model, feats))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(models.target_list_csv(scored))
    summary = {"model_dir": str(args.model_dir), "model": model.name, "users": len(scored),
               "output": str(args.output), "mean_score": float(scored["score"].mean()) if len(scored) else None}
    _report(args, summary, f"scored {len(scored):,} users with {model.name}; wrote {args.output}")
    return 0


FEATURE_MARKERS = {"recency_days", "frequency", "monetary", "n_events", "n_sessions"}


def _feature_table(args: argparse.Namespace, tmp: str):
    """The per-user table to segment or map: read as given, or computed from a log."""
    import pandas as pd

    from analytics.workspace import Workspace

    path = Path(args.source)
    if path.is_file():
        try:
            head = (pd.read_parquet(path) if path.suffix.lower() == ".parquet"
                    else pd.read_csv(path, nrows=5 if path.stat().st_size > 50_000_000 else None))
        except Exception:  # noqa: BLE001 - not a table pandas reads directly: treat it as a log
            head = None
        if head is not None and "user_id" in head.columns and FEATURE_MARKERS & set(head.columns):
            return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    args.log = path
    ws = Workspace(tmp)
    ds = _import(ws, args, features=True)
    return ws.features(ds.id)


def cmd_segment(args: argparse.Namespace) -> int:
    from analytics import segmentation
    from analytics.exports import frame_bytes

    k = args.k if args.k == "auto" else _int(args.k, "--k")
    columns = [c.strip() for c in args.features.split(",")] if args.features else None
    with tempfile.TemporaryDirectory(prefix="marketlens-cli-") as tmp:
        features = _feature_table(args, tmp)
        result = segmentation.segment(features, k, method=args.method, columns=columns)
    out = result.assignments.rename(columns={"segment": "segment_id", "segment_name": "segment"})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(frame_bytes(out[["user_id", "segment", "segment_id"]], "csv"))
    brief = result.brief() | {"output": str(args.output)}
    sizes = ", ".join(f"{r['name']} {r['share']:.0%}" for r in brief["segments"])
    _report(args, brief, f"{result.k} segments ({brief['k_reason']}): {sizes}; wrote {args.output}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from analytics import embedding, segmentation
    from analytics.exports import frame_bytes

    with tempfile.TemporaryDirectory(prefix="marketlens-cli-") as tmp:
        features = _feature_table(args, tmp)
        choice = segmentation.choose_features(features)
        emb = embedding.embed(features, args.method, columns=choice.columns, max_points=args.max_points)
    frame = emb.frame(user_ids=features["user_id"].to_numpy())[["user_id", "x", "y"]]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(frame_bytes(frame, "csv"))
    summary = emb.meta() | {"points": len(frame), "output": str(args.output), "features": choice.columns}
    _report(args, summary, f"{emb.method} map of {len(frame):,} users in {emb.seconds:.1f} s; wrote {args.output}")
    return 0


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise InvalidParameterError(f"{flag} must be a whole number or 'auto', got {text!r}.") from exc


def cmd_datasets(args: argparse.Namespace) -> int:
    from analytics.workspace import Workspace

    rows = [d.summary() for d in Workspace().datasets()]
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
    else:
        for r in rows:
            print(f"{r['id']}  {r['name']}  {r['rows']:,} rows  {r['users']:,} users  {r['from']} .. {r['to']}")
    return 0


def _summary(ds) -> dict:
    r = ds.report
    return {"dataset": ds.id, "name": ds.name, "rows_read": r.rows_read, "rows_kept": r.rows_kept,
            "users": r.users, "duplicates_removed": r.duplicates_removed, "rejected_rows": r.rejected_rows,
            "dropped": r.dropped, "coerced": r.coerced, "roles": {k: v for k, v in ds.mapping.roles().items()},
            "event_name_if_no_event_column": ds.mapping.event_name if ds.mapping.event is None else None,
            "attributes": ds.mapping.attributes, "ts_min": r.ts_min, "ts_max": r.ts_max, "notes": r.notes}


def _report(args: argparse.Namespace, summary: dict, line: str) -> None:
    if args.json:
        print(json.dumps(summary, default=str, indent=2))
    else:
        print(line)


"""Commands on logs and the workspace: ``features``, ``import``, ``datasets``."""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics.cli.common import (
    dataset_summary,
    encoding_arg,
    feature_args,
    import_log,
    mapping_args,
    report,
    role_changes,
    scratch_workspace,
    table_path,
)


def register(sub) -> None:
    p = sub.add_parser("features", help="clean a behaviour log and write its per-user feature table")
    p.add_argument("log", help="CSV/TSV or JSON lines (optionally .gz), Parquet or .xlsx file; with --engine spark "
                               "also a Parquet directory, CSV files or a Hadoop-compatible URI")
    p.add_argument("-o", "--output", type=table_path, required=True, help="OUT.csv or OUT.parquet")
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="where the events are cleaned and aggregated (default: duckdb, in this process)")
    p.add_argument("--spark-master", help="Spark master: local[*] (default), spark://host:7077 or sc://host:15002; "
                                          "default from MARKETLENS_SPARK_MASTER")
    mapping_args(p)
    feature_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("import", help="import a log into the workspace (MARKETLENS_WORKSPACE)")
    p.add_argument("log")
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.add_argument("--if-new", action="store_true", help="do nothing if a file with the same content is there")
    mapping_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("datasets", help="list the datasets in the workspace")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)


def cmd_features(args: argparse.Namespace) -> int:
    from analytics.exports import write_table
    from analytics.sql import quote_ident

    overrides = {"top_events": args.top_events, "as_of": args.as_of}
    if args.purchase_event:
        overrides["purchase_event"] = args.purchase_event
    with scratch_workspace() as ws:
        if args.engine == "spark":
            ds = ws.connect(args.log, engine="spark", master=args.spark_master, changes=role_changes(args),
                            feature_overrides=overrides, encoding=encoding_arg(args))
        else:
            ds = import_log(ws, args, features=False)
        params = ws.feature_params(ds.id, **overrides)
        table = ws.features_table(ds.id, params)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        cur = ws.cursor()
        write_table(cur, quote_ident(table), args.output)
        n_users = cur.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
        n_cols = len(cur.execute(f"DESCRIBE {quote_ident(table)}").fetchall())
        summary = dataset_summary(ds) | {"engine": args.engine, "purchase_event": params.purchase_event,
                                         "output": str(args.output), "feature_users": int(n_users),
                                         "feature_columns": n_cols, "as_of": ws.feature_meta(ds.id, params)["as_of"]}
    report(args, summary, f"wrote {n_users:,} users x {n_cols} columns to {args.output} "
                          f"({summary['rows_kept']:,} of {summary['rows_read']:,} rows kept)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from analytics.workspace import Workspace, content_hash_file

    ws = Workspace()
    log = Path(args.log)
    if args.if_new and log.is_file():
        existing = ws.find_by_content(content_hash_file(log))
        if existing:
            report(args, dataset_summary(existing) | {"skipped": True},
                   f"'{existing.name}' already holds this file; nothing imported")
            return 0
    ds = import_log(ws, args, features=True, name=args.name, keep_original=True)
    report(args, dataset_summary(ds), f"imported '{ds.name}': {ds.rows:,} events of {ds.users:,} users")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from analytics.workspace import Workspace

    rows = [d.summary() for d in Workspace().datasets()]
    if args.json:
        report(args, rows, "")
    else:
        for r in rows:
            print(f"{r['id']}  {r['name']}  {r['rows']:,} rows  {r['users']:,} users  {r['from']} .. {r['to']}")
    return 0

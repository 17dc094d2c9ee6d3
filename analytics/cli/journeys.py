"""Commands on journeys: ``funnel`` (users through ordered steps) and ``retention`` (cohort matrix).

Both read a log file (imported into a scratch workspace) or, with ``--dataset``,
a dataset already in the workspace, and compute through
:mod:`analytics.journeys.stored` like the Journeys page, so the numbers are the
page's. ``--json`` prints the result's ``to_dict()``; ``-o FILE.csv`` writes the
table (formula-safe).
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from analytics.cli.common import log_or_dataset, mapping_args, source_args, table_path, write_frame


def register(sub) -> None:
    p = sub.add_parser("funnel", help="users through ordered steps within a conversion window, and where they drop off")
    source_args(p)
    p.add_argument("--steps", required=True, help="2 to 10 event names in funnel order, comma-separated")
    p.add_argument("--window-days", type=float, default=7.0,
                   help="conversion window from each user's first step-1 event (more than 0, at most 366; default 7)")
    p.add_argument("--by", metavar="ATTR", help="break down by this attribute (its value on the step-1 event)")
    p.add_argument("--exclude", metavar="EVENT", help="without doing this event between the steps")
    p.add_argument("--any-order", action="store_true", help="steps 2 onwards may happen in any order")
    p.add_argument("-o", "--output", type=table_path,
                   help="OUT.csv or OUT.parquet: one row per step (and per breakdown group)")
    mapping_args(p)
    p.add_argument("--json", action="store_true", help="print the funnel as JSON (steps, breakdown, settings)")
    p.set_defaults(func=cmd_funnel)

    p = sub.add_parser("retention", help="weekly or monthly cohorts and how many of them come back")
    source_args(p)
    p.add_argument("--period", choices=["week", "month"], default="week", help="cohort period (UTC; weeks from Monday)")
    p.add_argument("--start-event", metavar="EVENT", help="cohort by each user's first EVENT (default: first event)")
    p.add_argument("--event", metavar="EVENT", help="coming back means doing EVENT (default: any event)")
    p.add_argument("--by", metavar="ATTR", help="break down by this attribute (its value on the starting event)")
    p.add_argument("-o", "--output", type=table_path,
                   help="OUT.csv or OUT.parquet: the cohort matrix (users per period offset)")
    mapping_args(p)
    p.add_argument("--json", action="store_true",
                   help="print cohort start dates, sizes and users retained per period offset as JSON")
    p.set_defaults(func=cmd_retention)


def cmd_funnel(args: argparse.Namespace) -> int:
    from analytics.journeys import stored
    from analytics.journeys.settings import Breakdown, FunnelSettings

    settings = FunnelSettings(tuple(s.strip() for s in args.steps.split(",")), args.window_days, args.exclude,
                              args.any_order, Breakdown("attribute", args.by) if args.by else None)
    with log_or_dataset(args) as (ws, ds):
        result = stored.compute(ws, ds.id, settings, store=False).result
    if args.output:
        table = result.table()
        if result.groups:
            table = pd.concat([table.assign(group="(all users)"), result.breakdown_table()], ignore_index=True)
            table = table[["group"] + [c for c in table.columns if c != "group"]]
        write_frame(table, args.output)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(_funnel_summary(result))
        if args.output:
            print(f"wrote {args.output}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from analytics.journeys import stored
    from analytics.journeys.settings import Breakdown, RetentionSettings

    settings = RetentionSettings(args.period, args.start_event, args.event,
                                 Breakdown("attribute", args.by) if args.by else None)
    with log_or_dataset(args) as (ws, ds):
        result = stored.compute(ws, ds.id, settings, store=False).result
    if args.output:
        table = result.table(rates=False)
        write_frame(table.assign(cohort=table["cohort"].dt.date), args.output)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(_retention_summary(result))
        if args.output:
            print(f"wrote {args.output}")
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _funnel_summary(result) -> str:
    order = "in any order" if result.any_order else "in order"
    head = f"Funnel {' > '.join(result.events)}, {order} within {result.window_days:g} days"
    if result.exclude:
        head += f", without {result.exclude} in between"
    lines = [f"{head}: {result.users:,} users entering, {result.steps[-1].users:,} completed "
             f"({result.steps[-1].conversion_from_start:.1%})"]
    width = max(len(e) for e in result.events)
    for s in result.steps:
        line = f"  {s.step:>2}. {s.event:<{width}}  {s.users:>9,}  {s.conversion_from_start:>6.1%} of start"
        if s.step > 1:
            line += (f"  {s.conversion_from_previous:>6.1%} of previous  -{s.drop_off:,}"
                     f"  median {_duration(s.median_seconds_from_previous)}")
        lines.append(line)
    if result.groups:
        lines.append(f"  by {result.by}:")
        for g in result.groups:
            last = g.steps[-1]
            lines.append(f"    {g.value}: {g.users:,} -> {last.users:,} ({last.conversion_from_start:.1%})")
    return "\n".join(lines)


def _retention_summary(result) -> str:
    m = result.matrix
    start = "first event" if result.cohort_event is None else f"first {result.cohort_event}"
    back = "any event" if result.return_event is None else result.return_event
    lines = [f"Retention by {result.period}: cohort = {result.period} of the {start}, retained = {back}; "
             f"{m.users:,} users in {len(m.sizes)} cohorts"
             + (f" (the last {result.period} is partial)" if result.last_period_partial else "")]
    width = max((len(r) for r in m.counts), default=0)
    lines.append("  cohort        users  " + " ".join(f"{p:>5}" for p in range(width)))
    for start_date, size, rates in zip(m.cohort_starts, m.sizes, m.rates):
        lines.append(f"  {start_date}  {size:>7,}  " + " ".join(f"{r:>5.0%}" for r in rates))
    lines.append("  average     " + " " * 9 + " ".join(f"{a:>5.0%}" for a in m.average))
    if result.groups:
        lines.append(f"  by {result.by} (average at offsets 1, 2, 3): "
                     + "; ".join(f"{g.value} " + " ".join(f"{a:.0%}" for a in g.matrix.average[1:4])
                                 for g in result.groups))
    return "\n".join(lines)

"""Commands on channels: ``attribution`` (credit for conversions per channel, campaign, ... under five models)."""

from __future__ import annotations

import argparse

from analytics.cli.common import log_or_dataset, mapping_args, report, source_args, table_path, write_frame


def register(sub) -> None:
    p = sub.add_parser("attribution", help="credit for conversions per channel (or campaign, ...) under first "
                                           "touch, last touch, linear, time decay and data-driven (Markov) models")
    source_args(p)
    p.add_argument("--conversion", help="the conversion event (default: the purchase event guessed from the log)")
    p.add_argument("--by", default="channel", help="touch column: channel (default), campaign or any attribute")
    p.add_argument("--lookback-days", type=float, default=30.0,
                   help="touches count when at most this long before the conversion (default 30)")
    p.add_argument("--half-life-days", type=float, default=7.0, help="time-decay half-life (default 7)")
    p.add_argument("--touch-events", help="comma-separated events that are touches, e.g. click for click-through "
                                          "attribution (default: every event but the conversion)")
    p.add_argument("--max-touches", type=int, default=50, help="paths keep their last this-many touches (default 50)")
    p.add_argument("--keep-repeats", action="store_true",
                   help="count repeated touches on the same value (default: email, email, search is email, search)")
    p.add_argument("--top-paths", type=int, default=20, help="rows of the path table (default 20)")
    p.add_argument("-o", "--output", type=table_path, help="OUT.csv or OUT.parquet: the credit per touch value "
                                                           "(conversions, share and amount under each model, "
                                                           "removal effect)")
    p.add_argument("--paths-output", type=table_path, help="OUT.csv or OUT.parquet: the top paths")
    mapping_args(p)
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(func=cmd_attribution)


def cmd_attribution(args: argparse.Namespace) -> int:
    from analytics.attribution import AttributionSettings, attribute_dataset, guess_conversion
    from analytics.errors import InvalidParameterError, NoDataError
    events = None
    if args.touch_events is not None:
        events = tuple(e.strip() for e in args.touch_events.split(",") if e.strip())
        if not events:
            raise InvalidParameterError("--touch-events is empty: name at least one event, e.g. --touch-events click.")
    with log_or_dataset(args) as (ws, ds):
        conversion = args.conversion or guess_conversion(ds)
        if conversion is None:
            top = ", ".join(ds.profile.events_by_count[:12])
            raise NoDataError(f"No event looks like a conversion (purchase, order, sign_up, ...); name it with "
                              f"--conversion. The log's events are: {top}.")
        settings = AttributionSettings(conversion=conversion, by=args.by, lookback_days=args.lookback_days,
                                       half_life_days=args.half_life_days, touch_events=events,
                                       max_touches=args.max_touches, collapse_repeats=not args.keep_repeats,
                                       top_paths=args.top_paths)
        result = attribute_dataset(ws, ds.id, settings)
    summary = result.to_dict()
    for out, frame in ((args.output, result.credit_table()), (args.paths_output, result.path_text(" > "))):
        if out is not None:
            write_frame(frame, out)
    summary["outputs"] = {"credits": str(args.output) if args.output else None,
                          "paths": str(args.paths_output) if args.paths_output else None}
    shares = result.shares()
    top = ", ".join(f"{v} {s:.0%}" for v, s in zip(shares[result.by].head(5), shares["markov"].head(5))
                    if s == s)  # NaN: no Markov credit (too many values)
    line = (f"{result.attributed:,} of {result.conversions:,} '{result.conversion}' conversions attributed to "
            f"{len(result.credits):,} {result.by} values" + (f"; data-driven: {top}" if top else ""))
    if args.output:
        line += f"; wrote {args.output}"
    report(args, summary, line)
    for note in result.notes if not args.json else []:
        print(f"note: {note}")
    return 0

"""Command on customer value: ``clv`` (validate the buy-till-you-die models on a holdout, or value every customer)."""

from __future__ import annotations

import argparse

from analytics.cli.common import date_arg, log_or_dataset, mapping_args, report, source_args, table_path, write_frame
from analytics.errors import InvalidParameterError


def register(sub) -> None:
    p = sub.add_parser("clv", help="customer value: check BG/NBD, Pareto/NBD and a challenger on a holdout, or write "
                                   "P(alive), expected purchases and CLV per customer")
    source_args(p)
    p.add_argument("--purchase-event", help="event that counts as a purchase (default: the guessed one; a "
                                            "transaction log without an event column imports as 'purchase')")
    p.add_argument("--calibration-end", type=date_arg,
                   help="YYYY-MM-DD[THH:MM] (UTC; a date is midnight at its start). With --holdout-days: the end of "
                        "the data the models are fitted on (default: the last event minus the holdout); without: "
                        "value customers as of this instant (default: the last event)")
    p.add_argument("--holdout-days", type=float,
                   help="validate: fit up to the calibration end, predict the next N days, print each model's scores")
    p.add_argument("--time-unit", choices=["days", "weeks"], default="days",
                   help="unit of recency, age and the models' time parameters (default: days)")
    p.add_argument("--horizon-days", type=float, default=365, help="expected purchases and CLV over N days (365)")
    p.add_argument("--discount-rate", type=float, default=0.10, help="yearly discount rate of CLV (0.10)")
    p.add_argument("--margin", type=float, default=1.0, help="share of spend that is profit (1 = revenue)")
    p.add_argument("--model", choices=["bgnbd", "paretonbd"], default="bgnbd",
                   help="purchase model of the per-customer predictions (default: bgnbd)")
    p.add_argument("--no-challenger", action="store_true", help="with --holdout-days: skip the gradient-boosting "
                                                                 "challenger")
    p.add_argument("-o", "--output", type=table_path,
                   help="per_user.csv: without --holdout-days user_id, frequency, recency, T, monetary_value, "
                        "p_alive, expected_purchases, expected_spend, clv; with it each customer's actual and "
                        "predicted holdout purchases")
    mapping_args(p)
    p.add_argument("--json", action="store_true", help="print parameters, scores and warnings as JSON")
    p.set_defaults(func=cmd_clv)


def cmd_clv(args: argparse.Namespace) -> int:
    if args.holdout_days is None and args.output is None and not args.json:
        raise InvalidParameterError("Give -o per_user.csv to write each customer's predictions (or --json to print "
                                    "the fit), or --holdout-days N to check the models on the last N days.")
    with log_or_dataset(args) as (ws, ds):
        if not ds.has_events:
            raise InvalidParameterError(f"'{ds.name}' lives in the data lake (Spark); clv needs its events in the "
                                        "workspace. Run clv on the log file instead.")
        event = args.purchase_event or ds.purchase_event
        if not event:
            raise InvalidParameterError("No purchase event was recognised in this log; name it with --purchase-event "
                                        f"(its events: {', '.join(ds.profile.events_by_count[:10])}).")
        con = ws.cursor()
        con.execute("SET enable_progress_bar = false")  # it would print into --json output
        if args.holdout_days is not None:
            summary, line = _validate(args, con, ds.events_table, event)
        else:
            summary, line = _predict(args, con, ds.events_table, event)
    report(args, {"dataset": ds.name, "purchase_event": event} | summary, line)
    return 0


def _validate(args: argparse.Namespace, con, table: str, event: str) -> tuple[dict, str]:
    from analytics.value import customer_summary, fit_value_models, validate_value

    summary = customer_summary(con, table, event, args.calibration_end, args.holdout_days, args.time_unit)
    check = validate_value(con, table, summary, fit_value_models(summary), challenger=not args.no_challenger)
    out = check.to_dict()
    if args.output is not None:
        per_customer = check.per_customer.rename(columns={"actual": "holdout_actual"}).rename(
            columns={k: f"holdout_{k}" for k in ("bgnbd", "paretonbd", "ml")})
        write_frame(per_customer, args.output)
        out["output"] = str(args.output)
    scores = "; ".join(
        f"{s.label}: predicted {s.predicted_total:,.0f} vs actual {s.actual_total:,.0f}"
        + (f" ({s.bias_pct:+.1f}%)" if s.bias_pct is not None else "")
        + f", MAE {s.mae:.3f}" + (f", AUC {s.auc:.3f}" if s.auc is not None else "")
        for s in check.scores.values())
    line = (f"{summary.n_customers:,} customers up to {summary.calibration_end:%Y-%m-%d %H:%M}, holdout "
            f"{args.holdout_days:g} days (time unit: {summary.time_unit}). {scores}"
            + (f"; wrote {args.output}" if args.output is not None else ""))
    return out, line


def _predict(args: argparse.Namespace, con, table: str, event: str) -> tuple[dict, str]:
    from analytics.value import customer_summary, fit_value_models, predict_value

    summary = customer_summary(con, table, event, args.calibration_end, None, args.time_unit)
    fitted = fit_value_models(summary, models=(args.model, "gg"))
    per_user = predict_value(summary, fitted, horizon_days=args.horizon_days, discount_rate=args.discount_rate,
                             margin=args.margin, model=args.model)
    has_value = bool(per_user["clv"].notna().any())
    out = fitted.to_dict() | {
        "as_of": summary.calibration_end.isoformat(), "model": args.model, "horizon_days": args.horizon_days,
        "discount_rate": args.discount_rate, "margin": args.margin,
        "expected_purchases_total": float(per_user["expected_purchases"].sum()),
        "clv_total": float(per_user["clv"].sum()) if has_value else None,
        "mean_p_alive": float(per_user["p_alive"].mean()),
        "warnings": list(dict.fromkeys([*summary.warnings, *fitted.warnings, *per_user.attrs["warnings"]]))}
    if args.output is not None:
        write_frame(per_user, args.output)
        out["output"] = str(args.output)
    value = (f"total CLV {out['clv_total']:,.0f}" if has_value else "no CLV (no usable amounts)")
    line = (f"{summary.n_customers:,} customers as of {summary.calibration_end:%Y-%m-%d %H:%M} (time unit: "
            f"{summary.time_unit}): {out['expected_purchases_total']:,.0f} purchases expected in the next "
            f"{args.horizon_days:g} days, {value}" + (f"; wrote {args.output}" if args.output is not None else ""))
    return out, line

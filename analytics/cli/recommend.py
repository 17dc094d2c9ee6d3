"""Command on products: ``recommend`` (compare recommenders on a log, write each user's top K)."""

from __future__ import annotations

import argparse

from analytics.cli.common import date_arg, import_log, mapping_args, report, scratch_workspace, table_path
from analytics.errors import InvalidParameterError

EVALUATIONS = ("last-n", "time-split", "none")
# Spelled out so that building the parser does not load the recommenders (a test keeps them equal).
MODEL_NAMES = ("pop", "pop_recent", "itemknn", "ease", "als", "bpr", "gru4rec")
DEFAULT_MODELS = "pop,itemknn,ease,als"
DEFAULT_WEIGHTS = "view_item=1,add_to_cart=3,begin_checkout=4,purchase=5"


def register(sub) -> None:
    p = sub.add_parser("recommend", help="compare recommenders on a log and write each user's top K products")
    p.add_argument("log", help="the behaviour log (as for features), with a column naming the product of each event")
    p.add_argument("--evaluate", choices=EVALUATIONS, default="last-n",
                   help="protocol: hide each user's last N products (default), everything after --split-date, or "
                        "none (no evaluation; -o uses the first of --models)")
    p.add_argument("--n", type=int, default=5, help="products hidden per user with last-n (default 5)")
    p.add_argument("--split-date", type=date_arg,
                   help="first day of the test period with time-split (default: leaves ~20%% of the data after it)")
    p.add_argument("--k", type=int, default=20, help="products per user, and the cut-off K scored besides 10")
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated: " + ", ".join(MODEL_NAMES)
                                                            + f" (default {DEFAULT_MODELS})")
    p.add_argument("--weights", help=f"event weights as event=weight,... (default: {DEFAULT_WEIGHTS}, the purchase "
                                     "event 5 and other events with products 1)")
    p.add_argument("-o", "--output", type=table_path,
                   help="OUT.csv or OUT.parquet: user_id, rank, item_id, score of the best model")
    mapping_args(p)
    p.add_argument("--json", action="store_true", help="print the protocol and each model's metrics as JSON")
    p.set_defaults(func=cmd_recommend)


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``view_item=1,purchase=5`` -> ``{"view_item": 1.0, "purchase": 5.0}``."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        if not part.strip():
            continue
        event, sep, value = part.rpartition("=")
        if not sep or not event.strip():
            raise InvalidParameterError(f"--weights takes event=weight pairs separated by commas, got {part!r}.")
        try:
            out[event.strip()] = float(value)
        except ValueError:
            raise InvalidParameterError(f"The weight of '{event.strip()}' must be a number, got {value!r}.") from None
    return out


def cmd_recommend(args: argparse.Namespace) -> int:
    from analytics import recommend
    from analytics.recommend import datasets as rec_data

    models = recommend.parse_models(args.models)
    if not 1 <= args.k <= 100:
        raise InvalidParameterError(f"--k must be from 1 to 100, got {args.k}.")
    if args.evaluate == "none" and not args.output:
        raise InvalidParameterError("Nothing to do: give -o OUT.csv, or evaluate (--evaluate last-n or time-split).")
    if args.split_date and args.evaluate != "time-split":
        raise InvalidParameterError("--split-date goes with --evaluate time-split.")
    weights = parse_weights(args.weights)
    with scratch_workspace() as ws:
        ds = import_log(ws, args, features=False)
        item_col = rec_data.resolve_item_column(ws, ds.id, None)  # --item-col maps the role at import
        if weights is None:
            table = rec_data.event_weights(ws, ds.id, item_col)
            weights = {e: w for e, w in zip(table["event"], table["weight"]) if w > 0} or None
        data = rec_data.dataset_interactions(ws, ds.id, item_col, weights)
        result = None
        if args.evaluate != "none":
            result = recommend.evaluate(data, models, protocol=args.evaluate, n=args.n, split_date=args.split_date,
                                        ks=sorted({10, args.k}), random_state=0)
            if result.metrics.empty:
                raise InvalidParameterError("No model could be evaluated: " + "; ".join(
                    f"{name}: {why}" for name, why in result.skipped.items()))
        chosen = result.best() if result is not None else models[0]
        summary = (result.to_dict() if result is not None else {"models": {}, "best": None}) | {
            "interactions": data.summary(), "dataset": {"rows": ds.rows, "users": ds.users}}
        if args.output:
            model = recommend.make_model(chosen).fit(data)
            recs = recommend.top_items(model, data, args.k)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            recommend.export_recommendations(recs, args.output)
            summary |= {"output": str(args.output), "output_model": chosen,
                        "output_users": int(recs["user_id"].nunique())}
    report(args, summary, _line(args, data, result, chosen))
    return 0


def _line(args: argparse.Namespace, data, result, chosen: str) -> str:
    from analytics.recommend import MODELS

    parts = [f"{data.n_users:,} users x {data.n_items:,} products ('{data.item_col}')"]
    if result is not None:
        k = max(result.ks)
        scores = ", ".join(f"{name} {row[f'ndcg@{k}']:.3f}" for name, row in result.metrics.iterrows())
        parts.append(f"{result.protocol} on {result.users_evaluated:,} users, NDCG@{k}: {scores}; best {chosen}")
    if args.output:
        parts.append(f"wrote the top {args.k} of {MODELS[chosen].label} to {args.output}")
    return "; ".join(parts)

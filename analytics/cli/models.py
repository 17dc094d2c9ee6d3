"""Commands on classifiers: ``train`` (compare models, save the best) and ``score`` (a saved model on a log)."""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics.cli.common import date_arg, import_log, mapping_args, report, scratch_workspace, table_path, write_frame
from analytics.errors import InvalidParameterError


def register(sub) -> None:
    from analytics.models.zoo import MODELS

    p = sub.add_parser("train", help="train classifiers for a future behaviour and save the best one")
    p.add_argument("log", help="the behaviour log (as for features)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target-event", help="predict this event in the horizon (default: the purchase event)")
    target.add_argument("--churn", action="store_true", help="predict churn: no event at all in the horizon")
    p.add_argument("--horizon-days", type=float, default=30, help="days after the cutoff (default 30)")
    p.add_argument("--cutoff", type=date_arg, help="YYYY-MM-DD (default: the last event minus the horizon)")
    p.add_argument("--models", default="lr,rf,hgb",
                   help="comma-separated: " + ", ".join(MODELS) + " (seq and agg+seq read each user's events in order "
                        "and need PyTorch: pip install -r requirements-deep.txt)")
    p.add_argument("--folds", type=int, default=5, help="stratified cross-validation folds (default 5)")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the saved model (must not exist)")
    mapping_args(p)
    p.add_argument("--json", action="store_true", help="print per-model metrics and the best model as JSON")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score the users of a log with a saved model")
    p.add_argument("model_dir", type=Path, help="a folder written by `train` (or saved in the app)")
    p.add_argument("log", help="the behaviour log to score")
    p.add_argument("-o", "--output", type=table_path, required=True,
                   help="OUT.csv or OUT.parquet: user_id, score, rank")
    p.add_argument("--as-of", type=date_arg, help="score as of this date (default: the log's last event)")
    mapping_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score)


def cmd_train(args: argparse.Namespace) -> int:
    from analytics import models

    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    from analytics.models.zoo import model_spec

    if any(model_spec(k).sequence for k in keys):  # unknown keys and a missing PyTorch: say so at once
        from analytics.sequences import require_torch

        require_torch()
    if args.output.exists():
        raise InvalidParameterError(f"'{args.output}' already exists; give a new folder for the model.")
    with scratch_workspace() as ws:
        ds = import_log(ws, args, features=False)
        target = models.TargetDefinition(kind="churn" if args.churn else "event", target_event=args.target_event,
                                         horizon_days=args.horizon_days, cutoff=args.cutoff)
        training = models.build_training_set(ws, ds.id, target, n_folds=args.folds)
        run = models.train_models(training, keys, n_folds=args.folds)
        best = run.best
        if best is None:
            raise InvalidParameterError("No model could be evaluated on this target: "
                                        + "; ".join(r.error or "; ".join(r.notes) for r in run.results))
        models.save_model(models.fit_model(training, best.key, cv_result=best), args.output)
    summary = run.to_dict() | {"model_dir": str(args.output), "saved_model": best.key, "warnings": training.warnings}
    report(args, summary, f"best: {best.label} of {len(run.results)} model(s) on {training.n_users:,} users "
                          f"({training.positives:,} positive); saved to {args.output}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from analytics import models

    model = models.load_model(args.model_dir)
    with scratch_workspace() as ws:
        ds = import_log(ws, args, features=False)
        scored = models.score_dataset(ws, ds.id, model, as_of=args.as_of)
    write_frame(scored, args.output)
    summary = {"model_dir": str(args.model_dir), "model": model.name, "users": len(scored),
               "output": str(args.output), "mean_score": float(scored["score"].mean()) if len(scored) else None}
    report(args, summary, f"scored {len(scored):,} users with {model.name}; wrote {args.output}")
    return 0

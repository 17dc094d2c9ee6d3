"""The ``report`` command: one self-contained HTML report of a dataset in the workspace."""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics.cli.common import report, workspace_dataset
from analytics.errors import InvalidParameterError


def register(sub) -> None:
    from analytics.report import DEFAULT_COST_PER_CONTACT, DEFAULT_VALUE_PER_CONVERSION

    p = sub.add_parser("report", help="write the HTML report of a dataset in the workspace (MARKETLENS_WORKSPACE)")
    p.add_argument("dataset", help="the dataset's name or id (see `datasets`)")
    p.add_argument("-o", "--output", type=Path, required=True, help="OUT.html (opens without internet)")
    p.add_argument("--segmentation", help="a saved segmentation's name (default: the newest)")
    p.add_argument("--run", help="a training run's key (default: the newest)")
    p.add_argument("--cost", type=float, default=DEFAULT_COST_PER_CONTACT,
                   help=f"cost per contact for the money section (default {DEFAULT_COST_PER_CONTACT:g})")
    p.add_argument("--value", type=float, default=DEFAULT_VALUE_PER_CONVERSION,
                   help=f"value per conversion for the money section (default {DEFAULT_VALUE_PER_CONVERSION:g})")
    p.add_argument("--json", action="store_true", help="print what went into the report as JSON")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from analytics.report import gather, render
    from analytics.workspace import Workspace

    if args.output.suffix.lower() not in (".html", ".htm"):
        raise InvalidParameterError(f"The output must end in .html, got '{args.output.name}'.")
    ws = Workspace()
    ds = workspace_dataset(ws, args.dataset)
    content = gather(ws, ds.id, segmentation=args.segmentation, run=args.run, cost_per_contact=args.cost,
                     value_per_conversion=args.value)
    data = render(content).encode("utf-8")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    shown = [s for s in ("features", "segments", "models") if s not in content.absent]
    summary = content.to_dict() | {"output": str(args.output), "bytes": len(data)}
    report(args, summary, f"wrote the report of '{ds.name}' to {args.output} ({len(data) / 1e6:.1f} MB; "
                          f"{', '.join(shown) or 'dataset only'}"
                          + (f"; not yet: {', '.join(content.absent)}" if content.absent else "") + ")")
    return 0

"""What the commands share: column-role and feature flags, importing a log or naming a stored dataset, printing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from analytics.errors import DatasetNotFoundError, InvalidParameterError
from analytics.ingest.formats import DATE_ORDERS


def mapping_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("column roles (guessed when not given)")
    g.add_argument("--user-col", help="column with the user id")
    g.add_argument("--time-col", help="column with the event time")
    # A role named and cleared at once is a contradiction: argparse refuses the pair (exit 2, both flags named).
    one = g.add_mutually_exclusive_group()
    one.add_argument("--event-col", help="column with the event name")
    one.add_argument("--no-event-col", action="store_true",
                     help="the file has no event column: every row is --event-name")
    g.add_argument("--event-name", default="purchase", help="event of every row without an event column")
    one = g.add_mutually_exclusive_group()
    one.add_argument("--amount-col", help="column with the amount (money)")
    one.add_argument("--no-amount-col", action="store_true", help="do not use any column as the amount")
    g.add_argument("--session-col", help="column with a session id")
    for flag, what in (("item", "item / product id (SKU) for recommendations"),
                       ("content", "content id (post, creative, ad) for social channels"),
                       ("campaign", "campaign name or id")):
        one = g.add_mutually_exclusive_group()
        one.add_argument(f"--{flag}-col", help=f"column with the {what}")
        one.add_argument(f"--no-{flag}-col", action="store_true", help=f"do not use any column as the {flag}")
    g.add_argument("--date-order", choices=DATE_ORDERS, default="auto",
                   help="day-first (dmy) or month-first (mdy) dates; auto decides from the data")
    g.add_argument("--timezone", default="UTC",
                   help="time zone of times written without an offset, e.g. Europe/Berlin (default: UTC)")
    g.add_argument("--skip-bad-rows", action="store_true",
                   help="import even if some rows have the wrong number of fields (they are reported)")
    g.add_argument("--encoding", default="auto",
                   help="text encoding of a CSV/TSV log, e.g. cp1251, shift_jis, gb18030, cp1252 (default: auto, "
                        "detected from the bytes; the Spark engine reads UTF-8 unless given)")


def feature_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("features")
    g.add_argument("--purchase-event", help="event that counts as a purchase (default: guessed)")
    g.add_argument("--as-of", type=date_arg, help="reference date YYYY-MM-DD (default: the last event)")
    g.add_argument("--top-events", type=int, default=10, help="count columns for this many event types")


def date_arg(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from exc


# Every command that writes a table writes either; the format follows the suffix.
TABLE_SUFFIXES = (".csv", ".parquet")


def table_path(text: str) -> Path:
    """An ``-o`` table output, checked when the flags are read (before any work) for a suffix we can honour."""
    path = Path(text)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise argparse.ArgumentTypeError(f"'{path.name}' must end in .csv or .parquet (the format follows the suffix)")
    return path


def write_frame(frame, path: Path) -> None:
    """Write a table output as CSV (formula-safe) or Parquet, after its :func:`table_path` suffix."""
    from analytics.exports import frame_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(frame_bytes(frame, path.suffix.lower().lstrip(".")))


def whole_number(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise InvalidParameterError(f"{flag} must be a whole number or 'auto', got {text!r}.") from exc


def role_changes(args: argparse.Namespace) -> dict:
    """The role flags as overrides of the guessed mapping."""
    changes = {role: getattr(args, flag) for role, flag in _ROLE_FLAGS if getattr(args, flag)}
    for role, flag in _ROLE_FLAGS:
        if getattr(args, f"no_{flag}", False):
            changes[role] = None
    return changes | {"event_name": args.event_name, "date_order": args.date_order, "timezone": args.timezone}


# Role -> its --X-col flag (as an argparse attribute); those with a --no-X-col flag too are cleared by it.
_ROLE_FLAGS = (("user_id", "user_col"), ("timestamp", "time_col"), ("event", "event_col"), ("amount", "amount_col"),
               ("session_id", "session_col"), ("item_id", "item_col"), ("content_id", "content_col"),
               ("campaign", "campaign_col"))


def encoding_arg(args: argparse.Namespace) -> str | None:
    """The ``--encoding`` flag, checked (exit 2 with a readable line for an unknown name); None for auto."""
    from analytics.ingest.encoding import canonical_encoding

    value = getattr(args, "encoding", "auto")
    return None if value in (None, "", "auto") else canonical_encoding(value)


def import_log(ws, args: argparse.Namespace, *, features: bool, name: str | None = None,
               keep_original: bool = False):
    """The log named on the command line, imported into ``ws`` with the role flags applied.

    The log is read where it is; ``keep_original`` also copies it into the workspace
    (``import``; scratch workspaces are deleted when the command ends, so a copy is waste).
    """
    ds = ws.import_file(Path(args.log), changes=role_changes(args), name=name, allow_bad_rows=args.skip_bad_rows,
                        features=features, encoding=encoding_arg(args), keep_original=keep_original)
    for warning in ds.report.warnings:  # on stderr, so --json output stays one document
        print(f"warning: {warning}", file=sys.stderr)
    return ds


@contextmanager
def scratch_workspace() -> Iterator:
    """A workspace that leaves nothing behind, for commands that read a log and write a file."""
    from analytics.workspace import temporary_workspace

    with temporary_workspace(in_memory=False) as ws:
        yield ws


def source_args(p: argparse.ArgumentParser) -> None:
    """A log file, or ``--dataset`` for a dataset already in the workspace (use with :func:`log_or_dataset`)."""
    p.add_argument("log", nargs="?", help="a behaviour log (as for features); or give --dataset instead")
    p.add_argument("--dataset", metavar="NAME_OR_ID",
                   help="a dataset already in the workspace (MARKETLENS_WORKSPACE), by id or name, instead of a log")


@contextmanager
def log_or_dataset(args: argparse.Namespace) -> Iterator[tuple]:
    """``(workspace, dataset)``: the log imported into a scratch workspace, or the named stored dataset."""
    if args.log and args.dataset:
        raise InvalidParameterError("Give a log file or --dataset, not both.")
    if args.dataset:
        from analytics.workspace import Workspace

        ws = Workspace()
        yield ws, find_dataset(ws, args.dataset)
    elif args.log:
        with scratch_workspace() as ws:
            yield ws, import_log(ws, args, features=False)
    else:
        raise InvalidParameterError("Give a log file, or --dataset NAME_OR_ID for a dataset in the workspace.")


def find_dataset(ws, name_or_id: str):
    """A dataset of the workspace by id, else by name (exact, then ignoring case); refused when ambiguous."""
    datasets = ws.datasets()
    for matches in ([d for d in datasets if d.id == name_or_id], [d for d in datasets if d.name == name_or_id],
                    [d for d in datasets if d.name.casefold() == name_or_id.strip().casefold()]):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameterError(
                f"{len(matches)} datasets are named '{name_or_id}': give the id instead "
                f"({', '.join(d.id for d in matches)}).")
    known = "; ".join(f"'{d.name}' (id {d.id})" for d in datasets[:10]) or "none"
    raise DatasetNotFoundError(f"There is no dataset '{name_or_id}' in the workspace at {ws.root}. Datasets: {known}.")


def dataset_summary(ds) -> dict:
    r = ds.report
    return {"dataset": ds.id, "name": ds.name, "rows_read": r.rows_read, "rows_kept": r.rows_kept,
            "users": r.users, "duplicates_removed": r.duplicates_removed, "rejected_rows": r.rejected_rows,
            "dropped": r.dropped, "coerced": r.coerced, "roles": _roles(ds.mapping),
            "event_name_if_no_event_column": ds.mapping.event_name if ds.mapping.event is None else None,
            "attributes": ds.mapping.attributes, "ts_min": r.ts_min, "ts_max": r.ts_max, "notes": r.notes,
            "warnings": r.warnings}


def _roles(mapping) -> dict:
    """The roles of the summary: the five core ones always, the optional identifiers when the log has them."""
    from analytics.ingest.roles import CORE_ROLES

    return {role: col for role, col in mapping.roles().items() if role in CORE_ROLES or col}


def report(args: argparse.Namespace, summary: dict, line: str) -> None:
    """Print the JSON summary (``--json``) or the one readable line."""
    if args.json:
        print(json.dumps(summary, default=str, indent=2))
    else:
        print(line)


def workspace_dataset(ws, ref: str):
    """A dataset of the workspace named on the command line: by id, by name, or by name ignoring case.

    Raises
    ------
    DatasetNotFoundError
        No dataset has this id or name (the message lists the ones there are).
    InvalidParameterError
        Several datasets have this name (use the id).
    """
    from analytics.errors import DatasetNotFoundError

    wanted = " ".join(str(ref).split())
    datasets = ws.datasets()
    for same in (lambda d: d.id == wanted, lambda d: d.name == wanted,
                 lambda d: d.name.casefold() == wanted.casefold()):
        found = [d for d in datasets if same(d)]
        if len(found) == 1:
            return found[0]
        if found:
            raise InvalidParameterError(f"{len(found)} datasets are named '{wanted}'; give the id of one: "
                                        f"{', '.join(d.id for d in found)}.")
    listed = ", ".join(f"'{d.name}' ({d.id})" for d in datasets[:10]) + (" ..." if len(datasets) > 10 else "")
    raise DatasetNotFoundError(f"There is no dataset '{wanted}' in the workspace {ws.root}; "
                               + (f"its datasets are: {listed}." if datasets else
                                  "it is empty (import a log with `python -m analytics import LOG`)."))

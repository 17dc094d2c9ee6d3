"""What every journey view shares: checks on the events table and parameters, and the breakdown groups.

A breakdown puts every user in one group: the value of an attribute column on the
event that brought the user into the view (the funnel's first step, the retention
cohort's starting event), or the user's segment from a ``user_id -> segment``
mapping. Only the ``top`` most common values keep their own group; the rest go to
:data:`OTHER`, users without a value to :data:`NONE` (attribute) or
:data:`NO_SEGMENT` (mapping).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pandas as pd

from analytics.errors import DatasetNotFoundError, InvalidParameterError, NoDataError
from analytics.progress import Progress
from analytics.sql import quote_ident, sql_literal

OTHER = "(other)"
NONE = "(none)"
NO_SEGMENT = "(no segment)"
SEGMENT = "segment"
MAX_TOP = 100
CORE_COLUMNS = ("user_id", "ts", "event")
MICROS_PER_DAY = 86_400_000_000


def report(progress: Progress | None, fraction: float, message: str) -> None:
    """Call the progress callback when there is one."""
    if progress is not None:
        progress(fraction, message)


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of the events table (audit columns starting with ``_`` left out)."""
    try:
        rows = con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()
    except duckdb.CatalogException as exc:
        raise DatasetNotFoundError(
            f"There is no events table named {table!r} in this workspace. Re-import the log or pick another "
            "dataset.") from exc
    cols = {name: str(typ) for name, typ, *_ in rows if not name.startswith("_")}
    missing = [c for c in CORE_COLUMNS if c not in cols]
    if missing:
        raise DatasetNotFoundError(
            f"The table {table!r} is not an events table: it has no {', '.join(missing)} column. "
            "Journeys work on a dataset imported into the workspace.")
    return cols


def check_not_empty(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Refuse an events table without a single row."""
    if not con.execute(f"SELECT 1 FROM {quote_ident(table)} LIMIT 1").fetchall():
        raise NoDataError("This dataset has no events, so there is nothing to analyse. Import a log with events.")


def check_events_occur(con: duckdb.DuckDBPyConnection, table: str, events: dict[str, str]) -> None:
    """Every event named in ``events`` (role -> event name) occurs at least once in the table.

    The message names the role ("step 3", "returning event", ...) and lists the
    most common events of the dataset, so a typo is easy to fix.
    """
    wanted = sorted(set(events.values()))
    # One LIMIT 1 probe per event stops at its first row: milliseconds on 10M events.
    probes = " UNION ALL ".join(f"(SELECT event FROM {quote_ident(table)} WHERE event = $w{i} LIMIT 1)"
                                for i in range(len(wanted)))
    found = {r[0] for r in con.execute(probes, {f"w{i}": ev for i, ev in enumerate(wanted)}).fetchall()}
    missing = [(role, ev) for role, ev in events.items() if ev not in found]
    if missing:
        common = [r[0] for r in con.execute(
            f"SELECT event FROM {quote_ident(table)} GROUP BY event ORDER BY count(*) DESC, event LIMIT 12"
        ).fetchall()]
        what = "; ".join(f"{role} {ev!r}" for role, ev in missing)
        raise InvalidParameterError(
            f"Never occurs in this dataset: {what}. Pick events that happen in the log, for example: "
            f"{', '.join(repr(e) for e in common)}.")


def check_event_name(value: object, role: str) -> str:
    """A non-empty event name."""
    if not isinstance(value, str) or value == "":
        raise InvalidParameterError(f"The {role} must be an event name (non-empty text), got {value!r}.")
    return value


def check_top(top: object) -> int:
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise InvalidParameterError(f"top must be a whole number from 1 to {MAX_TOP}, got {top!r}.")
    return top


@dataclass(frozen=True)
class Grouping:
    """How users are split for a breakdown: SQL pieces plus the label of the groups."""

    label: str  # the attribute name, or "segment"
    source_sql: str  # SELECT user_id, v (one row per user, v VARCHAR or NULL)
    missing_label: str  # group of users without a value


def attribute_columns(cols: dict[str, str]) -> list[str]:
    """Columns a breakdown can use: everything but user, time and event (and audit columns)."""
    return [c for c in cols if c not in CORE_COLUMNS]


def attribute_grouping(cols: dict[str, str], table: str, by: str, anchor_cte: str,
                       anchor_event_param: str | None) -> Grouping:
    """Group users by the value of ``by`` on their anchor event.

    ``anchor_cte`` names a CTE with ``user_id, t0`` (the anchor time); when
    ``anchor_event_param`` is given, only rows of that event (a ``$param``) at
    ``t0`` count. Ties at the same time take the smallest value, so the result
    never depends on row order.
    """
    allowed = attribute_columns(cols)
    if by not in allowed:
        raise InvalidParameterError(
            f"Cannot break down by {by!r}: it is not an attribute of this dataset. Attributes: "
            f"{', '.join(repr(c) for c in allowed) or 'none'}.")
    event_filter = f" AND e.event = ${anchor_event_param}" if anchor_event_param else ""
    sql = (f"SELECT e.user_id, min(CAST(e.{quote_ident(by)} AS VARCHAR)) AS v "
           f"FROM {quote_ident(table)} e JOIN {anchor_cte} a ON e.user_id = a.user_id AND e.ts = a.t0{event_filter} "
           "GROUP BY e.user_id")
    return Grouping(by, sql, NONE)


def segment_frame(segments: object) -> pd.DataFrame:
    """A ``user_id, segment`` frame (text) from a DataFrame or a DuckDB relation with those columns."""
    if isinstance(segments, duckdb.DuckDBPyRelation):
        segments = segments.df()
    if not isinstance(segments, pd.DataFrame):
        raise InvalidParameterError(
            f"segments must be a table of user_id and segment (a DataFrame), got {type(segments).__name__}.")
    if "user_id" not in segments.columns:
        raise InvalidParameterError("The segment table needs a user_id column.")
    others = [c for c in segments.columns if c != "user_id"]
    seg_col = SEGMENT if SEGMENT in others else (others[0] if len(others) == 1 else None)
    if seg_col is None:
        raise InvalidParameterError(
            f"The segment table needs a 'segment' column next to user_id; it has {', '.join(map(str, others))}.")
    out = pd.DataFrame({"user_id": segments["user_id"].astype("string"),
                        "v": segments[seg_col].astype("string")})
    return out


@contextmanager
def grouping_for(con: duckdb.DuckDBPyConnection, cols: dict[str, str], table: str, *, by: str | None,
                 segments: object, anchor_cte: str, anchor_event_param: str | None) -> Iterator[Grouping | None]:
    """The breakdown asked for (or ``None``), with any segment table registered for the query's lifetime."""
    if by is not None and segments is not None:
        raise InvalidParameterError("Break down by an attribute or by segments, not both at once.")
    if by is not None:
        yield attribute_grouping(cols, table, by, anchor_cte, anchor_event_param)
        return
    if segments is None:
        yield None
        return
    frame = segment_frame(segments)
    name = f"_ml_segments_{uuid.uuid4().hex}"
    con.register(name, frame)
    try:
        yield Grouping(SEGMENT, f"SELECT user_id, min(v) AS v FROM {name} GROUP BY user_id", NO_SEGMENT)
    finally:
        con.unregister(name)


def group_ctes(grouping: Grouping, population_cte: str) -> str:
    """CTEs ``_gsrc``, ``_gtop`` and ``grp(user_id, g)``: one group per user of ``population_cte``.

    The top values are ranked by how many users of the population have them
    (ties by value), the rest become :data:`OTHER`. Uses the ``$top`` parameter.
    """
    return (f"_gsrc AS (SELECT p.user_id, s.v FROM {population_cte} p LEFT JOIN ({grouping.source_sql}) s "
            "ON s.user_id = p.user_id), "
            "_gtop AS (SELECT v FROM _gsrc WHERE v IS NOT NULL GROUP BY v ORDER BY count(*) DESC, v LIMIT $top), "
            f"grp AS (SELECT user_id, CASE WHEN v IS NULL THEN {sql_literal(grouping.missing_label)} "
            f"WHEN v IN (SELECT v FROM _gtop) THEN v ELSE {sql_literal(OTHER)} END AS g FROM _gsrc)")


def order_groups(sizes: dict[str, int]) -> list[str]:
    """Groups by size (largest first, then by name); the catch-all groups last."""
    tail = (OTHER, NONE, NO_SEGMENT)
    head = sorted((g for g in sizes if g not in tail), key=lambda g: (-sizes[g], g))
    return head + [g for g in tail if g in sizes]


def window_micros(window_days: object) -> int:
    """The conversion window in microseconds; 0 < window <= 366 days."""
    if isinstance(window_days, bool) or not isinstance(window_days, (int, float)) or not (
            0 < float(window_days) <= 366):
        raise InvalidParameterError(
            f"The conversion window must be more than 0 and at most 366 days, got {window_days!r}.")
    return int(round(float(window_days) * MICROS_PER_DAY))


def check_steps(steps: object, *, minimum: int = 2, maximum: int = 10) -> list[str]:
    """A list of ``minimum`` to ``maximum`` event names (a comma-separated text is split)."""
    if isinstance(steps, str):
        steps = [s.strip() for s in steps.split(",")]
    if not isinstance(steps, Sequence) or not all(isinstance(s, str) for s in steps):
        raise InvalidParameterError(f"steps must be a list of event names, got {steps!r}.")
    steps = list(steps)
    if not minimum <= len(steps) <= maximum:
        raise InvalidParameterError(
            f"A funnel needs {minimum} to {maximum} steps, got {len(steps)}"
            f"{': ' + ', '.join(map(repr, steps)) if steps else ''}.")
    for i, s in enumerate(steps, 1):
        check_event_name(s, f"step {i}")
    return steps

"""Funnels: how many users go through a sequence of events, where they drop off, and how long it takes.

One public entry point, :func:`funnel`, computed in DuckDB SQL over the canonical
events table; the result is a :class:`FunnelResult` whose ``to_dict()`` is the
``--json`` output of ``python -m analytics funnel``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.journeys._common import (
    Progress,
    check_event_name,
    check_events_occur,
    check_not_empty,
    check_steps,
    check_top,
    group_ctes,
    grouping_for,
    order_groups,
    report,
    table_columns,
    window_micros,
)
from analytics.journeys._funnel_sql import FunnelQuery, funnel_ctes
from analytics.jsonable import json_safe

MIN, HOUR, DAY = 60, 3600, 86_400
# Edges (seconds) of the time-to-convert distribution; a bucket holds lower <= t < upper.
TIME_EDGES = (0, MIN, 5 * MIN, 15 * MIN, 30 * MIN, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 3 * DAY,
              7 * DAY, 14 * DAY, 30 * DAY, 60 * DAY, 90 * DAY, 180 * DAY)


@dataclass(frozen=True)
class TimeBucket:
    """Users who took between ``lower_seconds`` (included) and ``upper_seconds`` (excluded) for a step."""

    label: str
    lower_seconds: float
    upper_seconds: float | None  # None: open-ended last bucket
    users: int

    def to_dict(self) -> dict:
        return {"label": self.label, "from_seconds": self.lower_seconds, "to_seconds": self.upper_seconds,
                "users": self.users}

    @classmethod
    def from_dict(cls, d: dict) -> TimeBucket:
        return cls(d["label"], float(d["from_seconds"]), None if d["to_seconds"] is None else float(d["to_seconds"]),
                   int(d["users"]))


@dataclass(frozen=True)
class FunnelStep:
    """One step of a funnel (or of one breakdown group of it).

    Conversions and drop-off rates are fractions (0..1); a rate whose base is 0
    users is 0. Times are in seconds; ``None`` when no user reached the step.
    """

    step: int  # 1-based
    event: str
    users: int
    conversion_from_start: float
    conversion_from_previous: float
    drop_off: int  # users of the previous step who did not reach this one (0 for step 1)
    drop_off_rate: float
    median_seconds_from_previous: float | None
    median_seconds_from_start: float | None
    time_to_convert: list[TimeBucket] = field(default_factory=list)  # from the previous step; empty for step 1

    def to_dict(self) -> dict:
        return json_safe({
            "event": self.event, "users": self.users, "step": self.step,
            "conversion_from_start": self.conversion_from_start,
            "conversion_from_previous": self.conversion_from_previous,
            "drop_off": self.drop_off, "drop_off_rate": self.drop_off_rate,
            "median_seconds_from_previous": self.median_seconds_from_previous,
            "median_seconds_from_start": self.median_seconds_from_start,
            "time_to_convert": [b.to_dict() for b in self.time_to_convert],
        })

    @classmethod
    def from_dict(cls, d: dict) -> FunnelStep:
        return cls(int(d["step"]), d["event"], int(d["users"]), float(d["conversion_from_start"]),
                   float(d["conversion_from_previous"]), int(d["drop_off"]), float(d["drop_off_rate"]),
                   d["median_seconds_from_previous"], d["median_seconds_from_start"],
                   [TimeBucket.from_dict(b) for b in d["time_to_convert"]])


@dataclass(frozen=True)
class FunnelGroup:
    """The funnel of one breakdown value (an attribute value, a segment, or the "(other)" bucket)."""

    value: str
    steps: list[FunnelStep]

    @property
    def users(self) -> int:
        return self.steps[0].users


@dataclass(frozen=True)
class FunnelResult:
    """A funnel over all users entering it, and per breakdown group when one was asked for."""

    steps: list[FunnelStep]
    window_days: float
    any_order: bool = False
    exclude: str | None = None
    by: str | None = None  # attribute name, "segment", or None
    groups: list[FunnelGroup] = field(default_factory=list)

    @property
    def users(self) -> int:
        """Users who entered the funnel (did step 1)."""
        return self.steps[0].users

    @property
    def events(self) -> list[str]:
        return [s.event for s in self.steps]

    def to_dict(self) -> dict:
        """The ``funnel --json`` document: ``{"steps": [{"event": ..., "users": ...}, ...], ...}``."""
        return json_safe({
            "steps": [s.to_dict() for s in self.steps],
            "window_days": self.window_days,
            "order": "any" if self.any_order else "sequential",
            "exclude": self.exclude,
            "by": self.by,
            "breakdown": [{"value": g.value, "steps": [s.to_dict() for s in g.steps]} for g in self.groups],
        })

    @classmethod
    def from_dict(cls, d: dict) -> FunnelResult:
        """The result back from :meth:`to_dict` (as stored in the workspace)."""
        return cls([FunnelStep.from_dict(s) for s in d["steps"]], float(d["window_days"]), d["order"] == "any",
                   d["exclude"], d["by"],
                   [FunnelGroup(g["value"], [FunnelStep.from_dict(s) for s in g["steps"]]) for g in d["breakdown"]])

    def table(self) -> pd.DataFrame:
        """One row per step, for display and download."""
        return _steps_frame(self.steps)

    def breakdown_table(self) -> pd.DataFrame:
        """One row per (group, step); empty without a breakdown."""
        frames = [_steps_frame(g.steps).assign(group=g.value) for g in self.groups]
        if not frames:
            return pd.DataFrame()
        out = pd.concat(frames, ignore_index=True)
        return out[["group"] + [c for c in out.columns if c != "group"]]

    def time_table(self) -> pd.DataFrame:
        """Time to convert from the previous step: one row per (step, time bucket), steps 2..n."""
        return pd.DataFrame([{"step": s.step, "event": s.event, "time_to_convert": b.label,
                              "from_seconds": b.lower_seconds, "to_seconds": b.upper_seconds, "users": b.users}
                             for s in self.steps for b in s.time_to_convert],
                            columns=["step", "event", "time_to_convert", "from_seconds", "to_seconds", "users"])


def funnel(con: duckdb.DuckDBPyConnection, table: str, steps: Sequence[str], window_days: float = 7, *,
           by: str | None = None, segments: pd.DataFrame | duckdb.DuckDBPyRelation | None = None, top: int = 10,
           exclude: str | None = None, any_order: bool = False, progress: Progress | None = None) -> FunnelResult:
    """Unique users through ordered steps within a conversion window.

    The rule: a user's first step-1 event opens the window; each next step is
    the earliest occurrence of that event at or after the time of the previous
    step and no later than the step-1 time plus the window (an event at exactly
    the same time counts as in order).

    Repeated steps (the same event twice in ``steps``): a repeated step needs a
    later occurrence, strictly after the time of the earlier step with the same
    event, so one event never stands for two steps.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        The canonical events table (``user_id, ts, event, ...``).
    steps : sequence of str
        2 to 10 event names, in funnel order (a comma-separated text is split).
    window_days : float
        Conversion window, counted from each user's first step-1 event: more
        than 0 and at most 366 days (fractions allowed). The window end is included.
    by : str, optional
        Break down by this attribute column, taking its value on the step-1
        event that opened the user's window (ties at the same time: smallest value).
    segments : DataFrame or DuckDB relation, optional
        Break down by a ``user_id, segment`` mapping instead (users absent from it
        form "(no segment)").
    top : int
        Groups kept in a breakdown (most users entering first); the rest form "(other)".
    exclude : str, optional
        Exclusion event ("without doing X in between"): the user's first X strictly
        after the step-1 time closes the window, so later steps must happen at or
        before it. Users stay counted at the steps they reached before it.
    any_order : bool
        Steps 2..n may happen in any order: step k counts users who did every event
        of steps 1..k within the window (a repeated event needs that many
        occurrences at distinct times); its time is when the last of them happened.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    FunnelResult
        Per step: users, conversion from the start and from the previous step,
        drop-off, median and distribution of the time to convert; the same per
        breakdown group.
    """
    steps = check_steps(steps)
    window_us = window_micros(window_days)
    top = check_top(top)
    if exclude is not None:
        check_event_name(exclude, "exclusion event")
        if exclude in steps:
            raise InvalidParameterError(
                f"The exclusion event {exclude!r} is also a step of the funnel; choose an event that is not a step.")
    if not isinstance(any_order, bool):
        raise InvalidParameterError(f"any_order must be True or False, got {any_order!r}.")
    report(progress, 0.0, "Checking the steps")
    cols = table_columns(con, table)
    check_not_empty(con, table)
    roles = {f"step {i}": ev for i, ev in enumerate(steps, 1)}
    if exclude is not None:
        roles["exclusion event"] = exclude
    check_events_occur(con, table, roles)
    query = funnel_ctes(table, steps, window_us, exclude, any_order)
    report(progress, 0.1, "Following every user through the steps")
    with grouping_for(con, cols, table, by=by, segments=segments, anchor_cte="w0", anchor_event_param="e1") as grp:
        rows = _aggregate(con, query, group_ctes(grp, "w0") if grp is not None else None, top)
    report(progress, 0.9, "Summing up")
    window_s = window_us / 1e6
    overall = _steps_from_rows(steps, [r for r in rows if r[0] == 1], window_s)
    groups = []
    if grp is not None:
        by_group: dict[str, list[tuple]] = {}
        for r in rows:
            if r[0] == 0:
                by_group.setdefault(r[1], []).append(r)
        sizes = {g: next(r[3] for r in rs if r[2] == 1) for g, rs in by_group.items()}
        groups = [FunnelGroup(g, _steps_from_rows(steps, by_group[g], window_s)) for g in order_groups(sizes)]
    report(progress, 1.0, "Done")
    return FunnelResult(overall, float(window_days), any_order, exclude, grp.label if grp else None, groups)


def _bucket_sql(expr: str) -> str:
    cases = " ".join(f"WHEN {expr} < {hi * 1_000_000} THEN {i}" for i, hi in enumerate(TIME_EDGES[1:]))
    return f"CASE {cases} ELSE {len(TIME_EDGES) - 1} END"


def _aggregate(con: duckdb.DuckDBPyConnection, query: FunnelQuery, group_sql: str | None, top: int) -> list[tuple]:
    """Rows ``(is_overall, group, step, users, median_prev_us, median_start_us, histogram)``.

    With ``group_sql`` (the breakdown's CTEs) every step comes once over all users and once per group.
    """
    n = query.n_steps
    times = ", ".join(f"t{k}" for k in range(1, n + 1))
    ctes = query.ctes
    params = dict(query.params)
    if group_sql:
        ctes += ", " + group_sql
        params["top"] = top
        g_col, g_join, sets = "grp.g", "LEFT JOIN grp ON grp.user_id = f.user_id", "GROUPING SETS ((k), (g, k))"
    else:
        g_col, g_join, sets = "NULL::VARCHAR", "", "g, k"
    diff = "epoch_us(tk - tp)"
    sql = (f"WITH {ctes}, "
           f"ff AS (SELECT f.user_id, {g_col} AS g, f.t1, [{times}] AS ts FROM f {g_join}), "
           "lng AS (SELECT ff.g, r.k, ff.t1, ff.ts[r.k] AS tk, CASE WHEN r.k > 1 THEN ff.ts[r.k - 1] END AS tp "
           f"FROM ff CROSS JOIN range(1, {n + 1}) r(k)) "
           f"SELECT {'CAST(GROUPING(g) AS INTEGER)' if group_sql else '1'} AS overall, g, k, count(tk) AS users, "
           f"median({diff}) AS med_prev, median(epoch_us(tk - t1)) AS med_start, "
           f"histogram(CASE WHEN tk IS NOT NULL AND tp IS NOT NULL THEN {_bucket_sql(diff)} END) AS hist "
           f"FROM lng GROUP BY {sets} ORDER BY overall DESC, g, k")
    return con.execute(sql, params).fetchall()


def _bucket_label(lo: float, hi: float | None) -> str:
    def fmt(s: float) -> str:
        for unit, size in (("d", DAY), ("h", HOUR), ("min", MIN)):
            if s >= size and s % size == 0:
                return f"{int(s // size)} {unit}"
        return f"{s:g} s"
    if lo == 0:
        return f"< {fmt(hi)}"
    return f"{fmt(lo)} +" if hi is None else f"{fmt(lo)} to {fmt(hi)}"


def _buckets(hist: dict | None, window_s: float) -> list[TimeBucket]:
    """The distribution over the buckets a conversion inside the window can fall in."""
    hist = hist or {}
    out = []
    for i, lo in enumerate(TIME_EDGES):
        if lo > window_s:
            break
        hi = TIME_EDGES[i + 1] if i + 1 < len(TIME_EDGES) else None
        out.append(TimeBucket(_bucket_label(lo, hi), float(lo), None if hi is None else float(hi),
                              int(hist.get(i, 0))))
    return out


def _steps_from_rows(events: list[str], rows: list[tuple], window_s: float) -> list[FunnelStep]:
    by_k = {r[2]: r for r in rows}
    out: list[FunnelStep] = []
    first = by_k[1][3] if 1 in by_k else 0
    for k, event in enumerate(events, 1):
        _, _, _, users, med_prev, med_start, hist = by_k.get(k, (0, None, k, 0, None, None, None))
        prev = out[-1].users if out else users
        drop = prev - users
        out.append(FunnelStep(
            step=k, event=event, users=int(users),
            conversion_from_start=users / first if first else 0.0,
            conversion_from_previous=users / prev if prev else 0.0,
            drop_off=int(drop), drop_off_rate=drop / prev if prev else 0.0,
            median_seconds_from_previous=None if k == 1 or med_prev is None else med_prev / 1e6,
            median_seconds_from_start=None if k == 1 or med_start is None else med_start / 1e6,
            time_to_convert=[] if k == 1 else _buckets(hist, window_s)))
    return out


def _steps_frame(steps: list[FunnelStep]) -> pd.DataFrame:
    return pd.DataFrame([{
        "step": s.step, "event": s.event, "users": s.users, "conversion_from_start": s.conversion_from_start,
        "conversion_from_previous": s.conversion_from_previous, "drop_off": s.drop_off,
        "drop_off_rate": s.drop_off_rate, "median_seconds_from_previous": s.median_seconds_from_previous,
        "median_seconds_from_start": s.median_seconds_from_start} for s in steps])

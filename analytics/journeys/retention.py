"""Retention cohorts: of the users who started in a week (or month), how many came back in each later one.

One public entry point, :func:`retention`, computed in DuckDB SQL over the
canonical events table; the result is a :class:`RetentionResult` whose
``to_dict()`` is the ``--json`` output of ``python -m analytics retention``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.journeys._common import (
    Progress,
    check_event_name,
    check_events_occur,
    check_not_empty,
    check_top,
    group_ctes,
    grouping_for,
    order_groups,
    report,
    table_columns,
)
from analytics.jsonable import json_safe
from analytics.sql import quote_ident, sql_literal

PERIODS = ("week", "month")


def period_offset_sql(period: str, start: str, end: str) -> str:
    """Whole periods from the period starting at ``start`` to the one starting at ``end`` (both truncated)."""
    if period == "week":
        return f"CAST(date_diff('day', {start}, {end}) // 7 AS INTEGER)"
    return f"CAST(date_diff('month', {start}, {end}) AS INTEGER)"


@dataclass(frozen=True)
class CohortMatrix:
    """A cohort triangle: one row per cohort, one column per period offset (0 = the cohort's own period).

    ``counts[i][p]`` is the number of users of cohort ``i`` active in offset
    ``p``; rows stop at the last offset the data covers, so the matrix is a
    triangle (ragged lists). ``average[p]`` is the retention of all cohorts
    observed at offset ``p``, weighted by cohort size (returning users summed over
    those cohorts divided by their users summed), based on ``average_users[p]`` users.
    """

    cohort_starts: list[date]
    sizes: list[int]
    counts: list[list[int]]
    average: list[float]
    average_users: list[int]

    @property
    def rates(self) -> list[list[float]]:
        """``counts`` as fractions of the cohort size."""
        return [[c / n if n else 0.0 for c in row] for row, n in zip(self.counts, self.sizes)]

    @property
    def users(self) -> int:
        return sum(self.sizes)

    def frame(self, rates: bool = False) -> pd.DataFrame:
        """Cohort start and size, then one column per offset (``NaN`` where the data ends)."""
        width = max((len(r) for r in self.counts), default=0)
        values = self.rates if rates else self.counts
        rows = [[*row, *([None] * (width - len(row)))] for row in values]
        out = pd.DataFrame(rows, columns=list(range(width)), dtype="float64" if rates else "Int64")
        out.insert(0, "users", self.sizes)
        out.insert(0, "cohort", pd.to_datetime(pd.Series(self.cohort_starts, dtype="object")))
        return out

    def to_dict(self) -> dict:
        return json_safe({
            "cohorts": [{"start": c, "users": n, "retained": row, "rates": rates}
                        for c, n, row, rates in zip(self.cohort_starts, self.sizes, self.counts, self.rates)],
            "average": [{"offset": p, "rate": a, "users": u}
                        for p, (a, u) in enumerate(zip(self.average, self.average_users))],
        })

    @classmethod
    def from_dict(cls, d: dict) -> CohortMatrix:
        return cls([date.fromisoformat(c["start"]) for c in d["cohorts"]], [int(c["users"]) for c in d["cohorts"]],
                   [[int(n) for n in c["retained"]] for c in d["cohorts"]],
                   [float(a["rate"]) for a in d["average"]], [int(a["users"]) for a in d["average"]])


@dataclass(frozen=True)
class RetentionGroup:
    value: str
    matrix: CohortMatrix


@dataclass(frozen=True)
class RetentionResult:
    """Retention cohorts over all users and, with a breakdown, per group."""

    period: str
    cohort_event: str | None
    return_event: str | None
    matrix: CohortMatrix
    data_end: datetime
    last_period_partial: bool  # the data's last event is before the last day of its period
    by: str | None = None
    groups: list[RetentionGroup] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The ``retention --json`` document: cohort start dates and user counts per period offset."""
        return json_safe({
            "period": self.period, "cohort_event": self.cohort_event, "return_event": self.return_event,
            "data_end": self.data_end, "last_period_partial": self.last_period_partial,
            **self.matrix.to_dict(), "by": self.by,
            "breakdown": [{"value": g.value, **g.matrix.to_dict()} for g in self.groups],
        })

    def matrix_of(self, group: str | None = None) -> CohortMatrix:
        """The cohort matrix of all users, or of one breakdown group."""
        if group is None:
            return self.matrix
        for g in self.groups:
            if g.value == group:
                return g.matrix
        raise InvalidParameterError(
            f"There is no breakdown group {group!r}; groups: {', '.join(repr(g.value) for g in self.groups)}.")

    def table(self, rates: bool = False) -> pd.DataFrame:
        """The cohort matrix (counts, or rates 0..1) with a ``group`` column first when there is a breakdown."""
        if not self.groups:
            return self.matrix.frame(rates)
        frames = [self.matrix.frame(rates).assign(group="(all users)")]
        frames += [g.matrix.frame(rates).assign(group=g.value) for g in self.groups]
        out = pd.concat(frames, ignore_index=True)
        return out[["group"] + [c for c in out.columns if c != "group"]]

    def average_table(self) -> pd.DataFrame:
        """The average retention curve: ``group, offset, rate, users`` (``group`` "(all users)" for everyone)."""
        series = [("(all users)", self.matrix)] + [(g.value, g.matrix) for g in self.groups]
        return pd.DataFrame([{"group": name, "offset": p, "rate": rate, "users": users}
                             for name, m in series for p, (rate, users) in enumerate(zip(m.average, m.average_users))],
                            columns=["group", "offset", "rate", "users"])

    @classmethod
    def from_dict(cls, d: dict) -> RetentionResult:
        """The result back from :meth:`to_dict` (as stored in the workspace)."""
        return cls(d["period"], d["cohort_event"], d["return_event"], CohortMatrix.from_dict(d),
                   datetime.fromisoformat(d["data_end"]), bool(d["last_period_partial"]), d["by"],
                   [RetentionGroup(g["value"], CohortMatrix.from_dict(g)) for g in d["breakdown"]])


def check_retention_params(con: duckdb.DuckDBPyConnection, table: str, period: str, cohort_event: str | None,
                           return_event: str | None, max_periods: int | None) -> dict[str, str]:
    """Validate what defines the cohorts; returns the table's columns."""
    if period not in PERIODS:
        raise InvalidParameterError(f"period must be 'week' or 'month', got {period!r}.")
    if max_periods is not None and (isinstance(max_periods, bool) or not isinstance(max_periods, int)
                                    or not 1 <= max_periods <= 1000):
        raise InvalidParameterError(f"max_periods must be a whole number from 1 to 1000, got {max_periods!r}.")
    roles = {}
    if cohort_event is not None:
        roles["starting event"] = check_event_name(cohort_event, "starting event")
    if return_event is not None:
        roles["returning event"] = check_event_name(return_event, "returning event")
    cols = table_columns(con, table)
    check_not_empty(con, table)
    if roles:
        check_events_occur(con, table, roles)
    return cols


def cohort_ctes(table: str, period: str, cohort_event: str | None, return_event: str | None,
                max_periods: int | None) -> tuple[str, dict[str, object]]:
    """CTEs ``s(user_id, t0)`` (start), ``c(user_id, t0, c)`` (cohort) and ``r(user_id, c, off)`` (active offsets).

    Parameters ``$ce`` (starting event) and ``$re`` (returning event) are set when given.
    """
    t, per = quote_ident(table), sql_literal(period)
    params: dict[str, object] = {}
    start_filter = ret_filter = ""
    if cohort_event is not None:
        params["ce"] = cohort_event
        start_filter = " WHERE event = $ce"
    if return_event is not None:
        params["re"] = return_event
        ret_filter = " WHERE event = $re"
    off = period_offset_sql(period, "c.c", "a.p")
    limit = "" if max_periods is None else f" AND {off} <= {int(max_periods)}"
    # One row per (user, period) with the user's first and last event in it: a period counts when that
    # last event is at or after the user's start, which keeps the join below small.
    a = (f"a AS MATERIALIZED (SELECT user_id, date_trunc({per}, ts) AS p, min(ts) AS first_ts, max(ts) AS last_ts "
         f"FROM {t}{ret_filter} GROUP BY ALL)")
    if cohort_event is None and return_event is None:
        s = "s AS (SELECT user_id, min(first_ts) AS t0 FROM a GROUP BY user_id)"  # no second pass over the log
    else:
        s = f"s AS (SELECT user_id, min(ts) AS t0 FROM {t}{start_filter} GROUP BY user_id)"
    ctes = (f"{a}, {s}, c AS MATERIALIZED (SELECT user_id, t0, date_trunc({per}, t0) AS c FROM s), "
            f"r AS (SELECT c.user_id, c.c, {off} AS off FROM c JOIN a ON a.user_id = c.user_id AND a.p >= c.c "
            f"AND a.last_ts >= c.t0{limit})")
    return ctes, params


def retention(con: duckdb.DuckDBPyConnection, table: str, period: str = "week", *, cohort_event: str | None = None,
              return_event: str | None = None, max_periods: int | None = None, by: str | None = None,
              segments: pd.DataFrame | duckdb.DuckDBPyRelation | None = None, top: int = 10,
              progress: Progress | None = None) -> RetentionResult:
    """Cohort retention matrix by week or month.

    A user's cohort is the period (UTC; ISO weeks starting Monday, or calendar
    months) of their first event, or of their first ``cohort_event``. The user
    counts as retained in offset ``p`` when they did a returning event (any event,
    or ``return_event``) at or after that starting moment, in the period ``p``
    periods after the cohort's. Offset 0 is the cohort's own period: with any
    event it is always 100%. A cell exists only when the data reaches into its
    period; the last one may be partial (``last_period_partial``: the data's
    last event is before the last day of its period).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        The canonical events table.
    period : {"week", "month"}
    cohort_event : str, optional
        Start each user at their first occurrence of this event (users who never
        did it are left out) instead of their first event.
    return_event : str, optional
        Count only this event as coming back (default: any event).
    max_periods : int, optional
        Keep offsets 0..max_periods (default: all the data covers).
    by, segments, top
        Breakdown by an attribute (its value on the event that started the user's
        cohort) or by a ``user_id, segment`` mapping; the ``top`` largest groups,
        the rest in "(other)".
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    RetentionResult
    """
    top = check_top(top)
    report(progress, 0.0, "Checking the events")
    cols = check_retention_params(con, table, period, cohort_event, return_event, max_periods)
    data_end = con.execute(f"SELECT max(ts) FROM {quote_ident(table)}").fetchall()[0][0]
    ctes, params = cohort_ctes(table, period, cohort_event, return_event, max_periods)
    report(progress, 0.1, "Building cohorts")
    with grouping_for(con, cols, table, by=by, segments=segments, anchor_cte="s",
                      anchor_event_param="ce" if cohort_event is not None else None) as grp:
        if grp is not None:
            ctes += ", " + group_ctes(grp, "s")
            params["top"] = top
            g, join = "grp.g", "LEFT JOIN grp ON grp.user_id = x.user_id"
            sets_size, sets_ret = "GROUPING SETS ((c), (g, c))", "GROUPING SETS ((c, off), (g, c, off))"
            flag = "CAST(GROUPING(g) AS INTEGER)"
        else:
            g, join, sets_size, sets_ret, flag = "NULL::VARCHAR", "", "g, c", "g, c, off", "1"
        sql = (f"WITH {ctes} "
               f"SELECT {flag} AS overall, g, c, -1 AS off, count(*) AS n "
               f"FROM (SELECT x.c, {g} AS g FROM c x {join}) GROUP BY {sets_size} "
               "UNION ALL "
               f"SELECT {flag} AS overall, g, c, off, count(*) AS n "
               f"FROM (SELECT x.c, x.off, {g} AS g FROM r x {join}) GROUP BY {sets_ret}")
        rows = con.execute(sql, params).fetchall()
    report(progress, 0.9, "Summing up")
    last = _period_start(data_end, period)
    horizon = _coverage(period, last)
    overall = _matrix([r for r in rows if r[0] == 1], horizon, max_periods)
    groups = []
    if grp is not None:
        per_group: dict[str, list[tuple]] = {}
        for r in rows:
            if r[0] == 0:
                per_group.setdefault(r[1], []).append(r)
        sizes = {k: sum(r[4] for r in v if r[3] == -1) for k, v in per_group.items()}
        groups = [RetentionGroup(k, _matrix(per_group[k], horizon, max_periods)) for k in order_groups(sizes)]
    partial = pd.Timestamp(data_end) < _next_period(last, period) - pd.Timedelta(days=1)
    report(progress, 1.0, "Done")
    return RetentionResult(period, cohort_event, return_event, overall, data_end, bool(partial),
                           grp.label if grp else None, groups)


def _period_start(ts: datetime, period: str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    if period == "week":
        return (t - pd.Timedelta(days=t.weekday())).normalize()
    return t.normalize().replace(day=1)


def _next_period(start: pd.Timestamp, period: str) -> pd.Timestamp:
    return start + (pd.Timedelta(days=7) if period == "week" else pd.DateOffset(months=1))


def _coverage(period: str, last: pd.Timestamp):
    """Function: cohort start -> number of offsets the data covers for it (last offset + 1)."""
    def covered(c: pd.Timestamp) -> int:
        if period == "week":
            return (last - c).days // 7 + 1
        return (last.year - c.year) * 12 + last.month - c.month + 1
    return covered


def _matrix(rows: list[tuple], horizon, max_periods: int | None) -> CohortMatrix:
    """Rows ``(overall, g, cohort, offset, users)`` (offset -1 = cohort size) into a triangle."""
    sizes: dict[pd.Timestamp, int] = {}
    cells: dict[tuple[pd.Timestamp, int], int] = {}
    for _, _, c, off, n in rows:
        c = pd.Timestamp(c)
        if off == -1:
            sizes[c] = int(n)
        else:
            cells[(c, int(off))] = int(n)
    cohorts = sorted(sizes)
    counts = []
    for c in cohorts:
        width = horizon(c) if max_periods is None else min(horizon(c), max_periods + 1)
        counts.append([cells.get((c, p), 0) for p in range(width)])
    width = max((len(r) for r in counts), default=0)
    average, base = [], []
    for p in range(width):
        observed = [(row[p], sizes[c]) for c, row in zip(cohorts, counts) if p < len(row)]
        users = sum(n for _, n in observed)
        base.append(users)
        average.append(sum(k for k, _ in observed) / users if users else 0.0)
    return CohortMatrix([c.date() for c in cohorts], [sizes[c] for c in cohorts], counts, average, base)

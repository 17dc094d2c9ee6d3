"""Audiences from journeys: the users behind a funnel drop-off or a retention cohort cell.

Both functions apply exactly the definitions of :func:`analytics.journeys.funnel`
and :func:`analytics.journeys.retention` (same SQL), so an audience always has as
many users as the number shown on the chart it was picked from. The result is the
shared :class:`analytics.audiences.Audience`: a default name, a description a
marketer can read, the users and the rule that picked them, ready to be
stored in the workspace (:meth:`analytics.workspace.Workspace.save_audience`) or
downloaded (``analytics.exports.frame_bytes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import duckdb
import pandas as pd

from analytics.audiences import Audience
from analytics.errors import InvalidParameterError
from analytics.journeys._common import (
    check_event_name,
    check_events_occur,
    check_not_empty,
    check_steps,
    check_top,
    group_ctes,
    grouping_for,
    table_columns,
    window_micros,
)
from analytics.journeys._funnel_sql import funnel_ctes
from analytics.journeys.retention import check_retention_params, cohort_ctes


def funnel_dropoff_users(con: duckdb.DuckDBPyConnection, table: str, steps: Sequence[str], reached: int,
                         window_days: float = 7, *, exclude: str | None = None, any_order: bool = False,
                         by: str | None = None, segments: pd.DataFrame | duckdb.DuckDBPyRelation | None = None,
                         top: int = 10, group: str | None = None) -> Audience:
    """Users who reached step ``reached`` of the funnel but not step ``reached + 1``.

    With ``reached`` equal to the number of steps: the users who completed the
    funnel. The funnel rule and every parameter are those of
    :func:`analytics.journeys.funnel`; with a breakdown (``by`` or ``segments``),
    ``group`` picks one of its groups (as labelled in the funnel's result, e.g.
    "email" or "(other)").

    Returns
    -------
    analytics.audiences.Audience
        ``user_id, reached_at``; ``rule`` holds the parameters.
    """
    steps = check_steps(steps)
    if isinstance(reached, bool) or not isinstance(reached, int) or not 1 <= reached <= len(steps):
        raise InvalidParameterError(
            f"reached must be a step number from 1 to {len(steps)}, got {reached!r}.")
    window_us = window_micros(window_days)
    top = check_top(top)
    _check_group(group, by, segments)
    cols = table_columns(con, table)
    check_not_empty(con, table)
    roles = {f"step {i}": ev for i, ev in enumerate(steps, 1)}
    if exclude is not None:
        roles["exclusion event"] = check_event_name(exclude, "exclusion event")
        if exclude in steps:
            raise InvalidParameterError(f"The exclusion event {exclude!r} is also a step of the funnel.")
    check_events_occur(con, table, roles)
    query = funnel_ctes(table, steps, window_us, exclude, bool(any_order))
    params = dict(query.params)
    nxt = f" AND f.t{reached + 1} IS NULL" if reached < len(steps) else ""
    with grouping_for(con, cols, table, by=by, segments=segments, anchor_cte="w0", anchor_event_param="e1") as grp:
        ctes, join, where = query.ctes, "", ""
        if grp is not None and group is not None:
            ctes += ", " + group_ctes(grp, "w0")
            params.update(top=top, grp=group)
            join, where = "JOIN grp ON grp.user_id = f.user_id", " AND grp.g = $grp"
        users = con.execute(f"WITH {ctes} SELECT f.user_id, f.t{reached} AS reached_at FROM f {join} "
                            f"WHERE f.t{reached} IS NOT NULL{nxt}{where} ORDER BY f.user_id", params).df()
    in_group = grp is not None and group is not None
    if reached < len(steps):
        what = f"Reached {steps[reached - 1]!r} (step {reached}) but not {steps[reached]!r} (step {reached + 1})"
    else:
        what = f"Completed the funnel {' > '.join(steps)}"
    desc = f"{what} within {window_days:g} days" + (f", {grp.label} = {group}" if in_group else "")
    return Audience(dropoff_name(steps, reached, group if in_group else None), desc, users,
                    {"kind": "funnel", "steps": steps, "reached": reached, "window_days": window_days,
                     "exclude": exclude, "any_order": bool(any_order), "by": by,
                     "segments": segments is not None, "group": group})


def cohort_users(con: duckdb.DuckDBPyConnection, table: str, cohort_start: date | datetime | str,
                 offset: int | None = None, period: str = "week", *, retained: bool = True,
                 cohort_event: str | None = None, return_event: str | None = None, by: str | None = None,
                 segments: pd.DataFrame | duckdb.DuckDBPyRelation | None = None, top: int = 10,
                 group: str | None = None) -> Audience:
    """Users of one retention cohort cell (definitions of :func:`analytics.journeys.retention`).

    Parameters
    ----------
    cohort_start : date
        Start of the cohort's period (a Monday for weeks, the 1st for months), as
        listed in ``RetentionResult.matrix.cohort_starts``.
    offset : int, optional
        The period offset of the cell; ``None`` for the whole cohort.
    retained : bool
        ``True``: users active in that offset (the cell's count); ``False``: the
        cohort's users who were not (lost in that period).
    group : str, optional
        With a breakdown, one of its groups.

    Returns
    -------
    analytics.audiences.Audience
        ``user_id, cohort``; ``rule`` holds the parameters.
    """
    cols = check_retention_params(con, table, period, cohort_event, return_event, None)
    top = check_top(top)
    _check_group(group, by, segments)
    if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int) or offset < 0):
        raise InvalidParameterError(f"offset must be a whole number of periods from 0, got {offset!r}.")
    try:
        start = pd.Timestamp(cohort_start)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"cohort_start must be a date, got {cohort_start!r}.") from exc
    if start != start.normalize() or (start.weekday() if period == "week" else start.day - 1) != 0:
        first = "a Monday" if period == "week" else "the first day of a month"
        raise InvalidParameterError(
            f"cohort_start {start.date() if start == start.normalize() else start} is not the start of a {period} "
            f"cohort: use {first}, as listed in the retention result.")
    ctes, params = cohort_ctes(table, period, cohort_event, return_event, None)
    params["cs"] = start.to_pydatetime()
    cell = ""
    if offset is not None:
        params["off"] = offset
        cell = (f" AND {'' if retained else 'NOT '}EXISTS (SELECT 1 FROM r WHERE r.user_id = c.user_id "
                "AND r.off = $off)")
    with grouping_for(con, cols, table, by=by, segments=segments, anchor_cte="s",
                      anchor_event_param="ce" if cohort_event is not None else None) as grp:
        join = where = ""
        if grp is not None and group is not None:
            ctes += ", " + group_ctes(grp, "s")
            params.update(top=top, grp=group)
            join, where = "JOIN grp ON grp.user_id = c.user_id", " AND grp.g = $grp"
        users = con.execute(f"WITH {ctes} SELECT c.user_id, c.c AS cohort FROM c {join} "
                            f"WHERE c.c = $cs::TIMESTAMP{cell}{where} ORDER BY c.user_id", params).df()
    unit = "week" if period == "week" else "month"
    desc = f"{unit.capitalize()} cohort of {start.date()}"
    if offset is not None:
        desc += f", {'active' if retained else 'not active'} in {unit} {offset}"
    in_group = grp is not None and group is not None
    if in_group:
        desc += f", {grp.label} = {group}"
    rule = {"kind": "cohort", "cohort_start": str(start.date()), "offset": offset, "period": period,
            "retained": retained, "cohort_event": cohort_event, "return_event": return_event, "by": by,
            "segments": segments is not None, "group": group}
    return Audience(cohort_name(period, start.date(), offset, retained, group if in_group else None), desc, users,
                    rule)


def dropoff_name(steps: Sequence[str], reached: int, group: str | None = None) -> str:
    """The default name of a funnel audience (the user may change it)."""
    if reached < len(steps):
        name = f"Stopped after {steps[reached - 1]} (step {reached})"
    else:
        name = f"Completed {steps[0]} to {steps[-1]}"
    return name + (f", {group}" if group is not None else "")


def cohort_name(period: str, cohort_start: date, offset: int | None, retained: bool = True,
                group: str | None = None) -> str:
    """The default name of a cohort audience (the user may change it)."""
    unit = "Week" if period == "week" else "Month"
    name = f"{unit} {cohort_start} cohort"
    if offset is not None:
        name += f", {'back' if retained else 'not back'} in {unit.lower()} {offset}"
    return name + (f", {group}" if group is not None else "")


def _check_group(group: str | None, by: str | None, segments: object) -> None:
    if group is not None and by is None and segments is None:
        raise InvalidParameterError("A group was given without a breakdown: also give by= or segments=.")

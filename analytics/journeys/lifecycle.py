"""Lifecycle: how each week's active users split into new, returning and resurrected, and who went dormant.

One public entry point, :func:`lifecycle`, computed in DuckDB SQL over the
canonical events table.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.journeys._common import (
    Progress,
    check_event_name,
    check_events_occur,
    check_not_empty,
    report,
    table_columns,
)
from analytics.journeys.retention import PERIODS
from analytics.jsonable import json_safe
from analytics.sql import quote_ident, sql_literal

STATES = ("new", "returning", "resurrected", "dormant")


@dataclass(frozen=True)
class LifecycleResult:
    """Users per period and state: ``table`` has ``period_start, new, returning, resurrected, dormant, active``.

    ``active = new + returning + resurrected``; ``dormant`` counts users who were
    active in the previous period and not in this one (charts draw it below zero).
    """

    period: str
    event: str | None
    table: pd.DataFrame

    def to_dict(self) -> dict:
        return json_safe({"period": self.period, "event": self.event,
                          "periods": self.table.assign(period_start=self.table["period_start"].dt.date)
                          .to_dict(orient="records")})

    @classmethod
    def from_dict(cls, d: dict) -> LifecycleResult:
        """The result back from :meth:`to_dict` (as stored in the workspace)."""
        table = pd.DataFrame(d["periods"], columns=["period_start", *STATES, "active"])
        table["period_start"] = pd.to_datetime(table["period_start"])
        return cls(d["period"], d["event"], table.astype({c: "int64" for c in (*STATES, "active")}))


def lifecycle(con: duckdb.DuckDBPyConnection, table: str, period: str = "week", *, event: str | None = None,
              progress: Progress | None = None) -> LifecycleResult:
    """New, returning, resurrected and dormant users per week (or month).

    A user is *active* in a period (UTC; ISO weeks starting Monday, or calendar
    months) when they did at least one event in it (or one ``event``). For each
    period from the first to the last of the data:

    - **new**: active, and this is the user's first active period in the data;
    - **returning**: active in this period and in the one just before;
    - **resurrected**: active in this period, not in the one before, but in some
      earlier one;
    - **dormant**: active in the period before, not in this one.

    The first period of the data has only new users (nothing earlier is known),
    and "new" means new to this log, not necessarily to the business.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        The canonical events table.
    period : {"week", "month"}
    event : str, optional
        Count only this event as activity (default: any event).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    LifecycleResult
    """
    if period not in PERIODS:
        raise InvalidParameterError(f"period must be 'week' or 'month', got {period!r}.")
    report(progress, 0.0, "Checking the events")
    table_columns(con, table)
    check_not_empty(con, table)
    params: dict[str, object] = {}
    where = ""
    if event is not None:
        check_events_occur(con, table, {"activity event": check_event_name(event, "activity event")})
        params["ev"] = event
        where = " WHERE event = $ev"
    t, per = quote_ident(table), sql_literal(period)
    step = "INTERVAL 7 DAY" if period == "week" else "INTERVAL 1 MONTH"
    report(progress, 0.1, "Finding active users per period")
    sql = (
        f"WITH a AS MATERIALIZED (SELECT DISTINCT user_id, date_trunc({per}, ts) AS p FROM {t}{where}), "
        "f AS (SELECT user_id, min(p) AS fp FROM a GROUP BY user_id), "
        f"bounds AS (SELECT date_trunc({per}, min(ts)) AS lo, date_trunc({per}, max(ts)) AS hi FROM {t}), "
        "s AS (SELECT a.p, CASE WHEN a.p = f.fp THEN 'new' WHEN b.user_id IS NOT NULL THEN 'returning' "
        "ELSE 'resurrected' END AS state FROM a JOIN f ON f.user_id = a.user_id "
        f"LEFT JOIN a b ON b.user_id = a.user_id AND b.p = a.p - {step}), "
        f"d AS (SELECT b.p + {step} AS p, 'dormant' AS state FROM a b LEFT JOIN a ON a.user_id = b.user_id "
        f"AND a.p = b.p + {step} WHERE a.user_id IS NULL AND b.p + {step} <= (SELECT hi FROM bounds)), "
        "c AS (SELECT p, state, count(*) AS n FROM (SELECT * FROM s UNION ALL SELECT * FROM d) GROUP BY ALL), "
        f"g AS (SELECT unnest(generate_series(lo, hi, {step})) AS p FROM bounds) "
        "SELECT g.p AS period_start, "
        + ", ".join(f"coalesce(sum(c.n) FILTER (WHERE c.state = '{s}'), 0) AS {s}" for s in STATES)
        + " FROM g LEFT JOIN c ON c.p = g.p GROUP BY g.p ORDER BY g.p")
    out = con.execute(sql, params).df()
    for s in STATES:
        out[s] = out[s].astype("int64")
    out["active"] = out["new"] + out["returning"] + out["resurrected"]
    out["period_start"] = pd.to_datetime(out["period_start"])
    report(progress, 1.0, "Done")
    return LifecycleResult(period, event, out)

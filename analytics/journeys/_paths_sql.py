"""SQL of the paths: each user's events as one sorted list of numbers, cut at the anchor.

Every event becomes one integer key, ``(time in microseconds since the log's
start) * D + code`` with ``code`` the event's rank among the ``D`` distinct event
names, so sorting the keys orders by time and then by event name, and
``key % D`` gives the event back. One ``GROUP BY user_id`` builds each user's
list; list functions find the anchor, collapse runs and keep the first steps.
This needs no join of the events with themselves, which on 10M events is
several times faster than stepping from event to event with joins.
"""

from __future__ import annotations

import uuid

import duckdb
import numpy as np
import pandas as pd

from analytics.sql import quote_ident, sql_literal

# Up to this many distinct events the code comes from an inline ENUM cast; beyond, from a join.
ENUM_LIMIT = 2000
_BIGINT_SAFE = 2**62


def path_counts(con: duckdb.DuckDBPyConnection, table: str, event: str, steps: int, direction: str,
                collapse: bool) -> pd.DataFrame:
    """Distinct paths ``e0..eN`` (event names, ``None`` past the end) and their users ``n``."""
    t = quote_ident(table)
    rows = con.execute(f"SELECT event, epoch_us(min(ts)), epoch_us(max(ts)) FROM {t} GROUP BY event "
                       "ORDER BY event").fetchall()
    events = [r[0] for r in rows]
    lo, hi = min(r[1] for r in rows), max(r[2] for r in rows)
    d = len(events)
    anchor = events.index(event)
    key_type = "BIGINT" if (hi - lo + 1) * d < _BIGINT_SAFE else "HUGEINT"
    dict_name = None
    if d <= ENUM_LIMIT:
        code, join = f"enum_code(CAST(e.event AS ENUM({', '.join(sql_literal(v) for v in events)})))", ""
    else:
        dict_name = f"_ml_events_{uuid.uuid4().hex}"
        con.register(dict_name, pd.DataFrame({"event": events, "code": np.arange(d, dtype="int64")}))
        code, join = "dct.code", f" JOIN {dict_name} dct ON dct.event = e.event"
    key = f"(CAST(epoch_us(e.ts) - {lo} AS {key_type}) * {d} + {code})"
    if direction == "after":
        cut = "k[pos:]"
    else:
        cut = "list_reverse(k[1:pos])"
    same = f"x % {d} <> c[i - 1] % {d}" if collapse else "x <> c[i - 1]"
    cols = ", ".join(f"CAST(p[{j + 1}] % {d} AS INTEGER) AS e{j}" for j in range(steps + 1))
    sql = (f"WITH u AS (SELECT e.user_id, list({key}) AS k FROM {t} e{join} GROUP BY e.user_id "
           f"HAVING bool_or(e.event = $anchor)), "
           f"s AS (SELECT list_sort(k) AS k FROM u), "
           f"a AS (SELECT k, list_position(list_transform(k, lambda x: x % {d}), {anchor}) AS pos FROM s), "
           f"c AS (SELECT {cut} AS c FROM a), "
           # Drop each key that repeats the one before it (its event, when runs are collapsed).
           f"f AS (SELECT list_filter(c, lambda x, i: i = 1 OR {same})[1:{steps + 1}] AS p FROM c) "
           f"SELECT {cols}, count(*) AS n FROM f GROUP BY ALL")
    try:
        codes = con.execute(sql, {"anchor": event}).df()
    finally:
        if dict_name:
            con.unregister(dict_name)
    names = np.array(events, dtype=object)
    out = pd.DataFrame({"n": codes["n"].astype("int64")})
    for j in range(steps + 1):
        col = codes[f"e{j}"]
        present = col.notna().to_numpy()
        values = np.full(len(col), None, dtype=object)
        values[present] = names[col[present].astype("int64").to_numpy()]
        out.insert(j, f"e{j}", values)
    return out

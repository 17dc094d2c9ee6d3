"""Touch paths of conversions, in SQL: one row per touch that counts, the path table, the chain's transitions.

Rules (the tests pin each of them):

- A *touch* is a row with a value in the touch column (``channel``, ``campaign``,
  ...) whose event is a touch event (default: every event but the conversion).
- A user's timeline is cut into *journeys* at each conversion: a conversion
  closes the journey of the touches since the previous conversion (a touch at the
  same second as the conversion belongs to it). The touches after a user's last
  conversion form one non-converting journey.
- Only touches in the lookback window count: within ``lookback`` before the
  conversion, or before the last touch of a non-converting journey.
- With ``collapse_repeats`` (default) consecutive touches on the same value count
  once, at the time of the last of them (``email, email, search`` -> ``email,
  search``). For paths under the cap, first-touch, last-touch and the Markov
  chain do not depend on it (a self-loop does not change where a chain ends);
  linear and time-decay credit do.
- A path keeps its last ``max_touches`` touches (the ones nearest the
  conversion); longer paths are counted as capped.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from analytics.sql import quote_ident, sql_literal


@dataclass(frozen=True)
class PathSpec:
    """What makes a touch and a path (validated by :func:`analytics.attribution.attribute`)."""

    conversion: str
    by: str
    touch_events: tuple[str, ...] | None
    lookback_seconds: int
    max_touches: int
    collapse_repeats: bool


def build_touches(con: duckdb.DuckDBPyConnection, table: str, spec: PathSpec, out: str) -> None:
    """Create temp table ``out``: one row per counted touch of every journey.

    Columns: ``user_id, journey (the conversion time; NULL for the tail after the
    last conversion), ts, touch, converted (0/1), weight (conversions at that
    second, 1 for a non-converting journey), value (their amounts), pos
    (1 = first), from_end (1 = last), n (touches kept), capped``.

    One window pass over the log finds, for each touch, the next touch, the next
    conversion (its journey) and the user's last event (the end of the journey
    after the last conversion); everything after it works on the touches that count.
    """
    t, by = quote_ident(table), quote_ident(spec.by)
    only = ""
    if spec.touch_events is not None:
        only = " AND event IN (" + ", ".join(sql_literal(e) for e in spec.touch_events) + ")"
    keep_run_end = "AND next_touch IS DISTINCT FROM touch" if spec.collapse_repeats else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {quote_ident(out)} AS
        WITH base AS (
            SELECT user_id, ts, 0 AS is_conv, CAST({by} AS VARCHAR) AS touch
            FROM {t} WHERE event <> $conv AND {by} IS NOT NULL{only}
            UNION ALL
            SELECT user_id, ts, 1, NULL FROM {t} WHERE event = $conv
        ), seq AS (
            SELECT user_id, ts, is_conv, touch,
                   lead(touch) OVER w AS next_touch,
                   min(CASE WHEN is_conv = 1 THEN ts END) OVER ahead AS journey,
                   max(ts) OVER (PARTITION BY user_id) AS user_end
            FROM base
            WINDOW w AS (PARTITION BY user_id ORDER BY ts, is_conv, touch),
                   ahead AS (w ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
        ), kept AS (
            SELECT user_id, journey, ts, touch,
                   row_number() OVER (PARTITION BY user_id, journey ORDER BY ts DESC, touch DESC) AS from_end,
                   count(*) OVER (PARTITION BY user_id, journey) AS n_all
            FROM seq
            WHERE is_conv = 0 {keep_run_end} AND ts >= coalesce(journey, user_end) - to_seconds($lookback)
        ), conv AS (
            SELECT user_id, ts, count(*) AS weight, sum(amount) AS value FROM {t} WHERE event = $conv GROUP BY ALL
        )
        SELECT k.user_id, k.journey, k.ts, k.touch, CAST(k.journey IS NOT NULL AS INTEGER) AS converted,
               coalesce(c.weight, 1) AS weight, c.value, k.from_end, least(k.n_all, $cap) AS n,
               least(k.n_all, $cap) - k.from_end + 1 AS pos, k.n_all > $cap AS capped
        FROM kept k LEFT JOIN conv c ON k.user_id = c.user_id AND k.journey = c.ts
        WHERE k.from_end <= $cap
    """, {"conv": spec.conversion, "lookback": spec.lookback_seconds, "cap": spec.max_touches})


@dataclass(frozen=True)
class JourneyCounts:
    """How many journeys and conversions the touch table holds."""

    journeys: int
    converting: int
    capped: int
    values: int  # distinct touch values


def journey_counts(con: duckdb.DuckDBPyConnection, touches: str) -> JourneyCounts:
    row = con.execute(f"""
        SELECT coalesce(sum(weight), 0), coalesce(sum(weight * converted), 0),
               coalesce(sum(weight * CAST(capped AS INTEGER)), 0)
        FROM {quote_ident(touches)} WHERE from_end = 1
    """).fetchone()
    values = con.execute(f"SELECT count(DISTINCT touch) FROM {quote_ident(touches)}").fetchone()[0]
    return JourneyCounts(int(row[0]), int(row[1]), int(row[2]), int(values))


def path_table(con: duckdb.DuckDBPyConnection, touches: str, top: int) -> tuple[pd.DataFrame, int]:
    """The ``top`` paths by conversions (then by journeys), and how many distinct paths there are.

    Columns: ``path`` (list of touch values, first touch first), ``touches``,
    ``journeys``, ``conversions``, ``conversion_rate``.
    """
    t = quote_ident(touches)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {quote_ident(touches + '_paths')} AS
        SELECT path, len(path) AS touches, sum(weight) AS journeys, sum(weight * converted) AS conversions
        FROM (SELECT list(touch ORDER BY pos) AS path, max(converted) AS converted, max(weight) AS weight
              FROM {t} GROUP BY user_id, journey)
        GROUP BY path
    """)
    p = quote_ident(touches + "_paths")
    try:
        n = int(con.execute(f"SELECT count(*) FROM {p}").fetchone()[0])
        df = con.execute(f"""
            SELECT path, touches, journeys, conversions, conversions / journeys AS conversion_rate
            FROM {p} ORDER BY conversions DESC, journeys DESC, touches, array_to_string(path, chr(31)) LIMIT $top
        """, {"top": top}).df()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {p}")
    df["path"] = df["path"].map(list)
    for c in ("touches", "journeys", "conversions"):
        df[c] = df[c].astype("int64")
    return df, n


@dataclass(frozen=True)
class TransitionCounts:
    """Counts of the first-order chain over touch values (``states``, in order)."""

    states: list[str]
    start: np.ndarray  # (k,) journeys whose first touch is each state
    between: np.ndarray  # (k, k) touch -> next touch
    to_conversion: np.ndarray  # (k,) last touch of converting journeys
    to_null: np.ndarray  # (k,) last touch of non-converting journeys


def transition_counts(con: duckdb.DuckDBPyConnection, touches: str) -> TransitionCounts:
    """Aggregate the chain's transitions in SQL (a k x k table comes back, never the paths)."""
    t = quote_ident(touches)
    states = [r[0] for r in con.execute(f"SELECT DISTINCT touch FROM {t} ORDER BY touch").fetchall()]
    index = {s: i for i, s in enumerate(states)}
    k = len(states)
    start, to_conv, to_null = np.zeros(k), np.zeros(k), np.zeros(k)
    between = np.zeros((k, k))
    for touch, n in con.execute(f"SELECT touch, sum(weight) FROM {t} WHERE pos = 1 GROUP BY touch").fetchall():
        start[index[touch]] = n
    for touch, conv, n in con.execute(
            f"SELECT touch, converted, sum(weight) FROM {t} WHERE from_end = 1 GROUP BY touch, converted").fetchall():
        (to_conv if conv else to_null)[index[touch]] = n
    pairs = con.execute(f"""
        SELECT prev, touch, sum(weight) FROM (
            SELECT lag(touch) OVER (PARTITION BY user_id, journey ORDER BY pos) AS prev, touch, weight FROM {t})
        WHERE prev IS NOT NULL GROUP BY prev, touch
    """).fetchall()
    for a, b, n in pairs:
        between[index[a], index[b]] = n
    return TransitionCounts(states, start, between, to_conv, to_null)

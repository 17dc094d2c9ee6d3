"""SQL of the per-user funnel: when each user reached each step (or ``NULL``).

The CTEs built here end with ``w0(user_id, t0, t_end)`` (users who entered the
funnel, the time of their first step-1 event and the end of their window) and
``f(user_id, t1, ..., tn)``; :mod:`analytics.journeys.funnel` aggregates them and
:mod:`analytics.journeys.audiences` picks users from them. The rule they
implement is stated in :func:`analytics.journeys.funnel.funnel`.

Parameters are DuckDB ``$name`` parameters: ``$e1 .. $en`` (step events),
``$w`` (window in microseconds) and ``$ex`` (exclusion event).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analytics.sql import quote_ident


@dataclass(frozen=True)
class FunnelQuery:
    """CTE text (without the leading ``WITH``) and the parameters it needs."""

    ctes: str
    params: dict[str, object] = field(default_factory=dict)
    n_steps: int = 0


def funnel_ctes(table: str, steps: list[str], window_us: int, exclude: str | None, any_order: bool) -> FunnelQuery:
    """Per-user step times as CTEs ``w0`` and ``f`` (see the module docstring)."""
    t = quote_ident(table)
    params: dict[str, object] = {f"e{i}": ev for i, ev in enumerate(steps, 1)}
    params["w"] = window_us
    ctes = [f"s1 AS (SELECT user_id, min(ts) AS t0 FROM {t} WHERE event = $e1 GROUP BY user_id)"]
    if exclude is None:
        ctes.append("w0 AS (SELECT user_id, t0, t0 + to_microseconds($w) AS t_end FROM s1)")
    else:
        params["ex"] = exclude
        # The first exclusion event strictly after step 1 closes the window (an event at that very
        # moment still counts, which is why t_end is inclusive).
        ctes.append(
            f"x AS (SELECT s1.user_id, min(e.ts) AS tx FROM s1 JOIN {t} e ON e.user_id = s1.user_id "
            "WHERE e.event = $ex AND e.ts > s1.t0 AND e.ts <= s1.t0 + to_microseconds($w) GROUP BY s1.user_id)")
        ctes.append("w0 AS (SELECT s1.user_id, s1.t0, least(s1.t0 + to_microseconds($w), coalesce(x.tx, "
                    "s1.t0 + to_microseconds($w))) AS t_end FROM s1 LEFT JOIN x ON x.user_id = s1.user_id)")
    ctes += _any_order_ctes(t, steps) if any_order else _ordered_ctes(t, steps)
    return FunnelQuery(", ".join(ctes), params, len(steps))


def _time_col(k: int) -> str:
    """Column holding the time of step ``k`` (1-based); step 1 is the window's start ``t0``."""
    return "t0" if k == 1 else f"t{k}"


def _ordered_ctes(t: str, steps: list[str]) -> list[str]:
    """Step k: earliest event k at or after step k-1 and within the window; a repeated event strictly later."""
    # One pass over the log keeps the later steps' events inside each user's window; the steps are
    # then matched within that small set (on 10M events this halves the work of a join per step).
    events_in = ", ".join(f"$e{k}" for k in range(2, len(steps) + 1))
    ctes = [f"cand AS MATERIALIZED (SELECT e.user_id, e.event, e.ts FROM w0 p JOIN {t} e ON e.user_id = p.user_id "
            f"WHERE e.event IN ({events_in}) AND e.ts >= p.t0 AND e.ts <= p.t_end)"]
    carried = ["t0", "t_end"]
    prev_cte = "w0"
    for k in range(2, len(steps) + 1):
        conds = [f"e.event = $e{k}", f"e.ts >= p.{_time_col(k - 1)}", "e.ts <= p.t_end"]
        same = [j for j in range(1, k) if steps[j - 1] == steps[k - 1]]
        if same:
            # The same event cannot stand for two steps: it needs a strictly later occurrence.
            conds.append(f"e.ts > p.{_time_col(same[-1])}")
        carry = ", ".join(f"any_value(p.{c}) AS {c}" for c in carried)
        ctes.append(f"s{k} AS (SELECT p.user_id, {carry}, min(e.ts) AS t{k} FROM {prev_cte} p JOIN cand e "
                    f"ON e.user_id = p.user_id WHERE {' AND '.join(conds)} GROUP BY p.user_id)")
        carried.append(f"t{k}")
        prev_cte = f"s{k}"
    cols = ", ".join(f"s{k}.t{k}" for k in range(2, len(steps) + 1))
    joins = " ".join(f"LEFT JOIN s{k} ON s{k}.user_id = w0.user_id" for k in range(2, len(steps) + 1))
    ctes.append(f"f AS (SELECT w0.user_id, w0.t0 AS t1, {cols} FROM w0 {joins})")
    return ctes


def _any_order_ctes(t: str, steps: list[str]) -> list[str]:
    """Step k: every event of steps 1..k done within the window, in any order.

    An event that appears m times among steps 1..k needs m occurrences at
    distinct times; step k is reached when the last of them happened.
    """
    needs: list[tuple[int, int]] = []  # (step index whose $e param names the event, occurrence number)
    for k in range(1, len(steps) + 1):
        m = steps[:k].count(steps[k - 1])
        needs.append((k, m))
    later = sorted({k for k in range(2, len(steps) + 1)})
    events_in = ", ".join(f"$e{k}" for k in later)
    max_m = max(m for _, m in needs)
    ctes = [
        f"occ AS (SELECT user_id, event, ts, r FROM (SELECT e.user_id, e.event, e.ts, dense_rank() OVER "
        f"(PARTITION BY e.user_id, e.event ORDER BY e.ts) AS r FROM w0 p JOIN {t} e ON e.user_id = p.user_id "
        f"WHERE e.event IN ({events_in}) AND e.ts >= p.t0 AND e.ts <= p.t_end) WHERE r <= {max_m})"]
    firsts = ", ".join(f"min(ts) FILTER (WHERE event = $e{k} AND r = {m}) AS o{k}" for k, m in needs[1:])
    ctes.append(f"o AS (SELECT user_id, {firsts} FROM occ GROUP BY user_id)")
    cols = []
    for k in range(2, len(steps) + 1):
        parts = [f"o.o{j}" for j in range(2, k + 1)]
        null = " OR ".join(f"{p} IS NULL" for p in parts)
        cols.append(f"CASE WHEN {null} THEN NULL ELSE greatest(w0.t0, {', '.join(parts)}) END AS t{k}")
    ctes.append(f"f AS (SELECT w0.user_id, w0.t0 AS t1, {', '.join(cols)} FROM w0 "
                "LEFT JOIN o ON o.user_id = w0.user_id)")
    return ctes

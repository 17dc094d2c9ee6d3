"""Funnels, weekly/monthly retention, paths and lifecycle in plain pandas: a reference for speed and correctness.

Written from the rules as the docs state them, not from the SQL of
:mod:`analytics.journeys` (no shared code): funnels step through the events with
``merge_asof`` ("the earliest occurrence at or after ..."), retention uses pandas
periods, paths walk each user's sorted events by position. ``bench/`` times it
against the engine; the tests compare the two exactly.

Input: a canonical log as a DataFrame (``user_id, ts, event`` plus attributes),
``ts`` naive UTC ``datetime64``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

US = pd.Timedelta(microseconds=1)
EDGES_S = [0, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400,
           14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400, 180 * 86400]


def _times(events: pd.DataFrame, event: str) -> pd.DataFrame:
    out = events.loc[events["event"] == event, ["user_id", "ts"]]
    return out.sort_values("ts", kind="stable")


def _first_after(users: pd.DataFrame, lower: str, events: pd.DataFrame, upper: pd.Series) -> pd.Series:
    """Per user row: earliest event time >= users[lower] (NaT if none or later than ``upper``)."""
    left = users.loc[users[lower].notna(), ["user_id", lower]].sort_values(lower, kind="stable")
    left = left.reset_index()
    hit = pd.merge_asof(left, events.rename(columns={"ts": "_hit"}), left_on=lower, right_on="_hit",
                        by="user_id", direction="forward", allow_exact_matches=True)
    hit = hit.set_index("index")["_hit"].reindex(users.index)
    return hit.where(hit <= upper)


def funnel_times(events: pd.DataFrame, steps: list[str], window_days: float, exclude: str | None = None,
                 any_order: bool = False) -> pd.DataFrame:
    """One row per user who did step 1: columns ``t1..tn`` (NaT when the step is not reached), ``end``."""
    window = pd.Timedelta(microseconds=round(window_days * 86_400_000_000))
    users = _times(events, steps[0]).groupby("user_id")["ts"].min().rename("t1").reset_index()
    users["end"] = users["t1"] + window
    if exclude is not None:
        users["_after"] = users["t1"] + US  # strictly after step 1
        tx = _first_after(users, "_after", _times(events, exclude), users["end"])
        users["end"] = users["end"].where(tx.isna(), tx)
    if any_order:
        return _any_order(events, users, steps)
    for k in range(2, len(steps) + 1):
        prev = users[f"t{k - 1}"]
        lower = prev.copy()
        same = [j for j in range(1, k) if steps[j - 1] == steps[k - 1]]
        if same:
            # The same event cannot be both steps: strictly after the earlier step of that event.
            t_same = users[f"t{same[-1]}"]
            lower = lower.where(~(t_same == prev), prev + US)
        users["_lower"] = lower
        users[f"t{k}"] = _first_after(users, "_lower", _times(events, steps[k - 1]), users["end"])
    return users[["user_id"] + [f"t{k}" for k in range(1, len(steps) + 1)] + ["end"]]


def _any_order(events: pd.DataFrame, users: pd.DataFrame, steps: list[str]) -> pd.DataFrame:
    """Step k: the m-th distinct time of each event of steps 1..k inside [t1, end]; reached at the latest."""
    ev = events.merge(users[["user_id", "t1", "end"]], on="user_id")
    ev = ev[(ev["ts"] >= ev["t1"]) & (ev["ts"] <= ev["end"])]
    ev = ev[["user_id", "event", "ts"]].drop_duplicates().sort_values(["user_id", "event", "ts"])
    ev["nth"] = ev.groupby(["user_id", "event"]).cumcount() + 1
    nth = ev.set_index(["user_id", "event", "nth"])["ts"]
    out = users.set_index("user_id")
    reached = out["t1"]
    for k in range(2, len(steps) + 1):
        m = steps[:k].count(steps[k - 1])
        key = pd.MultiIndex.from_arrays([out.index, [steps[k - 1]] * len(out), [m] * len(out)])
        occ = pd.Series(nth.reindex(key).to_numpy(), index=out.index)
        both = reached.notna() & occ.notna()
        reached = reached.where(reached >= occ, occ).where(both)
        out[f"t{k}"] = reached
    return out.reset_index()[["user_id"] + [f"t{k}" for k in range(1, len(steps) + 1)] + ["end"]]


def funnel_summary(times: pd.DataFrame, n_steps: int) -> list[dict]:
    """Per step: users, median microseconds from the previous / first step, histogram of bucket -> users."""
    out = []
    for k in range(1, n_steps + 1):
        tk = times[f"t{k}"]
        row = {"users": int(tk.notna().sum()), "med_prev": None, "med_start": None, "hist": {}}
        if k > 1:
            done = tk.notna()
            d_prev = (tk[done] - times.loc[done, f"t{k - 1}"]) // US
            d_start = (tk[done] - times.loc[done, "t1"]) // US
            if done.any():
                row["med_prev"] = float(np.median(d_prev.to_numpy(dtype="int64")))
                row["med_start"] = float(np.median(d_start.to_numpy(dtype="int64")))
            edges_us = np.array(EDGES_S[1:], dtype="int64") * 1_000_000
            bucket = np.searchsorted(edges_us, d_prev.to_numpy(dtype="int64"), side="right")
            row["hist"] = {int(b): int(n) for b, n in zip(*np.unique(bucket, return_counts=True))}
        out.append(row)
    return out


def user_groups(events: pd.DataFrame, anchors: pd.DataFrame, by: str, top: int, anchor_event: str | None,
                missing: str = "(none)") -> pd.Series:
    """Breakdown group per user: value of ``by`` on the anchor event (smallest on ties), top values or "(other)"."""
    ev = events if anchor_event is None else events[events["event"] == anchor_event]
    at = ev.merge(anchors[["user_id", "t0"]], left_on=["user_id", "ts"], right_on=["user_id", "t0"])
    v = at.dropna(subset=[by]).groupby("user_id")[by].min().astype(str)
    v = v.reindex(anchors["user_id"])
    counts = v.dropna().value_counts()
    ranked = sorted(counts.index, key=lambda x: (-counts[x], x))[:top]
    g = v.where(v.isin(ranked), "(other)").where(v.notna(), missing)
    return g


def retention_counts(events: pd.DataFrame, period: str = "week", cohort_event: str | None = None,
                     return_event: str | None = None) -> tuple[pd.Series, pd.DataFrame]:
    """Cohort sizes (index: cohort start) and users per (cohort start, offset) as a crosstab."""
    freq = "W-SUN" if period == "week" else "M"
    start_ev = events if cohort_event is None else events[events["event"] == cohort_event]
    t0 = start_ev.groupby("user_id")["ts"].min().rename("t0")
    cohort = t0.dt.to_period(freq)
    act = events if return_event is None else events[events["event"] == return_event]
    act = act[["user_id", "ts"]].merge(t0.reset_index(), on="user_id")
    act = act[act["ts"] >= act["t0"]]
    p = act["ts"].dt.to_period(freq)
    c = act["user_id"].map(cohort)
    # Period ordinals count whole weeks (months) since the epoch: their difference is the offset.
    offset = pd.PeriodIndex(p).asi8 - pd.PeriodIndex(c).asi8
    cells = pd.DataFrame({"user_id": act["user_id"].to_numpy(), "cohort": c.dt.start_time.to_numpy(),
                          "offset": offset})
    cells = cells.drop_duplicates()
    sizes = cohort.dt.start_time.value_counts().sort_index()
    table = pd.crosstab(cells["cohort"], cells["offset"])
    return sizes, table


def paths_table(events: pd.DataFrame, anchor: str, steps: int, direction: str = "after",
                collapse_repeats: bool = True) -> pd.DataFrame:
    """One row per user with the anchor: ``e0`` (the anchor) and ``e1..eN`` (``None`` after the path ends).

    Events are ordered by (time, event name); equal (user, time, event) rows are
    one. Walking away from the user's first anchor (forwards or backwards), runs
    of one event are merged when ``collapse_repeats``.
    """
    ev = events[["user_id", "ts", "event"]].drop_duplicates()
    ts0 = ev["user_id"].map(ev[ev["event"] == anchor].groupby("user_id")["ts"].min())
    if direction == "after":
        keep = (ev["ts"] > ts0) | ((ev["ts"] == ts0) & (ev["event"] >= anchor))
    else:
        keep = (ev["ts"] < ts0) | ((ev["ts"] == ts0) & (ev["event"] <= anchor))
    asc = direction == "after"
    tail = ev[keep].sort_values(["user_id", "ts", "event"], ascending=[True, asc, asc], kind="stable")
    if collapse_repeats:
        same = tail["event"].eq(tail["event"].shift()) & tail["user_id"].eq(tail["user_id"].shift())
        tail = tail[~same]
    tail = tail.assign(k=tail.groupby("user_id").cumcount())
    tail = tail[tail["k"] <= steps]
    wide = tail.pivot(index="user_id", columns="k", values="event")
    wide = wide.reindex(columns=range(steps + 1))
    wide.columns = [f"e{k}" for k in range(steps + 1)]
    return wide.reset_index()


def path_counts(wide: pd.DataFrame) -> pd.DataFrame:
    """Distinct paths and their users (``e0..eN``, ``n``)."""
    cols = [c for c in wide.columns if c.startswith("e")]
    return wide.groupby(cols, dropna=False).size().rename("n").reset_index()


def lifecycle_table(events: pd.DataFrame, period: str = "week", event: str | None = None) -> pd.DataFrame:
    """``period_start, new, returning, resurrected, dormant`` per period of the data."""
    freq = "W-SUN" if period == "week" else "M"
    ev = events if event is None else events[events["event"] == event]
    act = pd.DataFrame({"user_id": ev["user_id"], "p": ev["ts"].dt.to_period(freq)}).drop_duplicates()
    allp = pd.period_range(events["ts"].min().to_period(freq), events["ts"].max().to_period(freq), freq=freq)
    first = act.groupby("user_id")["p"].min()
    shifted = act.assign(p=act["p"] + 1, was_active=True)  # "active in the period before p"
    act = act.merge(shifted, on=["user_id", "p"], how="left")
    act["state"] = np.where(act["p"] == act["user_id"].map(first), "new",
                            np.where(act["was_active"].fillna(False).astype(bool), "returning", "resurrected"))
    counts = pd.crosstab(act["p"], act["state"]).reindex(index=allp, fill_value=0)
    gone = shifted.merge(act[["user_id", "p"]], on=["user_id", "p"], how="left", indicator=True)
    gone = gone[(gone["_merge"] == "left_only") & (gone["p"] <= allp[-1])]
    out = pd.DataFrame({"period_start": allp.start_time})
    for s in ("new", "returning", "resurrected"):
        out[s] = counts[s].to_numpy() if s in counts else 0
    out["dormant"] = gone["p"].value_counts().reindex(allp, fill_value=0).to_numpy()
    return out

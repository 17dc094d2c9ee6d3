"""An independent, deliberately plain implementation of attribution, for the tests.

Pure Python over one user at a time (fine for the small samples the tests use):
journeys are cut by walking each user's events in order, then filtered to the
lookback window, then repeats collapsed, then capped: the documented rules in
the order they are stated, not the order the SQL happens to apply them. The
Markov chain is solved by propagating probability mass (value iteration) on
dictionaries, not by a matrix inverse.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pandas as pd


@dataclass
class Journey:
    touches: list[tuple[int, str]]  # (time in epoch seconds, touch value)
    weight: int  # conversions closing it at the same second (1 for a non-converting journey)
    converted: bool
    end: int
    value: float


def journeys(events: pd.DataFrame, conversion: str, by: str, lookback_days: float = 30, collapse: bool = True,
             max_touches: int = 50, touch_events: list[str] | None = None) -> list[Journey]:
    """Every journey (converting or not) with the touches that count, first touch first."""
    out = []
    lookback = int(round(lookback_days * 86400))
    seconds = events["ts"].astype("datetime64[s]").astype("int64").tolist()
    per_user: dict[str, list] = defaultdict(list)
    for user, ts, event, touch, amount in zip(events["user_id"], seconds, events["event"], events[by],
                                              events["amount"]):
        if event == conversion:
            per_user[user].append((ts, 1, "", amount))
        elif pd.notna(touch) and (touch_events is None or event in touch_events):
            per_user[user].append((ts, 0, str(touch), None))
    for user in sorted(per_user):
        rows = sorted(per_user[user], key=lambda x: (x[0], x[1], x[2]))
        current: list[tuple[int, str]] = []
        i = 0
        while i < len(rows):
            ts, is_conv, touch, amount = rows[i]
            if not is_conv:
                current.append((ts, touch))
                i += 1
                continue
            # Conversions at the same second close the same journey together.
            weight, value = 0, 0.0
            while i < len(rows) and rows[i][1] == 1 and rows[i][0] == ts:
                weight += 1
                value += 0.0 if pd.isna(rows[i][3]) else float(rows[i][3])
                i += 1
            out.append(_finish(current, ts, weight, True, value, lookback, collapse, max_touches))
            current = []
        if current:
            out.append(_finish(current, current[-1][0], 1, False, 0.0, lookback, collapse, max_touches))
    return out


def _finish(touches, end, weight, converted, value, lookback, collapse, max_touches) -> Journey:
    kept = [(ts, t) for ts, t in touches if ts >= end - lookback]
    if collapse:
        merged: list[tuple[int, str]] = []
        for ts, t in kept:
            if merged and merged[-1][1] == t:
                merged[-1] = (ts, t)  # the run counts once, at its last time
            else:
                merged.append((ts, t))
        kept = merged
    kept = kept[-max_touches:]
    return Journey(kept, weight, converted, end, value)


def rule_credits(js: list[Journey], half_life_days: float = 7.0) -> dict[str, dict[str, float]]:
    """model -> touch value -> conversions credited."""
    credit: dict[str, dict[str, float]] = {m: defaultdict(float) for m in
                                           ("first_touch", "last_touch", "linear", "time_decay")}
    for j in js:
        if not j.converted or not j.touches:
            continue
        n = len(j.touches)
        credit["first_touch"][j.touches[0][1]] += j.weight
        credit["last_touch"][j.touches[-1][1]] += j.weight
        weights = [0.5 ** ((j.end - ts) / (half_life_days * 86400)) for ts, _ in j.touches]
        total = sum(weights)
        for (_, t), w in zip(j.touches, weights):
            credit["linear"][t] += j.weight / n
            credit["time_decay"][t] += j.weight * w / total
    return {m: dict(v) for m, v in credit.items()}


def path_counts(js: list[Journey]) -> dict[tuple[str, ...], tuple[int, int]]:
    """path -> (journeys, conversions), journeys without touches left out."""
    out: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for j in js:
        if j.touches:
            key = tuple(t for _, t in j.touches)
            out[key][0] += j.weight
            out[key][1] += j.weight if j.converted else 0
    return {k: (v[0], v[1]) for k, v in out.items()}


def markov(paths: dict[tuple[str, ...], tuple[int, int]], tol: float = 1e-13) -> dict[str, float]:
    """Removal-effect credit per state, from path -> (journeys, conversions), by value iteration."""
    trans: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    conversions = 0
    for path, (n, conv) in paths.items():
        walk = ["(start)", *path]
        for a, b in zip(walk[:-1], walk[1:]):
            trans[a][b] += n
        trans[path[-1]]["(conversion)"] += conv
        trans[path[-1]]["(null)"] += n - conv
        conversions += conv
    prob = {a: {b: c / sum(row.values()) for b, c in row.items()} for a, row in trans.items()}

    def p_convert(removed: str | None) -> float:
        x = defaultdict(float)
        x["(conversion)"] = 1.0
        while True:
            delta = 0.0
            for a, row in prob.items():
                if a == removed:
                    continue
                new = sum(p * (0.0 if b == removed else x[b]) for b, p in row.items())
                delta = max(delta, abs(new - x[a]))
                x[a] = new
            if delta < tol:
                return x["(start)"]

    base = p_convert(None)
    states = sorted({s for p in paths for s in p})
    effects = {s: 1 - p_convert(s) / base for s in states}
    total = sum(effects.values())
    return {s: e / total * conversions for s, e in effects.items()}

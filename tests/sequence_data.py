"""A behaviour log where order matters and counts do not: the "hidden sequence signal" of the sequence models.

Every user has the same kinds of events in the same numbers on average, the
same span, the same recency and exactly one long absence (5 to 15 days) shortly
before the cutoff, after which they come back for a short session. What differs
is *which event came right before they left*:

- "signal" users left right after putting something in the cart (``cart`` ->
  long gap -> return visit) and buy in the 30 days after the cutoff with
  probability ``p_buy[1]``;
- the others left right after a ``search`` and buy with probability ``p_buy[0]``.

Each user has exactly one forced ``cart`` and one forced ``search`` (one of them
right before the absence, the other at a random earlier position); all other
events are drawn from the same distribution for everyone, and earlier purchases
(with amounts) too. So per-user counts, amounts, recency, tenure and sessions
have the same distribution in both groups: aggregates cannot tell them apart,
and only a model that reads the order can. Used by ``tests/test_sequences_*.py``
(small) and ``bench/bench_sequence.py`` (50k users).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

CUTOFF = datetime(2024, 6, 30, 23, 59, 59)
HORIZON_DAYS = 30
OTHER_EVENTS = np.array(["view", "visit", "click", "cart", "search"])
OTHER_P = np.array([0.5, 0.2, 0.1, 0.1, 0.1])


def hidden_signal_events(n_users: int, *, seed: int = 0, min_events: int = 12, max_events: int = 200,
                         mean_events: float = 50.0, signal_share: float = 0.5,
                         p_buy: tuple[float, float] = (0.1, 0.6)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The log and the truth.

    Returns
    -------
    events : DataFrame
        ``user_id, ts, event, amount``, sorted by user then time; purchases after
        :data:`CUTOFF` are the labels of a 30-day "purchase" target.
    truth : DataFrame
        ``user_id, signal, buys`` per user.
    """
    rng = np.random.default_rng(seed)
    sigma = 0.7
    counts = np.clip(np.round(rng.lognormal(np.log(mean_events) - sigma ** 2 / 2, sigma, n_users)),
                     min_events, max_events).astype(int)
    signal = rng.random(n_users) < signal_share
    buys = rng.random(n_users) < np.where(signal, p_buy[1], p_buy[0])
    cutoff_s = CUTOFF.timestamp()
    users, times, kinds, amounts = [], [], [], []
    for u in range(n_users):
        n = counts[u]
        types = rng.choice(OTHER_EVENTS, size=n, p=OTHER_P).astype(object)
        if rng.random() < 0.3:  # an earlier purchase, same chance for everyone
            types[rng.integers(0, n - 8)] = "purchase"
        back = int(rng.integers(3, 8))  # events in the return session
        g = n - back  # first event after the absence
        other = int(rng.integers(0, g - 1))
        types[g - 1], types[other] = ("cart", "search") if signal[u] else ("search", "cart")
        # Times backwards from the cutoff: the return session, the absence, then sessions of browsing.
        last = cutoff_s - rng.uniform(0, 4 * 86400)
        in_session = rng.uniform(20, 300, size=n)
        t = np.empty(n)
        t[n - 1] = last
        for j in range(n - 2, -1, -1):
            if j == g - 1:
                step = rng.uniform(5, 15) * 86400
            elif rng.random() < 0.15:
                step = rng.exponential(2 * 86400)
            else:
                step = in_session[j]
            t[j] = t[j + 1] - step
        users.append(np.full(n, u))
        times.append(t)
        kinds.append(types)
        amounts.append(np.where(types == "purchase", np.round(rng.lognormal(3.5, 0.5, n), 2), np.nan))
        if rng.random() < 0.3 or u == 0:  # activity after the cutoff that is not a purchase (user 0: till the end)
            users.append(np.array([u]))
            times.append(np.array([cutoff_s + (HORIZON_DAYS + 1) * 86400 if u == 0
                                   else cutoff_s + rng.uniform(0, HORIZON_DAYS + 1) * 86400]))
            kinds.append(np.array(["visit"], dtype=object))
            amounts.append(np.array([np.nan]))
        if buys[u]:
            users.append(np.array([u]))
            times.append(np.array([cutoff_s + rng.uniform(1, HORIZON_DAYS - 1) * 86400]))
            kinds.append(np.array(["purchase"], dtype=object))
            amounts.append(np.array([round(float(rng.lognormal(3.5, 0.5)), 2)]))
    ids = np.array([f"u{u:06d}" for u in range(n_users)], dtype=object)
    events = pd.DataFrame({"user_id": ids[np.concatenate(users)],
                           "ts": pd.to_datetime(np.round(np.concatenate(times)), unit="s"),
                           "event": np.concatenate(kinds), "amount": np.concatenate(amounts)})
    truth = pd.DataFrame({"user_id": ids, "signal": signal, "buys": buys})
    return events, truth


def without_torch(monkeypatch) -> None:
    """Make ``import torch`` / ``import safetensors`` fail as on a machine without them (for this test only).

    The import itself is refused, rather than ``sys.modules["torch"] = None``, which
    libraries that look for an already imported torch (scipy's array API helpers) would trip on.
    """
    import builtins

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.split(".")[0] in ("torch", "safetensors"):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)


def write_log(events: pd.DataFrame, path: Path) -> Path:
    """The events as a gzipped CSV (what an upload looks like)."""
    out = events.assign(ts=events["ts"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    out.to_csv(path, index=False, compression="gzip")
    return path


def target_cutoff() -> datetime:
    """The cutoff of the hidden-signal target (labels in the 30 days after it)."""
    return CUTOFF


def horizon() -> timedelta:
    return timedelta(days=HORIZON_DAYS)

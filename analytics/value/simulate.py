"""Seeded simulators that draw customers from each value model itself.

Used by the tests (parameter recovery: fit on data simulated from known
parameters and get them back) and by the benchmark. Everything is vectorised:
the loops run over purchase *rounds* (a few dozen), never over customers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

DAY_S = 86_400.0


def _ages(n: int, T: float | tuple[float, float] | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Observation lengths: one value, a (low, high) range drawn uniformly, or an array of length n."""
    if isinstance(T, tuple):
        return rng.uniform(T[0], T[1], n)
    return np.broadcast_to(np.asarray(T, float), (n,)).copy()


def bgnbd_purchase_times(n: int, r: float, alpha: float, a: float, b: float, horizon: np.ndarray,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Repeat-purchase times (since the first purchase) of BG/NBD customers up to ``horizon``.

    Returns ``(customer index, time)`` of every repeat purchase. While alive a customer
    buys at rate ``lambda ~ Gamma(r, rate alpha)``; after each repeat purchase they
    drop out with probability ``p ~ Beta(a, b)``.
    """
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    t = np.zeros(n)
    alive = np.arange(n)
    who, when = [], []
    while alive.size:
        t[alive] += rng.exponential(1.0, alive.size) / np.maximum(lam[alive], 1e-300)
        alive = alive[t[alive] <= horizon[alive]]
        who.append(alive)
        when.append(t[alive].copy())
        alive = alive[rng.random(alive.size) >= p[alive]]
    return np.concatenate(who), np.concatenate(when)


def paretonbd_purchase_times(n: int, r: float, alpha: float, s: float, beta: float, horizon: np.ndarray,
                             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Repeat-purchase times of Pareto/NBD customers: Poisson buying until an exponential lifetime ends.

    ``lambda ~ Gamma(r, rate alpha)``, ``mu ~ Gamma(s, rate beta)``, lifetime ``~ Exp(mu)``.
    """
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    end = np.minimum(rng.exponential(1.0, n) / np.maximum(mu, 1e-300), horizon)
    t = np.zeros(n)
    alive = np.arange(n)
    who, when = [], []
    while alive.size:
        t[alive] += rng.exponential(1.0, alive.size) / np.maximum(lam[alive], 1e-300)
        alive = alive[t[alive] <= end[alive]]
        who.append(alive)
        when.append(t[alive].copy())
    return np.concatenate(who), np.concatenate(when)


def _summary(n: int, who: np.ndarray, when: np.ndarray, T: np.ndarray) -> pd.DataFrame:
    x = np.bincount(who, minlength=n).astype(float)
    tx = np.zeros(n)
    np.maximum.at(tx, who, when)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float,
                   T: float | tuple[float, float] | np.ndarray = 52.0, random_state: int = 0) -> pd.DataFrame:
    """Customer summary (``frequency, recency, T``) of ``n`` customers drawn from BG/NBD.

    ``T`` is one age for all, a ``(low, high)`` range (uniform) or an array; the time
    unit is whatever ``alpha`` is expressed in.
    """
    rng = np.random.default_rng(random_state)
    ages = _ages(n, T, rng)
    who, when = bgnbd_purchase_times(n, r, alpha, a, b, ages, rng)
    return _summary(n, who, when, ages)


def simulate_paretonbd(n: int, r: float, alpha: float, s: float, beta: float,
                       T: float | tuple[float, float] | np.ndarray = 52.0, random_state: int = 0) -> pd.DataFrame:
    """Customer summary (``frequency, recency, T``) of ``n`` customers drawn from Pareto/NBD."""
    rng = np.random.default_rng(random_state)
    ages = _ages(n, T, rng)
    who, when = paretonbd_purchase_times(n, r, alpha, s, beta, ages, rng)
    return _summary(n, who, when, ages)


def simulate_gamma_gamma(frequency: np.ndarray, p: float, q: float, gamma: float,
                         random_state: int = 0) -> np.ndarray:
    """Mean spend over ``frequency`` transactions per customer under Gamma-Gamma (NaN where frequency is 0).

    Each customer's spend per transaction is ``Gamma(p, rate nu)`` with
    ``nu ~ Gamma(q, rate gamma)``; the sum of ``x`` such draws is ``Gamma(p x, rate nu)``.
    """
    rng = np.random.default_rng(random_state)
    x = np.asarray(frequency, float)
    nu = rng.gamma(q, 1.0 / gamma, x.size)
    total = rng.gamma(np.where(x > 0, p * x, 1.0), 1.0 / nu)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, total / np.where(x > 0, x, 1.0), np.nan)


def simulate_transaction_log(n: int, params: dict[str, float], *, model: str = "bgnbd",
                             spend_params: dict[str, float] | None = None, start: datetime = datetime(2024, 1, 1),
                             acquisition_days: float = 84.0, total_days: float = 364.0,
                             random_state: int = 0) -> pd.DataFrame:
    """A purchase log (``user_id, ts, event, amount``) of customers drawn from BG/NBD or Pareto/NBD.

    Customers make their first purchase uniformly in the first ``acquisition_days``
    days after ``start`` and are followed until ``start + total_days``. Times are in
    days: ``params`` are ``r, alpha, a, b`` (``model="bgnbd"``) or ``r, alpha, s, beta``
    (``model="paretonbd"``) with ``alpha``/``beta`` per day. Order values follow
    Gamma-Gamma with ``spend_params`` ``p, q, gamma`` (default 6, 4, 15). Several
    purchases of one customer on one calendar day are possible, as in real logs.
    """
    rng = np.random.default_rng(random_state)
    first = rng.uniform(0, acquisition_days, n)
    horizon = total_days - first
    if model == "paretonbd":
        who, when = paretonbd_purchase_times(n, params["r"], params["alpha"], params["s"], params["beta"],
                                             horizon, rng)
    else:
        who, when = bgnbd_purchase_times(n, params["r"], params["alpha"], params["a"], params["b"], horizon, rng)
    users = np.concatenate([np.arange(n), who])
    days = np.concatenate([first, first[who] + when])
    sp = {"p": 6.0, "q": 4.0, "gamma": 15.0, **(spend_params or {})}
    nu = rng.gamma(sp["q"], 1.0 / sp["gamma"], n)
    amount = np.round(rng.gamma(sp["p"], 1.0 / nu[users]), 2)
    ts = pd.Timestamp(start) + pd.to_timedelta(np.round(days * DAY_S), unit="s")
    frame = pd.DataFrame({"user_id": np.char.add("c", users.astype(str)), "ts": ts, "event": "purchase",
                          "amount": amount})
    return frame.sort_values(["ts", "user_id"], ignore_index=True)


def end_of(start: datetime, total_days: float) -> datetime:
    """The instant a simulated log stops (``start + total_days``)."""
    return start + timedelta(days=total_days)

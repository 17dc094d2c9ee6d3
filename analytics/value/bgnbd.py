"""BG/NBD: the beta-geometric / negative binomial model of repeat buying (Fader, Hardie & Lee 2005).

Story: while alive, a customer buys at a steady rate ``lambda`` (Poisson); after
each repeat purchase they drop out for good with probability ``p``. Across
customers ``lambda ~ Gamma(r, alpha)`` (shape, rate) and ``p ~ Beta(a, b)``.

Needs the customer summary of :func:`analytics.value.customer_summary`:
``frequency`` (repeat purchase occasions ``x``), ``recency`` (``t_x``, time of the
last occasion since the first) and ``T`` (time since the first purchase), all
times in one unit (days or weeks); ``alpha`` comes out in that unit.

A known property worth telling marketers: BG/NBD only lets customers drop out
right after a repeat purchase, so every customer with no repeat purchase has
P(alive) = 1 however long ago they bought. Pareto/NBD does not have this quirk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, hyp2f1

from analytics.value._mle import Compressed, FitResult, as_arrays, maximise, unique_rows

PARAMS = ("r", "alpha", "a", "b")
BOUND_HINTS = {
    ("b", "upper"): "almost nobody seems to drop out; P(alive) will be close to 1 for everyone",
    ("a", "lower"): "almost nobody seems to drop out; P(alive) will be close to 1 for everyone",
    ("r", "upper"): "customers look alike in how often they buy (no heterogeneity)",
    ("alpha", "upper"): "customers look alike in how often they buy (no heterogeneity)",
}


def log_likelihood(params: dict[str, float] | np.ndarray, x: np.ndarray, tx: np.ndarray,
                   T: np.ndarray) -> np.ndarray:
    """Log-likelihood of each customer (FHL 2005, eq. 6), computed in log space.

    Parameters
    ----------
    params : dict or array
        ``r, alpha, a, b`` (dict by name, or an array in that order).
    x, tx, T : arrays
        Repeat purchases, recency and age, in one time unit.
    """
    theta = np.log(_vector(params))
    d = Compressed(np.asarray(x, float), np.asarray(tx, float), np.asarray(T, float), np.ones(np.size(x)),
                   *np.unique(np.asarray(x, float), return_inverse=True))
    return _loglik_terms(theta, d, grad=False)[0]


def _vector(params: dict[str, float] | np.ndarray) -> np.ndarray:
    if isinstance(params, dict):
        return np.array([params[k] for k in PARAMS], float)
    return np.asarray(params, float)


def _loglik_terms(theta: np.ndarray, d: Compressed, grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row log-likelihood and (optionally) per-row gradient w.r.t. the log-parameters."""
    r, alpha, a, b = np.exp(theta)
    ux, xi, x = d.ux, d.xi, d.x
    pos = ux > 0
    lb_ab = betaln(a, b)
    per_x_gamma = gammaln(r + ux) - gammaln(r)
    l1 = betaln(a, b + ux) - lb_ab
    # Only customers with a repeat purchase can have dropped out; b + x - 1 is then > 0.
    l2 = np.where(pos, betaln(a + 1, np.where(pos, b + ux - 1, 1.0)) - lb_ab, -np.inf)
    log_aT = np.log(alpha + d.T)
    log_atx = np.log(alpha + d.tx)
    t1 = l1[xi] - (r + x) * log_aT
    t2 = l2[xi] - (r + x) * log_atx
    lse = np.logaddexp(t1, t2)
    ll = per_x_gamma[xi] + r * np.log(alpha) + lse
    if not grad:
        return ll, None
    w1 = np.exp(t1 - lse)
    w2 = 1.0 - w1
    psi_abx = digamma(a + b + ux)
    g = np.empty((4, x.size))  # parameter-major: the weighted sum below is then one contiguous pass
    g[0] = (digamma(r + ux) - digamma(r))[xi] + np.log(alpha) - w1 * log_aT - w2 * log_atx
    g[1] = r / alpha - (r + x) * (w1 / (alpha + d.T) + w2 / (alpha + d.tx))
    g[2] = ((digamma(a) - psi_abx)[xi] * w1 + (digamma(a + 1) - psi_abx)[xi] * w2
               - (digamma(a) - digamma(a + b)))
    psi_bx1 = np.where(pos, digamma(np.where(pos, b + ux - 1, 1.0)), 0.0)
    g[3] = ((digamma(b + ux) - psi_abx)[xi] * w1 + (psi_bx1 - psi_abx)[xi] * w2
               - (digamma(b) - digamma(a + b)))
    return ll, g * np.exp(theta)[:, None]


class BetaGeoModel:
    """BG/NBD model: fit by maximum likelihood, then P(alive) and expected purchases per customer.

    Needs a customer summary with columns ``frequency``, ``recency`` and ``T``
    (see :func:`analytics.value.customer_summary`), times in days or weeks.

    Parameters
    ----------
    params : dict, optional
        Known parameters ``r, alpha, a, b`` (skip :meth:`fit`, e.g. published values).
    time_unit : str, optional
        Unit of ``T`` and ``alpha`` (for reports only).

    Examples
    --------
    >>> model = BetaGeoModel().fit(summary.frame)
    >>> model.params, model.result.std_errors
    >>> model.expected_purchases(summary.frame, t=30)
    """

    name = "bgnbd"
    label = "BG/NBD"
    param_names = PARAMS

    def __init__(self, params: dict[str, float] | None = None, time_unit: str | None = None):
        self.result: FitResult | None = None
        self.time_unit = time_unit
        self._params = None if params is None else {k: float(params[k]) for k in PARAMS}

    @property
    def params(self) -> dict[str, float]:
        """Fitted (or given) parameters ``r, alpha, a, b``."""
        if self._params is None:
            raise RuntimeError("Fit the model first (BetaGeoModel.fit).")
        return dict(self._params)

    def fit(self, data: pd.DataFrame, time_unit: str | None = None) -> BetaGeoModel:
        """Maximum-likelihood fit on the summary; the outcome (and any warning) is in :attr:`result`."""
        x, tx, T = as_arrays(data, ["frequency", "recency", "T"])
        d = Compressed.of(x, tx, T)
        n = d.n
        wn = d.w / n

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            ll, g = _loglik_terms(theta, d, grad=True)
            return float(-(wn @ ll)), -(g @ wn)

        rate = max(float((d.w * d.x).sum() / max((d.w * d.T).sum(), 1e-9)), 1e-6)
        starts = [np.log([1.0, 1.0 / rate, 1.0, 3.0]), np.log([0.3, 0.3 / rate, 0.5, 1.0]),
                  np.log([3.0, 3.0 / rate, 2.0, 10.0])]
        self.time_unit = time_unit or self.time_unit
        self.result = maximise(objective, starts, PARAMS, n, model=self.name, label=self.label, has_grad=True,
                               time_unit=self.time_unit, bound_hints=BOUND_HINTS)
        self._params = dict(self.result.params)
        return self

    def log_likelihood(self, data: pd.DataFrame) -> np.ndarray:
        """Log-likelihood of each customer under the current parameters."""
        x, tx, T = as_arrays(data, ["frequency", "recency", "T"])
        return log_likelihood(self.params, x, tx, T)

    def p_alive(self, data: pd.DataFrame) -> np.ndarray:
        """P(still a customer at the end of their observation) for each customer (FHL 2005, eq. 13)."""
        x, tx, T = as_arrays(data, ["frequency", "recency", "T"])
        return p_alive(self.params, x, tx, T)

    def expected_purchases(self, data: pd.DataFrame, t: float) -> np.ndarray:
        """Expected purchase occasions in the next ``t`` time units for each customer (FHL 2005, eq. 10)."""
        x, tx, T = as_arrays(data, ["frequency", "recency", "T"])
        return expected_purchases(self.params, t, x, tx, T)

    def expected_purchases_curve(self, data: pd.DataFrame, ts: Sequence[float]) -> np.ndarray:
        """Expected purchases in the next ``t`` for each ``t`` in ``ts``: array ``(len(ts), customers)``."""
        x, tx, T = as_arrays(data, ["frequency", "recency", "T"])
        return expected_purchases_curve(self.params, ts, x, tx, T)

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray:
        """Expected repeat purchases of a customer in the ``t`` time units after their first (eq. 9)."""
        t = np.atleast_1d(np.asarray(t, float))
        zeros = np.zeros_like(t)
        return _conditional_mean(self.params, t, zeros, zeros)


def p_alive(params: dict[str, float] | np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive | x, t_x, T); 1 for customers without a repeat purchase (the model's assumption)."""
    r, alpha, a, b = _vector(params)
    x = np.asarray(x, float)
    pos = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = (np.log(a) - np.log(np.where(pos, b + x - 1, 1.0))
                         + (r + x) * (np.log(alpha + np.asarray(T, float)) - np.log(alpha + np.asarray(tx, float))))
    return np.where(pos, 1.0 / (1.0 + np.exp(np.minimum(log_odds_dead, 700.0))), 1.0)


def expected_purchases(params: dict[str, float] | np.ndarray, t: float, x: np.ndarray, tx: np.ndarray,
                       T: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T+t] | x, t_x, T]: conditional mean times P(alive)."""
    return expected_purchases_curve(params, [t], x, tx, T)[0]


def expected_purchases_curve(params: dict[str, float] | np.ndarray, ts: Sequence[float], x: np.ndarray,
                             tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Expected purchases in the next ``t`` for every ``t`` in ``ts``: an array ``(len(ts), customers)``."""
    x, T = np.asarray(x, float), np.asarray(T, float)
    alive = p_alive(params, x, tx, T)
    (ux, uT), inv = unique_rows(x, T)
    return np.stack([_conditional_mean(params, float(t), ux, uT)[inv] * alive for t in ts])


def _conditional_mean(params: dict[str, float] | np.ndarray, t: float | np.ndarray, x: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """E[purchases in t | alive at T, x]: FHL eq. 10 without the P(alive) factor.

    The published form ``1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)``
    multiplies a tiny power by a huge series for frequent buyers. Euler's transformation
    ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)`` turns it into
    ``1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``, whose series has small, bounded
    parameters and converges fast.
    """
    r, alpha, a, b = _vector(params)
    if abs(a - 1) < 1e-9:  # the formula is 0/0 at a = 1; its limit is continuous, so step aside
        a = 1 + 1e-9
    z = t / (alpha + T + t)
    f = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    return np.maximum((a + b + x - 1) / (a - 1) * (1.0 - np.power(1.0 - z, a - 1) * f), 0.0)

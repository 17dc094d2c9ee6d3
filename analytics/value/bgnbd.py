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

from analytics.value._base import Params, RepeatBuyingModel, param_vector
from analytics.value._mle import Compressed, maximise, unique_rows

PARAMS = ("r", "alpha", "a", "b")
BOUND_HINTS = {
    ("b", "upper"): "almost nobody seems to drop out; P(alive) will be close to 1 for everyone",
    ("a", "lower"): "almost nobody seems to drop out; P(alive) will be close to 1 for everyone",
    ("r", "upper"): "customers look alike in how often they buy (no heterogeneity)",
    ("alpha", "upper"): "customers look alike in how often they buy (no heterogeneity)",
}


def log_likelihood(params: Params, x: np.ndarray, tx: np.ndarray,
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


def _vector(params: Params) -> np.ndarray:
    return param_vector(params, PARAMS)


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


def p_alive(params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive | x, t_x, T) (FHL 2005, eq. 13); 1 for customers without a repeat purchase (the model's assumption)."""
    r, alpha, a, b = _vector(params)
    x = np.asarray(x, float)
    pos = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = (np.log(a) - np.log(np.where(pos, b + x - 1, 1.0))
                         + (r + x) * (np.log(alpha + np.asarray(T, float)) - np.log(alpha + np.asarray(tx, float))))
    return np.where(pos, 1.0 / (1.0 + np.exp(np.minimum(log_odds_dead, 700.0))), 1.0)


def expected_purchases(params: Params, t: float, x: np.ndarray, tx: np.ndarray,
                       T: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T+t] | x, t_x, T] (FHL 2005, eq. 10): conditional mean times P(alive)."""
    return expected_purchases_curve(params, [t], x, tx, T)[0]


def expected_purchases_curve(params: Params, ts: Sequence[float], x: np.ndarray,
                             tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Expected purchases in the next ``t`` for every ``t`` in ``ts``: an array ``(len(ts), customers)``."""
    x, T = np.asarray(x, float), np.asarray(T, float)
    alive = p_alive(params, x, tx, T)
    (ux, uT), inv = unique_rows(x, T)
    return np.stack([_conditional_mean(params, float(t), ux, uT)[inv] * alive for t in ts])


def _conditional_mean(params: Params, t: float | np.ndarray, x: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """E[purchases in t | alive at T, x]: FHL eq. 10 without the P(alive) factor (with x = T = 0, eq. 9:
    a new customer's expected repeat purchases).

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


class BetaGeoModel(RepeatBuyingModel):
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

    def fit(self, data: pd.DataFrame, time_unit: str | None = None) -> BetaGeoModel:
        """Maximum-likelihood fit on the summary; the outcome (and any warning) is in :attr:`result`."""
        d = Compressed.of(*self._summary(data))
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

    # This module's formulas, behind the predictions RepeatBuyingModel provides.
    _log_likelihood = staticmethod(log_likelihood)
    _p_alive = staticmethod(p_alive)
    _expected_curve = staticmethod(expected_purchases_curve)
    _conditional_mean = staticmethod(_conditional_mean)

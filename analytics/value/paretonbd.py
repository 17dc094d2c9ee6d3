"""Pareto/NBD: Poisson buying during an exponential lifetime (Schmittlein, Morrison & Colombo 1987).

Story: while alive, a customer buys at rate ``lambda`` (Poisson) and stays
alive for an exponential time with rate ``mu``; across customers
``lambda ~ Gamma(r, alpha)`` and ``mu ~ Gamma(s, beta)`` (shape, rate).
Unlike BG/NBD, a customer can drop out at any moment, also before a repeat purchase.

Needs the customer summary of :func:`analytics.value.customer_summary`:
``frequency`` (``x``), ``recency`` (``t_x``) and ``T``, times in days or weeks
(``alpha`` and ``beta`` come out in that unit).

The likelihood (Fader & Hardie, "A Note on Deriving the Pareto/NBD Model and
Related Expressions", 2005) is::

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) *
        [ (alpha+T)^-(r+x) (beta+T)^-s  +  s/(r+s+x) * (h(t_x) - h(T)) ]

with ``h(t) = (r+s+x) * integral_t^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du``, written
in the note with Gauss's hypergeometric function ``2F1(r+s+x, ., r+s+x+1; z)``
on the side of the larger of ``alpha`` and ``beta``. Its parameters grow with
``x``, and evaluated as published the series overflows for frequent buyers. We
apply Euler's transformation, which leaves ``2F1(1, B; C; z)`` with ``C > B``: a
series of positive terms bounded by ``1/(1-z)``, so ``log h`` is computed without
overflow, and ``h(t_x) - h(T)`` is taken in log space with ``log1p``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln, hyp2f1

from analytics.errors import InvalidParameterError
from analytics.value._base import Params, RepeatBuyingModel, param_vector
from analytics.value._mle import Compressed, maximise, unique_rows

PARAMS = ("r", "alpha", "s", "beta")
# When customers' dropout rates hardly differ, the likelihood keeps rising, ever more slowly, as
# s and beta grow together (s / beta, the mean dropout rate, fixed). Past s = 50 (dropout rates
# within ~14% of each other) the model's predictions no longer change, while the hypergeometric
# terms become slow and then inaccurate (checked against direct integration: below 1e-11 for
# s <= 50, wrong for s in the hundreds); so s stops there, the fit says so, and given parameters
# with a larger s are refused.
S_MAX = 50.0
BOUND_HINTS = {
    ("s", "lower"): "lifetimes vary enormously between customers",
    ("beta", "upper"): "almost nobody seems to drop out over the observed period",
    ("s", "upper"): "customers hardly differ in how fast they drop out; the fit holds s at this value, where "
                    "predictions no longer change",
    ("r", "upper"): "customers look alike in how often they buy (no heterogeneity)",
    ("alpha", "upper"): "customers look alike in how often they buy (no heterogeneity)",
}


def _vector(params: Params) -> np.ndarray:
    return param_vector(params, PARAMS)


class _Pairs:
    """Distinct (x, t) pairs over recency and age: the hypergeometric term is computed once per pair."""

    def __init__(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray):
        (self.x, self.t), inv = unique_rows(np.concatenate([x, x]), np.concatenate([tx, T]))
        self.i_tx, self.i_T = inv[: x.size], inv[x.size:]


def _log_h(r: float, alpha: float, s: float, beta: float, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log h(t)`` (see the module docstring) via Euler-transformed ``2F1(1, B; C; z)``, stable for any x."""
    c = r + s + x + 1
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        f = hyp2f1(1.0, r + x, c, z)
        return -(r + x) * np.log(alpha + t) - s * np.log(beta + t) + np.log(f)
    z = (beta - alpha) / (beta + t)
    f = hyp2f1(1.0, s + 1, c, z)
    return (1 - r - x) * np.log(alpha + t) - (s + 1) * np.log(beta + t) + np.log(f)


def _log_terms(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
               pairs: _Pairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(log prefactor, log alive term L1, log dropped-out term L2)`` per customer."""
    r, alpha, s, beta = params
    lh = _log_h(r, alpha, s, beta, pairs.x, pairs.t)
    lh_tx, lh_T = lh[pairs.i_tx], lh[pairs.i_T]
    diff = lh_T - lh_tx
    with np.errstate(divide="ignore", invalid="ignore"):
        # h decreases in t, so h(t_x) >= h(T); equality (t_x = T) means no room to have dropped out.
        log_a0 = np.where(diff < 0, lh_tx + np.log1p(-np.exp(np.minimum(diff, 0.0))), -np.inf)
    l1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    l2 = np.log(s) - np.log(r + s + x) + log_a0
    pre = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return pre, l1, l2


def log_likelihood(params: Params, x: np.ndarray, tx: np.ndarray,
                   T: np.ndarray) -> np.ndarray:
    """Log-likelihood of each customer under Pareto/NBD with ``r, alpha, s, beta``."""
    x, tx, T = (np.asarray(v, float) for v in (x, tx, T))
    pre, l1, l2 = _log_terms(_vector(params), x, tx, T, _Pairs(x, tx, T))
    return pre + np.logaddexp(l1, l2)


def p_alive(params: Params, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive | x, t_x, T) = alive term / (alive term + dropped-out term)."""
    x, tx, T = (np.asarray(v, float) for v in (x, tx, T))
    with np.errstate(all="ignore"):
        _, l1, l2 = _log_terms(_vector(params), x, tx, T, _Pairs(x, tx, T))
        return 1.0 / (1.0 + np.exp(np.minimum(l2 - l1, 700.0)))


def expected_purchases(params: Params, t: float, x: np.ndarray, tx: np.ndarray,
                       T: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T+t] | x, t_x, T] (Schmittlein et al. 1987, eq. 22)."""
    return expected_purchases_curve(params, [t], x, tx, T)[0]


def expected_purchases_curve(params: Params, ts: Sequence[float], x: np.ndarray,
                             tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Expected purchases in the next ``t`` for every ``t`` in ``ts``: an array ``(len(ts), customers)``."""
    x, T = np.asarray(x, float), np.asarray(T, float)
    alive = p_alive(params, x, tx, T)
    return np.stack([_conditional_mean(params, float(t), x, T) * alive for t in ts])


def _conditional_mean(params: Params, t: float | np.ndarray, x: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """E[purchases in t | alive at T]: ``(r+x)/(alpha+T) * (beta+T) * (1 - q^(s-1)) / (s-1)``.

    ``q = (beta+T)/(beta+T+t)``; the factor is written with ``expm1`` so that ``s``
    near 1 (where it tends to ``-log q``) loses no precision.
    """
    r, alpha, s, beta = _vector(params)
    log_q = np.log(beta + T) - np.log(beta + T + t)
    if abs(s - 1) < 1e-8:
        factor = -log_q
    else:
        factor = -np.expm1((s - 1) * log_q) / (s - 1)
    return (r + x) / (alpha + T) * (beta + T) * factor


class ParetoNBDModel(RepeatBuyingModel):
    """Pareto/NBD model: fit by maximum likelihood, then P(alive) and expected purchases per customer.

    Needs a customer summary with columns ``frequency``, ``recency`` and ``T``
    (see :func:`analytics.value.customer_summary`), times in days or weeks.

    Parameters
    ----------
    params : dict, optional
        Known parameters ``r, alpha, s, beta`` (skip :meth:`fit`).
    time_unit : str, optional
        Unit of ``T``, ``alpha`` and ``beta`` (for reports only).
    """

    name = "paretonbd"
    label = "Pareto/NBD"
    param_names = PARAMS

    def __init__(self, params: dict[str, float] | None = None, time_unit: str | None = None):
        super().__init__(params, time_unit)
        if self._params is not None:
            bad = {k: v for k, v in self._params.items() if not (np.isfinite(v) and v > 0)}
            if bad:
                raise InvalidParameterError(f"Pareto/NBD parameters must be positive numbers, got {bad}.")
            if self._params["s"] > S_MAX * (1 + 1e-9):
                raise InvalidParameterError(
                    f"Pareto/NBD with s = {self._params['s']:g} is beyond what MarketLens evaluates accurately "
                    f"(s at most {S_MAX:g}). Above that, dropout rates differ by under 15% between customers: "
                    f"use s = {S_MAX:g} and beta = {S_MAX:g} / (s / beta) for practically the same model.")

    def fit(self, data: pd.DataFrame, time_unit: str | None = None,
            start: dict[str, float] | None = None) -> ParetoNBDModel:
        """Maximum-likelihood fit on the summary; the outcome (and any warning) is in :attr:`result`.

        ``start`` (e.g. ``r`` and ``alpha`` of a BG/NBD fit) is tried first when given.
        """
        d = Compressed.of(*self._summary(data))
        pairs = _Pairs(d.x, d.tx, d.T)
        n = d.n
        wn = d.w / n

        def objective(theta: np.ndarray) -> float:
            with np.errstate(all="ignore"):
                pre, l1, l2 = _log_terms(np.exp(theta), d.x, d.tx, d.T, pairs)
                value = -float(wn @ (pre + np.logaddexp(l1, l2)))
            return value if np.isfinite(value) else np.inf

        rate = max(float((d.w * d.x).sum() / max((d.w * d.T).sum(), 1e-9)), 1e-6)
        span = max(float(np.average(d.T, weights=d.w)), 1e-6)
        starts = [np.log([1.0, 1.0 / rate, 1.0, span]), np.log([0.5, 0.5 / rate, 0.5, 0.5 * span]),
                  np.log([2.0, 2.0 / rate, 2.0, 4 * span])]
        if start:
            starts.insert(0, np.log([start.get("r", 1.0), start.get("alpha", 1.0 / rate),
                                     start.get("s", 1.0), start.get("beta", span)]))
        self.time_unit = time_unit or self.time_unit
        self.result = maximise(objective, starts, PARAMS, n, model=self.name, label=self.label, has_grad=False,
                               time_unit=self.time_unit, bound_hints=BOUND_HINTS, upper={"s": S_MAX},
                               max_starts=2)
        self._params = dict(self.result.params)
        return self

    # This module's formulas, behind the predictions RepeatBuyingModel provides.
    _log_likelihood = staticmethod(log_likelihood)
    _p_alive = staticmethod(p_alive)
    _expected_curve = staticmethod(expected_purchases_curve)
    _conditional_mean = staticmethod(_conditional_mean)

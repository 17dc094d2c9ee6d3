"""Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV").

Story: each purchase of a customer is worth ``Gamma(p, nu)`` (shape, rate), so
their average order value is ``p / nu``; across customers ``nu ~ Gamma(q, gamma)``.
Fitted on customers with at least one repeat purchase occasion and a positive
mean spend (``monetary_value``, the mean over *repeat* occasions, as in the
literature); the first purchase is left out.

It assumes a customer's spend per purchase does not depend on how often they
buy. :attr:`GammaGammaModel.spend_frequency_correlation` reports the correlation
of frequency and mean spend among repeat customers, and the fit warns when it
is strong (then the CLV mixes two things the model treats as independent).

Needs the customer summary of :func:`analytics.value.customer_summary`
(``frequency`` and ``monetary_value``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from analytics.errors import FitError
from analytics.value._base import FittedModel, Params, param_vector
from analytics.value._mle import as_arrays, maximise

PARAMS = ("p", "q", "gamma")
BOUND_HINTS = {
    ("q", "upper"): "customers look alike in their average spend (no heterogeneity)",
    ("gamma", "upper"): "customers look alike in their average spend (no heterogeneity)",
    ("p", "upper"): "each customer spends almost the same amount every time",
}
# |correlation| of frequency and mean spend above which the independence assumption is called broken.
MAX_CORRELATION = 0.3
MIN_CUSTOMERS = 10


def _vector(params: Params) -> np.ndarray:
    return param_vector(params, PARAMS)


def log_likelihood(params: Params, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Log-density of each customer's mean spend ``m`` over ``x`` transactions (x >= 1, m > 0)."""
    p, q, g = _vector(params)
    x, m = np.asarray(x, float), np.asarray(m, float)
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g) + (p * x - 1) * np.log(m)
            + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))


class _SpendData:
    """Mean spends with everything that does not depend on the parameters computed once."""

    def __init__(self, x: np.ndarray, m: np.ndarray):
        self.ux, self.xi = np.unique(x, return_inverse=True)
        self.x, self.m, self.mx = x, m, m * x
        self.log_m = np.log(m)
        self.log_x = np.log(x)


def _loglik_grad(theta: np.ndarray, d: _SpendData) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer log-likelihood and its gradient w.r.t. the log-parameters.

    The gamma-function terms depend on the parameters and the frequency only, so they
    are computed once per distinct frequency, not once per customer.
    """
    p, q, g = np.exp(theta)
    ux, xi, x = d.ux, d.xi, d.x
    pux = p * ux
    lg = (gammaln(pux + q) - gammaln(pux) - gammaln(q))[xi]
    log_gmx = np.log(g + d.mx)
    px = p * x
    ll = lg + q * np.log(g) + (px - 1) * d.log_m + px * d.log_x - (px + q) * log_gmx
    psi = digamma(pux + q)
    grad = np.empty((3, x.size))
    grad[0] = (x * ((psi - digamma(pux))[xi] + d.log_m + d.log_x - log_gmx)) * p
    grad[1] = (psi[xi] - digamma(q) + np.log(g) - log_gmx) * q
    grad[2] = (q / g - (px + q) / (g + d.mx)) * g
    return ll, grad


class GammaGammaModel(FittedModel):
    """Gamma-Gamma spend model: fit by maximum likelihood, then expected spend per purchase per customer.

    Parameters
    ----------
    params : dict, optional
        Known parameters ``p, q, gamma`` (skip :meth:`fit`).
    """

    name = "gamma_gamma"
    label = "Gamma-Gamma"
    param_names = PARAMS

    def __init__(self, params: dict[str, float] | None = None):
        super().__init__(params)  # gamma is in the currency of the amounts
        self.spend_frequency_correlation: float | None = None
        self.excluded_zero_spend = 0

    @property
    def population_mean_spend(self) -> float | None:
        """Average spend per purchase across customers, ``p gamma / (q - 1)`` (None when ``q <= 1``)."""
        p, q, g = _vector(self.params)
        return float(p * g / (q - 1)) if q > 1 else None

    def fit(self, data: pd.DataFrame) -> GammaGammaModel:
        """Fit on customers with a repeat purchase and a positive mean spend.

        Raises
        ------
        FitError
            Fewer than 10 such customers (e.g. no amounts in the log, all spend zero,
            or hardly anyone bought twice).
        """
        x, m = as_arrays(data, ["frequency", "monetary_value"])
        usable = (x > 0) & np.isfinite(m)
        keep = usable & (m > 0)
        self.excluded_zero_spend = int((usable & ~(m > 0)).sum())
        if keep.sum() < MIN_CUSTOMERS:
            why = ("no purchase has an amount" if not np.isfinite(m).any()
                   else "every repeat customer's mean spend is zero or negative" if usable.any() and not keep.any()
                   else f"only {int(keep.sum())} repeat customers have a positive mean spend")
            raise FitError(f"The spend model (Gamma-Gamma) needs at least {MIN_CUSTOMERS} customers who bought on "
                           f"two different days with a positive amount; here {why}. Expected spend and CLV "
                           "cannot be computed; check that the purchase event carries the order value.")
        x, m = x[keep], m[keep]
        if np.std(x) > 0 and np.std(m) > 0:
            self.spend_frequency_correlation = float(np.corrcoef(x, m)[0, 1])
        # Rescale spend to mean 1: the optimiser then works on well-conditioned numbers in any currency.
        scale = float(np.mean(m))
        ms = m / scale
        n = float(x.size)
        d = _SpendData(x, ms)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            ll, g = _loglik_grad(theta, d)
            return float(-ll.sum() / n), -(g.sum(axis=1) / n)

        mean, var = float(np.mean(ms)), float(np.var(ms))
        q0 = 3.0
        p0 = max(mean**2 / var, 0.5) if var > 0 else 5.0
        starts = [np.log([p0, q0, mean * (q0 - 1) / p0]), np.log([1.0, 2.0, 1.0]), np.log([10.0, 5.0, 0.4])]
        self.result = maximise(objective, starts, PARAMS, n, model=self.name, label=self.label, has_grad=True,
                               bound_hints=BOUND_HINTS, scale={"gamma": scale}, ll_offset=-n * np.log(scale))
        if self.excluded_zero_spend:
            self.result.warnings.append(
                f"{self.excluded_zero_spend} repeat customers with zero or negative mean spend were left out of "
                "the spend model (it needs positive amounts).")
        rho = self.spend_frequency_correlation
        if rho is not None and abs(rho) > MAX_CORRELATION:
            self.result.warnings.append(
                f"Gamma-Gamma assumes spend per purchase does not depend on how often a customer buys, but here "
                f"frequency and mean spend are correlated ({rho:+.2f}); expected spend and CLV may be biased.")
        if self.result.params["q"] <= 1:
            self.result.warnings.append(
                "Gamma-Gamma: q <= 1 means the average spend across customers is not finite (a few huge "
                "spenders dominate); repeat customers are valued at their own average spend and the others at "
                "the observed average.")
        self._params = dict(self.result.params)
        return self

    def log_likelihood(self, data: pd.DataFrame) -> np.ndarray:
        """Log-density of each customer's mean spend (NaN where it is not modelled: x = 0 or m <= 0)."""
        x, m = as_arrays(data, ["frequency", "monetary_value"])
        ok = (x > 0) & (m > 0)
        out = np.full(x.shape, np.nan)
        out[ok] = log_likelihood(self.params, x[ok], m[ok])
        return out

    def expected_spend(self, data: pd.DataFrame) -> np.ndarray:
        """Expected spend per future purchase for each customer (FHL 2005, eq. 5).

        A weighted average of the population mean and the customer's own mean spend,
        the weight on their own mean growing with their number of repeat purchases.
        Customers without a repeat purchase (or without a known mean spend) get the
        population mean. With q <= 1 there is no finite population mean to shrink
        towards (the formula would put a customer above their own mean), so repeat
        customers get their own mean and the others the observed average.
        """
        x, m = as_arrays(data, ["frequency", "monetary_value"])
        p, q, g = _vector(self.params)
        # A repeat customer whose purchases were all free (m = 0) is shrunk towards 0, as the formula says.
        ok = (x > 0) & np.isfinite(m) & (m >= 0)
        pop = self.population_mean_spend
        if pop is None:  # q <= 1: no finite average; the repeat customers' observed one stands in (as fitted on)
            spent = ok & (m > 0)
            if not spent.any():
                raise FitError("The spend model has q <= 1 (no finite average spend) and these customers have no "
                               "repeat purchase with a positive amount to stand in for it.")
            pop = float(np.mean(m[spent]))
        out = np.full(x.shape, float(pop))
        xo, mo = x[ok], m[ok]
        if q <= 1:
            out[ok] = mo
            return out
        denom = p * xo + q - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            out[ok] = np.where(denom > 0, (g + mo * xo) * p / denom, mo)
        return out

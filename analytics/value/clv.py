"""Customer lifetime value over a horizon: discounted expected purchases times expected spend.

``CLV_i = margin * E[spend per purchase]_i * sum_k (E[Y_i(t_k)] - E[Y_i(t_{k-1})]) / (1 + d)^(t_k / 365)``

with ``t_k`` the ends of ``step_days``-long steps up to the horizon (the last step
may be shorter) and ``d`` the annual discount rate: purchases expected in each
step are valued at the end of it, as in ``lifetimes``' ``customer_lifetime_value``.
A purchase count model (BG/NBD or Pareto/NBD) gives ``E[Y(t)]``, the Gamma-Gamma
model the expected spend.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.value.summary import MAX_HOLDOUT_DAYS, TIME_UNITS

MAX_HORIZON_DAYS = MAX_HOLDOUT_DAYS


def check_horizon(horizon_days: float, name: str = "horizon_days") -> float:
    """A horizon in days, validated (positive, at most 10 years)."""
    try:
        h = float(horizon_days)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name} must be a number of days, got {horizon_days!r}.") from exc
    if not (math.isfinite(h) and 0 < h <= MAX_HORIZON_DAYS):
        raise InvalidParameterError(f"{name} must be between 1 and {MAX_HORIZON_DAYS} days, got {horizon_days!r}.")
    return h


def check_money(discount_rate: float, margin: float) -> tuple[float, float]:
    """Validate the annual discount rate (0 to 1) and the margin (above 0, at most 1)."""
    try:
        d, m = float(discount_rate), float(margin)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"discount_rate and margin must be numbers, got {discount_rate!r} and "
                                    f"{margin!r}.") from exc
    if not (math.isfinite(d) and 0 <= d <= 1):
        raise InvalidParameterError(f"discount_rate is a yearly rate between 0 and 1 (0.1 = 10% a year), "
                                    f"got {discount_rate!r}.")
    if not (math.isfinite(m) and 0 < m <= 1):
        raise InvalidParameterError(f"margin is the share of spend that is profit, above 0 and at most 1 (1 = count "
                                    f"revenue), got {margin!r}.")
    return d, m


def step_ends(horizon_days: float, step_days: float = 30.0) -> np.ndarray:
    """Ends of the valuation steps in days: step, 2 step, ..., horizon."""
    k = int(math.ceil(horizon_days / step_days - 1e-9))
    return np.minimum(np.arange(1, k + 1) * step_days, horizon_days).astype(float)


def customer_value(count_model: object, data: pd.DataFrame, spend: np.ndarray, horizon_days: float,
                   time_unit: str, discount_rate: float = 0.10, margin: float = 1.0,
                   step_days: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer ``(CLV, expected purchases over the horizon)``.

    Parameters
    ----------
    count_model : BetaGeoModel or ParetoNBDModel
        A fitted purchase-count model (its time unit is ``time_unit``).
    data : DataFrame
        Customer summary (``frequency, recency, T``).
    spend : array
        Expected spend per purchase of each customer (e.g. ``GammaGammaModel.expected_spend``).
    horizon_days : float
        How far ahead to value, in days.
    time_unit : str
        ``"days"`` or ``"weeks"``: the unit of ``data`` and of the model.
    discount_rate : float
        Yearly discount rate (0.1 = 10% a year).
    margin : float
        Share of spend that is profit (1 = value revenue).
    step_days : float
        Length of a valuation step.
    """
    horizon_days = check_horizon(horizon_days)
    discount_rate, margin = check_money(discount_rate, margin)
    ends = step_ends(horizon_days, step_days)
    curve = count_model.expected_purchases_curve(data, ends / TIME_UNITS[time_unit])  # (steps, customers)
    increments = np.diff(curve, axis=0, prepend=0.0)
    factors = (1.0 + discount_rate) ** (-ends / 365.0)
    discounted = factors @ increments
    return margin * np.asarray(spend, float) * discounted, curve[-1]

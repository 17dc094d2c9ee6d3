"""Confidence intervals for rates on small numbers (vectorised over a table's rows)."""

from __future__ import annotations

import numpy as np


def wilson_interval(successes: np.ndarray, trials: np.ndarray,
                    confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (NaN where ``trials`` is 0).

    Good at the edges (0 of 12, 12 of 12), unlike the plain ``p ± z·se``:
    Wilson, "Probable inference, the law of succession, and statistical
    inference", JASA 1927; Brown, Cai & DasGupta, Statistical Science 2001.
    """
    from scipy.special import ndtri  # here, not at the top: the workspace imports this package and needs no scipy

    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = ndtri(0.5 + confidence / 2)  # the normal quantile
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    low[x <= 0], high[x >= n] = 0.0, 1.0
    bad = n <= 0
    low[bad], high[bad] = np.nan, np.nan
    return low, high


def poisson_rate_interval(counts: np.ndarray, exposure: np.ndarray,
                          confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval of a rate ``counts / exposure``, e.g. engagements per impression.

    A rate, not a proportion: one impression can bring a like and a comment, so
    the rate may exceed 1 and Wilson does not apply. NaN where ``exposure`` is 0.
    """
    from scipy.special import gammaincinv  # the gamma quantile: gamma.ppf(q, a) == gammaincinv(a, q)

    k = np.asarray(counts, dtype=float)
    e = np.asarray(exposure, dtype=float)
    alpha = 1 - confidence
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(k > 0, gammaincinv(np.maximum(k, 1e-12), alpha / 2), 0.0) / e
        high = gammaincinv(k + 1, 1 - alpha / 2) / e
    bad = e <= 0
    low[bad], high[bad] = np.nan, np.nan
    return low, high

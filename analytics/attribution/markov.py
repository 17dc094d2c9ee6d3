"""Data-driven attribution: removal effects of a first-order Markov chain over touch paths.

The published method (Anderl, Becker, von Wangenheim & Schumann, "Mapping the
customer journey: lessons learned from graph-based online attribution
modeling", IJRM 2016; the R package ChannelAttribution): every path is a walk
``(start) -> touch -> ... -> touch -> (conversion)`` or ``-> (null)``; transition
probabilities are the observed transition counts divided by the counts leaving
each state. The chain's conversion probability ``P`` is the chance to reach
``(conversion)`` from ``(start)``. Removing a channel ``c`` sends every walk that
reaches ``c`` to ``(null)``; its *removal effect* is ``1 - P_without_c / P``.
Credit: removal effects normalised to sum to the number of conversions.

With ``N = (I - Q)^-1`` over the transient states (start and the touches) and
``x`` their conversion probabilities, the chance of ever visiting ``c`` from the
start is ``N[s, c] / N[c, c]``, so ``P_without_c = x[s] - N[s, c] x[c] / N[c, c]``:
one inverse gives every removal effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.attribution.paths import TransitionCounts

# Above this many distinct touch values the dense chain is not built (a k x k inverse).
MAX_MARKOV_STATES = 2000


@dataclass(frozen=True)
class MarkovCredit:
    """Removal effects and credit per state (touch value), in the order of ``states``."""

    states: list[str]
    conversion_probability: float  # P(reach conversion from start)
    removal_effects: np.ndarray  # 1 - P_without / P
    credit: np.ndarray  # removal effects normalised to the number of conversions


def markov_credit(counts: TransitionCounts) -> MarkovCredit:
    """Removal effects and credit from aggregated transition counts.

    Parameters
    ----------
    counts : TransitionCounts
        Start, between-touch and exit counts (from :func:`transition_counts`
        or :func:`counts_from_paths`).

    Returns
    -------
    MarkovCredit
        Credit sums to the number of converting journeys (the counts into the
        conversion state).
    """
    k = len(counts.states)
    conversions = float(counts.to_conversion.sum())
    if k == 0 or conversions == 0:
        zeros = np.zeros(k)
        return MarkovCredit(list(counts.states), 0.0, zeros, zeros)
    # Transient states: 0 = start, 1..k = touch values.
    out = np.zeros((k + 1, k + 1))
    out[0, 1:] = counts.start
    out[1:, 1:] = counts.between
    conv = np.r_[0.0, counts.to_conversion]
    leaving = out.sum(axis=1) + conv + np.r_[0.0, counts.to_null]
    leaving[leaving == 0] = 1.0  # a state never left (cannot happen with real paths) absorbs into null
    q = out / leaving[:, None]
    r = conv / leaving
    n = np.linalg.inv(np.eye(k + 1) - q)
    x = n @ r
    p = float(x[0])
    diag = np.diag(n)[1:]
    without = x[0] - n[0, 1:] * x[1:] / diag
    effects = np.clip(1.0 - without / p, 0.0, 1.0) if p > 0 else np.zeros(k)
    total = effects.sum()
    credit = effects / total * conversions if total > 0 else np.zeros(k)
    return MarkovCredit(list(counts.states), p, effects, credit)


def counts_from_paths(paths: Sequence[Sequence[str]], conversions: Sequence[float],
                      non_conversions: Sequence[float]) -> TransitionCounts:
    """Transition counts from distinct paths and how often each converted or not.

    For worked examples and for paths aggregated elsewhere; the library itself
    aggregates transitions in SQL (:func:`analytics.attribution.paths.transition_counts`).

    Examples
    --------
    >>> c = counts_from_paths([["a", "b"], ["b"]], conversions=[1, 0], non_conversions=[0, 1])
    >>> markov_credit(c).credit.round(3).tolist()  # removing b loses every conversion, removing a half
    [0.333, 0.667]
    """
    if not (len(paths) == len(conversions) == len(non_conversions)):
        raise ValueError("paths, conversions and non_conversions must have the same length")
    states = sorted({s for p in paths for s in p})
    index = {s: i for i, s in enumerate(states)}
    k = len(states)
    start, to_conv, to_null, between = np.zeros(k), np.zeros(k), np.zeros(k), np.zeros((k, k))
    for path, c, nc in zip(paths, conversions, non_conversions):
        if not len(path):
            continue
        w = float(c) + float(nc)
        start[index[path[0]]] += w
        for a, b in zip(path[:-1], path[1:]):
            between[index[a], index[b]] += w
        to_conv[index[path[-1]]] += float(c)
        to_null[index[path[-1]]] += float(nc)
    return TransitionCounts(states, start, between, to_conv, to_null)

"""How stable the segments are: agreement with re-clusterings of bootstrap resamples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import adjusted_rand_score

from analytics.segments.clustering import (
    blas_threads,
    fit_kmeans,
    fit_ward,
    n_distinct_rows,
    nearest_centre,
    sample_rows,
)


def stability_score(X: np.ndarray, labels: np.ndarray, k: int, method: str, random_state: int, resamples: int,
               sample_size: int, hierarchical_sample_size: int,
               tick: Callable[[float], None]) -> tuple[float, list[float]]:
    """Mean ARI and per-segment mean Jaccard between the result and refits on bootstrap resamples.

    Each resample draws users with replacement (from a seeded sample of at most
    ``sample_size`` users), refits the same method with a new seed, and assigns the
    sampled users to the refitted segments. ARI compares the two groupings as a
    whole; for each original segment the best-matching refitted segment's Jaccard
    overlap says whether that segment comes back.
    """
    rng = np.random.default_rng(random_state + 1)
    n = len(X)
    idx = sample_rows(rng, n, sample_size)
    Xe, le = (X, labels) if idx is None else (X[idx], labels[idx])
    m = len(Xe)
    with blas_threads(m):
        return _resample_scores(Xe, le, k, method, random_state, resamples, hierarchical_sample_size, rng, tick)


def _resample_scores(Xe: np.ndarray, le: np.ndarray, k: int, method: str, random_state: int, resamples: int,
                     hierarchical_sample_size: int, rng: np.random.Generator,
                     tick: Callable[[float], None]) -> tuple[float, list[float]]:
    m = len(Xe)
    aris, jacc = [], np.zeros(k)
    for b in range(resamples):
        boot = rng.integers(0, m, m)
        Xb = Xe[boot]
        n_distinct = n_distinct_rows(Xb, cap=k)
        if n_distinct < k:
            refit = nearest_centre(Xe, fit_kmeans(Xb, n_distinct, random_state + b + 1, 1)[0]) if n_distinct > 1 \
                else np.zeros(m, dtype=np.int64)
        elif method == "kmeans":
            refit = nearest_centre(Xe, fit_kmeans(Xb, k, random_state + b + 1, 1)[0])
        else:
            sub = sample_rows(rng, m, min(hierarchical_sample_size, 2000))
            centres = fit_ward(Xb if sub is None else Xb[sub], k, None)[0]
            refit = nearest_centre(Xe, centres)
        aris.append(1.0 if len(np.unique(le)) == len(np.unique(refit)) == 1 else adjusted_rand_score(le, refit))
        jacc += _best_jaccard(le, refit, k)
        tick((b + 1) / resamples)
    overall = float(np.clip(np.mean(aris), 0.0, 1.0))
    return overall, [float(np.clip(v, 0.0, 1.0)) for v in jacc / resamples]


def _best_jaccard(ref: np.ndarray, other: np.ndarray, k: int) -> np.ndarray:
    k2 = int(other.max()) + 1
    table = np.zeros((k, k2))
    np.add.at(table, (ref, other), 1)
    ref_sizes, other_sizes = table.sum(axis=1), table.sum(axis=0)
    union = ref_sizes[:, None] + other_sizes[None, :] - table
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.where(union > 0, table / union, 0.0)
    return j.max(axis=1)


def stability_sentence(stability: float, resamples: int) -> str:
    """One plain sentence explaining an overall stability score in [0, 1]."""
    if stability >= 0.8:
        verdict = "high: the segments reflect real structure in your users, not chance"
    elif stability >= 0.6:
        verdict = "moderate: the main segments are real but their borders shift; read small differences with care"
    else:
        verdict = "low: the segments change a lot when the data changes slightly, so treat them as rough groups " \
                  "or try fewer segments"
    return (f"Stability is {stability:.2f} out of 1, {verdict} (we segmented {resamples} random resamples of your "
            f"users again and compared the groupings with the adjusted Rand index).")

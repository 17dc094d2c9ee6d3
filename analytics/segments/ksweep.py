"""How many segments: k = 2..12 scored four ways, and a recommended k with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import pairwise_distances

from analytics.errors import InvalidParameterError
from analytics.jsonable import json_safe
from analytics.progress import Progress
from analytics.segments.clustering import (
    K_MAX,
    K_MIN,
    blas_threads,
    fit_kmeans_model,
    kmeans_model,
    n_distinct_rows,
    sample_rows,
    silhouette,
)
from analytics.segments.describe import join_words
from analytics.segments.preprocessing import Prepared, Preprocessing, prepare

STRONG_SILHOUETTE = 0.5

SCORE_COLUMNS = ("inertia", "silhouette", "calinski_harabasz", "davies_bouldin")

SCORE_LABELS = {
    "inertia": "Inertia (elbow)",
    "silhouette": "Silhouette",
    "calinski_harabasz": "Calinski-Harabasz",
    "davies_bouldin": "Davies-Bouldin",
}


@dataclass
class KSweepResult:
    """Scores of K-means for each number of segments, and the recommended one.

    Attributes
    ----------
    scores : DataFrame
        One row per k: ``k, inertia, silhouette, calinski_harabasz, davies_bouldin``.
        Inertia: lower is tighter (look for the bend). Silhouette: higher is better
        (-1..1). Calinski-Harabasz: higher is better. Davies-Bouldin: lower is better.
    recommended_k : int
    reason : str
        Plain-English reason for the recommendation.
    best_by_score : dict
        Score name -> the k it prefers on its own.
    n_users : int
    silhouette_sample_size : int
        Users the silhouette was computed on.
    silhouette_sampled : bool
        True when that is fewer than all users (the page should say so).
    fit_sample_size : int
        Users K-means was fitted on for each k (scores always use all users).
    total_inertia : float
        Inertia with one segment (total spread); lets the elbow fall at k = 2.
    random_state : int
    notices : list of str
    """

    scores: pd.DataFrame
    recommended_k: int
    reason: str
    best_by_score: dict[str, int]
    n_users: int
    silhouette_sample_size: int
    silhouette_sampled: bool
    fit_sample_size: int
    total_inertia: float
    random_state: int
    columns: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe dict (see :meth:`from_dict`)."""
        d = {k: v for k, v in self.__dict__.items() if k != "scores"}
        d["scores"] = records(self.scores)
        return json_safe(d)

    @classmethod
    def from_dict(cls, d: dict) -> KSweepResult:
        d = dict(d)
        d["scores"] = pd.DataFrame(d["scores"])
        return cls(**d)


def k_sweep(features: pd.DataFrame | Prepared, columns: Sequence[str] | None = None, *,
            k_range: Sequence[int] = range(2, 13), preprocessing: Preprocessing | None = None,
            random_state: int = 0, silhouette_sample_size: int = 4000, fit_sample_size: int = 50_000,
            matrix: np.ndarray | None = None, progress: Progress | None = None) -> KSweepResult:
    """Fit K-means for each k and score it four ways, then recommend a k.

    Parameters
    ----------
    features : DataFrame or Prepared
        Feature table (prepared here with ``columns`` and ``preprocessing``) or the
        output of :func:`prepare`.
    columns : list of str, optional
    k_range : sequence of int
        Candidate numbers of segments, each in 2..30. Values the data cannot
        support (k >= number of distinct users) are dropped with a notice.
    preprocessing : Preprocessing, optional
    random_state : int
        Seeds K-means, the fit sample and the silhouette sample.
    silhouette_sample_size : int
        Silhouette needs all pairwise distances, so above this many users it is
        computed on a seeded sample of this size (the result says so).
    fit_sample_size : int
        Above this many users each K-means is fitted on a seeded sample of this size;
        every user is then assigned and all scores use every user. Centres found on
        50,000 users move very little with more, and this keeps 500k users in seconds.
    matrix : ndarray, optional
        Cluster this instead of the scaled features (one row per user, e.g. a
        behaviour-sequence embedding); see :func:`prepare`.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    KSweepResult

    Raises
    ------
    InvalidParameterError
        A k outside 2..30, or fewer than 3 distinct users (nothing to compare).
    """
    ks = sorted({int(k) for k in k_range})
    if not ks:
        raise InvalidParameterError("k_range is empty; give the numbers of segments to compare, e.g. 2 to 12.")
    bad = [k for k in ks if not K_MIN <= k <= K_MAX]
    if bad:
        raise InvalidParameterError(f"Numbers of segments must be between {K_MIN} and {K_MAX}; got {bad}.")
    check_positive("silhouette_sample_size", silhouette_sample_size, 100)
    check_positive("fit_sample_size", fit_sample_size, 100)
    prep = features if isinstance(features, Prepared) else prepare(features, columns, preprocessing, matrix)
    X = prep.X
    n = len(X)
    notices = list(prep.notices)
    n_distinct = n_distinct_rows(X, cap=max(ks) + 1)
    usable = [k for k in ks if k < n_distinct]
    if not usable:
        raise InvalidParameterError(
            f"Comparing numbers of segments needs at least 3 users with different values; this data has "
            f"{n:,} users and {n_distinct} distinct. Import more users or choose a fixed number of segments.")
    if len(usable) < len(ks):
        notices.append(f"Only k up to {max(usable)} was tried: the users have {n_distinct} distinct profiles in "
                       "these features (users with the same values count once), and the scores need more profiles "
                       f"than segments. Segmenting into up to {n_distinct} is still possible.")
    rng = np.random.default_rng(random_state)
    fit_idx = sample_rows(rng, n, fit_sample_size)
    sil_idx = sample_rows(rng, n, silhouette_sample_size)
    sil_dist = pairwise_distances(X[sil_idx]) if sil_idx is not None else pairwise_distances(X)
    rows = []
    with blas_threads(n if fit_idx is None else len(fit_idx)):
        rows = _sweep_rows(X, usable, fit_idx, sil_idx, sil_dist, random_state, progress)
    if progress:
        progress(1.0, "Scores ready")
    scores = pd.DataFrame(rows)
    total = float(((X - X.mean(axis=0)) ** 2).sum())
    k_best, reason, best_by = recommend_k(scores, total)
    n_sil = n if sil_idx is None else len(sil_idx)
    return KSweepResult(scores=scores, recommended_k=k_best, reason=reason, best_by_score=best_by, n_users=n,
                        silhouette_sample_size=n_sil, silhouette_sampled=n_sil < n,
                        fit_sample_size=n if fit_idx is None else len(fit_idx), total_inertia=total,
                        random_state=random_state, columns=list(prep.columns), notices=notices)


def _sweep_rows(X: np.ndarray, usable: list[int], fit_idx: np.ndarray | None, sil_idx: np.ndarray | None,
                sil_dist: np.ndarray, random_state: int, progress: Progress | None) -> list[dict]:
    rows = []
    for i, k in enumerate(usable):
        if progress:
            progress(i / len(usable), f"Trying {k} segments ({i + 1} of {len(usable)})")
        km = fit_kmeans_model(kmeans_model(k, random_state, n_init=1), X if fit_idx is None else X[fit_idx])
        labels = km.labels_ if fit_idx is None else km.predict(X)
        inertia, ch, db = cluster_scores(X, labels, k)
        sub = labels if sil_idx is None else labels[sil_idx]
        sil = silhouette(sil_dist, sub)
        rows.append({"k": k, "inertia": inertia, "silhouette": float(sil), "calinski_harabasz": ch,
                     "davies_bouldin": db})
    return rows


def recommend_k(scores: pd.DataFrame, total_inertia: float | None = None) -> tuple[int, str, dict[str, int]]:
    """Pick k from four scores by their average rank, so that no single score decides.

    Each score ranks the candidate k's (inertia by how far its curve bends at k,
    the "elbow"; silhouette and Calinski-Harabasz higher is better; Davies-Bouldin
    lower is better). A k that at least three scores put first wins; otherwise
    the k with the best average rank, ties to the k more scores put first, then
    to the smaller k. k = 2 is only eligible when all four scores put it first or
    its silhouette is at least 0.5 ("reasonable structure"): on customer data
    silhouette, Calinski-Harabasz and often Davies-Bouldin prefer 2 because the
    largest gap is buyers vs non-buyers, which is true but not a segmentation
    anyone needs. On data with clear groups the scores agree, whatever their number.

    Parameters
    ----------
    scores : DataFrame
        ``k`` plus the four score columns (as in :class:`KSweepResult`).
    total_inertia : float, optional
        Inertia of one segment (the total spread). With it the inertia curve starts
        at k = 1, so its elbow can be at k = 2; without it k = 2 can never be an elbow.

    Returns
    -------
    k : int
    reason : str
    best_by_score : dict
    """
    ks = scores["k"].to_numpy()
    if len(ks) == 1:
        k = int(ks[0])
        return k, f"k = {k} is the only number of segments the sweep could score.", {c: k for c in SCORE_COLUMNS}
    goodness = {
        "inertia": _elbow_strength(ks, scores["inertia"].to_numpy(dtype=float), total_inertia),
        "silhouette": scores["silhouette"].to_numpy(dtype=float),
        "calinski_harabasz": scores["calinski_harabasz"].to_numpy(dtype=float),
        "davies_bouldin": -scores["davies_bouldin"].to_numpy(dtype=float),
    }
    ranks, best_by = [], {}
    for name, g in goodness.items():
        g = np.where(np.isfinite(g), g, -np.inf)
        ranks.append(pd.Series(-g).rank(method="min").to_numpy())
        best_by[name] = int(ks[int(np.argmax(g))])
    mean_rank = np.mean(ranks, axis=0)
    firsts = np.array([sum(best_by[s] == k for s in best_by) for k in ks])
    sil = goodness["silhouette"]
    # Two segments mostly split buyers from non-buyers, which a marketer already knows: k = 2 is eligible
    # only when all scores agree or its split has at least "reasonable" structure (silhouette >= 0.5,
    # Kaufman & Rousseeuw's scale); customer data typically sits at 0.3-0.45.
    eligible = (ks != 2) | (firsts == len(best_by)) | (np.nan_to_num(sil, nan=-1) >= STRONG_SILHOUETTE)
    if not eligible.any():
        eligible[:] = True
    majority = [i for i in range(len(ks)) if eligible[i] and firsts[i] >= 3]
    if majority:
        k = int(ks[majority[0]])
    else:
        order = [i for i in np.lexsort((ks, -firsts, mean_rank)) if eligible[i]]
        k = int(ks[order[0]])
    return k, _reason(k, best_by), best_by


def _reason(k: int, best_by: dict[str, int]) -> str:
    agree = [SCORE_LABELS[s] for s, b in best_by.items() if b == k]
    others = [f"{SCORE_LABELS[s]} prefers {b}" for s, b in best_by.items() if b != k]
    if len(agree) == 4:
        return f"k = {k}: all four scores agree, a clear sign that the users form {k} distinct groups."
    if len(agree) == 3:
        head = f"k = {k}: three of the four scores ({join_words(agree)}) put it first. "
    else:
        head = (f"k = {k} ranks best across the four scores on average"
                + (f" ({join_words(agree)} {'puts' if len(agree) == 1 else 'put'} it first)" if agree else "") + ". ")
    tail = join_words(others) + "."
    if k != 2 and any(b == 2 for b in best_by.values()):
        tail += (" Two segments are suggested only when the split into two is clear-cut: on customer data the "
                 "scores that favour 2 mostly see the one biggest divide (active vs long gone, buyers vs "
                 "browsers), which you already know.")
    return head + tail[0].upper() + tail[1:]


def _elbow_strength(ks: np.ndarray, inertia: np.ndarray, total: float | None = None) -> np.ndarray:
    """How far the normalised inertia curve lies below its chord at each k (the knee is the max)."""
    if total is not None and np.isfinite(total) and ks.min() > 1:
        all_k, all_i = np.r_[1, ks], np.r_[total, inertia]
    else:
        all_k, all_i = ks, inertia
    if not np.isfinite(all_i).all() or np.ptp(all_i) == 0 or np.ptp(all_k) == 0:
        return np.zeros(len(ks))
    x = (all_k - all_k.min()) / np.ptp(all_k)
    y = (all_i - all_i.min()) / np.ptp(all_i)
    return ((1 - x) - y)[len(all_k) - len(ks):]


def cluster_scores(X: np.ndarray, labels: np.ndarray, k: int) -> tuple[float, float, float]:
    """Inertia, Calinski-Harabasz and Davies-Bouldin in one O(n * d) pass.

    Same definitions as scikit-learn's scores, but without its per-cluster pairwise
    loops, which took most of the time of a sweep over 500k users.
    """
    n, d = X.shape
    counts = np.bincount(labels, minlength=k).astype(float)
    present = counts > 0
    sums = np.stack([np.bincount(labels, weights=X[:, j], minlength=k) for j in range(d)], axis=1)
    centres = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
    dist = np.sqrt(((X - centres[labels]) ** 2).sum(axis=1))
    inertia = float((dist ** 2).sum())
    k_eff = int(present.sum())
    if k_eff < 2 or k_eff >= n:
        return inertia, float("nan"), float("nan")
    grand = X.mean(axis=0)
    between = float((counts[present] * ((centres[present] - grand) ** 2).sum(axis=1)).sum())
    ch = float("inf") if inertia == 0 else between * (n - k_eff) / (inertia * (k_eff - 1))
    spread = np.bincount(labels, weights=dist, minlength=k)[present] / counts[present]
    c = centres[present]
    cdist = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (spread[:, None] + spread[None, :]) / cdist
    np.fill_diagonal(ratio, -np.inf)
    ratio[~np.isfinite(ratio)] = 0.0 if np.allclose(spread, 0) else np.nan
    np.fill_diagonal(ratio, 0.0)
    db = float(np.nanmax(ratio, axis=1).mean())
    return inertia, ch, db


def check_positive(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise InvalidParameterError(f"{name} must be a whole number of at least {minimum}, got {value!r}.")


def records(df: pd.DataFrame) -> list[dict]:
    return df.to_dict(orient="records")

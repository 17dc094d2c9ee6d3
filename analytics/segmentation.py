"""Customer segments: which features, how many segments, which users, and what they mean.

The library behind the Segments page and ``python -m analytics segment``. A
typical session::

    choice = choose_features(table)                       # default columns + notices
    sweep = k_sweep(table, choice.columns, random_state=0)  # scores for k = 2..12
    result = segment(table, sweep.recommended_k, columns=choice.columns)
    result.summary        # one row per segment: name, users, share, KPIs, stability
    result.profile        # segment x feature z-scores (the heatmap)
    result.assignments    # user_id -> segment, segment_name

Every step is deterministic given ``random_state``. Work that grows faster than
the number of users runs on seeded samples whose size is reported in the
result: silhouette (pairwise distances), Ward clustering (pairwise merges) and
stability (repeated fits).

Persistence
-----------
:class:`KSweepResult` and :class:`SegmentationResult` have ``to_dict`` /
``from_dict``. ``to_dict`` is JSON-safe and small (it grows with k and the
number of features, not with users); the one large part, ``assignments``
(user_id, segment, segment_name), is left out of it and should be stored as a
table next to it and passed back to ``from_dict``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, pairwise_distances, silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler
from threadpoolctl import threadpool_limits

from analytics.errors import InvalidParameterError, NoDataError
from analytics.jsonable import json_safe

Progress = Callable[[float, str], None]
"""``progress(fraction_done, message)``; fraction in [0, 1]."""

# --- features -------------------------------------------------------------------------------

DEFAULT_FEATURES: tuple[str, ...] = (
    "recency_days", "frequency", "monetary", "avg_order_value", "n_sessions", "events_per_session",
    "tenure_days", "session_conversion_rate",
)
"""RFM plus behaviour, one column per idea. Volume columns that move together (n_events,
active_days, n_<event>) are left out of the default because each extra copy of "how active"
gives activity more weight in the distances; users can still add them."""

DERIVED_DOCS: dict[str, str] = {
    "events_per_session": "Average events per session (n_events / n_sessions): how deeply a user browses",
}
"""Columns computed here from the feature table when asked for (not stored in it)."""

# What a missing value means for columns that are empty by design (no purchase yet).
# "max": as long ago as anyone; a number: that value; anything else: the median.
MISSING_MEANS: dict[str, float | str] = {
    "avg_order_value": 0.0,
    "days_since_last_purchase": "max",
    "mean_days_between_purchases": "max",
}

# Counts and money are skewed (a few users with 100x the median); log1p keeps them from
# dominating the distances. Durations and rates are bounded and left as they are.
LOG_COLUMNS: frozenset[str] = frozenset({
    "frequency", "monetary", "avg_order_value", "n_events", "n_sessions", "active_days",
    "events_per_session", "n_other_events",
})

FEATURE_LABELS: dict[str, str] = {
    "recency_days": "recency (days)",
    "frequency": "purchases",
    "monetary": "revenue",
    "avg_order_value": "order value",
    "n_sessions": "visits",
    "events_per_session": "events per visit",
    "tenure_days": "tenure (days)",
    "session_conversion_rate": "conversion",
    "n_events": "events",
    "active_days": "active days",
    "days_since_last_purchase": "days since purchase",
    "mean_days_between_purchases": "days between purchases",
}

SCALINGS = ("standard", "robust")
STRONG_SILHOUETTE = 0.5
METHODS = ("kmeans", "hierarchical")
K_MIN, K_MAX = 2, 30


def feature_label(column: str) -> str:
    """Readable name of a feature column for labels and segment names."""
    if column in FEATURE_LABELS:
        return FEATURE_LABELS[column]
    if column.startswith("n_"):
        return column[2:].replace("_", " ") + " count"
    return column.replace("_", " ")


@dataclass
class FeatureChoice:
    """The columns to cluster on, and why others were left out.

    Attributes
    ----------
    columns : list of str
        Usable columns, in a stable order.
    available : list of str
        Every numeric column the user may pick from (including derived ones).
    notices : list of str
        Plain sentences about dropped or unknown columns, for the page.
    """

    columns: list[str]
    available: list[str]
    notices: list[str] = field(default_factory=list)


def numeric_candidates(features: pd.DataFrame) -> list[str]:
    """Numeric columns of a feature table that could be clustered on, plus derivable ones."""
    _check_table(features)
    cols = [c for c in features.columns
            if c != "user_id" and pd.api.types.is_numeric_dtype(features[c]) and not pd.api.types.is_bool_dtype(
                features[c])]
    if {"n_events", "n_sessions"} <= set(cols):
        cols.append("events_per_session")
    return cols


def choose_features(features: pd.DataFrame, columns: Sequence[str] | None = None) -> FeatureChoice:
    """Pick the columns to cluster on: the default set, or the user's, minus useless ones.

    Parameters
    ----------
    features : DataFrame
        Per-user feature table (``user_id`` plus feature columns).
    columns : list of str, optional
        The user's choice. None: :data:`DEFAULT_FEATURES` that exist in the table
        (all numeric columns if none of them do).

    Returns
    -------
    FeatureChoice
        Columns that are numeric, not empty and not constant, and notices about the rest.

    Raises
    ------
    InvalidParameterError
        A chosen column is not in the table or is not numeric.
    NoDataError
        No usable column is left (every user has the same values).
    """
    available = numeric_candidates(features)
    notices: list[str] = []
    if columns is None:
        wanted = [c for c in DEFAULT_FEATURES if c in available] or list(available)
    else:
        wanted = list(dict.fromkeys(columns))
        if not wanted:
            raise InvalidParameterError("Choose at least one feature to build segments from.")
        unknown = [c for c in wanted if c not in features.columns and c not in DERIVED_DOCS]
        if unknown:
            raise InvalidParameterError(
                f"These features are not in the feature table: {', '.join(map(str, unknown))}. "
                f"Pick from: {', '.join(available)}.")
        not_numeric = [c for c in wanted if c not in available]
        if not_numeric:
            raise InvalidParameterError(
                f"Only numeric features can be used for segments; {', '.join(map(str, not_numeric))} "
                "holds text. Leave it out (it is still shown in the segment profiles' data).")
    frame = feature_frame(features, wanted)
    kept = []
    for col in wanted:
        values = frame[col].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if len(finite) == 0:
            notices.append(f"'{col}' was left out: it is empty for every user.")
        elif np.ptp(finite) == 0 and col not in MISSING_MEANS:
            notices.append(f"'{col}' was left out: every user has the same value ({finite[0]:g}).")
        elif np.ptp(finite) == 0 and np.isfinite(values).all():
            notices.append(f"'{col}' was left out: every user has the same value ({finite[0]:g}).")
        else:
            kept.append(col)
    if not kept:
        raise NoDataError(
            "Every user has the same value in every chosen feature, so there is nothing to tell them apart. "
            "Choose other features or a dataset with more varied behaviour.")
    return FeatureChoice(columns=kept, available=available, notices=notices)


def feature_frame(features: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The chosen columns as floats, with derived columns computed and inf turned into NaN."""
    out = {}
    for col in columns:
        if col == "events_per_session" and col not in features.columns:
            sessions = pd.to_numeric(features["n_sessions"], errors="coerce").astype(float)
            out[col] = pd.to_numeric(features["n_events"], errors="coerce").astype(float) / sessions.where(
                sessions > 0)
        else:
            out[col] = pd.to_numeric(features[col], errors="coerce").astype(float)
    frame = pd.DataFrame(out, index=features.index)
    return frame.replace([np.inf, -np.inf], np.nan)


# --- preprocessing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocessing:
    """How features are turned into the numbers the clustering sees.

    Attributes
    ----------
    scaling : {"standard", "robust"}
        Standard: mean 0, standard deviation 1. Robust: median 0, interquartile
        range 1 (less pulled by extreme users).
    cap_quantiles : tuple of float or None
        Values below the first / above the second quantile are set to it before
        anything else, so a handful of extreme users cannot form their own
        segments. None: no capping.
    log_columns : "auto" or list of str
        Columns transformed with ``log1p`` (sign-preserving). "auto": counts and
        money (:data:`LOG_COLUMNS` and any ``n_*`` column).
    """

    scaling: str = "standard"
    cap_quantiles: tuple[float, float] | None = (0.01, 0.99)
    log_columns: str | tuple[str, ...] = "auto"

    def validate(self) -> None:
        if self.scaling not in SCALINGS:
            raise InvalidParameterError(f"scaling must be one of {', '.join(SCALINGS)}, got {self.scaling!r}.")
        if self.cap_quantiles is not None:
            lo, hi = self.cap_quantiles
            if not (0 <= lo < hi <= 1):
                raise InvalidParameterError(
                    f"cap_quantiles must be two numbers with 0 <= low < high <= 1, got {self.cap_quantiles}.")
        if self.log_columns != "auto" and isinstance(self.log_columns, str):
            raise InvalidParameterError(f"log_columns must be 'auto' or a list of columns, got {self.log_columns!r}.")

    def resolved_log_columns(self, columns: Sequence[str]) -> list[str]:
        if self.log_columns == "auto":
            return [c for c in columns if c in LOG_COLUMNS or c.startswith("n_")]
        return [c for c in columns if c in self.log_columns]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cap_quantiles"] = list(self.cap_quantiles) if self.cap_quantiles else None
        d["log_columns"] = self.log_columns if self.log_columns == "auto" else list(self.log_columns)
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> Preprocessing:
        d = dict(d or {})
        if d.get("cap_quantiles") is not None:
            d["cap_quantiles"] = tuple(d["cap_quantiles"])
        if isinstance(d.get("log_columns"), list):
            d["log_columns"] = tuple(d["log_columns"])
        return cls(**d)


class MissingFiller(BaseEstimator, TransformerMixin):
    """Fill NaN per column: a constant, the column's max or its median (learned in ``fit``).

    Parameters
    ----------
    rules : list
        One rule per column: a number, "max" or "median".
    """

    def __init__(self, rules: list | None = None):
        self.rules = rules

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        rules = self.rules or ["median"] * X.shape[1]
        fills = []
        for j, rule in enumerate(rules):
            col = X[:, j][np.isfinite(X[:, j])]
            if isinstance(rule, (int, float)):
                fills.append(float(rule))
            elif len(col) == 0:
                fills.append(0.0)
            elif rule == "max":
                fills.append(float(col.max()))
            else:
                fills.append(float(np.median(col)))
        self.fill_values_ = np.array(fills)
        return self

    def transform(self, X):
        X = np.array(X, dtype=float)
        bad = ~np.isfinite(X)
        if bad.any():
            X[bad] = np.broadcast_to(self.fill_values_, X.shape)[bad]
        return X


class QuantileCapper(BaseEstimator, TransformerMixin):
    """Clip each column to its [low, high] quantiles learned in ``fit``."""

    def __init__(self, low: float = 0.01, high: float = 0.99):
        self.low = low
        self.high = high

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        self.lower_ = np.quantile(X, self.low, axis=0)
        self.upper_ = np.quantile(X, self.high, axis=0)
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), self.lower_, self.upper_)


class SignedLog1p(BaseEstimator, TransformerMixin):
    """``sign(x) * log1p(|x|)`` on the columns flagged in ``mask``; others unchanged."""

    def __init__(self, mask: list[bool] | None = None):
        self.mask = mask

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        X = np.array(X, dtype=float)
        if self.mask is not None and any(self.mask):
            m = np.asarray(self.mask, dtype=bool)
            X[:, m] = np.sign(X[:, m]) * np.log1p(np.abs(X[:, m]))
        return X


def build_preprocessor(columns: Sequence[str], options: Preprocessing | None = None) -> Pipeline:
    """The scikit-learn Pipeline that turns feature columns into clustering input.

    Steps: ``fill`` (NaN/inf -> a value that means the same, see :data:`MISSING_MEANS`),
    ``cap`` (quantile capping, optional), ``log`` (log1p of counts and money),
    ``scale`` (standard or robust).

    Parameters
    ----------
    columns : list of str
        The columns, in the order of the matrix the pipeline will receive.
    options : Preprocessing, optional
    """
    options = options or Preprocessing()
    options.validate()
    logged = set(options.resolved_log_columns(columns))
    steps: list[tuple[str, Any]] = [("fill", MissingFiller([MISSING_MEANS.get(c, "median") for c in columns]))]
    if options.cap_quantiles is not None:
        steps.append(("cap", QuantileCapper(*options.cap_quantiles)))
    steps.append(("log", SignedLog1p([c in logged for c in columns])))
    steps.append(("scale", StandardScaler() if options.scaling == "standard" else RobustScaler()))
    return Pipeline(steps)


@dataclass
class Prepared:
    """Clustering input: the scaled matrix and what went into it.

    Attributes
    ----------
    X : ndarray of shape (n_users, n_columns)
        Scaled values, finite.
    columns : list of str
    user_ids : ndarray
        ``user_id`` per row (the table's row order is kept).
    pipeline : Pipeline
        The fitted preprocessing.
    raw : ndarray
        The chosen columns before preprocessing (NaN where empty).
    notices : list of str
    """

    X: np.ndarray
    columns: list[str]
    user_ids: np.ndarray
    pipeline: Pipeline
    raw: np.ndarray
    notices: list[str] = field(default_factory=list)

    @property
    def unscaled(self) -> np.ndarray:
        """Values after filling, capping and log, before scaling (the profiles' units)."""
        return self.pipeline[:-1].transform(self.raw)


def prepare(features: pd.DataFrame, columns: Sequence[str] | None = None,
            preprocessing: Preprocessing | None = None) -> Prepared:
    """Choose, clean and scale the clustering columns of a feature table.

    Parameters
    ----------
    features : DataFrame
        Per-user feature table with ``user_id``.
    columns : list of str, optional
        See :func:`choose_features`.
    preprocessing : Preprocessing, optional

    Returns
    -------
    Prepared
    """
    preprocessing = preprocessing or Preprocessing()
    preprocessing.validate()
    choice = choose_features(features, columns)
    frame = feature_frame(features, choice.columns)
    raw = frame.to_numpy(dtype=float)
    notices = list(choice.notices)
    n_missing = (~np.isfinite(raw)).sum(axis=0)
    for col, n in zip(choice.columns, n_missing):
        if n and col not in MISSING_MEANS and col != "events_per_session":
            notices.append(f"'{col}' is empty or infinite for {int(n):,} users; the median was used for them.")
    pipeline = build_preprocessor(choice.columns, preprocessing)
    X = pipeline.fit_transform(raw)
    user_ids = features["user_id"].to_numpy() if "user_id" in features.columns else features.index.to_numpy()
    return Prepared(X=np.ascontiguousarray(X), columns=list(choice.columns), user_ids=user_ids,
                    pipeline=pipeline, raw=raw, notices=notices)


# --- choosing k -----------------------------------------------------------------------------

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
        d["scores"] = _records(self.scores)
        return json_safe(d)

    @classmethod
    def from_dict(cls, d: dict) -> KSweepResult:
        d = dict(d)
        d["scores"] = pd.DataFrame(d["scores"])
        return cls(**d)


def k_sweep(features: pd.DataFrame | Prepared, columns: Sequence[str] | None = None, *,
            k_range: Sequence[int] = range(2, 13), preprocessing: Preprocessing | None = None,
            random_state: int = 0, silhouette_sample_size: int = 4000, fit_sample_size: int = 50_000,
            progress: Progress | None = None) -> KSweepResult:
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
    _check_positive("silhouette_sample_size", silhouette_sample_size, 100)
    _check_positive("fit_sample_size", fit_sample_size, 100)
    prep = features if isinstance(features, Prepared) else prepare(features, columns, preprocessing)
    X = prep.X
    n = len(X)
    notices = list(prep.notices)
    n_distinct = _n_distinct(X, cap=max(ks) + 1)
    usable = [k for k in ks if k < n_distinct]
    if not usable:
        raise InvalidParameterError(
            f"Comparing numbers of segments needs at least 3 users with different values; this data has "
            f"{n:,} users and {n_distinct} distinct. Import more users or choose a fixed number of segments.")
    if len(usable) < len(ks):
        notices.append(f"Only k up to {max(usable)} was tried: the data has {n_distinct} distinct users.")
    rng = np.random.default_rng(random_state)
    fit_idx = _sample(rng, n, fit_sample_size)
    sil_idx = _sample(rng, n, silhouette_sample_size)
    sil_dist = pairwise_distances(X[sil_idx]) if sil_idx is not None else pairwise_distances(X)
    rows = []
    with _threads(n if fit_idx is None else len(fit_idx)):
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
        km = _fit(_kmeans(k, random_state, n_init=1), X if fit_idx is None else X[fit_idx])
        labels = km.labels_ if fit_idx is None else km.predict(X)
        inertia, ch, db = _cluster_scores(X, labels, k)
        sub = labels if sil_idx is None else labels[sil_idx]
        sil = silhouette_score(sil_dist, sub, metric="precomputed") if 1 < len(np.unique(sub)) < len(sub) else np.nan
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
        return k, f"k = {k} is the only number of segments the data allows.", {c: k for c in SCORE_COLUMNS}
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
        head = f"k = {k}: three of the four scores ({_join(agree)}) put it first. "
    else:
        head = (f"k = {k} ranks best across the four scores on average"
                + (f" ({_join(agree)} {'puts' if len(agree) == 1 else 'put'} it first)" if agree else "") + ". ")
    tail = _join(others) + "."
    if k != 2 and any(b == 2 for b in best_by.values()):
        tail += (" Two segments are suggested only when the split into two is clear-cut: on customer data the "
                 "scores that favour 2 mostly see buyers vs non-buyers, which you already know.")
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


def _cluster_scores(X: np.ndarray, labels: np.ndarray, k: int) -> tuple[float, float, float]:
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


# --- segmentation ---------------------------------------------------------------------------


@dataclass
class Dendrogram:
    """A dendrogram of the hierarchical sample, truncated to its top merges (ready to draw).

    Attributes
    ----------
    icoord, dcoord : list of list of float
        Four x and y coordinates per link, as from ``scipy.cluster.hierarchy.dendrogram``.
    leaf_labels : list of str
        Label of each leaf, left to right (how many sample users it holds).
    leaf_segments : list of int
        Segment of each leaf (its users' majority segment).
    cut_height : float
        Merge height at which the tree splits into the k segments.
    sample_size : int
    """

    icoord: list[list[float]]
    dcoord: list[list[float]]
    leaf_labels: list[str]
    leaf_segments: list[int]
    cut_height: float
    sample_size: int

    def to_dict(self) -> dict:
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> Dendrogram:
        return cls(**d)


@dataclass
class SegmentationResult:
    """A segmentation of a dataset's users: who is in which segment, and what the segments mean.

    Attributes
    ----------
    method : {"kmeans", "hierarchical"}
    k : int
    columns : list of str
        Features clustered on.
    preprocessing : dict
        :meth:`Preprocessing.to_dict` of the options used.
    random_state : int
    names : list of str
        Name of segment 0, 1, ...; unique and non-empty (segments are numbered by size, largest first).
    summary : DataFrame
        One row per segment: ``segment, name, users, share, revenue, revenue_share,
        buyer_share, session_conversion, median_recency_days, avg_order_value,
        stability``. KPIs whose source column is missing are NaN.
    profile : DataFrame
        Segment x feature: how far the segment's mean lies from all users' mean, in
        standard deviations (values after log/capping, so one extreme user cannot
        dominate). Index: segment number; columns: ``columns``.
    profile_means : DataFrame
        Segment x feature: the plain mean of each feature (original units), for hover text.
    centers : list of list of float
        Segment centres in the scaled space.
    silhouette : float
        Silhouette of this segmentation (on a seeded sample when large; NaN when undefined).
    silhouette_sample_size : int
    stability : float or None
        Overall stability in [0, 1] (mean adjusted Rand index over resamples); None if not computed.
    stability_text : str
        One plain sentence explaining ``stability``.
    stability_resamples : int
    assignments : DataFrame
        ``user_id, segment, segment_name`` per user (row order of the input table).
        Not in :meth:`to_dict`: store it as a table.
    sweep : KSweepResult or None
        The sweep behind an automatic k.
    dendrogram : Dendrogram or None
        Hierarchical method only.
    sample_size : int or None
        Users the hierarchical tree was built on (the others were assigned to the nearest centre).
    notices : list of str
    """

    method: str
    k: int
    columns: list[str]
    preprocessing: dict
    random_state: int
    names: list[str]
    summary: pd.DataFrame
    profile: pd.DataFrame
    profile_means: pd.DataFrame
    centers: list[list[float]]
    silhouette: float
    silhouette_sample_size: int
    stability: float | None
    stability_text: str
    stability_resamples: int
    assignments: pd.DataFrame
    sweep: KSweepResult | None = None
    dendrogram: Dendrogram | None = None
    sample_size: int | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        """Segment number per user, in the input table's row order."""
        return self.assignments["segment"].to_numpy()

    @property
    def stability_by_segment(self) -> list[float | None]:
        return [None if pd.isna(v) else float(v) for v in self.summary["stability"]]

    def to_dict(self) -> dict:
        """Everything except ``assignments``, JSON-safe (store assignments as a table)."""
        d = {k: v for k, v in self.__dict__.items()
             if k not in ("assignments", "summary", "profile", "profile_means", "sweep", "dendrogram")}
        d["summary"] = _records(self.summary)
        d["profile"] = _records(self.profile.reset_index())
        d["profile_means"] = _records(self.profile_means.reset_index())
        d["sweep"] = self.sweep.to_dict() if self.sweep else None
        d["dendrogram"] = self.dendrogram.to_dict() if self.dendrogram else None
        return json_safe(d)

    @classmethod
    def from_dict(cls, d: dict, assignments: pd.DataFrame) -> SegmentationResult:
        """Rebuild a result from :meth:`to_dict` output and the stored assignments table.

        ``assignments`` needs ``user_id, segment``; ``segment_name`` is filled from
        ``names`` when absent (so a rename only has to rewrite the small dict).
        """
        d = dict(d)
        d["summary"] = pd.DataFrame(d["summary"])
        d["profile"] = pd.DataFrame(d["profile"]).set_index("segment")
        d["profile_means"] = pd.DataFrame(d["profile_means"]).set_index("segment")
        d["sweep"] = KSweepResult.from_dict(d["sweep"]) if d.get("sweep") else None
        d["dendrogram"] = Dendrogram.from_dict(d["dendrogram"]) if d.get("dendrogram") else None
        if "segment_name" not in assignments.columns:
            assignments = assignments.assign(
                segment_name=np.asarray(d["names"], dtype=object)[assignments["segment"].to_numpy()])
        return cls(**d, assignments=assignments)

    def brief(self) -> dict:
        """The headline figures (for ``--json``): k and why, silhouette, sizes, names, stability."""
        return json_safe({
            "method": self.method, "k": self.k,
            "k_reason": self.sweep.reason if self.sweep else "chosen by the user",
            "silhouette": self.silhouette, "silhouette_sample_size": self.silhouette_sample_size,
            "segments": [{"segment": int(r.segment), "name": r.name, "users": int(r.users),
                          "share": float(r.share), "stability": r.stability}
                         for r in self.summary.itertuples()],
            "stability": self.stability, "stability_text": self.stability_text,
            "features": self.columns, "notices": self.notices,
        })


def segment(features: pd.DataFrame, k: int | str = "auto", *, method: str = "kmeans",
            columns: Sequence[str] | None = None, preprocessing: Preprocessing | None = None,
            random_state: int = 0, n_init: int = 4, hierarchical_sample_size: int = 5000,
            stability_resamples: int = 10, stability_sample_size: int = 5000,
            silhouette_sample_size: int = 4000, progress: Progress | None = None) -> SegmentationResult:
    """Split users into k segments and describe each one.

    Parameters
    ----------
    features : DataFrame
        Per-user feature table with ``user_id``; the KPIs use ``monetary``,
        ``frequency``, ``session_conversion_rate`` and ``recency_days`` when present.
    k : int or "auto"
        Number of segments (2..30), or "auto" to run :func:`k_sweep` and take its recommendation.
    method : {"kmeans", "hierarchical"}
        K-means (k-means++ starts, best of ``n_init``) on all users, or Ward
        hierarchical clustering on a seeded sample of ``hierarchical_sample_size``
        users with every other user assigned to the nearest segment centre.
    columns : list of str, optional
        Features to cluster on; default :func:`choose_features`.
    preprocessing : Preprocessing, optional
    random_state : int
    n_init : int
        K-means restarts (the best is kept).
    hierarchical_sample_size : int
        Ward needs memory and time growing with the square of the users; 5,000 takes
        about a second.
    stability_resamples : int
        Bootstrap resamples for the stability score; 0 skips it.
    stability_sample_size : int
        Stability is measured on a seeded sample of at most this many users.
    silhouette_sample_size : int
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    SegmentationResult

    Raises
    ------
    InvalidParameterError
        Bad k, method or sizes; more segments asked for than distinct users.
    NoDataError
        No users, or nothing to tell users apart.
    """
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    if not (k == "auto" or (isinstance(k, (int, np.integer)) and not isinstance(k, bool))):
        raise InvalidParameterError(f"k must be a whole number of segments or 'auto', got {k!r}.")
    if k != "auto" and not K_MIN <= int(k) <= K_MAX:
        raise InvalidParameterError(f"The number of segments must be between {K_MIN} and {K_MAX}, got {k}.")
    _check_positive("n_init", n_init, 1)
    _check_positive("hierarchical_sample_size", hierarchical_sample_size, 10)
    _check_positive("stability_sample_size", stability_sample_size, 10)
    _check_positive("silhouette_sample_size", silhouette_sample_size, 100)
    if not isinstance(stability_resamples, (int, np.integer)) or not 0 <= stability_resamples <= 200:
        raise InvalidParameterError(f"stability_resamples must be between 0 and 200, got {stability_resamples!r}.")
    say = _stepper(progress)
    say(0.0, "Preparing features")
    prep = prepare(features, columns, preprocessing)
    X, n = prep.X, len(prep.X)
    notices = list(prep.notices)
    sweep = None
    if k == "auto":
        sweep = k_sweep(prep, random_state=random_state, silhouette_sample_size=silhouette_sample_size,
                        progress=lambda f, m: say(0.05 + 0.35 * f, m))
        k = sweep.recommended_k
        notices = list(sweep.notices)
    k = int(k)
    n_distinct = _n_distinct(X, cap=k)
    if k > n:
        raise InvalidParameterError(
            f"You asked for {k} segments but there {'is only 1 user' if n == 1 else f'are only {n} users'}. "
            f"Choose at most {max(n_distinct, 1)}, or import more users.")
    if k > n_distinct:
        raise InvalidParameterError(
            f"You asked for {k} segments but only {n_distinct} users differ in the chosen features, so at most "
            f"{n_distinct} segments can be told apart. Choose a smaller number or add features.")
    say(0.4, f"Finding {k} segments ({'K-means' if method == 'kmeans' else 'Ward hierarchical'})")
    rng = np.random.default_rng(random_state)
    dendro = None
    sample_size = None
    if method == "kmeans":
        with _threads(n):
            centres, labels = _fit_kmeans(X, k, random_state, n_init)
    else:
        idx = _sample(rng, n, hierarchical_sample_size)
        sample_size = n if idx is None else len(idx)
        centres, labels, dendro = _fit_ward(X, k, idx)
        if idx is not None:
            notices.append(f"The hierarchy was built on a random sample of {len(idx):,} users; the other "
                           f"{n - len(idx):,} joined the segment with the nearest centre.")
    labels, centres, dendro = _order_by_size(labels, centres, dendro)

    say(0.55, "Describing segments")
    sil_idx = _sample(rng, n, silhouette_sample_size)
    silhouette = _silhouette(X, labels, sil_idx)
    profile, means = _profiles(prep, labels, k)
    summary = segment_kpis(features, labels, k)
    names = name_segments(profile, summary)
    summary.insert(1, "name", names)

    stability, per_segment, text = None, [np.nan] * k, "Stability was not measured."
    if stability_resamples:
        stability, per_segment = _stability(X, labels, k, method, random_state, stability_resamples,
                                            stability_sample_size, hierarchical_sample_size,
                                            lambda f: say(0.6 + 0.38 * f, "Checking stability on resamples"))
        text = stability_sentence(stability, stability_resamples)
    summary["stability"] = per_segment
    say(1.0, "Done")
    assignments = pd.DataFrame({"user_id": prep.user_ids, "segment": labels.astype(np.int64),
                                "segment_name": np.asarray(names, dtype=object)[labels]})
    return SegmentationResult(
        method=method, k=k, columns=list(prep.columns),
        preprocessing=(preprocessing or Preprocessing()).to_dict(), random_state=random_state, names=names,
        summary=summary, profile=profile, profile_means=means, centers=centres.tolist(),
        silhouette=silhouette, silhouette_sample_size=n if sil_idx is None else len(sil_idx),
        stability=stability, stability_text=text, stability_resamples=int(stability_resamples),
        assignments=assignments, sweep=sweep, dendrogram=dendro, sample_size=sample_size, notices=notices)


def rename_segments(result: SegmentationResult, names: dict[int, str] | Sequence[str]) -> SegmentationResult:
    """Give segments the user's names; returns a new result (the input is unchanged).

    Parameters
    ----------
    result : SegmentationResult
    names : dict or list
        Segment number -> new name, or one name per segment.

    Raises
    ------
    InvalidParameterError
        Unknown segment, empty name, or two segments with the same name.
    """
    new = list(result.names)
    items = names.items() if isinstance(names, dict) else enumerate(names)
    if not isinstance(names, dict) and len(names) != result.k:
        raise InvalidParameterError(f"Give one name per segment: {result.k} names, got {len(names)}.")
    for seg, name in items:
        if not (isinstance(seg, (int, np.integer)) and 0 <= seg < result.k):
            raise InvalidParameterError(f"There is no segment {seg!r}; segments are numbered 0 to {result.k - 1}.")
        clean = " ".join(str(name).split())[:80]
        if not clean:
            raise InvalidParameterError(f"The name of segment {seg} cannot be empty.")
        new[int(seg)] = clean
    dupes = sorted({n for n in new if new.count(n) > 1})
    if dupes:
        raise InvalidParameterError(f"Each segment needs its own name; {', '.join(dupes)} is used twice.")
    summary = result.summary.copy()
    summary["name"] = new
    assignments = result.assignments.copy()
    assignments["segment_name"] = np.asarray(new, dtype=object)[assignments["segment"].to_numpy()]
    return SegmentationResult(**{**result.__dict__, "names": new, "summary": summary, "assignments": assignments})


# --- fitting --------------------------------------------------------------------------------


# Below this many rows K-means runs on one thread: OpenMP's hand-offs cost more than they save,
# and on a busy 2-core machine (Streamlit, a second job) they made small fits 10-30x slower.
SINGLE_THREAD_ROWS = 100_000


def _kmeans(k: int, random_state: int, n_init: int) -> KMeans:
    return KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=random_state)


def _fit_kmeans(X: np.ndarray, k: int, random_state: int, n_init: int) -> tuple[np.ndarray, np.ndarray]:
    km = _fit(_kmeans(k, random_state, n_init), X)
    return km.cluster_centers_, km.labels_.astype(np.int64)


def _threads(n_rows: int) -> threadpool_limits:
    """Context that caps native threads for fits on ``n_rows`` rows (see SINGLE_THREAD_ROWS)."""
    return threadpool_limits(1 if n_rows < SINGLE_THREAD_ROWS else None)


def _fit(km: KMeans, X: np.ndarray) -> KMeans:
    with warnings.catch_warnings():
        # Duplicated users can make K-means report fewer distinct clusters; checked before.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return km.fit(X)


def _fit_ward(X: np.ndarray, k: int, idx: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, Dendrogram]:
    Xs = X if idx is None else X[idx]
    Z = hierarchy.linkage(Xs, method="ward")
    sample_labels = hierarchy.fcluster(Z, t=k, criterion="maxclust") - 1
    found = len(np.unique(sample_labels))
    if found < k:
        # Ties in merge heights can stop fcluster short of k; cut the tree by count instead.
        sample_labels = hierarchy.cut_tree(Z, n_clusters=k).ravel()
    centres = np.stack([Xs[sample_labels == c].mean(axis=0) for c in range(k)])
    labels = sample_labels if idx is None else _nearest(X, centres)
    if idx is not None:
        labels[idx] = sample_labels
    heights = Z[:, 2]
    cut = float((heights[-k] + heights[-k + 1]) / 2) if len(heights) >= k else float(heights[0] / 2)
    return centres, labels.astype(np.int64), _dendrogram(Z, sample_labels, cut, len(Xs))


def _dendrogram(Z: np.ndarray, sample_labels: np.ndarray, cut: float, n: int, leaves: int = 40) -> Dendrogram:
    d = hierarchy.dendrogram(Z, truncate_mode="lastp", p=min(leaves, n), no_plot=True, count_sort=False)
    members = _leaf_members(Z, d["leaves"], n)
    leaf_segments = [int(np.bincount(sample_labels[m]).argmax()) for m in members]
    return Dendrogram(icoord=d["icoord"], dcoord=d["dcoord"],
                      leaf_labels=[f"{len(m):,} users" for m in members], leaf_segments=leaf_segments,
                      cut_height=cut, sample_size=n)


def _leaf_members(Z: np.ndarray, leaves: list[int], n: int) -> list[np.ndarray]:
    """Sample rows under each (possibly merged) leaf of a truncated dendrogram."""
    out = []
    for leaf in leaves:
        if leaf < n:
            out.append(np.array([leaf]))
        else:
            out.append(np.array(_members(Z, leaf, n)))
    return out


def _members(Z: np.ndarray, node: int, n: int) -> list[int]:
    stack, found = [node], []
    while stack:
        i = stack.pop()
        if i < n:
            found.append(i)
        else:
            a, b = Z[i - n, 0], Z[i - n, 1]
            stack.extend((int(a), int(b)))
    return found


def _nearest(X: np.ndarray, centres: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    out = np.empty(len(X), dtype=np.int64)
    c2 = (centres ** 2).sum(axis=1)
    for s in range(0, len(X), chunk):
        part = X[s:s + chunk]
        out[s:s + chunk] = np.argmin(c2[None, :] - 2 * part @ centres.T, axis=1)
    return out


def _order_by_size(labels: np.ndarray, centres: np.ndarray,
                   dendro: Dendrogram | None) -> tuple[np.ndarray, np.ndarray, Dendrogram | None]:
    """Renumber segments largest first (ties by old number), so numbering is stable and meaningful."""
    k = len(centres)
    counts = np.bincount(labels, minlength=k)
    order = np.lexsort((np.arange(k), -counts))
    new_of_old = np.empty(k, dtype=np.int64)
    new_of_old[order] = np.arange(k)
    if dendro is not None:
        dendro.leaf_segments = [int(new_of_old[s]) for s in dendro.leaf_segments]
    return new_of_old[labels], centres[order], dendro


def _silhouette(X: np.ndarray, labels: np.ndarray, idx: np.ndarray | None) -> float:
    Xs, ls = (X, labels) if idx is None else (X[idx], labels[idx])
    if not 1 < len(np.unique(ls)) < len(ls):
        return float("nan")
    return float(silhouette_score(Xs, ls))


# --- describing segments --------------------------------------------------------------------


def _profiles(prep: Prepared, labels: np.ndarray, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    T = prep.unscaled
    mu, sd = T.mean(axis=0), T.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    seg_means = np.stack([T[labels == s].mean(axis=0) for s in range(k)])
    profile = pd.DataFrame((seg_means - mu) / sd, columns=prep.columns)
    raw = pd.DataFrame(prep.raw, columns=prep.columns)
    means = raw.groupby(labels).mean().reindex(range(k))
    profile.index.name = means.index.name = "segment"
    return profile, means


def segment_kpis(features: pd.DataFrame, labels: np.ndarray, k: int | None = None) -> pd.DataFrame:
    """Size and business KPIs of each segment from the (unscaled) feature table.

    Parameters
    ----------
    features : DataFrame
        The feature table, one row per user in the order of ``labels``.
    labels : array of int
        Segment of each user (0..k-1).
    k : int, optional
        Number of segments (default: max label + 1), so empty segments get a row.

    Returns
    -------
    DataFrame
        ``segment, users, share, revenue, revenue_share, buyer_share,
        session_conversion, median_recency_days, avg_order_value``; NaN when the
        source column (monetary, frequency, session_conversion_rate, recency_days)
        is missing.
    """
    labels = np.asarray(labels)
    if len(labels) != len(features):
        raise InvalidParameterError(
            f"labels has {len(labels):,} entries but the feature table has {len(features):,} users.")
    k = int(k if k is not None else labels.max() + 1)

    def col(name: str) -> pd.Series | None:
        if name not in features.columns:
            return None
        return pd.to_numeric(features[name], errors="coerce").replace([np.inf, -np.inf], np.nan)

    g = pd.Series(labels, index=features.index)
    users = g.value_counts().reindex(range(k), fill_value=0)
    out = pd.DataFrame({"segment": np.arange(k), "users": users.to_numpy()})
    out["share"] = out["users"] / max(len(labels), 1)
    nan = np.full(k, np.nan)
    monetary, frequency = col("monetary"), col("frequency")
    if monetary is not None:
        revenue = monetary.fillna(0).groupby(g).sum().reindex(range(k), fill_value=0).to_numpy()
        total = revenue.sum()
        out["revenue"] = revenue
        out["revenue_share"] = revenue / total if total > 0 else nan
    else:
        out["revenue"], out["revenue_share"] = nan, nan
    buyers = frequency if frequency is not None else monetary
    out["buyer_share"] = ((buyers.fillna(0) > 0).groupby(g).mean().reindex(range(k)).to_numpy()
                          if buyers is not None else nan)
    conv = col("session_conversion_rate")
    out["session_conversion"] = conv.groupby(g).mean().reindex(range(k)).to_numpy() if conv is not None else nan
    rec = col("recency_days")
    out["median_recency_days"] = rec.groupby(g).median().reindex(range(k)).to_numpy() if rec is not None else nan
    if monetary is not None and frequency is not None:
        orders = frequency.fillna(0).groupby(g).sum().reindex(range(k), fill_value=0).to_numpy()
        out["avg_order_value"] = np.divide(out["revenue"].to_numpy(), orders, out=np.full(k, np.nan),
                                           where=orders > 0)
    else:
        out["avg_order_value"] = nan
    return out


def name_segments(profile: pd.DataFrame, summary: pd.DataFrame | None = None) -> list[str]:
    """A short descriptive name per segment, unique and non-empty.

    The name is "<lifecycle> <value>". Lifecycle comes from the profile: "Lapsed"
    (long since last visit), "New" (short tenure), "Loyal" / "Engaged" (many
    purchases or visits), "Occasional" (few visits), else "Regular". Value comes
    from the KPIs when they are there: "browsers" (under a quarter bought),
    "high spenders" (revenue per buyer at least 1.5x all buyers'), "bargain
    buyers" (average order under 0.7x everyone's), else "buyers"; without KPIs
    the profile's z-scores decide. Features that are missing are skipped; with
    none of the known ones the name lists the segment's two most distinctive
    features ("High visits, low tenure"). Duplicates get what best tells them
    apart ("Loyal buyers, more visits").

    Parameters
    ----------
    profile : DataFrame
        Segment x feature z-scores (as in :attr:`SegmentationResult.profile`).
    summary : DataFrame, optional
        KPIs per segment (:func:`segment_kpis`).
    """
    k = len(profile)
    value = _value_ratios(summary, k)
    names = [_name(profile.iloc[i], *value[i]) for i in range(k)]
    return _unique_names(names, profile)


def _value_ratios(summary: pd.DataFrame | None, k: int) -> list[tuple[float, float, float]]:
    """Per segment: (buyer share, revenue per buyer vs all buyers, order value vs all orders)."""
    nan = [(np.nan, np.nan, np.nan)] * k
    if summary is None or not {"users", "buyer_share", "revenue", "avg_order_value"} <= set(summary.columns):
        return nan
    users = summary["users"].to_numpy(dtype=float)
    share = summary["buyer_share"].to_numpy(dtype=float)
    revenue = summary["revenue"].to_numpy(dtype=float)
    aov = summary["avg_order_value"].to_numpy(dtype=float)
    buyers = users * share
    with np.errstate(divide="ignore", invalid="ignore"):
        orders = np.where(aov > 0, revenue / aov, 0.0)
        per_buyer = (revenue / buyers) / (np.nansum(revenue) / np.nansum(buyers))
        basket = aov / (np.nansum(revenue) / np.nansum(orders))
    return list(zip(share, per_buyer, basket))


def _z(row: pd.Series, *cols: str) -> float | None:
    vals = [row[c] for c in cols if c in row.index and np.isfinite(row[c])]
    return max(vals, key=abs) if vals else None


def _name(row: pd.Series, buyer_share: float = np.nan, spend_ratio: float = np.nan,
          basket_ratio: float = np.nan) -> str:
    recency = _z(row, "recency_days", "days_since_last_purchase")
    tenure = _z(row, "tenure_days")
    visits = _z(row, "n_sessions", "active_days", "n_events")
    buys = _z(row, "frequency")
    spend = _z(row, "monetary")
    basket = _z(row, "avg_order_value")
    value_known = any(v is not None for v in (buys, spend, basket)) or np.isfinite(buyer_share)
    if not value_known and all(v is None for v in (recency, tenure, visits)):
        return _generic_name(row)

    browsers = (buyer_share < 0.25) if np.isfinite(buyer_share) else (buys is not None and buys < -0.5)
    if not value_known:
        noun = "visitors"
    elif browsers:
        noun = "browsers"
    elif np.isfinite(spend_ratio) or np.isfinite(basket_ratio):
        noun = ("high spenders" if spend_ratio >= 1.5 else "bargain buyers" if basket_ratio <= 0.7 else "buyers")
    elif (spend is not None and spend >= 0.8) or (basket is not None and basket >= 0.8):
        noun = "high spenders"
    elif basket is not None and basket <= -0.5:
        noun = "bargain buyers"
    else:
        noun = "buyers"

    loyal = (buys is not None and buys >= 0.6) or (visits is not None and visits >= 0.8)
    if recency is not None and recency >= 0.8:
        adjective = "Lapsed"
    elif tenure is not None and tenure <= -0.8:
        adjective = "New"
    elif loyal:
        adjective = "Loyal" if noun != "browsers" else "Engaged"
    elif visits is not None and visits <= -0.5:
        adjective = "Occasional"
    else:
        adjective = "Regular"
    return f"{adjective} {noun}"


def _generic_name(row: pd.Series) -> str:
    finite = row[np.isfinite(row.to_numpy(dtype=float))]
    if finite.empty:
        return "Segment"
    top = finite.abs().sort_values(ascending=False).index[:2]
    parts = [f"{'high' if row[c] > 0 else 'low'} {feature_label(c)}" for c in top]
    text = ", ".join(parts)
    return text[0].upper() + text[1:]


def _unique_names(names: list[str], profile: pd.DataFrame) -> list[str]:
    out = list(names)
    for name in sorted(set(names)):
        group = [i for i, n in enumerate(names) if n == name]
        if len(group) < 2:
            continue
        sub = profile.iloc[group]
        for i in group:
            others = sub.drop(index=profile.index[i]).mean(axis=0)
            diff = (profile.iloc[i] - others).replace([np.inf, -np.inf], np.nan).dropna()
            if diff.empty:
                continue
            col = diff.abs().idxmax()
            out[i] = f"{name}, {'more' if diff[col] > 0 else 'less'} {feature_label(col)}"
    for i, name in enumerate(out):
        n_before = out[:i].count(name)
        if n_before:
            out[i] = f"{name} ({n_before + 1})"
    return out


# --- stability ------------------------------------------------------------------------------


def _stability(X: np.ndarray, labels: np.ndarray, k: int, method: str, random_state: int, resamples: int,
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
    idx = _sample(rng, n, sample_size)
    Xe, le = (X, labels) if idx is None else (X[idx], labels[idx])
    m = len(Xe)
    with _threads(m):
        return _resample_scores(Xe, le, k, method, random_state, resamples, hierarchical_sample_size, rng, tick)


def _resample_scores(Xe: np.ndarray, le: np.ndarray, k: int, method: str, random_state: int, resamples: int,
                     hierarchical_sample_size: int, rng: np.random.Generator,
                     tick: Callable[[float], None]) -> tuple[float, list[float]]:
    m = len(Xe)
    aris, jacc = [], np.zeros(k)
    for b in range(resamples):
        boot = rng.integers(0, m, m)
        Xb = Xe[boot]
        n_distinct = _n_distinct(Xb, cap=k)
        if n_distinct < k:
            refit = _nearest(Xe, _fit_kmeans(Xb, n_distinct, random_state + b + 1, 1)[0]) if n_distinct > 1 \
                else np.zeros(m, dtype=np.int64)
        elif method == "kmeans":
            refit = _nearest(Xe, _fit_kmeans(Xb, k, random_state + b + 1, 1)[0])
        else:
            sub = _sample(rng, m, min(hierarchical_sample_size, 2000))
            centres = _fit_ward(Xb if sub is None else Xb[sub], k, None)[0]
            refit = _nearest(Xe, centres)
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


# --- small helpers --------------------------------------------------------------------------


def _check_table(features: Any) -> None:
    if not isinstance(features, pd.DataFrame):
        raise InvalidParameterError(f"Expected a feature table (pandas DataFrame), got {type(features).__name__}.")
    if len(features) == 0:
        raise NoDataError("The feature table has no users; import a log with events first.")


def _check_positive(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise InvalidParameterError(f"{name} must be a whole number of at least {minimum}, got {value!r}.")


def _sample(rng: np.random.Generator, n: int, size: int) -> np.ndarray | None:
    """Sorted seeded sample of row numbers, or None when all rows fit."""
    if n <= size:
        return None
    return np.sort(rng.choice(n, size=size, replace=False))


def _n_distinct(X: np.ndarray, cap: int) -> int:
    """Distinct rows of X, counted exactly only up to ``cap`` (cheap on large data)."""
    if len(X) == 0:
        return 0
    head = X[: max(cap * 50, 1000)]
    n = len(np.unique(head, axis=0))
    if n >= cap or len(head) == len(X):
        return n
    return len(np.unique(X, axis=0))


def _stepper(progress: Progress | None) -> Progress:
    return progress or (lambda _f, _m: None)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _records(df: pd.DataFrame) -> list[dict]:
    return df.to_dict(orient="records")

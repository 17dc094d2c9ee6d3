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

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.jsonable import json_safe
from analytics.progress import Progress, no_progress
from analytics.segments.clustering import (
    K_MAX,
    K_MIN,
    METHODS,
    Dendrogram,
    blas_threads,
    fit_kmeans,
    fit_ward,
    n_distinct_rows,
    order_by_size,
    sample_rows,
    sampled_silhouette,
)
from analytics.segments.describe import name_segments, segment_kpis, segment_profiles
from analytics.segments.ksweep import KSweepResult, check_positive, k_sweep, records
from analytics.segments.preprocessing import Preprocessing, prepare
from analytics.segments.stability import stability_score, stability_sentence


@dataclass
class SegmentationResult:
    """A segmentation of a dataset's users: who is in which segment, and what the segments mean.

    Attributes
    ----------
    method : {"kmeans", "hierarchical", "rfm"}
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
    space : {"features", "sequence"}
        What was clustered: the scaled aggregate features, or a behaviour-sequence
        embedding (``centers`` are then in the embedding's space; ``profile`` still
        describes the segments with the features).
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
    rules: dict | None = None  # the RFM grid's score boundaries (method "rfm"), to place other users the same way
    space: str = "features"  # what was clustered: "features" or "sequence" (behaviour-sequence embeddings)

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
        d["summary"] = records(self.summary)
        d["profile"] = records(self.profile.reset_index())
        d["profile_means"] = records(self.profile_means.reset_index())
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
            "features": self.columns, "notices": self.notices, "space": self.space,
        })


def segment(features: pd.DataFrame, k: int | str = "auto", *, method: str = "kmeans",
            columns: Sequence[str] | None = None, preprocessing: Preprocessing | None = None,
            random_state: int = 0, n_init: int = 4, hierarchical_sample_size: int = 5000,
            stability_resamples: int = 10, stability_sample_size: int = 5000,
            silhouette_sample_size: int = 4000, matrix: np.ndarray | None = None,
            space: str = "features", progress: Progress | None = None) -> SegmentationResult:
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
    matrix : ndarray of shape (n_users, d), optional
        Cluster this instead of the scaled features: one row per user of ``features``,
        in its order, e.g. the behaviour-sequence embeddings of
        :func:`analytics.sequences.profiles.user_profiles`. ``columns`` then only
        describe the segments (profiles, names), in words a marketer reads.
    space : str
        What ``matrix`` is, recorded in the result ("sequence" for sequence embeddings).
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
    check_positive("n_init", n_init, 1)
    check_positive("hierarchical_sample_size", hierarchical_sample_size, 10)
    check_positive("stability_sample_size", stability_sample_size, 10)
    check_positive("silhouette_sample_size", silhouette_sample_size, 100)
    if not isinstance(stability_resamples, (int, np.integer)) or not 0 <= stability_resamples <= 200:
        raise InvalidParameterError(f"stability_resamples must be between 0 and 200, got {stability_resamples!r}.")
    say = (progress or no_progress)
    say(0.0, "Preparing features")
    if matrix is None:
        space = "features"
    elif space == "features":
        raise InvalidParameterError("Name what the matrix is (space='sequence' for sequence embeddings); "
                                    "'features' means the scaled feature columns.")
    prep = prepare(features, columns, preprocessing, matrix)
    X, n = prep.X, len(prep.X)
    notices = list(prep.notices)
    sweep = None
    if k == "auto":
        sweep = k_sweep(prep, random_state=random_state, silhouette_sample_size=silhouette_sample_size,
                        progress=lambda f, m: say(0.05 + 0.35 * f, m))
        k = sweep.recommended_k
        notices = list(sweep.notices)
    if space != "features":
        notices.append(f"The segments were found in the behaviour-sequence embedding ({X.shape[1]} dimensions "
                       "learned from the order of each user's events); the profiles describe them with the "
                       "chosen features.")
    k = int(k)
    n_distinct = n_distinct_rows(X, cap=k)
    if k > n:
        raise InvalidParameterError(
            f"You asked for {k} segments but there {'is only 1 user' if n == 1 else f'are only {n} users'}. "
            f"Choose at most {max(n_distinct, 1)}, or import more users.")
    if k > n_distinct:
        raise InvalidParameterError(
            f"You asked for {k} segments but the {n:,} users have only {n_distinct} distinct profiles in the chosen "
            f"features (users with the same values count once), so at most {n_distinct} segments can be told "
            "apart. Choose a smaller number or add features.")
    say(0.4, f"Finding {k} segments ({'K-means' if method == 'kmeans' else 'Ward hierarchical'})")
    rng = np.random.default_rng(random_state)
    dendro = None
    sample_size = None
    if method == "kmeans":
        with blas_threads(n):
            centres, labels = fit_kmeans(X, k, random_state, n_init)
    else:
        idx = sample_rows(rng, n, hierarchical_sample_size)
        sample_size = n if idx is None else len(idx)
        centres, labels, dendro = fit_ward(X, k, idx)
        if idx is not None:
            notices.append(f"The hierarchy was built on a random sample of {len(idx):,} users; the other "
                           f"{n - len(idx):,} joined the segment with the nearest centre.")
    labels, centres, dendro = order_by_size(labels, centres, dendro)

    say(0.55, "Describing segments")
    sil_idx = sample_rows(rng, n, silhouette_sample_size)
    silhouette = sampled_silhouette(X, labels, sil_idx)
    profile, means = segment_profiles(prep, labels, k)
    summary = segment_kpis(features, labels, k)
    names = name_segments(profile, summary, means)
    summary.insert(1, "name", names)

    stability, per_segment, text = None, [np.nan] * k, "Stability was not measured."
    if stability_resamples:
        stability, per_segment = stability_score(X, labels, k, method, random_state, stability_resamples,
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
        assignments=assignments, sweep=sweep, dendrogram=dendro, sample_size=sample_size, notices=notices,
        space=space)


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


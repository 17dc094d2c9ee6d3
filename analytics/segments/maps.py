"""2-D maps of users (t-SNE, UMAP, PCA) for the Segments page and ``python -m analytics embed``.

:func:`embed` takes the clustering input (a feature table, the output of
:func:`analytics.segments.preprocessing.prepare`, or a finite numeric matrix), samples it
when it is large, and returns an :class:`Embedding`: 2-D coordinates and the row
numbers they belong to.

Sampling
--------
Above ``max_points`` rows (default :data:`DEFAULT_MAX_POINTS`: 200,000 for PCA,
50,000 for UMAP, 20,000 for t-SNE; pass another value to change it) a seeded
sample is drawn, stratified by segment when labels are given: each segment gets
its share of the points, and small segments at least :data:`MIN_PER_SEGMENT`
so they stay visible. The caps keep a map under about 20 seconds on 2 cores and
the browser responsive (WebGL draws 50k points smoothly).

Identical users
---------------
Users with exactly the same features (common in real logs: one visit, one page) are one
point to UMAP and t-SNE; as copies they fill each other's neighbourhoods at distance 0, and
the layout spreads out and slows down. The layout runs on the distinct profiles, and
:func:`spread_identical` draws each group as a small disc around its spot (a notice says so
when at least :data:`IDENTICAL_NOTICE_SHARE` of the users are copies).

Speed choices (measured with ``bench/bench_segmentation.py``)
-------------------------------------------------------------
- Neighbours for UMAP and t-SNE come from scikit-learn's exact k-d tree (or brute
  force above 20 features), built on the principal axes of the data (a rotation,
  which keeps the neighbours but suits the tree's axis-aligned cuts), and are
  handed to both libraries. For UMAP this skips
  pynndescent, whose numba compilation cost about 35 s in every new process and
  cannot be cached to disk (its functions are built at run time); the exact
  search is also faster on per-user features, which have few effective dimensions.
- UMAP's own numba functions are compiled once and cached on disk
  (:func:`configure_numba_cache`; default ``<workspace>/cache/numba``), so a new
  process loads them in about a second instead of compiling for 10-20 s.
  :func:`warm_up` runs that compilation (or cache load) ahead of time, e.g. in a
  background thread when the app starts. Because the neighbours are always
  precomputed, a warm-up on a few hundred points goes through the same code as
  a map of 50,000 (UMAP's own search would switch algorithms at 4,096 points).
- UMAP runs with ``random_state``: the same data and parameters give the same
  map, so a stored map is what a recomputation would show. That turns off
  UMAP's multi-threaded optimisation, a conscious trade: on 2 cores it gained
  little (and nothing when the app is busy), and PCA initialisation plus the
  exact neighbours keep 50k users within the target.
- t-SNE uses openTSNE rather than scikit-learn's TSNE. Measured on 20,000 users
  x 15 features (2 cores, ``bench/bench_segmentation.py``): openTSNE with FFT
  gradients and a coarser FFT grid (``ints_in_interval=2``) took 24 s,
  scikit-learn's default Barnes-Hut TSNE 77 s (3.2x slower) and a tuned
  scikit-learn (angle 0.8, 500 iterations, 2 threads) 31 s, all at
  trustworthiness 0.995. openTSNE's default grid (one interval per unit) took
  about 50 s: its cost grows as the map spreads out, so the grid setting mattered
  more than the iteration count. It then ran 250 exaggerated steps and 500 more; now
  it runs 100 and 250 (see :func:`tsne_map`). Below
  10,000 points Barnes-Hut is used (FFT's fixed grid made small maps 10x slower),
  on one thread (openTSNE's threads slowed small maps 5-8x when the other core
  was busy).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from analytics.errors import InvalidParameterError
from analytics.progress import Progress, no_progress
from analytics.sampling import stratified_sample
from analytics.segments.preprocessing import Prepared, Preprocessing, prepare
from analytics.segments.umap_loader import load_umap

METHODS = ("tsne", "umap", "pca")

DEFAULT_MAX_POINTS: dict[str, int] = {"pca": 200_000, "umap": 50_000, "tsne": 20_000}

MIN_PER_SEGMENT = 200


# Below this many (distinct) points a neighbour map says nothing; PCA is shown instead.
MIN_POINTS_NONLINEAR = 10

PERPLEXITY_RANGE = (2.0, 100.0)

# UMAP's layout is one thread (random_state, see above) and its time is proportional to the epochs.
# UMAP itself takes 200 above 10,000 points; 100 kept the map as faithful on the segmentation bench's
# users (trustworthiness 0.991 both at 20k, 0.9888 against 0.9914 at 50k) in about half the time
# (20k: 5.6 s instead of 11.9; 50k: 24.6 instead of 40.2, 2 cores).
LARGE_MAP = 10_000
LARGE_MAP_EPOCHS = 100

# Above this many points UMAP also draws 3 negative samples per edge instead of 5: each epoch costs
# about their number. On the segmentation bench's 50k users the layout took 11.2 s instead of 21.3 at
# trustworthiness 0.9871 against 0.9877; at 20k it saved only 1.8 s for 0.002, hence the threshold.
HUGE_MAP = 30_000
HUGE_MAP_NEGATIVE_RATE = 3

N_NEIGHBORS_RANGE = (2, 200)

MIN_DIST_RANGE = (0.0, 1.0)


@dataclass
class Embedding:
    """A 2-D map of (a sample of) users.

    Attributes
    ----------
    method : {"tsne", "umap", "pca"}
        The method actually used (PCA when there were too few users for the one asked for).
    coords : ndarray of shape (m, 2)
    indices : ndarray of shape (m,)
        Row number, in the input, of each mapped point (sorted).
    n_total : int
        Rows in the input.
    params : dict
        Parameters actually used, after clamping to what the data allows.
    notices : list of str
        Plain sentences about sampling, clamping and fallbacks, for the page.
    random_state : int
    seconds : float
        Wall time of the computation.
    explained_variance : list of float
        PCA only: share of the spread each axis shows.
    """

    method: str
    coords: np.ndarray
    indices: np.ndarray
    n_total: int
    params: dict
    notices: list[str] = field(default_factory=list)
    random_state: int = 0
    seconds: float = 0.0
    explained_variance: list[float] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        return len(self.indices) < self.n_total

    def frame(self, user_ids: Any = None, labels: Any = None) -> pd.DataFrame:
        """``row, x, y`` per point, plus ``user_id`` and ``segment`` when given (full-length arrays)."""
        out = pd.DataFrame({"row": self.indices, "x": self.coords[:, 0], "y": self.coords[:, 1]})
        if user_ids is not None:
            out.insert(1, "user_id", np.asarray(user_ids)[self.indices])
        if labels is not None:
            out["segment"] = np.asarray(labels)[self.indices]
        return out

    def meta(self) -> dict:
        """Everything but the coordinates, JSON-safe; store it with :meth:`frame` (``row, x, y``)."""
        return {"method": self.method, "n_total": int(self.n_total), "params": self.params,
                "notices": list(self.notices), "random_state": int(self.random_state),
                "seconds": float(self.seconds), "explained_variance": [float(v) for v in self.explained_variance]}

    @classmethod
    def from_parts(cls, meta: dict, frame: pd.DataFrame) -> Embedding:
        """Rebuild from :meth:`meta` and a stored ``row, x, y`` table."""
        frame = frame.sort_values("row")
        return cls(coords=frame[["x", "y"]].to_numpy(dtype=float), indices=frame["row"].to_numpy(dtype=np.int64),
                   **meta)


def embed(data: np.ndarray | pd.DataFrame | Prepared, method: str = "umap", *, labels: Any = None,
          max_points: int | None = None, random_state: int = 0, perplexity: float = 30.0,
          n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int | None = None,
          columns: list[str] | None = None, preprocessing: Preprocessing | None = None,
          progress: Progress | None = None) -> Embedding:
    """Place users on a 2-D map where similar users are close.

    Parameters
    ----------
    data : ndarray, DataFrame or Prepared
        A finite numeric matrix (one row per user, already scaled), a feature table
        (prepared here with ``columns`` and ``preprocessing``, like the segmentation),
        or :func:`analytics.segments.preprocessing.prepare` output.
    method : {"umap", "tsne", "pca"}
        UMAP: local groups and some global layout, fast. t-SNE: crisp local groups,
        distances between groups mean little. PCA: linear, exact, instant; shows
        the two directions of largest spread.
    labels : array of int, optional
        Segment per row: the sample is stratified by it.
    max_points : int, optional
        Sample cap (default :data:`DEFAULT_MAX_POINTS` for the method).
    random_state : int
        Seeds the sample and the method; same inputs, same map.
    perplexity : float
        t-SNE: roughly how many neighbours each point cares about, 2..100. Lowered to
        (points - 1) / 3 on small samples (said in ``notices``).
    n_neighbors : int
        UMAP: neighbourhood size, 2..200; larger shows more global structure.
        Lowered to points - 1 on small samples.
    min_dist : float
        UMAP: how tightly points may pack, 0..1.
    n_epochs : int, optional
        UMAP optimisation rounds (default: :data:`LARGE_MAP_EPOCHS` above :data:`LARGE_MAP` points,
        else UMAP's own, 500). Above :data:`HUGE_MAP` points UMAP also draws fewer negative samples
        (:data:`HUGE_MAP_NEGATIVE_RATE` per edge instead of 5).
    columns, preprocessing
        Used only when ``data`` is a feature table.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    Embedding

    Raises
    ------
    InvalidParameterError
        Unknown method, parameters outside their ranges, labels of the wrong
        length, or a matrix with empty or infinite values.
    """
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    _check_range("perplexity", perplexity, *PERPLEXITY_RANGE)
    _check_range("n_neighbors", n_neighbors, *N_NEIGHBORS_RANGE, integer=True)
    _check_range("min_dist", min_dist, *MIN_DIST_RANGE)
    if n_epochs is not None:
        _check_range("n_epochs", n_epochs, 10, 2000, integer=True)
    if max_points is not None:
        _check_range("max_points", max_points, 2, 10_000_000, integer=True)
    say = progress or no_progress
    started = time.perf_counter()
    X, notices = _matrix(data, columns, preprocessing)
    n = len(X)
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != n:
            raise InvalidParameterError(f"labels has {len(labels):,} entries but there are {n:,} users.")
    cap = int(max_points or DEFAULT_MAX_POINTS[method])
    idx = stratified_sample(n if labels is None else labels, cap, random_state=random_state,
                            min_per_group=MIN_PER_SEGMENT)
    if len(idx) < n:
        notices.append(f"The map shows a random sample of {len(idx):,} of {n:,} users"
                       + (", with every segment represented in proportion" if labels is not None else "")
                       + f" (a cap of {cap:,} keeps the map quick; a higher cap shows more users and takes "
                       "longer).")
    Xs = np.ascontiguousarray(X[idx], dtype=np.float32)
    used = method
    groups = None
    if method != "pca":
        distinct, inverse, counts = np.unique(Xs, axis=0, return_inverse=True, return_counts=True)
        if len(distinct) < MIN_POINTS_NONLINEAR:
            notices.append(f"With fewer than {MIN_POINTS_NONLINEAR} different users a {_NAMES[method]} map is not "
                           "meaningful; showing PCA instead.")
            used = "pca"
        elif len(distinct) < len(Xs):
            # Identical users are one point to a neighbour method: copies fill each other's neighbourhoods
            # at distance 0 and the layout spreads out and slows down (80% copies: t-SNE 35% slower).
            # So the layout runs on the distinct profiles, and each group is drawn around its spot.
            groups = inverse.reshape(-1), counts
            if len(Xs) - len(distinct) >= IDENTICAL_NOTICE_SHARE * len(Xs):
                notices.append(f"{len(Xs) - len(distinct):,} of the {len(Xs):,} users on the map have exactly the same "
                               f"features as another user: the map is laid out on the {len(distinct):,} distinct "
                               "profiles, and each group of identical users is drawn as a small disc around its "
                               "spot.")
            Xs = distinct
    say(0.02, f"Computing the {_NAMES[used]} map of {len(idx):,} users")
    explained: list[float] = []
    if used == "pca":
        coords, explained, params = pca_map(Xs, random_state, notices)
    elif used == "umap":
        coords, params = umap_map(Xs, n_neighbors, min_dist, n_epochs, random_state, notices, say)
    else:
        coords, params = tsne_map(Xs, perplexity, random_state, notices, say)
    if groups is not None:
        coords = spread_identical(np.asarray(coords, dtype=float), *groups)
        params["distinct_points"] = len(Xs)
    say(1.0, "Map ready")
    return Embedding(method=used, coords=np.asarray(coords, dtype=float), indices=idx, n_total=n, params=params,
                     notices=notices, random_state=random_state, seconds=time.perf_counter() - started,
                     explained_variance=explained)


_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}


def pca_map(X: np.ndarray, random_state: int, notices: list[str]) -> tuple[np.ndarray, list[float], dict]:
    n, d = X.shape
    out = np.zeros((n, 2))
    n_comp = min(2, d, n)
    explained: list[float] = []
    if n_comp >= 1 and n > 1 and np.ptp(X, axis=0).max() > 0:
        pca = PCA(n_components=n_comp, random_state=random_state)
        out[:, :n_comp] = pca.fit_transform(X)
        explained = [float(v) for v in pca.explained_variance_ratio_]
    if n_comp < 2:
        notices.append("There is only one feature (or one user), so the map has a single axis; the other is 0.")
    return out, explained, {"n_components": 2}


def umap_map(X: np.ndarray, n_neighbors: int, min_dist: float, n_epochs: int | None, random_state: int,
          notices: list[str], say: Progress) -> tuple[np.ndarray, dict]:
    n = len(X)
    k = int(min(n_neighbors, n - 1))
    if k < n_neighbors:
        notices.append(f"Neighbours was lowered from {n_neighbors} to {k}: there are only {n} different users on "
                       "the map.")
    say(0.05, "Loading UMAP")
    umap = load_umap()
    say(0.1, "Finding each user's nearest neighbours")
    indices, distances = nearest_neighbors(X, k, include_self=True)
    say(0.3, "Laying out the map")
    if n_epochs is None and n > LARGE_MAP:
        n_epochs = LARGE_MAP_EPOCHS
    negative_rate = HUGE_MAP_NEGATIVE_RATE if n > HUGE_MAP else 5  # 5: UMAP's own
    reducer = umap.UMAP(n_neighbors=k, min_dist=min_dist, n_components=2, init="pca", n_epochs=n_epochs,
                        negative_sample_rate=negative_rate, random_state=random_state,
                        precomputed_knn=(indices, distances, None), verbose=False)
    # Its expected warnings ("no search index", "random_state disables parallelism") are filtered for good
    # by load_umap: catch_warnings here would not be thread-safe (the app's warm-up draws a map in the
    # background, and its exit put back the warning state other threads had changed meanwhile).
    coords = reducer.fit_transform(X)
    return coords, {"n_neighbors": k, "min_dist": float(min_dist), "n_epochs": n_epochs, "init": "pca",
                    "negative_sample_rate": negative_rate, "neighbors": "exact"}


def tsne_map(X: np.ndarray, perplexity: float, random_state: int, notices: list[str],
          say: Progress) -> tuple[np.ndarray, dict]:
    from openTSNE import TSNE
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    n = len(X)
    p = float(min(perplexity, (n - 1) / 3))
    if p < perplexity:
        notices.append(f"Perplexity was lowered from {perplexity:g} to {p:.1f}: with {n} different users on the "
                       "map it must stay below a third of them.")
    k = int(min(n - 1, max(1, int(3 * p))))
    say(0.05, "Finding each user's nearest neighbours")
    indices, distances = nearest_neighbors(X, k, include_self=False)
    affinities = PerplexityBasedNN(knn_index=PrecomputedNeighbors(indices, distances.astype(np.float64)),
                                   perplexity=p, n_jobs=1, random_state=random_state)
    # openTSNE's default is 250 exaggerated + 500 steps. The last 250 cost as much as the first 500 (the map
    # spreads out and the FFT grid grows with it) and changed neither the picture nor trustworthiness: 20k
    # users in 11.3 s instead of 24.0 (real log, trustworthiness 0.9957 against 0.9958) and 11.8 instead of
    # 19.7 (bench_segmentation.py's users, 0.9942 against 0.9946), the same clusters in the same places.
    # With openTSNE's learning rate (users / exaggeration) the exaggerated phase has settled the clusters'
    # arrangement after 100 steps: the whole map of 20k users 15.3-16.7 s instead of 20.7-23.3 (bench) and
    # 16.3 instead of 20.0 (the 10M log's users), trustworthiness unchanged (0.9944, 0.9947), the clusters
    # in the same places.
    early, main = 100, 250
    total, every = early + main, 50
    calls = [0]

    def callback(iteration: int, error: float, embedding: Any) -> None:
        calls[0] += 1
        done = min(calls[0] * every, total)
        say(0.15 + 0.85 * done / total, f"Laying out the map ({done} of {total} steps)")

    # FFT gradients cost a fixed grid per step: 10x slower than Barnes-Hut below ~10k points, far faster above.
    gradient = "fft" if n >= 10_000 else "bh"
    # Threads only pay off on big maps; on small ones, with the app or another job on the other core,
    # openTSNE's threads waited on each other and ran 5-8x slower than one thread.
    jobs = map_threads() if n >= 10_000 else 1
    # The FFT grid grows with the map's extent (one interval per unit by default), so the late
    # iterations dominated: two units per interval ran 20k users ~2.8x faster at the same
    # trustworthiness (0.995 both). Then each point's interpolation onto the grid was most of a step:
    # 2 interpolation points per interval instead of 3 took 20k users from 30.7 to 21.7 s at the same
    # trustworthiness (0.956 both on 15 mixed gaussian dimensions); 1 point lost quality (0.943).
    tsne = TSNE(n_components=2, perplexity=p, early_exaggeration_iter=early, n_iter=main, initialization="pca",
                negative_gradient_method=gradient, ints_in_interval=2, n_interpolation_points=2, n_jobs=jobs,
                random_state=random_state, callbacks=callback, callbacks_every_iters=every, verbose=False)
    say(0.15, "Laying out the map")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords = np.asarray(tsne.fit(affinities=affinities, initialization=pca_init(X, random_state)))
    return coords, {"perplexity": p, "iterations": total, "implementation": f"openTSNE ({gradient})"}


GOLDEN_ANGLE = np.pi * (3 - np.sqrt(5))

# Below this share of copies the discs are a few dots: the map says nothing about them.
IDENTICAL_NOTICE_SHARE = 0.01

# A group of identical users covers at most this share of the map's width, however large it is.
MAX_GROUP_RADIUS = 0.03


def spread_identical(centres: np.ndarray, inverse: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Coordinates per user from those of the distinct profiles: each group of identical users as a disc.

    A group of 500 identical users drawn on one spot would look like one user. Its members are laid
    out in a sunflower pattern (even density) with the map's typical spacing between points, so the
    disc's area grows with the group, up to :data:`MAX_GROUP_RADIUS` of the map's extent. The first
    member sits on the spot itself; the same input gives the same picture.

    Parameters
    ----------
    centres : ndarray of shape (k, 2)
        Map of the distinct profiles.
    inverse : ndarray of shape (n,)
        Profile of each user (``np.unique(..., return_inverse=True)``).
    counts : ndarray of shape (k,)
        Users per profile.
    """
    from scipy.spatial import cKDTree

    spacing = float(np.median(cKDTree(centres).query(centres, k=2)[0][:, 1])) if len(centres) > 1 else 0.0
    extent = float(np.ptp(centres, axis=0).max()) or 1.0
    by_group = np.argsort(inverse, kind="stable")
    rank = np.empty(len(inverse))
    rank[by_group] = np.arange(len(inverse)) - np.repeat(np.cumsum(counts) - counts, counts)
    step = np.minimum(0.5 * spacing, MAX_GROUP_RADIUS * extent / np.sqrt(counts[inverse]))
    radius, angle = step * np.sqrt(rank), rank * GOLDEN_ANGLE
    return centres[inverse] + np.c_[radius * np.cos(angle), radius * np.sin(angle)]


def pca_init(X: np.ndarray, random_state: int) -> np.ndarray:
    """openTSNE's PCA start: first two components, rescaled to a tiny spread (std 1e-4)."""
    n_comp = min(2, X.shape[1])
    init = np.zeros((len(X), 2))
    init[:, :n_comp] = PCA(n_components=n_comp, random_state=random_state).fit_transform(X)
    sd = init[:, 0].std()
    return init / (sd if sd > 0 else 1.0) * 1e-4


def nearest_neighbors(X: np.ndarray, k: int, include_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row (k-d tree up to 20 columns, brute force above).

    Returns ``(indices int64, distances float32)`` of shape (n, k); with
    ``include_self`` the first column is the row itself at distance 0 (UMAP's format).
    """
    algorithm = "kd_tree" if X.shape[1] <= 20 else "brute"
    if algorithm == "kd_tree" and len(X) > X.shape[1]:
        # A k-d tree cuts along the axes. On the principal axes (centring and a rotation: the same
        # neighbours, at the same distances up to rounding) its cells fit correlated features more
        # tightly: 50k users x 15 features took 3.2-3.4 s instead of 5.1 (bench_segmentation.py's users).
        X = PCA(svd_solver="full").fit_transform(X)
    nn = NearestNeighbors(n_neighbors=k, algorithm=algorithm, n_jobs=map_threads()).fit(X)
    if include_self:
        dist, ind = nn.kneighbors(n_neighbors=max(k - 1, 1))
        ind = np.hstack([np.arange(len(X))[:, None], ind])[:, :k]
        dist = np.hstack([np.zeros((len(X), 1)), dist])[:, :k]
    else:
        dist, ind = nn.kneighbors(n_neighbors=k)
    return ind.astype(np.int64), dist.astype(np.float32)


def warm_up(n_points: int = 300, cache_dir: str | Path | None = None) -> float:
    """Compile (or load from the disk cache) everything a UMAP map needs; returns seconds taken.

    Safe to run in a background thread when the app starts, so the first map a
    user asks for does not wait. A few hundred points suffice because the
    neighbours are precomputed for every size (see the module notes).
    """
    _check_range("n_points", n_points, 20, 100_000, integer=True)
    started = time.perf_counter()
    load_umap(cache_dir)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_points, 8)).astype(np.float32)
    umap_map(X, 15, 0.1, 20, 0, [], no_progress)
    return time.perf_counter() - started


def _matrix(data: Any, columns: list[str] | None, preprocessing: Preprocessing | None) -> tuple[np.ndarray, list]:
    if isinstance(data, Prepared):
        return data.X, list(data.notices)
    if isinstance(data, pd.DataFrame):
        prep = prepare(data, columns, preprocessing)
        return prep.X, list(prep.notices)
    try:
        X = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"Expected a numeric matrix or a feature table, got {type(data).__name__}.") \
            from exc
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidParameterError(f"Expected a table of users x features, got an array of shape {X.shape}.")
    if not np.isfinite(X).all():
        raise InvalidParameterError(
            "The matrix has empty or infinite values; pass the feature table instead, which fills them.")
    return X, []


def _check_range(name: str, value: Any, lo: float, hi: float, integer: bool = False) -> None:
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type or not (lo <= value <= hi):
        kind = "a whole number" if integer else "a number"
        raise InvalidParameterError(f"{name} must be {kind} between {lo:g} and {hi:g}, got {value!r}.")


def map_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 4))

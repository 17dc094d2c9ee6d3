"""One interface for every recommender: ``fit(interactions)``, ``recommend(users, k)``.

A model scores all products for a batch of users (a dense ``batch x items``
array); this base class turns scores into the top ``k`` products per user,
leaving out what each user already had. Users are scored in batches so memory
stays bounded whatever the number of users.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numba
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from analytics.errors import InvalidParameterError, NoDataError
from analytics.progress import Progress
from analytics.recommend.interactions import Interactions

# Cells of the dense score block per batch (float32): 4M cells = 16 MB.
BATCH_CELLS = 4_000_000
MAX_K = 1000


class Recommender(ABC):
    """Base of every model.

    Subclasses set ``key`` (short name for ``--models``) and ``label``, take
    their parameters as keyword arguments, and implement :meth:`_fit` and
    :meth:`_score`; :meth:`_state`/:meth:`_load_state` give the arrays that
    are saved (numpy only, no pickle).
    """

    key: ClassVar[str]
    label: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise InvalidParameterError(f"{self.label} has no parameter {', '.join(unknown)}; it takes "
                                        f"{', '.join(sorted(self.defaults)) or 'none'}.")
        self.params: dict[str, Any] = {**self.defaults, **params}
        self._check_params()
        self.n_items: int | None = None
        self.note: str | None = None  # what the model left out, in words
        self._train: sp.csr_matrix | None = None

    def _check_params(self) -> None:  # noqa: B027 - optional hook, most models override it
        """Validate ``self.params``; raise InvalidParameterError naming the bad value."""

    def fit(self, interactions: Interactions, progress: Progress | None = None) -> Recommender:
        """Learn from ``interactions`` (its users x products matrix); returns self."""
        if not isinstance(interactions, Interactions):
            raise InvalidParameterError(f"fit needs Interactions (from build_interactions), got "
                                        f"{type(interactions).__name__}.")
        X = interactions.matrix
        if X.nnz == 0:
            raise NoDataError(f"{self.label}: there are no interactions to learn from.")
        self.n_items = X.shape[1]
        self._train = X
        self._fit(X, interactions, progress)
        return self

    @property
    def fitted(self) -> bool:
        return self.n_items is not None

    def recommend(self, users: np.ndarray | list[int], k: int = 20, *, exclude_seen: bool = True,
                  user_items: sp.csr_matrix | None = None,
                  progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` products for each user.

        Parameters
        ----------
        users : array of int
            User row indices (of the interactions the model was fitted on, or of
            ``user_items`` when given).
        k : int
            Products per user (1 to 1000).
        exclude_seen : bool
            Leave out products the user already had.
        user_items : scipy.sparse.csr_matrix, optional
            Users x products (the model's product index) to recommend from
            instead of the training data: newer data for the same catalogue.
        progress : callable, optional

        Returns
        -------
        items, scores : numpy.ndarray
            ``(len(users), k)`` product indices (-1 where fewer than ``k`` could
            be recommended) and scores (NaN there), best first.
        """
        if not self.fitted:
            raise InvalidParameterError(f"{self.label} is not fitted yet: call fit first.")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
            raise InvalidParameterError(f"k must be a whole number from 1 to {MAX_K}, got {k!r}.")
        source = self._train if user_items is None else sp.csr_matrix(user_items, dtype=np.float32)
        if source.shape[1] != self.n_items:
            raise InvalidParameterError(f"user_items has {source.shape[1]:,} product columns; the model knows "
                                        f"{self.n_items:,} products (use the model's product index).")
        users = np.asarray(users, dtype=np.int64).ravel()
        if len(users) and (users.min() < 0 or users.max() >= source.shape[0]):
            raise InvalidParameterError(f"User indices must be between 0 and {source.shape[0] - 1}.")
        k_eff = min(int(k), self.n_items)
        items = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), np.nan, dtype=np.float32)
        batch = max(1, BATCH_CELLS // max(1, self.n_items))
        fresh = user_items is not None
        # Scores on one BLAS thread: on 2 shared cores OpenBLAS's threads mostly wait for each other
        # (ALS top-20 for 48k users: 12.4 s wall with 2 threads under load); the top-k pass uses both cores.
        with threadpool_limits(1, "blas"):
            self._recommend_batches(users, source, k_eff, batch, fresh, exclude_seen, items, scores, progress)
        return items, scores

    def _recommend_batches(self, users: np.ndarray, source: sp.csr_matrix, k_eff: int, batch: int, fresh: bool,
                           exclude_seen: bool, items: np.ndarray, scores: np.ndarray,
                           progress: Progress | None) -> None:
        for start in range(0, len(users), batch):
            rows = users[start:start + batch]
            seen = source[rows]
            s = np.asarray(self._score(rows, seen, fresh), dtype=np.float32)
            if exclude_seen:
                r = np.repeat(np.arange(len(rows)), np.diff(seen.indptr))
                s[r, seen.indices] = -np.inf
            top, val = top_k(s, k_eff)
            items[start:start + len(rows), :k_eff] = np.where(np.isfinite(val), top, -1)
            scores[start:start + len(rows), :k_eff] = np.where(np.isfinite(val), val, np.nan)
            if progress:
                progress(min(1.0, (start + len(rows)) / len(users)), f"{self.label}: recommending")

    # --- for subclasses ---------------------------------------------------------------------------

    @abstractmethod
    def _fit(self, X: sp.csr_matrix, interactions: Interactions, progress: Progress | None) -> None:
        """Learn from the users x products matrix ``X``."""

    @abstractmethod
    def _score(self, rows: np.ndarray, seen: sp.csr_matrix, fresh: bool) -> np.ndarray:
        """Scores ``(len(rows), n_items)``; ``seen`` are those users' rows; ``fresh`` if not training rows.

        Products a model cannot score get ``-inf``.
        """

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """The fitted arrays to save (numeric numpy arrays only)."""

    @abstractmethod
    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore from :meth:`_state` (shapes already checked against the metadata)."""


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest scores per row, best first.

    Ties are broken by the lower index, also at the cut: products are indexed
    from the most to the least frequent, so equal scores favour popular products.
    NaN scores are never selected (their slots get index -1 and value -inf).
    """
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    k = min(int(k), scores.shape[1])
    idx = np.empty((len(scores), k), dtype=np.int64)
    val = np.empty((len(scores), k), dtype=np.float32)
    _top_k_rows(scores, k, idx, val)
    return idx, val


@numba.njit(parallel=True, cache=True, nogil=True)
def _top_k_rows(scores: np.ndarray, k: int, idx: np.ndarray, val: np.ndarray) -> None:  # pragma: no cover
    # One pass per row keeping a sorted buffer of the best k: most values fail the first comparison.
    for r in numba.prange(scores.shape[0]):
        cnt = 0
        for j in range(scores.shape[1]):
            v = scores[r, j]
            if v != v:
                continue
            if cnt == k:
                if v <= val[r, k - 1]:  # an equal value with a higher index loses
                    continue
                pos = k - 1
            else:
                pos = cnt
                cnt += 1
            while pos > 0 and val[r, pos - 1] < v:
                val[r, pos] = val[r, pos - 1]
                idx[r, pos] = idx[r, pos - 1]
                pos -= 1
            val[r, pos] = v
            idx[r, pos] = j
        for c in range(cnt, k):
            idx[r, c] = -1
            val[r, c] = -np.inf


def csr_state(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as plain arrays (for ``np.savez``)."""
    m = sp.csr_matrix(m)
    return {f"{prefix}_data": m.data, f"{prefix}_indices": m.indices, f"{prefix}_indptr": m.indptr,
            f"{prefix}_shape": np.asarray(m.shape, dtype=np.int64)}


def csr_from_state(prefix: str, state: dict[str, np.ndarray]) -> sp.csr_matrix:
    shape = tuple(int(x) for x in state[f"{prefix}_shape"])
    return sp.csr_matrix((state[f"{prefix}_data"], state[f"{prefix}_indices"], state[f"{prefix}_indptr"]),
                         shape=shape)

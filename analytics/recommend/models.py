"""Popularity, item-to-item nearest neighbours and EASE: recommenders in numpy/scipy.

All take the users x products matrix of summed event weights and use
``log(1 + weight)``, so one product viewed thirty times does not outweigh
everything else a user did.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from analytics.checks import check_float, check_int
from analytics.errors import InvalidParameterError
from analytics.recommend.base import Progress, Recommender, csr_from_state, csr_state, top_k
from analytics.recommend.interactions import Interactions

# Dense item-item similarity is computed in blocks of about this many cells (float32: 64 MB).
SIMILARITY_BLOCK_CELLS = 16_000_000
# EASE inverts an items x items matrix: by default on the 5,000 most frequent products
# (100 MB, a few seconds on 2 cores); at most 15,000 (900 MB, about a minute).
EASE_DEFAULT_ITEMS = 5_000
EASE_MAX_ITEMS = 15_000


def log_weights(X: sp.csr_matrix) -> sp.csr_matrix:
    """``log(1 + weight)`` of every stored value."""
    out = sp.csr_matrix(X, dtype=np.float32, copy=True)
    np.log1p(out.data, out=out.data)
    return out


class Popularity(Recommender):
    """The products the most users had, the same for everyone (minus what each user already had).

    Parameters
    ----------
    days : int or None
        Count only the last ``days`` days of the data (recent popularity); None: all time.
    """

    key = "pop"
    label = "Popularity (all time)"
    defaults = {"days": None}

    def _check_params(self) -> None:
        if self.params["days"] is not None:
            check_int("days", self.params["days"], 1, 3650)

    def _fit(self, X: sp.csr_matrix, interactions: Interactions, progress: Progress | None) -> None:
        days = self.params["days"]
        if days is None:
            self.popularity = np.diff(sp.csc_matrix(X).indptr).astype(np.float32)
            return
        recent = interactions.day > interactions.day.max() - np.timedelta64(int(days), "D")
        pairs = np.unique(interactions.user[recent].astype(np.int64) * self.n_items + interactions.item[recent])
        self.popularity = np.bincount(pairs % self.n_items, minlength=self.n_items).astype(np.float32)

    def _score(self, rows: np.ndarray, seen: sp.csr_matrix, fresh: bool) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(rows), self.n_items)).copy()

    def _recommend_batches(self, users: np.ndarray, source: sp.csr_matrix, k_eff: int, batch: int, fresh: bool,
                           exclude_seen: bool, items: np.ndarray, scores: np.ndarray,
                           progress: Progress | None) -> None:
        # Everyone gets the same ranking: only its first k + (products the user had) places can be needed,
        # so no users x catalogue score block is built (same result as the generic path, 3-4x faster).
        order = np.lexsort((np.arange(self.n_items), -self.popularity))
        had = np.diff(source.indptr)[users] if len(users) else np.zeros(0, dtype=np.int64)
        width = min(self.n_items, k_eff + (int(had.max()) if exclude_seen and len(had) else 0))
        candidates = order[:width]
        place = np.full(self.n_items, -1, dtype=np.int64)
        place[candidates] = np.arange(width)
        step = max(1, batch * self.n_items // max(1, width))
        for start in range(0, len(users), step):
            rows = users[start:start + step]
            blocked = np.zeros((len(rows), width), dtype=bool)
            if exclude_seen:
                seen = source[rows]
                r = np.repeat(np.arange(len(rows)), np.diff(seen.indptr))
                c = place[seen.indices]
                blocked[r[c >= 0], c[c >= 0]] = True
            pos = np.argsort(blocked, axis=1, kind="stable")[:, :k_eff]
            free = ~np.take_along_axis(blocked, pos, axis=1)
            chosen = candidates[pos]
            items[start:start + len(rows), :k_eff] = np.where(free, chosen, -1)
            scores[start:start + len(rows), :k_eff] = np.where(free, self.popularity[chosen], np.nan)
            if progress:
                progress(min(1.0, (start + len(rows)) / len(users)), f"{self.label}: recommending")

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.popularity = state["popularity"].astype(np.float32)


class RecentPopularity(Popularity):
    """Popularity over the last ``days`` days (default 30)."""

    key = "pop_recent"
    label = "Popularity (recent)"
    defaults = {"days": 30}

    def _check_params(self) -> None:
        check_int("days", self.params["days"], 1, 3650)


class ItemKNN(Recommender):
    """Item-to-item nearest neighbours: products similar (cosine) to what the user had.

    The similarity of two products is the cosine of their user vectors; each
    product keeps its ``neighbours`` most similar products, and a user's score
    for a product is the sum of its similarities to the user's products,
    weighted by how strongly the user had them.

    Parameters
    ----------
    neighbours : int
        Similar products kept per product (1 to 1000).
    shrink : float
        Added to the cosine's denominator: damps similarities resting on few users.
    """

    key = "itemknn"
    label = "Item-to-item kNN (cosine)"
    defaults = {"neighbours": 100, "shrink": 0.0}

    def _check_params(self) -> None:
        check_int("neighbours", self.params["neighbours"], 1, 1000)
        check_float("shrink", self.params["shrink"], 0.0, 1e6)

    def _fit(self, X: sp.csr_matrix, interactions: Interactions, progress: Progress | None) -> None:
        self.similarity = item_similarity(log_weights(X), int(self.params["neighbours"]),
                                          float(self.params["shrink"]), progress)

    def _score(self, rows: np.ndarray, seen: sp.csr_matrix, fresh: bool) -> np.ndarray:
        return (log_weights(seen) @ self.similarity).toarray()

    def _state(self) -> dict[str, np.ndarray]:
        return csr_state("similarity", self.similarity)

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.similarity = csr_from_state("similarity", state)

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` products most similar to product ``item`` and their cosine."""
        row = self.similarity[item]
        order = np.lexsort((row.indices, -row.data))[:k]
        return row.indices[order].astype(np.int64), row.data[order]


def item_similarity(X: sp.csr_matrix, neighbours: int, shrink: float = 0.0,
                    progress: Progress | None = None) -> sp.csr_matrix:
    """Items x items cosine similarity, top ``neighbours`` per row, diagonal zero (CSR, float32).

    Computed in blocks of rows so memory stays bounded for large catalogues.
    """
    Xc = sp.csc_matrix(X, dtype=np.float32)
    n = Xc.shape[1]
    norm = np.sqrt(np.asarray(Xc.multiply(Xc).sum(axis=0)).ravel()).astype(np.float32)
    norm[norm == 0] = 1.0
    XT = sp.csr_matrix(Xc.T)
    block = max(1, SIMILARITY_BLOCK_CELLS // max(1, n))
    k = min(neighbours, n - 1) if n > 1 else 1
    indptr, indices, data = [0], [], []
    for start in range(0, n, block):
        stop = min(n, start + block)
        dots = (XT[start:stop] @ Xc).toarray()
        sim = dots / (norm[start:stop, None] * norm[None, :] + np.float32(shrink))
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
        top, val = top_k(sim, k)
        keep = val > 0
        for r in range(stop - start):
            indices.append(top[r][keep[r]])
            data.append(val[r][keep[r]])
            indptr.append(indptr[-1] + int(keep[r].sum()))
        if progress:
            progress(stop / n, f"Item similarities {stop:,}/{n:,}")
    return sp.csr_matrix((np.concatenate(data).astype(np.float32), np.concatenate(indices).astype(np.int32),
                          np.asarray(indptr, dtype=np.int64)), shape=(n, n))


class EASE(Recommender):
    """EASE (Steck 2019): a closed-form linear item-item model, strong on sparse shop data.

    ``B = -P / diag(P)`` with ``P = (X'X + l2 I)^-1`` and ``diag(B) = 0``. The
    inverse is items x items, so only the ``max_items`` most frequent products
    are modelled (default 5,000; 100 MB and seconds); the others are never
    recommended by EASE, which the model's ``note`` says.

    Parameters
    ----------
    l2 : float
        Regularisation (larger: closer to popularity; 50 to 5000 are typical).
    max_items : int
        Most frequent products modelled (2 to 15,000).
    """

    key = "ease"
    label = "EASE (Steck 2019)"
    defaults = {"l2": 200.0, "max_items": EASE_DEFAULT_ITEMS}

    def _check_params(self) -> None:
        check_float("l2", self.params["l2"], 1e-3, 1e7)
        m = self.params["max_items"]
        if isinstance(m, (int, np.integer)) and not isinstance(m, bool) and m > EASE_MAX_ITEMS:
            gb = m * m * 4 * 3 / 1e9
            raise InvalidParameterError(
                f"EASE on {m:,} products would need about {gb:.0f} GB of memory (an items x items matrix); at most "
                f"{EASE_MAX_ITEMS:,} products are allowed. Leave max_items at {EASE_DEFAULT_ITEMS:,} (the most "
                "frequent products) or use item-kNN or ALS for the whole catalogue.")
        check_int("max_items", m, 2, EASE_MAX_ITEMS)

    def _fit(self, X: sp.csr_matrix, interactions: Interactions, progress: Progress | None) -> None:
        m = min(self.n_items, int(self.params["max_items"]))
        self.modelled = m
        if m < self.n_items:
            self.note = (f"EASE models the {m:,} most frequent of {self.n_items:,} products (an items x items matrix "
                         f"of {self.n_items:,} would need {self.n_items ** 2 * 12 / 1e9:.1f} GB); the other products "
                         "are never recommended by it.")
        Xm = log_weights(X)[:, :m]
        if progress:
            progress(0.1, f"EASE: Gram matrix of {m:,} products")
        G = (Xm.T @ Xm).toarray().astype(np.float32)
        G[np.diag_indices(m)] += np.float32(self.params["l2"])
        if progress:
            progress(0.3, f"EASE: inverting {m:,} x {m:,}")
        self.B = ease_weights(G)

    def _score(self, rows: np.ndarray, seen: sp.csr_matrix, fresh: bool) -> np.ndarray:
        out = np.full((len(rows), self.n_items), -np.inf, dtype=np.float32)
        out[:, :self.modelled] = log_weights(seen[:, :self.modelled]) @ self.B
        return out

    def _state(self) -> dict[str, np.ndarray]:
        return {"B": self.B}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.B = state["B"].astype(np.float32)
        self.modelled = self.B.shape[0]


def ease_weights(G: np.ndarray) -> np.ndarray:
    """EASE's item-item weights from the regularised Gram matrix (Cholesky inverse, in place).

    LAPACK runs on one BLAS thread: measured on the 2-core machine shared with
    other work, OpenBLAS's threaded Cholesky of 5,000 products took 13-23 s
    against 6-7 s on one thread.
    """
    m = G.shape[0]
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (G,))
    with threadpool_limits(1, "blas"):
        c, info = potrf(G, lower=False, overwrite_a=True, clean=False)
        if info != 0:
            raise InvalidParameterError(f"EASE could not invert the product matrix (LAPACK info {info}); raise l2.")
        P, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise InvalidParameterError(f"EASE could not invert the product matrix (LAPACK info {info}); raise l2.")
    P = np.triu(P)
    P += np.triu(P, 1).T
    diag = np.diag(P).copy()
    P /= -diag[None, :]
    P[np.diag_indices(m)] = 0.0
    return P

"""Implicit-feedback matrix factorisation with the ``implicit`` library (ALS and BPR).

``implicit`` (Ben Frederickson) is the reference implementation of both: ALS
with the conjugate-gradient solver of Takacs et al. (Hu, Koren & Volinsky's
model) and BPR (Rendle et al.), in multithreaded Cython. Only its CPU classes
are used, and only the factor arrays are kept, so a saved model is two numpy
arrays (see :mod:`analytics.recommend.persistence`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from analytics.checks import check_float, check_int
from analytics.errors import InvalidParameterError
from analytics.recommend.base import Progress, Recommender
from analytics.recommend.interactions import Interactions
from analytics.recommend.models import log_weights


def _implicit():
    try:
        import implicit.cpu.als as als
        import implicit.cpu.bpr as bpr
    except ImportError as exc:  # pragma: no cover - a broken install
        raise InvalidParameterError("Matrix factorisation needs the 'implicit' package (pip install "
                                    "implicit==0.7.3); use the other models meanwhile.") from exc
    return als, bpr


def _callback(progress: Progress | None, label: str, iterations: int):
    if not progress:
        return None
    return lambda epoch, elapsed, *_: progress(min(1.0, (epoch + 1) / iterations), f"{label}: iteration {epoch + 1}")


class ALS(Recommender):
    """Alternating least squares for implicit feedback (Hu, Koren & Volinsky 2008).

    Users and products get ``factors`` numbers each; a user's interest in a
    product is the dot product. The confidence of an observed interaction is
    ``1 + alpha * log(1 + weight)``. The defaults were chosen on generated shop logs
    (300 to 10,000 products): with summed log-weights as confidences, a low
    regularisation overfits and falls below popularity; 50 with alpha 5 beat it.
    Fewer than 15 iterations lost quality on small logs.

    Parameters
    ----------
    factors : int
    regularization : float
    alpha : float
    iterations : int
    random_state : int
    """

    key = "als"
    label = "ALS (implicit)"
    defaults = {"factors": 32, "regularization": 50.0, "alpha": 5.0, "iterations": 15, "random_state": 0}

    def _check_params(self) -> None:
        check_int("factors", self.params["factors"], 2, 512)
        check_float("regularization", self.params["regularization"], 0.0, 1e4)
        check_float("alpha", self.params["alpha"], 1e-3, 1e4)
        check_int("iterations", self.params["iterations"], 1, 200)
        check_int("random_state", self.params["random_state"], 0, 2**32 - 1)

    def _new_model(self):
        als, _ = _implicit()
        p = self.params
        with threadpool_limits(1, "blas"):  # implicit warns at construction when BLAS is multithreaded
            return als.AlternatingLeastSquares(
                factors=int(p["factors"]), regularization=float(p["regularization"]), alpha=float(p["alpha"]),
                iterations=int(p["iterations"]), random_state=int(p["random_state"]), calculate_training_loss=False)

    def _fit(self, X: sp.csr_matrix, interactions: Interactions, progress: Progress | None) -> None:
        model = self._new_model()
        # implicit runs its own threads; a multithreaded BLAS inside them only oversubscribes the cores.
        with threadpool_limits(1, "blas"):
            model.fit(log_weights(X), show_progress=False,
                      callback=_callback(progress, self.label, int(self.params["iterations"])))
        self._model = model
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def _user_vectors(self, rows: np.ndarray, seen: sp.csr_matrix, fresh: bool) -> np.ndarray:
        if not fresh:
            return self.user_factors[rows]
        # New data: solve each user's least squares against the fixed product factors (implicit does it).
        model = getattr(self, "_model", None)
        if model is None:
            model = self._new_model()
            model.item_factors = self.item_factors
            model.user_factors = np.zeros((1, self.item_factors.shape[1]), dtype=np.float32)
            self._model = model
        with threadpool_limits(1, "blas"):
            return np.asarray(model.recalculate_user(np.arange(len(rows)), log_weights(seen)), dtype=np.float32)

    def _score(self, rows: np.ndarray, seen: sp.csr_matrix, fresh: bool) -> np.ndarray:
        return self._user_vectors(rows, seen, fresh) @ self.item_factors.T

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors = state["user_factors"].astype(np.float32)
        self.item_factors = state["item_factors"].astype(np.float32)


class BPR(Recommender):
    """Bayesian personalised ranking (Rendle et al. 2009): factors trained so had > not had.

    For users of new data (not in training) the user vector is the mean of the
    vectors of the products they had (BPR has no closed-form fold-in).

    Parameters
    ----------
    factors, learning_rate, regularization, iterations, random_state
    """

    key = "bpr"
    label = "BPR (implicit)"
    defaults = {"factors": 32, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100, "random_state": 0}

    def _check_params(self) -> None:
        check_int("factors", self.params["factors"], 2, 512)
        check_float("learning_rate", self.params["learning_rate"], 1e-5, 1.0)
        check_float("regularization", self.params["regularization"], 0.0, 1e4)
        check_int("iterations", self.params["iterations"], 1, 1000)
        check_int("random_state", self.params["random_state"], 0, 2**32 - 1)

    def _fit(self, X: sp.csr_matrix, interactions: Interactions, progress: Progress | None) -> None:
        _, bpr = _implicit()
        p = self.params
        with threadpool_limits(1, "blas"):
            model = bpr.BayesianPersonalizedRanking(
                factors=int(p["factors"]), learning_rate=float(p["learning_rate"]),
                regularization=float(p["regularization"]), iterations=int(p["iterations"]),
                random_state=int(p["random_state"]))
            model.fit(X, show_progress=False, callback=_callback(progress, self.label, int(p["iterations"])))
        # implicit appends a bias column to the products and a constant 1 to the users.
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def _score(self, rows: np.ndarray, seen: sp.csr_matrix, fresh: bool) -> np.ndarray:
        if fresh:
            counts = np.maximum(1, np.diff(seen.indptr))[:, None]
            binary = sp.csr_matrix((np.ones_like(seen.data), seen.indices, seen.indptr), shape=seen.shape)
            users = np.asarray(binary @ self.item_factors) / counts
            users[:, -1] = 1.0
        else:
            users = self.user_factors[rows]
        return users @ self.item_factors.T

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors = state["user_factors"].astype(np.float32)
        self.item_factors = state["item_factors"].astype(np.float32)

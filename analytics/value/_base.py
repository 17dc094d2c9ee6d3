"""What the value models share: parameters given or fitted, and the per-customer predictions of
the two repeat-buying models (BG/NBD and Pareto/NBD), which differ only in their formulas."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from analytics.value._mle import FitResult, as_arrays

Params = dict[str, float] | np.ndarray


def param_vector(params: Params, names: Sequence[str]) -> np.ndarray:
    """Parameters as an array in the order of ``names`` (from a dict by name, or an array already)."""
    if isinstance(params, dict):
        return np.array([params[k] for k in names], float)
    return np.asarray(params, float)


class FittedModel:
    """A model whose parameters are either given (skip ``fit``) or fitted (``result`` says how)."""

    name: str
    label: str
    param_names: tuple[str, ...]

    def __init__(self, params: dict[str, float] | None = None):
        self.result: FitResult | None = None
        self._params = None if params is None else {k: float(params[k]) for k in self.param_names}

    @property
    def params(self) -> dict[str, float]:
        """Fitted (or given) parameters, by name."""
        if self._params is None:
            raise RuntimeError(f"Fit the model first ({type(self).__name__}.fit).")
        return dict(self._params)


class RepeatBuyingModel(FittedModel):
    """Predictions per customer from a summary with ``frequency``, ``recency`` and ``T``.

    A subclass supplies its formulas as functions of ``(params, ..., x, t_x, T)``; each
    takes the parameters first, so they also serve callers that hold parameters only.
    """

    _log_likelihood: Callable[..., np.ndarray]
    _p_alive: Callable[..., np.ndarray]
    _expected_curve: Callable[..., np.ndarray]
    _conditional_mean: Callable[..., np.ndarray]

    def __init__(self, params: dict[str, float] | None = None, time_unit: str | None = None):
        super().__init__(params)
        self.time_unit = time_unit

    @staticmethod
    def _summary(data: pd.DataFrame) -> list[np.ndarray]:
        return as_arrays(data, ["frequency", "recency", "T"])

    def log_likelihood(self, data: pd.DataFrame) -> np.ndarray:
        """Log-likelihood of each customer under the current parameters."""
        return self._log_likelihood(self.params, *self._summary(data))

    def p_alive(self, data: pd.DataFrame) -> np.ndarray:
        """P(still a customer at the end of their observation) for each customer."""
        return self._p_alive(self.params, *self._summary(data))

    def expected_purchases(self, data: pd.DataFrame, t: float) -> np.ndarray:
        """Expected purchase occasions in the next ``t`` time units for each customer."""
        return self.expected_purchases_curve(data, [t])[0]

    def expected_purchases_curve(self, data: pd.DataFrame, ts: Sequence[float]) -> np.ndarray:
        """Expected purchases in the next ``t`` for each ``t`` in ``ts``: array ``(len(ts), customers)``."""
        return self._expected_curve(self.params, ts, *self._summary(data))

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray:
        """Expected repeat purchases of a customer in the ``t`` time units after their first."""
        t = np.atleast_1d(np.asarray(t, float))
        zeros = np.zeros_like(t)
        return self._conditional_mean(self.params, t, zeros, zeros)

"""From a feature table to the matrix that is clustered: fill, cap, log, scale, in one Pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler

from analytics.errors import InvalidParameterError
from analytics.segments.features import LOG_COLUMNS, MISSING_MEANS, choose_features, feature_frame
from analytics.wording import count

SCALINGS = ("standard", "robust")


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
            preprocessing: Preprocessing | None = None, matrix: np.ndarray | None = None) -> Prepared:
    """Choose, clean and scale the clustering columns of a feature table.

    Parameters
    ----------
    features : DataFrame
        Per-user feature table with ``user_id``.
    columns : list of str, optional
        See :func:`choose_features`.
    preprocessing : Preprocessing, optional
    matrix : ndarray of shape (n_users, d), optional
        What to cluster instead of the scaled features, one row per user of
        ``features`` in its order (e.g. behaviour-sequence embeddings from
        :func:`analytics.sequences.profiles.user_profiles`). The chosen columns are
        still prepared: they describe the segments in words a marketer reads.

    Returns
    -------
    Prepared
        ``X`` is ``matrix`` when given, else the scaled features.
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
            notices.append(f"'{col}' is empty or infinite for {count(n, 'user')}; the median was used instead.")
    pipeline = build_preprocessor(choice.columns, preprocessing)
    X = pipeline.fit_transform(raw)
    user_ids = features["user_id"].to_numpy() if "user_id" in features.columns else features.index.to_numpy()
    if matrix is not None:
        X = checked_matrix(matrix, len(features))
    return Prepared(X=np.ascontiguousarray(X), columns=list(choice.columns), user_ids=user_ids,
                    pipeline=pipeline, raw=raw, notices=notices)


def checked_matrix(matrix: Any, n_users: int) -> np.ndarray:
    """A clustering matrix given instead of the features: numeric, finite, one row per user."""
    try:
        X = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"The matrix to cluster must be numeric, got {type(matrix).__name__}.") from exc
    if X.ndim != 2 or X.shape[1] == 0:
        raise InvalidParameterError(f"The matrix to cluster must be users x dimensions, got shape {X.shape}.")
    if len(X) != n_users:
        raise InvalidParameterError(f"The matrix to cluster has {len(X):,} rows but the feature table has "
                                    f"{n_users:,} users; give one row per user, in the table's order.")
    if not np.isfinite(X).all():
        raise InvalidParameterError("The matrix to cluster has empty or infinite values.")
    return X

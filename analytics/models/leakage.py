"""Leakage check: every feature is scored on its own (ROC AUC of the raw values, direction-free).

A single feature with AUC >= :data:`LEAKAGE_AUC` almost always *is* the label
in disguise (see :func:`check_leakage`), so it is reported in
``TrainingSet.leakage`` and ``TrainingSet.warnings`` and as a
:class:`~analytics.errors.LeakageWarning`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError

if TYPE_CHECKING:
    pass
from analytics.sampling import MIN_PER_CLASS, stratified_sample

# Honest behavioural predictors of *future* behaviour rarely let one feature rank
# users almost perfectly: on real logs whole models reach ROC AUC 0.65-0.9 and the
# best single feature (recency, frequency) less. A feature at 0.98 or above is, in
# practice, the label itself or something computed from it (a flag set by the
# outcome, an aggregate that includes the target window). 0.98 rather than 1.0
# because such leaks are often slightly noisy (another window, a few missing rows).
LEAKAGE_AUC = 0.98


# With fewer users than this in the smaller class, a near-perfect single-feature AUC
# happens by chance too often to be called leakage.
LEAKAGE_MIN_CLASS = 20


# The check ranks at most this many users per feature (a seeded stratified sample).
LEAKAGE_MAX_ROWS = 200_000


# Text columns with more distinct values than this are skipped by the check: the
# in-sample rate per value would "predict" any label on near-unique values.
LEAKAGE_MAX_CATEGORIES = 50


@dataclass
class LeakageFinding:
    """One feature that ranks users almost exactly by the label."""

    feature: str
    auc: float

    def message(self) -> str:
        return (f"'{self.feature}' alone separates the two groups almost perfectly (ROC AUC {self.auc:.3f}). "
                "That usually means it is computed from the target itself or from events after the cutoff. "
                "Check how it is made, and drop it (TrainingSet.drop) unless you are sure it is known before "
                "the cutoff.")


def check_leakage(X: pd.DataFrame, y: np.ndarray, *, threshold: float = LEAKAGE_AUC,
                  max_rows: int = LEAKAGE_MAX_ROWS, random_state: int = 0) -> list[LeakageFinding]:
    """Features that alone rank users almost exactly by the label.

    Each numeric feature's ROC AUC is computed from its raw values (empty
    values ranked lowest), taking ``max(auc, 1 - auc)`` so the direction does not
    matter. Text columns with at most :data:`LEAKAGE_MAX_CATEGORIES` values are
    scored by the share of positives per value. See :data:`LEAKAGE_AUC` for why
    0.98.

    Parameters
    ----------
    X : DataFrame
    y : array of 0/1
    threshold : float
        Flag features at or above this AUC.
    max_rows : int
        Check a seeded stratified sample of this size at most.
    random_state : int

    Returns
    -------
    list of LeakageFinding
        Strongest first; empty when nothing leaks or the smaller class has fewer
        than :data:`LEAKAGE_MIN_CLASS` users (too few to tell).
    """
    if not 0.5 < threshold <= 1:
        raise InvalidParameterError(f"threshold must be in (0.5, 1], got {threshold}.")
    y = np.asarray(y).astype(np.int64)
    if len(y) != len(X):
        raise InvalidParameterError(f"X has {len(X)} rows but y has {len(y)}.")
    pos = int(y.sum())
    if min(pos, len(y) - pos) < LEAKAGE_MIN_CLASS:
        return []
    if len(y) > max_rows:
        idx = stratified_sample(y, max_rows, random_state=random_state, min_per_group=MIN_PER_CLASS)
        X, y = X.iloc[idx], y[idx]
    found = []
    for col in X.columns:
        s = X[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            # Ranks, not values: infinities are fine and empty values rank lowest.
            v = pd.Series(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)).rank(
                method="average", na_option="top").to_numpy()
        else:
            text = s.astype(object).where(s.notna(), "(none)").astype(str)
            if text.nunique() > LEAKAGE_MAX_CATEGORIES:
                continue
            v = pd.Series(y, index=text.index).groupby(text.to_numpy()).transform("mean").to_numpy(dtype=float)
            v = pd.Series(v).rank(method="average").to_numpy()
        if np.all(v == v[0]):
            continue
        auc = rank_auc(v, y)
        auc = max(auc, 1 - auc)
        if auc >= threshold:
            found.append(LeakageFinding(feature=str(col), auc=round(auc, 4)))
    return sorted(found, key=lambda f: -f.auc)


def rank_auc(ranks: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC from average ranks (ties share their mean rank): the Mann-Whitney statistic.

    Equal to ``sklearn.metrics.roc_auc_score(y, ranks)`` (ties count one half
    there too) at a fraction of its cost: no curve is built, which made the check
    most of a training set's build on 150k users.
    """
    pos = y == 1
    n1 = int(pos.sum())
    n0 = len(y) - n1
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))

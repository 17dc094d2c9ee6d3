"""Curves of one model's scores: ROC, precision-recall, gain and lift, calibration, confusion at a threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.errors import InvalidParameterError, NoDataError
from analytics.models.results import Curve

MAX_CURVE_POINTS = 300


def roc_points(y: np.ndarray, scores: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> Curve:
    """ROC curve (false positive rate, true positive rate), thinned to ``max_points``."""
    from sklearn.metrics import roc_curve

    y, scores = check_scores(y, scores)
    fpr, tpr, _ = roc_curve(y, scores)
    return Curve(*_thin(fpr, tpr, max_points))


def pr_points(y: np.ndarray, scores: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> Curve:
    """Precision-recall curve (x = recall, y = precision), thinned to ``max_points``."""
    from sklearn.metrics import precision_recall_curve

    y, scores = check_scores(y, scores)
    precision, recall, _ = precision_recall_curve(y, scores)
    # By recall, and at one recall from the highest precision down (the cut just at the positive first):
    # drawn as steps ("vh"), each recall interval then shows the precision reached at its right end, as
    # average precision counts it, not sklearn's artificial (0, 1) start carried over the first interval.
    order = np.lexsort((-precision, recall))
    return Curve(*_thin(recall[order], precision[order], max_points))


@dataclass
class GainLift:
    """Cumulative gain and lift by targeting depth.

    ``depth`` is the share of users contacted (best scores first), ``gain`` the
    share of all positives among them, ``lift`` gain / depth (1 = random).
    """

    depth: np.ndarray
    gain: np.ndarray
    lift: np.ndarray
    base_rate: float


def gain_lift(y: np.ndarray, scores: np.ndarray, n_points: int = 100) -> GainLift:
    """Cumulative gain and lift at ``n_points`` depths from 1/n_points to 100%.

    Users with equal scores are taken together, so ties do not flatter the curve.
    """
    y, scores = check_scores(y, scores)
    depth_n, cum_pos = cumulative_positives(y, scores)
    grid = np.linspace(0, 1, n_points + 1)[1:]
    pos = np.interp(grid * len(y), depth_n, cum_pos)
    gain = pos / y.sum()
    return GainLift(depth=grid, gain=gain, lift=gain / grid, base_rate=float(y.mean()))


@dataclass
class CalibrationCurve:
    """Mean score against the observed positive rate per score bin."""

    mean_score: np.ndarray
    observed_rate: np.ndarray
    counts: np.ndarray
    brier: float


def calibration(y: np.ndarray, scores: np.ndarray, n_bins: int = 10) -> CalibrationCurve:
    """Calibration in ``n_bins`` equal-count score bins (empty bins dropped), with the Brier score."""
    if not 2 <= n_bins <= 100:
        raise InvalidParameterError(f"n_bins must be between 2 and 100, got {n_bins}.")
    y, scores = check_scores(y, scores, need_both=False)
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, max(0, len(edges) - 2))
    counts = np.bincount(which, minlength=max(1, len(edges) - 1))
    keep = counts > 0
    sums = np.bincount(which, weights=scores, minlength=len(counts))
    hits = np.bincount(which, weights=y, minlength=len(counts))
    return CalibrationCurve(mean_score=sums[keep] / counts[keep], observed_rate=hits[keep] / counts[keep],
                            counts=counts[keep], brier=float(np.mean((scores - y) ** 2)))


@dataclass
class ConfusionResult:
    """Counts and rates when everyone scoring at or above ``threshold`` is called positive."""

    threshold: float
    tn: int
    fp: int
    fn: int
    tp: int
    precision: float | None
    recall: float | None
    accuracy: float
    contacted: int

    @property
    def matrix(self) -> np.ndarray:
        """``[[tn, fp], [fn, tp]]`` (rows: actual 0/1, columns: predicted 0/1)."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]])


def confusion_at(y: np.ndarray, scores: np.ndarray, threshold: float) -> ConfusionResult:
    """Confusion matrix at a score threshold (precision None when nobody is called positive)."""
    if not 0.0 <= float(threshold) <= 1.0:
        raise InvalidParameterError(f"The threshold must be between 0 and 1, got {threshold}.")
    y, scores = check_scores(y, scores, need_both=False)
    pred = scores >= threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    tn = int((~pred & (y == 0)).sum())
    return ConfusionResult(threshold=float(threshold), tn=tn, fp=fp, fn=fn, tp=tp,
                           precision=tp / (tp + fp) if tp + fp else None,
                           recall=tp / (tp + fn) if tp + fn else None,
                           accuracy=(tp + tn) / len(y), contacted=tp + fp)


def check_scores(y: np.ndarray, scores: np.ndarray, need_both: bool = True) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).ravel()
    scores = np.asarray(scores, dtype=float).ravel()
    if len(y) != len(scores):
        raise InvalidParameterError(f"Got {len(y):,} labels but {len(scores):,} scores.")
    if len(y) == 0:
        raise NoDataError("There are no users to evaluate.")
    if not np.all(np.isfinite(scores)):
        raise InvalidParameterError(f"{int((~np.isfinite(scores)).sum()):,} scores are empty or infinite.")
    if need_both and not 0 < y.sum() < len(y):
        raise InvalidParameterError("The curve needs users of both classes; all users here are in one.")
    return y, scores


def cumulative_positives(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Users and positives reached when cutting after each group of equal scores (starting at 0, 0)."""
    order = np.argsort(-scores, kind="stable")
    s, yy = scores[order], y[order]
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    return np.r_[0, ends + 1].astype(float), np.r_[0, np.cumsum(yy)[ends]].astype(float)


def _thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= max_points:
        return x, y
    keep = np.unique(np.round(np.linspace(0, len(x) - 1, max_points)).astype(int))
    return x[keep], y[keep]

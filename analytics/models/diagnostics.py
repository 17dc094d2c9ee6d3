"""A closer look at one model: permutation importance, performance per segment, learning curve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.models.economics import segment_lookup
from analytics.models.fitting import fit_one, positive_scores, stratified_folds, stratified_holdout
from analytics.models.training_set import TrainingSet, check_classes
from analytics.models.zoo import MODELS, SAMPLE_CAPS, feature_kinds, model_spec, prepare_features
from analytics.progress import Progress, no_progress
from analytics.sampling import MIN_PER_CLASS, stratified_sample
from analytics.wording import count


@dataclass
class ImportanceResult:
    """Permutation importance: how much the held-out ROC AUC drops when one feature is shuffled."""

    table: pd.DataFrame  # feature, importance, std (sorted, largest first)
    baseline_auc: float
    n_rows: int
    n_repeats: int
    note: str

    def to_parts(self) -> tuple[dict, dict[str, pd.DataFrame]]:
        """JSON metadata and tables, for the workspace (:meth:`from_parts` reads them back)."""
        return ({"baseline_auc": self.baseline_auc, "n_rows": self.n_rows, "n_repeats": self.n_repeats,
                 "note": self.note}, {"table": self.table})

    @classmethod
    def from_parts(cls, meta: dict, frames: dict[str, pd.DataFrame]) -> ImportanceResult:
        return cls(table=frames["table"], **{k: meta[k] for k in ("baseline_auc", "n_rows", "n_repeats", "note")})


def permutation_importance_report(training: TrainingSet, key: str, *, params: dict | None = None,
                                  n_repeats: int = 5, max_rows: int = 10_000, test_size: float = 0.25,
                                  balance_classes: bool = True, random_state: int = 0,
                                  progress: Progress | None = None) -> ImportanceResult:
    """Permutation feature importance of one model on a held-out split.

    The model is fitted on a stratified ``1 - test_size`` share (sampled like in
    cross-validation for the slow models) and each feature column is shuffled
    ``n_repeats`` times in at most ``max_rows`` held-out users. A text feature is
    shuffled as one column (not per one-hot value). ``progress(fraction, message)``
    is called after each feature (the loop is ours rather than scikit-learn's
    ``permutation_importance`` so that it can report, and be stopped, per feature).

    Returns
    -------
    ImportanceResult
        ``table`` has ``feature``, ``importance`` (mean AUC drop) and ``std``.
    """
    from sklearn.metrics import roc_auc_score

    say = progress or no_progress
    model_spec(key)
    if not 1 <= n_repeats <= 50:
        raise InvalidParameterError(f"n_repeats must be between 1 and 50, got {n_repeats}.")
    if not 0.05 <= test_size <= 0.5:
        raise InvalidParameterError(f"test_size must be between 0.05 and 0.5, got {test_size}.")
    check_classes(training.y, 2, training.target)
    tr, te = stratified_holdout(training.y, test_size, random_state)
    kinds = feature_kinds(training.X)
    Xp = prepare_features(training.X, kinds)
    pipe, _ = fit_one(key, kinds, Xp, training.y, tr, params=params, balance_classes=balance_classes,
                      random_state=random_state)
    if len(te) > max_rows:
        te = te[stratified_sample(training.y[te], max_rows, random_state=random_state,
                                  min_per_group=MIN_PER_CLASS)]
    Xt, yt = Xp.iloc[te].reset_index(drop=True), training.y[te]
    name = MODELS[key].name
    say(0.0, f"Fitted {name}; shuffling each of {Xt.shape[1]} features")
    base = float(roc_auc_score(yt, positive_scores(pipe, Xt, name)))
    rng = np.random.default_rng(random_state)
    drops = np.zeros((Xt.shape[1], n_repeats))
    for j, col in enumerate(Xt.columns):
        shuffled = Xt.copy()
        for r in range(n_repeats):
            shuffled[col] = Xt[col].to_numpy()[rng.permutation(len(Xt))]
            drops[j, r] = base - roc_auc_score(yt, positive_scores(pipe, shuffled, name))
        say((j + 1) / Xt.shape[1], f"Shuffled '{col}' ({j + 1} of {Xt.shape[1]})")
    table = pd.DataFrame({"feature": list(Xt.columns), "importance": drops.mean(axis=1),
                          "std": drops.std(axis=1)}).sort_values("importance", ascending=False, kind="stable")
    note = (f"Drop in ROC AUC (from {base:.3f}) when one feature is shuffled, over {n_repeats} shuffles of "
            f"{len(te):,} held-out users. Near 0: the model does not rely on it (or another feature carries "
            "the same information).")
    return ImportanceResult(table=table.reset_index(drop=True), baseline_auc=base, n_rows=len(te),
                            n_repeats=n_repeats, note=note)


# Below this many users of the rarer class in a segment, its AUC swings with a user or two.
FEW_IN_CLASS = 10


def _segment_note(positives: int, users: int) -> str:
    if positives in (0, users):
        return ("all users are positive" if positives else "no positive user") + ": ranking quality is not defined here"
    rarer = min(positives, users - positives)
    if rarer < FEW_IN_CLASS:
        which = count(rarer, "positive user") if positives <= users - positives else count(rarer, "negative user")
        return f"only {which}: this AUC rests on {'it' if rarer == 1 else 'them'} and is rough"
    return ""


def segment_performance(training: TrainingSet, scores: np.ndarray,
                        segments: pd.Series | pd.DataFrame | dict) -> pd.DataFrame:
    """How well the scores rank users within each segment.

    Parameters
    ----------
    training : TrainingSet
        Gives the users and labels the scores belong to.
    scores : array
        One score per training-set user (e.g. ``ModelResult.oof_scores``).
    segments : Series, DataFrame or dict
        user_id -> segment: a Series indexed by user_id, a dict, or a frame
        with ``user_id`` and ``segment`` columns. Users without one are
        grouped as "(no segment)".

    Returns
    -------
    DataFrame
        ``segment, users, positives, positive rate %, mean score, ROC AUC,
        avg precision, note``. AUC and precision are None (with a note) where
        a segment has only one class: they are not defined there.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = training.y
    scores = np.asarray(scores, dtype=float)
    if scores.shape != y.shape:
        raise InvalidParameterError(f"Expected one score per user ({len(y):,}), got {scores.shape[0]:,}.")
    seg = segment_lookup(segments, training.user_ids)
    rows = []
    for name, idx in pd.Series(np.arange(len(y))).groupby(seg, sort=True):
        ii = idx.to_numpy()
        yy, ss = y[ii], scores[ii]
        pos = int(yy.sum())
        both = 0 < pos < len(ii)
        rows.append({"segment": str(name), "users": len(ii), "positives": pos,
                     "positive rate %": round(100 * pos / len(ii), 2), "mean score": round(float(ss.mean()), 4),
                     "ROC AUC": round(float(roc_auc_score(yy, ss)), 4) if both else None,
                     "avg precision": round(float(average_precision_score(yy, ss)), 4) if both else None,
                     "note": _segment_note(pos, len(ii))})
    out = pd.DataFrame(rows)
    for col in ("ROC AUC", "avg precision"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


@dataclass
class LearningCurveResult:
    """Validation (and training) ROC AUC against training-set size."""

    sizes: np.ndarray
    train_auc: np.ndarray
    train_std: np.ndarray
    valid_auc: np.ndarray
    valid_std: np.ndarray
    verdict: str
    note: str = ""

    def to_parts(self) -> tuple[dict, dict[str, pd.DataFrame]]:
        """JSON metadata and tables, for the workspace (:meth:`from_parts` reads them back)."""
        curve = pd.DataFrame({"size": self.sizes, "train_auc": self.train_auc, "train_std": self.train_std,
                              "valid_auc": self.valid_auc, "valid_std": self.valid_std})
        return {"verdict": self.verdict, "note": self.note}, {"curve": curve}

    @classmethod
    def from_parts(cls, meta: dict, frames: dict[str, pd.DataFrame]) -> LearningCurveResult:
        c = frames["curve"]
        return cls(sizes=c["size"].to_numpy(), train_auc=c["train_auc"].to_numpy(), train_std=c["train_std"].to_numpy(),
                   valid_auc=c["valid_auc"].to_numpy(), valid_std=c["valid_std"].to_numpy(), verdict=meta["verdict"],
                   note=meta.get("note", ""))


def learning_curve_report(training: TrainingSet, key: str, *, fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
                          n_folds: int = 3, max_rows: int = 60_000, params: dict | None = None,
                          balance_classes: bool = True, random_state: int = 0,
                          progress: Progress | None = None) -> LearningCurveResult:
    """AUC against training size, with a plain sentence on whether more data would help.

    ``progress(fraction, message)`` is called after each fit.

    For each of ``n_folds`` stratified folds the model is fitted on growing
    stratified shares (``fractions``) of the training part and scored on the
    test part. Large data is first reduced to a stratified sample of
    ``max_rows`` users; slow models stop at their sample cap.

    Returns
    -------
    LearningCurveResult
    """
    from sklearn.metrics import roc_auc_score

    model_spec(key)
    fr = sorted({float(f) for f in fractions})
    if not fr or fr[0] <= 0 or fr[-1] > 1 or len(fr) < 2:
        raise InvalidParameterError(f"fractions must be at least two shares in (0, 1], got {list(fractions)}.")
    check_classes(training.y, n_folds, training.target)
    y_all = training.y
    rows = stratified_sample(y_all, max_rows, random_state=random_state, min_per_group=MIN_PER_CLASS)
    kinds = feature_kinds(training.X)
    Xp = prepare_features(training.X.iloc[rows], kinds)
    y = y_all[rows]
    cap = SAMPLE_CAPS.get(key)
    folds = stratified_folds(y, n_folds, random_state)
    n_fold_train = min(len(tr) for tr, _ in folds)
    sizes = sorted({max(4, int(round(f * n_fold_train))) for f in fr})
    note = ""
    if cap and sizes[-1] > cap:
        sizes = sorted({s for s in sizes if s <= cap} | {cap})
        note = f"{MODELS[key].name} trains on at most {cap:,} users, so the curve stops there."
    if len(y) < len(y_all):
        note = (note + " " if note else "") + f"Computed on a sample of {len(y):,} of {len(y_all):,} users."
    tr_auc = np.full((len(sizes), n_folds), np.nan)
    va_auc = np.full((len(sizes), n_folds), np.nan)
    say, done = progress or no_progress, 0
    for j, (tr, te) in enumerate(folds):
        for i, n in enumerate(sizes):
            done += 1
            sub = (tr[stratified_sample(y[tr], n, random_state=random_state + j, min_per_group=2)] if n < len(tr)
                   else tr)
            if y[sub].min() == y[sub].max():
                continue
            pipe, _ = fit_one(key, kinds, Xp, y, sub, params=params, balance_classes=balance_classes,
                              random_state=random_state)
            tr_auc[i, j] = roc_auc_score(y[sub], positive_scores(pipe, Xp.iloc[sub], key))
            va_auc[i, j] = roc_auc_score(y[te], positive_scores(pipe, Xp.iloc[te], key))
            say(done / (len(folds) * len(sizes)), f"Fold {j + 1} of {len(folds)}: trained on {len(sub):,} users")
    keep = ~np.isnan(va_auc).all(axis=1)
    if keep.sum() < len(sizes):
        note = (note + " " if note else "") + "The smallest sizes had only one class and are left out."
    sizes_a = np.array(sizes)[keep]
    va, tr_ = va_auc[keep], tr_auc[keep]
    v_mean, v_std = np.nanmean(va, axis=1), np.nanstd(va, axis=1)
    t_mean, t_std = np.nanmean(tr_, axis=1), np.nanstd(tr_, axis=1)
    return LearningCurveResult(sizes=sizes_a, train_auc=t_mean, train_std=t_std, valid_auc=v_mean, valid_std=v_std,
                               verdict=_learning_verdict(sizes_a, t_mean, v_mean, v_std), note=note)


def _learning_verdict(sizes: np.ndarray, train: np.ndarray, valid: np.ndarray, std: np.ndarray) -> str:
    if len(sizes) < 2:
        return "Too little data to draw a learning curve."
    rise = float(valid[-1] - valid[-2])
    gap = float(train[-1] - valid[-1])
    # A rise smaller than the fold-to-fold spread, or than 0.005 AUC, is noise, not a trend.
    if rise > max(0.005, float(std[-1]) / 2):
        return (f"Validation AUC is still rising at the largest size (+{rise:.3f} from {sizes[-2]:,} to "
                f"{sizes[-1]:,} users): more data would likely help.")
    if gap > 0.05:
        return (f"Validation AUC has levelled off ({valid[-1]:.3f}) but is well below training AUC "
                f"({train[-1]:.3f}): the model memorises. More data may help a little; a simpler or more "
                "regularised model (or tuning) is likely to help more.")
    return (f"Validation AUC has levelled off at {valid[-1]:.3f}: more data of the same kind is unlikely to help; "
            "better features or a longer history would.")

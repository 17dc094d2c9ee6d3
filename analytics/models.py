"""Classifiers: compare, look deeper, tune, decide with money, save and score.

Everything works on a :class:`analytics.labels.TrainingSet` (features as of a
cutoff, labels from the window after it).

The zoo
-------
Each model is a scikit-learn :class:`~sklearn.pipeline.Pipeline`
``prep -> clf``; ``prep`` is fitted inside each fold, never on the test fold:

========  ==============================  =====  ============  ==========================
key       model                           scale  class weight  trains on at most
========  ==============================  =====  ============  ==========================
``nb``    Gaussian naive Bayes            yes    no (priors)   all users
``lr``    logistic regression             yes    balanced      all users
``tree``  decision tree (depth 8)         no     balanced      all users
``hgb``   HistGradientBoosting            no     balanced      all users
``rf``    random forest (see below)       no     balanced      100,000 (20,000 per tree)
``knn``   k-nearest neighbours (k=25)     yes    no            20,000 users
``mlp``   neural network (32-16, ReLU)    yes    no            20,000 users
``svm``   SVM, RBF kernel, Platt scores   yes    balanced      5,000 users
========  ==============================  =====  ============  ==========================

"Trains on at most" is per training fold; more users than that are a seeded
stratified sample of the fold (the rarer class keeps at least 20 users), and
every user is still scored.

Before the pipeline, a stateless step (:func:`prepare_features`, the same at
training and scoring) turns numbers into floats, infinities into empty values
and applies a signed log ``sign(x) * log1p(|x|)``: counts and money are heavy
tailed, which hurts the distance- and gradient-based models; trees do not care
(the transform keeps the order), and huge values can no longer overflow a
scaler. Text columns (``top_channel``, ...) become stable integer codes
(:func:`text_codes`, a hash of the text: no fitting, 10x cheaper to encode than
Python strings) and are one-hot encoded inside the pipeline: values seen in
fewer than 5 training users, and beyond the 20 most common, share one
"infrequent" column; values never seen in training score as all zeros.
HistGradientBoosting gets them as native categorical features instead (same
grouping), which halves its columns. Numbers are imputed with the fold's mean
plus a "was empty" indicator (for HistGradientBoosting too: its native handling
of empty values fails on a column that is empty in a whole fold); the mean, not
the median, because after the log it is as robust here and 6x faster.

Class weights ("balanced") make rare positives count as much as the majority,
which helps ranking (AUC, gain, profit) but pushes scores towards 0.5: read the
scores of weighted models as a ranking, and check the calibration plot before
reading them as probabilities. ``balance_classes=False`` turns weights off.

Sizes, chosen so that 5-fold CV of LR + RF + HGB on 500k users takes about
50 CPU-seconds on 2 cores (``bench/bench_models.py``):

- random forest: 100 trees of depth <= 12 with leaves of >= 10 users; each tree
  draws a bootstrap of :data:`RF_MAX_SAMPLES` (20,000) users (``max_samples``)
  from a stratified pool of at most 100,000 users of the fold. A tree's cost
  grows with the rows it is *given*, not only with its bootstrap (about 0.03 s
  per tree on 40k rows, 0.12 s on 400k), hence the pool. On the 50k-user
  benchmark this costs 0.0007 AUC against 100 full-size trees of depth 14.
- HistGradientBoosting: 60 rounds at learning rate 0.15 (same AUC as 100 at
  0.1 on the benchmark), early stopping on a 10% split above 10,000 users.
- kernel SVM, kNN and the MLP train on samples (table above) because their
  cost grows with the square of the rows (SVM), with the training rows at
  every prediction (kNN) or with passes times rows (MLP).

A sampled model says so in ``ModelResult.sample_note``.

Threads: the forest and kNN run on ``MARKETLENS_MODEL_THREADS`` joblib threads
(default: all cores). OpenMP (HistGradientBoosting) and BLAS (logistic
regression, MLP, distances) run on one thread, because their threads busy-wait
and, when other processes share the cores (the app's server, DuckDB, another
user), a fit becomes several times slower instead of faster; measured here on
a busy 2-core machine: HGB on 8,000 rows 12 s on 2 threads vs 0.4 s on one, on
400,000 rows 48 s vs 7 s; LR on 40,000 rows 1.1 s vs 0.14 s. On a dedicated
machine, setting ``MARKETLENS_MODEL_THREADS`` explicitly also gives
HistGradientBoosting that many threads from :data:`OPENMP_MIN_ROWS` rows on.

Cross-validation is stratified k-fold (default 5) with the same folds for every
model and for tuning, so their AUCs are comparable. :func:`iter_train` yields
each model's :class:`ModelResult` as soon as its folds are done, cheapest model
first, so a page can draw the first ROC curve within about a second of
pressing Train on 50k users.

No NaN is ever returned as a score: a metric that cannot be computed (one class
in a fold or segment) is None with a note saying why, and a model that fails
or produces non-finite scores comes back with ``error`` set instead of metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, MarketLensError, NoDataError
from analytics.jsonable import json_safe
from analytics.labels import TrainingSet, check_classes, stratified_sample

MODEL_FILE = "model.skops"
META_FILE = "metadata.json"
FORMAT = "marketlens-model"
FORMAT_VERSION = 1

RF_MAX_SAMPLES = 20_000
SAMPLE_CAPS: dict[str, int] = {"svm": 5_000, "knn": 20_000, "mlp": 20_000, "rf": 100_000}
DEFAULT_MODELS: tuple[str, ...] = ("lr", "rf", "hgb")
MISSING_TEXT = "(none)"
MAX_CURVE_POINTS = 300
# Below this many rows HistGradientBoosting runs on one OpenMP thread (see _openmp_threads).
OPENMP_MIN_ROWS = 100_000


class ModelCompatibilityError(MarketLensError):
    """A saved model cannot be used here (other scikit-learn version, missing features, bad file)."""


# --- the zoo -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """How one kind of model is built and what it needs."""

    key: str
    name: str
    scale: bool
    class_weight: bool
    cost: int  # run order: cheapest first
    why_sample: str = ""


MODELS: dict[str, ModelSpec] = {s.key: s for s in (
    ModelSpec("nb", "Naive Bayes", True, False, 0),
    ModelSpec("lr", "Logistic regression", True, True, 1),
    ModelSpec("tree", "Decision tree", False, True, 2),
    ModelSpec("hgb", "Gradient boosting", False, True, 3),
    ModelSpec("rf", "Random forest", False, True, 4,
              "each tree costs time in proportion to all the rows it is given, not just its own sample"),
    ModelSpec("knn", "k-nearest neighbours", True, False, 5,
              "every prediction compares a user with all training users"),
    ModelSpec("mlp", "Neural network (MLP)", True, False, 6,
              "training time grows with users times passes over the data"),
    ModelSpec("svm", "SVM (RBF kernel)", True, True, 7,
              "training time grows with the square of the number of users"),
)}


def available_models() -> pd.DataFrame:
    """The zoo as a table for a model picker: key, name, and whether it trains on a sample."""
    rows = [{"key": s.key, "model": s.name, "class weights": s.class_weight,
             "trains on at most": f"{SAMPLE_CAPS[s.key]:,} users" if s.key in SAMPLE_CAPS else "all users"}
            for s in sorted(MODELS.values(), key=lambda s: s.cost)]
    return pd.DataFrame(rows)


def feature_kinds(X: pd.DataFrame) -> dict[str, str]:
    """``{"column": "number" | "text"}`` for every feature column (booleans count as numbers)."""
    return {str(c): ("number" if pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
                     else "text") for c in X.columns}


def prepare_features(X: pd.DataFrame, kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """The stateless step before every pipeline (see the module docstring).

    Parameters
    ----------
    X : DataFrame
        Raw features; extra columns are dropped.
    kinds : dict, optional
        Column -> ``"number"``/``"text"``; default :func:`feature_kinds` of ``X``.

    Returns
    -------
    DataFrame
        Numbers as float64 (finite or NaN, signed-log scaled), text as Python
        strings with ``"(none)"`` for empty values, in the order of ``kinds``.
    """
    kinds = kinds or feature_kinds(X)
    out = {}
    for col, kind in kinds.items():
        s = X[col]
        if kind == "number":
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            v = np.where(np.isfinite(v), v, np.nan)
            out[col] = np.sign(v) * np.log1p(np.abs(v))
        else:
            out[col] = text_codes(s)
    return pd.DataFrame(out, index=X.index)


def text_codes(values: pd.Series) -> np.ndarray:
    """Stable integer code of each text value: the first 6 bytes of its BLAKE2b hash.

    The same text gives the same code in any table and any process, so the code
    needs no fitting; empty values get the code of ``"(none)"``. 48 bits stay
    exact as float64, and collisions among a column's few thousand values at
    most have a chance of about 1e-8.
    """
    t = values.astype(object)
    codes, uniques = pd.factorize(t.where(t.notna(), MISSING_TEXT).astype(str), use_na_sentinel=False)
    table = np.array([int.from_bytes(hashlib.blake2b(str(u).encode(), digest_size=6).digest(), "big")
                      for u in uniques], dtype=np.int64)
    return table[codes] if len(table) else np.zeros(len(values), dtype=np.int64)


def make_pipeline(key: str, kinds: dict[str, str], *, n_train: int, params: dict | None = None,
                  balance_classes: bool = True, random_state: int = 0):
    """A fresh, unfitted pipeline of one zoo model.

    Parameters
    ----------
    key : str
        One of :data:`MODELS`.
    kinds : dict
        Feature column -> ``"number"``/``"text"`` (:func:`feature_kinds`).
    n_train : int
        Users it will be fitted on (sizes the forest's per-tree sample, kNN's
        k, whether the MLP and boosting stop early).
    params : dict, optional
        Hyperparameters of the classifier, e.g. ``{"C": 0.5}`` (from :func:`tune_model`).
    balance_classes : bool
        Class weights "balanced" where the model supports them.
    random_state : int

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    spec = _spec(key)
    num = [c for c, k in kinds.items() if k == "number"]
    txt = [c for c, k in kinds.items() if k == "text"]
    if not num and not txt:
        raise InvalidParameterError("There are no feature columns to learn from.")
    steps = [("impute", SimpleImputer(strategy="mean", add_indicator=True, keep_empty_features=True))]
    if spec.scale:
        steps.append(("scale", StandardScaler()))
    parts = []
    # Text first, so its output columns are 0..len(txt)-1 whatever the numbers add.
    if txt and key == "hgb":
        parts.append(("txt", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                            min_frequency=5, max_categories=20), txt))
    elif txt:
        parts.append(("txt", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, max_categories=20,
                                           sparse_output=False, dtype=np.float64), txt))
    if num:
        parts.append(("num", Pipeline(steps), num))
    prep = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    clf = _estimator(key, n_train, balance_classes, random_state)
    if key == "hgb":
        clf.set_params(categorical_features=list(range(len(txt))) or None)
    if params:
        params = dict(params)
        if key == "knn" and "n_neighbors" in params:
            params["n_neighbors"] = int(max(1, min(int(params["n_neighbors"]), n_train)))
        try:
            clf.set_params(**params)
        except ValueError as exc:
            raise InvalidParameterError(f"{spec.name} has no parameter among {sorted(params)}: {exc}") from exc
    return Pipeline([("prep", prep), ("clf", clf)])


def _estimator(key: str, n_train: int, balance: bool, random_state: int):
    cw = "balanced" if balance else None
    if key == "nb":
        from sklearn.naive_bayes import GaussianNB
        return GaussianNB()
    if key == "lr":
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression(C=1.0, max_iter=1000, class_weight=cw)
    if key == "tree":
        from sklearn.tree import DecisionTreeClassifier
        return DecisionTreeClassifier(max_depth=8, min_samples_leaf=20, class_weight=cw, random_state=random_state)
    if key == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        return HistGradientBoostingClassifier(max_iter=60, learning_rate=0.15, early_stopping="auto",
                                              class_weight=cw, random_state=random_state)
    if key == "rf":
        from sklearn.ensemble import RandomForestClassifier
        return RandomForestClassifier(n_estimators=100, max_depth=12, min_samples_leaf=10, max_features="sqrt",
                                      max_samples=RF_MAX_SAMPLES if n_train > RF_MAX_SAMPLES else None,
                                      class_weight=cw, n_jobs=model_threads(), random_state=random_state)
    if key == "knn":
        from sklearn.neighbors import KNeighborsClassifier
        # Brute force: fast with BLAS in ~40 dimensions, and no search tree in the saved file.
        return KNeighborsClassifier(n_neighbors=int(max(1, min(25, n_train))), algorithm="brute",
                                    n_jobs=model_threads())
    if key == "mlp":
        from sklearn.neural_network import MLPClassifier
        # Early stopping needs a validation split worth having.
        return MLPClassifier(hidden_layer_sizes=(32, 16), alpha=1e-3, max_iter=200, early_stopping=n_train >= 1000,
                             n_iter_no_change=8, random_state=random_state)
    if key == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC
        # Platt scaling fitted on 3 internal folds turns SVM margins into scores in [0, 1].
        return CalibratedClassifierCV(SVC(C=1.0, gamma="scale", class_weight=cw, cache_size=500),
                                      method="sigmoid", cv=3, ensemble=False)
    raise AssertionError(key)


def _spec(key: str) -> ModelSpec:
    if key not in MODELS:
        raise InvalidParameterError(f"Unknown model '{key}'. Choose from: {', '.join(MODELS)}.")
    return MODELS[key]


# --- results -----------------------------------------------------------------------------------


@dataclass
class Curve:
    """Points of a curve, at most a few hundred (enough to draw, small to store)."""

    x: np.ndarray
    y: np.ndarray

    def to_dict(self) -> dict:
        return {"x": [round(float(v), 6) for v in self.x], "y": [round(float(v), 6) for v in self.y]}


@dataclass
class OutOfTimeResult:
    """Fitted on the earlier cutoff, tested on the later one."""

    train_cutoff: datetime
    test_cutoff: datetime
    n_train: int
    n_test: int
    auc: float | None
    average_precision: float | None
    note: str = ""


@dataclass
class ModelResult:
    """Cross-validated performance of one model.

    Attributes
    ----------
    key, name : str
    auc_mean, auc_std : float or None
        ROC AUC over the folds (None, with a note, if no fold had both classes).
    auc_folds : list of float
    average_precision, ap_std : float or None
        Average precision (area under the precision-recall curve) over folds;
        compare it with ``base_rate``, its value for random scores.
    log_loss : float or None
    auc_pooled : float or None
        AUC of all out-of-fold scores together: the AUC of the drawn curve.
    base_rate : float
        Share of positives.
    fit_seconds, seconds : float
        Time spent fitting (all folds) and in total.
    n_users, n_folds : int
    train_rows : int
        Users each fold was fitted on (less than the fold when sampled).
    sample_note : str or None
        Set when the model trained on a sample (slow models on large data).
    oof_scores : ndarray or None
        Out-of-fold score of every user, aligned with the training set.
    roc, pr : Curve or None
        ROC (x = false positive rate, y = true positive rate) and precision-
        recall (x = recall, y = precision) of the out-of-fold scores.
    params : dict
        The classifier's hyperparameters that were set explicitly.
    out_of_time : OutOfTimeResult or None
    notes : list of str
    error : str or None
        Why the model failed; then the metrics are None.
    """

    key: str
    name: str
    auc_mean: float | None = None
    auc_std: float | None = None
    auc_folds: list[float] = field(default_factory=list)
    average_precision: float | None = None
    ap_std: float | None = None
    log_loss: float | None = None
    auc_pooled: float | None = None
    base_rate: float = 0.0
    fit_seconds: float = 0.0
    seconds: float = 0.0
    n_users: int = 0
    n_folds: int = 0
    train_rows: int = 0
    sample_note: str | None = None
    oof_scores: np.ndarray | None = None
    roc: Curve | None = None
    pr: Curve | None = None
    params: dict = field(default_factory=dict)
    out_of_time: OutOfTimeResult | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.auc_mean is not None

    @property
    def label(self) -> str:
        """Legend text: name and AUC mean +- std."""
        if self.error:
            return f"{self.name} (failed)"
        if self.auc_mean is None:
            return f"{self.name} (AUC not defined)"
        return f"{self.name} (AUC {self.auc_mean:.3f} ± {self.auc_std or 0:.3f})"

    def metrics(self) -> dict:
        """The numbers of this result as plain JSON values (no curves, no scores)."""
        d = {"model": self.key, "name": self.name, "roc_auc_mean": _r(self.auc_mean),
             "roc_auc_std": _r(self.auc_std), "roc_auc_folds": [_r(v) for v in self.auc_folds],
             "average_precision": _r(self.average_precision), "average_precision_std": _r(self.ap_std),
             "base_rate": _r(self.base_rate), "log_loss": _r(self.log_loss), "roc_auc_pooled": _r(self.auc_pooled),
             "fit_seconds": round(self.fit_seconds, 3), "seconds": round(self.seconds, 3),
             "n_users": self.n_users, "n_folds": self.n_folds, "train_rows": self.train_rows,
             "sample_note": self.sample_note, "params": json_safe(self.params), "notes": list(self.notes),
             "error": self.error}
        if self.out_of_time:
            o = self.out_of_time
            d["out_of_time"] = {"train_cutoff": o.train_cutoff.isoformat(), "test_cutoff": o.test_cutoff.isoformat(),
                                "roc_auc": _r(o.auc), "average_precision": _r(o.average_precision),
                                "n_train": o.n_train, "n_test": o.n_test, "note": o.note}
        return d


    def to_dict(self) -> dict:
        """:meth:`metrics` plus the ROC and PR curve points: all a page needs to redraw it, as JSON.

        The out-of-fold scores are left out (one float per user); store them as
        a table (:meth:`ModelReport.scores_frame`) and pass them back to
        :meth:`from_dict`.
        """
        return self.metrics() | {"roc": self.roc.to_dict() if self.roc else None,
                                 "pr": self.pr.to_dict() if self.pr else None}

    @classmethod
    def from_dict(cls, d: dict, oof_scores: np.ndarray | None = None) -> ModelResult:
        """The inverse of :meth:`to_dict` (scores optional)."""
        def curve(c: dict | None) -> Curve | None:
            return Curve(np.asarray(c["x"], dtype=float), np.asarray(c["y"], dtype=float)) if c else None

        o = d.get("out_of_time")
        oot = OutOfTimeResult(train_cutoff=datetime.fromisoformat(o["train_cutoff"]),
                              test_cutoff=datetime.fromisoformat(o["test_cutoff"]), n_train=o["n_train"],
                              n_test=o["n_test"], auc=o["roc_auc"], average_precision=o["average_precision"],
                              note=o.get("note", "")) if o else None
        return cls(key=d["model"], name=d["name"], auc_mean=d["roc_auc_mean"], auc_std=d["roc_auc_std"],
                   auc_folds=list(d.get("roc_auc_folds") or []), average_precision=d["average_precision"],
                   ap_std=d["average_precision_std"], log_loss=d["log_loss"], auc_pooled=d["roc_auc_pooled"],
                   base_rate=d["base_rate"] or 0.0, fit_seconds=d["fit_seconds"], seconds=d["seconds"],
                   n_users=d["n_users"], n_folds=d["n_folds"], train_rows=d["train_rows"],
                   sample_note=d.get("sample_note"), oof_scores=oof_scores, roc=curve(d.get("roc")),
                   pr=curve(d.get("pr")), params=dict(d.get("params") or {}), out_of_time=oot,
                   notes=list(d.get("notes") or []), error=d.get("error"))


@dataclass
class ModelReport:
    """All models of one training run."""

    results: list[ModelResult]
    training: dict
    n_folds: int
    random_state: int

    @property
    def best(self) -> ModelResult | None:
        """The model with the highest mean ROC AUC (ties: the faster one)."""
        ok = [r for r in self.results if r.ok]
        return max(ok, key=lambda r: (r.auc_mean, -r.seconds)) if ok else None

    def get(self, key: str) -> ModelResult:
        for r in self.results:
            if r.key == key:
                return r
        raise InvalidParameterError(f"Model '{key}' is not in this report; it has: "
                                    f"{', '.join(r.key for r in self.results)}.")

    def table(self) -> pd.DataFrame:
        return metrics_table(self.results)

    def scores_frame(self, training: TrainingSet) -> pd.DataFrame:
        """Out-of-fold scores as a table: ``user_id``, ``label`` and one column per model key.

        Models without scores (failed) have no column. Store it next to
        :meth:`to_dict`/``ModelResult.to_dict`` to redraw gain, calibration and
        profit without retraining.
        """
        out = pd.DataFrame({"user_id": training.user_ids, "label": training.y})
        for r in self.results:
            if r.oof_scores is not None:
                if len(r.oof_scores) != len(out):
                    raise InvalidParameterError("These results were computed on another training set.")
                out[r.key] = r.oof_scores
        return out

    def to_dict(self) -> dict:
        """JSON for ``analytics train --json``: counts, per-model metrics, best model."""
        best = self.best
        return {"n_users": self.training.get("users"), "positives": self.training.get("positives"),
                "positive_rate": self.training.get("positive_rate"), "target": self.training.get("target"),
                "n_folds": self.n_folds, "models": [r.metrics() for r in self.results],
                "best_model": best.key if best else None}


def metrics_table(results: Sequence[ModelResult]) -> pd.DataFrame:
    """One row per model for display: metrics rounded, empty text instead of undefined numbers.

    Numbers are kept as text so an undefined metric shows as "—", never as NaN.
    """
    rows = []
    for r in results:
        rows.append({
            "model": r.name,
            "ROC AUC": "—" if r.auc_mean is None else f"{r.auc_mean:.3f} ± {r.auc_std or 0:.3f}",
            "avg precision": "—" if r.average_precision is None else f"{r.average_precision:.3f}",
            "base rate": f"{r.base_rate:.3f}",
            "log loss": "—" if r.log_loss is None else f"{r.log_loss:.3f}",
            "fit time (s)": f"{r.fit_seconds:.1f}",
            "note": "; ".join([*([r.error] if r.error else []), *([r.sample_note] if r.sample_note else []),
                               *r.notes]),
        })
    return pd.DataFrame(rows, columns=["model", "ROC AUC", "avg precision", "base rate", "log loss",
                                       "fit time (s)", "note"])


# --- training ----------------------------------------------------------------------------------


def iter_train(training: TrainingSet, models: Sequence[str] = DEFAULT_MODELS, *, n_folds: int = 5,
               out_of_time: TrainingSet | None = None, params: dict[str, dict] | None = None,
               balance_classes: bool = True, keep_order: bool = False, random_state: int = 0,
               progress: Callable[[str, int, int], None] | None = None) -> Iterator[ModelResult]:
    """Cross-validate models one by one, yielding each result as soon as it is done.

    Parameters
    ----------
    training : TrainingSet
    models : sequence of str
        Keys of :data:`MODELS` (default LR, RF, HGB).
    n_folds : int
        Stratified folds, 2 to 20 (default 5); the same folds for every model.
    out_of_time : TrainingSet, optional
        The same target one window earlier (:func:`analytics.labels.build_out_of_time_set`):
        each model is also fitted on it and tested on ``training``.
    params : dict, optional
        Per model key, hyperparameters to use instead of the defaults.
    balance_classes : bool
        Class weights "balanced" where supported (see module docstring).
    keep_order : bool
        Run in the given order instead of cheapest first.
    random_state : int
    progress : callable, optional
        Called as ``progress(model_key, folds_done, n_folds)`` after each fold.

    Yields
    ------
    ModelResult
        Failed models are yielded too, with ``error`` set.

    Raises
    ------
    InvalidParameterError
        Unknown model, bad folds, classes too small for the folds, or an
        out-of-time set with other features: raised by the call itself,
        before any training (not at the first ``next``).
    """
    keys = _check_models(models)
    check_classes(training.y, n_folds, training.target)
    if out_of_time is not None:
        _check_oot(training, out_of_time)
    params = dict(params or {})
    unknown = sorted(set(params) - set(keys))
    if unknown:
        raise InvalidParameterError(f"Parameters given for models not being trained: {', '.join(unknown)}.")
    if not keep_order:
        keys = sorted(keys, key=lambda k: MODELS[k].cost)
    return _iter_train(training, keys, n_folds, out_of_time, params, balance_classes, random_state, progress)


def _iter_train(training: TrainingSet, keys: list[str], n_folds: int, out_of_time: TrainingSet | None,
                params: dict, balance_classes: bool, random_state: int,
                progress: Callable | None) -> Iterator[ModelResult]:
    kinds = feature_kinds(training.X)
    Xp = prepare_features(training.X, kinds)
    folds = _folds(training.y, n_folds, random_state)
    oot = None
    if out_of_time is not None:
        oot = (prepare_features(out_of_time.X, kinds), out_of_time.y, out_of_time.target.cutoff)
    for key in keys:
        yield _cross_validate(key, Xp, training, kinds, folds, params.get(key), balance_classes, random_state,
                              progress, oot)


def train_models(training: TrainingSet, models: Sequence[str] = DEFAULT_MODELS, *, n_folds: int = 5,
                 out_of_time: TrainingSet | None = None, params: dict[str, dict] | None = None,
                 balance_classes: bool = True, random_state: int = 0,
                 on_result: Callable[[ModelResult], None] | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> ModelReport:
    """Cross-validate several models and collect the results (the callback form of :func:`iter_train`).

    Parameters
    ----------
    on_result : callable, optional
        Called with each :class:`ModelResult` as soon as it is done.
    Other parameters: see :func:`iter_train`.

    Returns
    -------
    ModelReport
    """
    results = []
    for r in iter_train(training, models, n_folds=n_folds, out_of_time=out_of_time, params=params,
                        balance_classes=balance_classes, random_state=random_state, progress=progress):
        results.append(r)
        if on_result:
            on_result(r)
    return ModelReport(results=results, training=training.summary(), n_folds=n_folds, random_state=random_state)


def _cross_validate(key: str, Xp: pd.DataFrame, training: TrainingSet, kinds: dict, folds: list,
                    params: dict | None, balance: bool, random_state: int,
                    progress: Callable | None, oot: tuple | None) -> ModelResult:
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    spec = MODELS[key]
    y = training.y
    res = ModelResult(key=key, name=spec.name, base_rate=float(y.mean()), n_users=len(y), n_folds=len(folds),
                      params=dict(params or {}))
    t_start = time.perf_counter()
    oof = np.full(len(y), np.nan)
    aucs, aps, losses, skipped = [], [], [], 0
    try:
        for i, (tr, te) in enumerate(folds):
            fit_idx = _cap(key, tr, y, random_state + i)
            pipe = make_pipeline(key, kinds, n_train=len(fit_idx), params=params, balance_classes=balance,
                                 random_state=random_state)
            t0 = time.perf_counter()
            _fit(pipe, Xp.iloc[fit_idx], y[fit_idx])
            res.fit_seconds += time.perf_counter() - t0
            p = _positive_scores(pipe, Xp.iloc[te], spec.name)
            oof[te] = p
            yt = y[te]
            losses.append(float(log_loss(yt, p, labels=[0, 1])))
            if 0 < yt.sum() < len(yt):
                aucs.append(float(roc_auc_score(yt, p)))
                aps.append(float(average_precision_score(yt, p)))
            else:
                skipped += 1
            res.train_rows = max(res.train_rows, len(fit_idx))
            if progress:
                progress(key, i + 1, len(folds))
        if oot is not None:
            res.out_of_time = _out_of_time(key, oot, Xp, y, kinds, params, balance, random_state,
                                           training.target.cutoff)
    except MarketLensError:
        raise
    except Exception as exc:  # noqa: BLE001 - one model failing must not stop the others
        res.error = f"{spec.name} could not be trained on this data ({type(exc).__name__}: {exc})."
        res.seconds = time.perf_counter() - t_start
        return res
    res.auc_folds = [round(a, 6) for a in aucs]
    if aucs:
        res.auc_mean, res.auc_std = float(np.mean(aucs)), float(np.std(aucs))
        res.average_precision, res.ap_std = float(np.mean(aps)), float(np.std(aps))
    else:
        res.notes.append("No test fold had both classes, so ROC AUC is not defined.")
    if skipped and aucs:
        res.notes.append(f"{skipped} of {len(folds)} test folds had only one class; AUC is over the other "
                         f"{len(aucs)}.")
    res.log_loss = float(np.mean(losses))
    res.oof_scores = oof
    seen = ~np.isnan(oof)  # every user with the built-in folds; custom folds may leave some out
    if 0 < y[seen].sum() < seen.sum():
        res.auc_pooled = float(roc_auc_score(y[seen], oof[seen]))
        res.roc = roc_points(y[seen], oof[seen])
        res.pr = pr_points(y[seen], oof[seen])
    if res.train_rows < max(len(tr) for tr, _ in folds):
        res.sample_note = (f"{spec.name} trained on a sample of {res.train_rows:,} of the "
                           f"{max(len(tr) for tr, _ in folds):,} users in each training fold "
                           f"({spec.why_sample}); its scores cover all {len(y):,} users.")
    res.seconds = time.perf_counter() - t_start
    return res


def _out_of_time(key: str, oot: tuple, Xp_test: pd.DataFrame, y_test: np.ndarray, kinds: dict, params: dict | None,
                 balance: bool, random_state: int, test_cutoff: datetime) -> OutOfTimeResult:
    from sklearn.metrics import average_precision_score, roc_auc_score

    Xo, yo, train_cutoff = oot
    idx = _cap(key, np.arange(len(yo)), yo, random_state)
    pipe = make_pipeline(key, kinds, n_train=len(idx), params=params, balance_classes=balance,
                         random_state=random_state)
    _fit(pipe, Xo.iloc[idx], yo[idx])
    p = _positive_scores(pipe, Xp_test, MODELS[key].name)
    auc = ap = None
    note = ""
    if 0 < y_test.sum() < len(y_test):
        auc, ap = float(roc_auc_score(y_test, p)), float(average_precision_score(y_test, p))
    else:
        note = "The later period has only one class, so its AUC is not defined."
    return OutOfTimeResult(train_cutoff=train_cutoff, test_cutoff=test_cutoff, n_train=len(idx), n_test=len(y_test),
                           auc=auc, average_precision=ap, note=note)


def model_threads() -> int:
    """Threads a model may use: ``MARKETLENS_MODEL_THREADS``, default all cores."""
    return _env_threads() or max(1, os.cpu_count() or 1)


def _env_threads() -> int:
    raw = os.environ.get("MARKETLENS_MODEL_THREADS", "").strip()
    try:
        return max(0, int(raw)) if raw else 0
    except ValueError:
        return 0


def _thread_limits(n_rows: int) -> dict[str, int]:
    # OpenMP (HistGradientBoosting) threads cost more than they save on small data,
    # and spin-waiting threads on a busy machine can make a fit several times slower.
    # BLAS (logistic regression, MLP, kNN distances) gains little from threads on
    # these narrow tables and suffers the same way; the forest and kNN get their
    # parallelism from joblib instead.
    return {"openmp": (_env_threads() or 1) if n_rows >= OPENMP_MIN_ROWS else 1, "blas": 1}


def _fit(pipe, X: pd.DataFrame, y: np.ndarray) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    # The MLP and LR may stop at max_iter with a still-useful model; the CV scores
    # say how useful, the warning would only alarm.
    with warnings.catch_warnings(), threadpool_limits(_thread_limits(len(y))):
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)


def _positive_scores(pipe, X: pd.DataFrame, name: str) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(_thread_limits(len(X))):
        p = pipe.predict_proba(X)[:, 1].astype(float)
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} produced {int((~np.isfinite(p)).sum())} empty scores")
    return np.clip(p, 0.0, 1.0)


def _folds(y: np.ndarray, n_folds: int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    return list(skf.split(np.zeros(len(y)), y))


def _cap(key: str, idx: np.ndarray, y: np.ndarray, random_state: int) -> np.ndarray:
    """Positions to fit on: all of ``idx``, or a stratified sample for the slow models."""
    cap = SAMPLE_CAPS.get(key)
    if cap is None or len(idx) <= cap:
        return idx
    return idx[stratified_sample(y[idx], cap, random_state)]


def _check_models(models: Sequence[str]) -> list[str]:
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    keys = list(dict.fromkeys(models))
    if not keys:
        raise InvalidParameterError(f"Pick at least one model ({', '.join(MODELS)}).")
    for k in keys:
        _spec(k)
    return keys


def _check_oot(training: TrainingSet, earlier: TrainingSet) -> None:
    missing = [c for c in training.X.columns if c not in earlier.X.columns]
    if missing:
        raise InvalidParameterError(f"The out-of-time set lacks features {', '.join(missing)}; build it from the same "
                                    "dataset and feature settings.")
    if earlier.target.cutoff and training.target.cutoff and earlier.target.window_end \
            and earlier.target.window_end > training.target.cutoff:
        raise InvalidParameterError(
            f"The out-of-time training window ends {earlier.target.window_end:%Y-%m-%d}, after the cutoff "
            f"{training.target.cutoff:%Y-%m-%d} it is tested on; it must end at or before it.")
    check_classes(earlier.y, 2, earlier.target)


# --- a deeper look at one model ------------------------------------------------------------------


def roc_points(y: np.ndarray, scores: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> Curve:
    """ROC curve (false positive rate, true positive rate), thinned to ``max_points``."""
    from sklearn.metrics import roc_curve

    y, scores = _check_scores(y, scores)
    fpr, tpr, _ = roc_curve(y, scores)
    return Curve(*_thin(fpr, tpr, max_points))


def pr_points(y: np.ndarray, scores: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> Curve:
    """Precision-recall curve (x = recall, y = precision), thinned to ``max_points``."""
    from sklearn.metrics import precision_recall_curve

    y, scores = _check_scores(y, scores)
    precision, recall, _ = precision_recall_curve(y, scores)
    order = np.argsort(recall, kind="stable")
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
    y, scores = _check_scores(y, scores)
    depth_n, cum_pos = _cumulative(y, scores)
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
    y, scores = _check_scores(y, scores, need_both=False)
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
    y, scores = _check_scores(y, scores, need_both=False)
    pred = scores >= threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    tn = int((~pred & (y == 0)).sum())
    return ConfusionResult(threshold=float(threshold), tn=tn, fp=fp, fn=fn, tp=tp,
                           precision=tp / (tp + fp) if tp + fp else None,
                           recall=tp / (tp + fn) if tp + fn else None,
                           accuracy=(tp + tn) / len(y), contacted=tp + fp)


@dataclass
class ImportanceResult:
    """Permutation importance: how much the held-out ROC AUC drops when one feature is shuffled."""

    table: pd.DataFrame  # feature, importance, std (sorted, largest first)
    baseline_auc: float
    n_rows: int
    n_repeats: int
    note: str


def permutation_importance_report(training: TrainingSet, key: str, *, params: dict | None = None,
                                  n_repeats: int = 5, max_rows: int = 10_000, test_size: float = 0.25,
                                  balance_classes: bool = True, random_state: int = 0) -> ImportanceResult:
    """Permutation feature importance of one model on a held-out split.

    The model is fitted on a stratified ``1 - test_size`` share (sampled like in
    cross-validation for the slow models) and each feature column is shuffled
    ``n_repeats`` times in at most ``max_rows`` held-out users. A text feature is
    shuffled as one column (not per one-hot value).

    Returns
    -------
    ImportanceResult
        ``table`` has ``feature``, ``importance`` (mean AUC drop) and ``std``.
    """
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import roc_auc_score

    _spec(key)
    if not 1 <= n_repeats <= 50:
        raise InvalidParameterError(f"n_repeats must be between 1 and 50, got {n_repeats}.")
    if not 0.05 <= test_size <= 0.5:
        raise InvalidParameterError(f"test_size must be between 0.05 and 0.5, got {test_size}.")
    check_classes(training.y, 2, training.target)
    tr, te = _holdout(training.y, test_size, random_state)
    kinds = feature_kinds(training.X)
    Xp = prepare_features(training.X, kinds)
    fit_idx = _cap(key, tr, training.y, random_state)
    pipe = make_pipeline(key, kinds, n_train=len(fit_idx), params=params, balance_classes=balance_classes,
                         random_state=random_state)
    _fit(pipe, Xp.iloc[fit_idx], training.y[fit_idx])
    if len(te) > max_rows:
        te = te[stratified_sample(training.y[te], max_rows, random_state)]
    Xt, yt = Xp.iloc[te], training.y[te]
    base = float(roc_auc_score(yt, _positive_scores(pipe, Xt, MODELS[key].name)))
    r = permutation_importance(pipe, Xt, yt, scoring="roc_auc", n_repeats=n_repeats, random_state=random_state)
    table = pd.DataFrame({"feature": list(Xt.columns), "importance": r.importances_mean,
                          "std": r.importances_std}).sort_values("importance", ascending=False, kind="stable")
    note = (f"Drop in ROC AUC (from {base:.3f}) when one feature is shuffled, over {n_repeats} shuffles of "
            f"{len(te):,} held-out users. Near 0: the model does not rely on it (or another feature carries "
            "the same information).")
    return ImportanceResult(table=table.reset_index(drop=True), baseline_auc=base, n_rows=len(te),
                            n_repeats=n_repeats, note=note)


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
    seg = _segment_lookup(segments, training.user_ids)
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
                     "note": "" if both else ("all users are positive" if pos else "no positive user")
                     + ": ranking quality is not defined here"})
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


def learning_curve_report(training: TrainingSet, key: str, *, fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
                          n_folds: int = 3, max_rows: int = 60_000, params: dict | None = None,
                          balance_classes: bool = True, random_state: int = 0) -> LearningCurveResult:
    """AUC against training size, with a plain sentence on whether more data would help.

    For each of ``n_folds`` stratified folds the model is fitted on growing
    stratified shares (``fractions``) of the training part and scored on the
    test part. Large data is first reduced to a stratified sample of
    ``max_rows`` users; slow models stop at their sample cap.

    Returns
    -------
    LearningCurveResult
    """
    from sklearn.metrics import roc_auc_score

    _spec(key)
    fr = sorted({float(f) for f in fractions})
    if not fr or fr[0] <= 0 or fr[-1] > 1 or len(fr) < 2:
        raise InvalidParameterError(f"fractions must be at least two shares in (0, 1], got {list(fractions)}.")
    check_classes(training.y, n_folds, training.target)
    y_all = training.y
    rows = stratified_sample(y_all, max_rows, random_state) if len(y_all) > max_rows else np.arange(len(y_all))
    kinds = feature_kinds(training.X)
    Xp = prepare_features(training.X.iloc[rows], kinds)
    y = y_all[rows]
    cap = SAMPLE_CAPS.get(key)
    folds = _folds(y, n_folds, random_state)
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
    for j, (tr, te) in enumerate(folds):
        for i, n in enumerate(sizes):
            sub = tr[stratified_sample(y[tr], n, random_state + j, min_per_class=2)] if n < len(tr) else tr
            if y[sub].min() == y[sub].max():
                continue
            pipe = make_pipeline(key, kinds, n_train=len(sub), params=params, balance_classes=balance_classes,
                                 random_state=random_state)
            _fit(pipe, Xp.iloc[sub], y[sub])
            tr_auc[i, j] = roc_auc_score(y[sub], _positive_scores(pipe, Xp.iloc[sub], key))
            va_auc[i, j] = roc_auc_score(y[te], _positive_scores(pipe, Xp.iloc[te], key))
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


# --- tuning ------------------------------------------------------------------------------------


def search_space(key: str) -> dict[str, Any]:
    """The hyperparameters :func:`tune_model` samples for a model (lists or scipy distributions)."""
    from scipy.stats import loguniform, randint

    _spec(key)
    return {
        "nb": {"var_smoothing": loguniform(1e-11, 1e-3)},
        "lr": {"C": loguniform(1e-3, 1e2)},
        "tree": {"max_depth": randint(2, 16), "min_samples_leaf": [1, 5, 10, 20, 50, 100]},
        "hgb": {"learning_rate": loguniform(0.02, 0.3), "max_leaf_nodes": [7, 15, 31, 63],
                "min_samples_leaf": [10, 20, 50, 100], "l2_regularization": loguniform(1e-4, 10)},
        "rf": {"max_depth": [6, 10, 14, 20], "min_samples_leaf": [1, 3, 5, 10, 20],
               "max_features": ["sqrt", 0.3, 0.5]},
        "knn": {"n_neighbors": [5, 10, 25, 50, 100], "weights": ["uniform", "distance"]},
        "mlp": {"hidden_layer_sizes": [(16,), (32,), (32, 16), (64, 32)], "alpha": loguniform(1e-5, 1e-1),
                "learning_rate_init": loguniform(1e-4, 1e-2)},
        "svm": {"estimator__C": loguniform(0.1, 100), "estimator__gamma": loguniform(1e-3, 1)},
    }[key]


@dataclass
class TuningResult:
    """Randomized search of one model's hyperparameters, bounded in time."""

    key: str
    name: str
    auc_before: float
    auc_before_std: float
    auc_after: float
    auc_after_std: float
    best_params: dict
    improved: bool
    candidates: int
    seconds: float
    stopped_by_time: bool
    n_users: int
    trials: pd.DataFrame
    note: str


def tune_model(training: TrainingSet, key: str, *, time_budget_s: float = 60.0, max_candidates: int = 30,
               n_folds: int = 5, max_rows: int = 100_000, balance_classes: bool = True, random_state: int = 0,
               progress: Callable[[int, float], None] | None = None) -> TuningResult:
    """Time-bounded randomized search inside the same stratified CV.

    The default parameters are evaluated first ("before"), then random
    candidates from :func:`search_space` until ``max_candidates`` are tried or
    the next one would likely end after ``time_budget_s`` (estimated from the
    slowest so far). Every candidate uses the same folds, the same ones as
    :func:`iter_train` with this ``random_state`` on data of up to ``max_rows``
    users (a stratified sample beyond that, for before and after alike).

    Parameters
    ----------
    time_budget_s : float
        Soft limit in seconds (5 to 3600); the default parameters always run.
    progress : callable, optional
        ``progress(candidates_done, seconds_elapsed)``.

    Returns
    -------
    TuningResult
        ``best_params`` is empty when no candidate beat the defaults.
    """
    from sklearn.model_selection import ParameterSampler

    spec = _spec(key)
    if not 5 <= float(time_budget_s) <= 3600:
        raise InvalidParameterError(f"The time budget must be between 5 and 3600 seconds, got {time_budget_s}.")
    if not 1 <= max_candidates <= 500:
        raise InvalidParameterError(f"max_candidates must be between 1 and 500, got {max_candidates}.")
    check_classes(training.y, n_folds, training.target)
    t0 = time.perf_counter()
    ts = training
    if training.n_users > max_rows:
        idx = stratified_sample(training.y, max_rows, random_state)
        ts = replace(training, X=training.X.iloc[idx].reset_index(drop=True), y=training.y[idx],
                     user_ids=training.user_ids[idx])
    kinds = feature_kinds(ts.X)
    Xp = prepare_features(ts.X, kinds)
    folds = _folds(ts.y, n_folds, random_state)

    def evaluate(params: dict | None) -> ModelResult:
        return _cross_validate(key, Xp, ts, kinds, folds, params, balance_classes, random_state, None, None)

    base = evaluate(None)
    if base.error or base.auc_mean is None:
        raise InvalidParameterError(f"{spec.name} cannot be tuned on this data: "
                                    f"{base.error or 'its AUC is not defined'}")
    trials = [{"params": "defaults", "ROC AUC": round(base.auc_mean, 4), "std": round(base.auc_std or 0, 4),
               "seconds": round(base.seconds, 2)}]
    best, best_params, slowest = base, {}, base.seconds
    stopped = False
    sampler = ParameterSampler(search_space(key), n_iter=max_candidates, random_state=random_state)
    for cand in sampler:
        elapsed = time.perf_counter() - t0
        if elapsed + slowest > time_budget_s:
            stopped = True
            break
        cand = {k: _py(v) for k, v in cand.items()}
        r = evaluate(cand)
        slowest = max(slowest, r.seconds)
        trials.append({"params": json.dumps(json_safe(cand)), "ROC AUC": _r(r.auc_mean, 4),
                       "std": _r(r.auc_std, 4), "seconds": round(r.seconds, 2)})
        if r.ok and r.auc_mean > best.auc_mean:
            best, best_params = r, cand
        if progress:
            progress(len(trials) - 1, time.perf_counter() - t0)
    improved = bool(best_params)
    tried = len(trials) - 1
    gain = best.auc_mean - base.auc_mean
    if improved:
        note = (f"{tried} settings tried in {time.perf_counter() - t0:.0f} s; the best raised ROC AUC by {gain:.3f}. "
                "It is the best of several tries on the same folds, so expect slightly less on new data.")
    else:
        note = f"{tried} settings tried in {time.perf_counter() - t0:.0f} s; none beat the defaults, keep them."
    if ts is not training:
        note += f" Tuned on a sample of {ts.n_users:,} of {training.n_users:,} users."
    return TuningResult(key=key, name=spec.name, auc_before=base.auc_mean, auc_before_std=base.auc_std or 0.0,
                        auc_after=best.auc_mean, auc_after_std=best.auc_std or 0.0, best_params=best_params,
                        improved=improved, candidates=tried, seconds=time.perf_counter() - t0,
                        stopped_by_time=stopped, n_users=ts.n_users, trials=pd.DataFrame(trials), note=note)


# --- money -------------------------------------------------------------------------------------


@dataclass
class ProfitCurve:
    """Campaign profit when contacting the top share of users by score.

    ``profit = value_per_conversion * positives reached - cost_per_contact * contacted``.
    It counts every positive reached as earned by the campaign (no uplift
    model: people who would have bought anyway count too), so read it as an
    upper bound of the campaign's effect.
    """

    depth_pct: np.ndarray  # share of users contacted, 0..100
    contacted: np.ndarray
    conversions: np.ndarray
    profit: np.ndarray
    best_depth_pct: float
    best_contacted: int
    best_conversions: int
    best_profit: float
    cost_per_contact: float
    value_per_conversion: float
    n_users: int
    note: str


def profit_curve(y: np.ndarray, scores: np.ndarray, cost_per_contact: float, value_per_conversion: float,
                 max_points: int = 201) -> ProfitCurve:
    """Profit over targeting depth (top x % by score) and the most profitable depth.

    The best depth is found exactly over every possible cut (users with equal
    scores are contacted together); the returned curve is thinned to
    ``max_points`` for drawing. Contacting nobody (depth 0, profit 0) is a
    candidate: when no depth makes money, the best depth is 0.

    Parameters
    ----------
    y : array of 0/1
        Who converted (e.g. the training labels).
    scores : array
        Scores of the same users (e.g. out-of-fold scores).
    cost_per_contact, value_per_conversion : float
        Money per contacted user and per conversion (>= 0, same currency).
    """
    for name, v in (("cost_per_contact", cost_per_contact), ("value_per_conversion", value_per_conversion)):
        if not (isinstance(v, (int, float, np.number)) and np.isfinite(v) and v >= 0):
            raise InvalidParameterError(f"{name} must be a number of 0 or more, got {v!r}.")
    y, scores = _check_scores(y, scores, need_both=False)
    n_at, pos_at = _cumulative(y, scores)
    profit = value_per_conversion * pos_at - cost_per_contact * n_at
    best = int(np.argmax(profit))  # first maximum: the smallest depth reaching the best profit
    keep = np.unique(np.r_[np.round(np.linspace(0, len(n_at) - 1, max_points)).astype(int), best])
    depth = 100.0 * n_at / len(y)
    note = (f"Best: contact the top {depth[best]:.1f}% ({int(n_at[best]):,} users), expected "
            f"{int(pos_at[best]):,} conversions, profit {profit[best]:,.2f}." if n_at[best] > 0 else
            "No targeting depth makes a profit at these costs: contacting nobody is best.")
    return ProfitCurve(depth_pct=depth[keep], contacted=n_at[keep].astype(int), conversions=pos_at[keep].astype(int),
                       profit=profit[keep], best_depth_pct=float(depth[best]), best_contacted=int(n_at[best]),
                       best_conversions=int(pos_at[best]), best_profit=float(profit[best]),
                       cost_per_contact=float(cost_per_contact), value_per_conversion=float(value_per_conversion),
                       n_users=len(y), note=note)


def target_list(scored: pd.DataFrame, segments: pd.Series | pd.DataFrame | dict | None = None, *,
                top_pct: float | None = None) -> pd.DataFrame:
    """Users ranked by score: ``user_id, score, rank, segment``.

    Parameters
    ----------
    scored : DataFrame
        ``user_id`` and ``score`` (the output of :func:`score`).
    segments : Series, DataFrame or dict, optional
        user_id -> segment (see :func:`segment_performance`); empty text when absent.
    top_pct : float, optional
        Keep only the top share, in percent (e.g. ``ProfitCurve.best_depth_pct``).

    Returns
    -------
    DataFrame
        Rank 1 is the highest score; equal scores are ordered by user_id.
        Write it with :func:`target_list_csv`.
    """
    if not {"user_id", "score"} <= set(scored.columns):
        raise InvalidParameterError(f"The scored table needs 'user_id' and 'score'; it has "
                                    f"{', '.join(map(str, scored.columns))}.")
    if top_pct is not None and not 0 <= float(top_pct) <= 100:
        raise InvalidParameterError(f"top_pct must be between 0 and 100, got {top_pct}.")
    out = pd.DataFrame({"user_id": scored["user_id"].astype(str).to_numpy(dtype=object),
                        "score": pd.to_numeric(scored["score"], errors="coerce").to_numpy(dtype=float)})
    out = out.sort_values(["score", "user_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["segment"] = (_segment_lookup(segments, out["user_id"].to_numpy(), missing="") if segments is not None
                      else "")
    if top_pct is not None:
        out = out.head(int(np.ceil(len(out) * float(top_pct) / 100 - 1e-9)))
    return out


def target_list_csv(targets: pd.DataFrame) -> bytes:
    """The ranked target list as formula-safe CSV bytes (see :mod:`analytics.exports`)."""
    from analytics.exports import frame_bytes

    return frame_bytes(targets, "csv")


# --- final model, save, load, score ------------------------------------------------------------


@dataclass
class TrainedModel:
    """A pipeline fitted on a whole training set, with what is needed to reuse it.

    Attributes
    ----------
    pipeline : sklearn Pipeline
    key, name : str
    feature_kinds : dict
        Feature columns (in order) -> ``"number"``/``"text"``.
    target : dict
        ``TargetDefinition.to_dict()`` of the training set.
    feature_params : dict
        ``FeatureParams.to_dict()``: compute features of new data with these
        (except ``as_of``).
    cv_metrics : dict
        ``ModelResult.metrics()`` of its cross-validation, if given.
    training : dict
        Users, positives, data fingerprint, dataset id, source file hash, sample note.
    params : dict
        Hyperparameters set explicitly.
    versions : dict
        Library versions it was fitted with.
    created_at : str
        ISO time (UTC).
    """

    pipeline: Any
    key: str
    name: str
    feature_kinds: dict[str, str]
    target: dict
    feature_params: dict
    cv_metrics: dict
    training: dict
    params: dict
    versions: dict
    created_at: str

    @property
    def features(self) -> list[str]:
        return list(self.feature_kinds)

    def metadata(self) -> dict:
        """What :func:`save_model` writes to ``metadata.json``."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "model": self.key, "model_name": self.name,
                "created_at": self.created_at,
                "features": [{"name": c, "kind": k} for c, k in self.feature_kinds.items()],
                "target": json_safe(self.target), "feature_params": json_safe(self.feature_params),
                "params": json_safe(self.params), "cv_metrics": json_safe(self.cv_metrics),
                "training": json_safe(self.training), "versions": self.versions}

    def feature_overrides(self) -> dict:
        """Feature settings to compute new data with, e.g. ``ws.feature_params(id, **model.feature_overrides())``.

        Everything the model was trained with except ``as_of`` (the date to score at is yours).
        """
        return {k: v for k, v in self.feature_params.items() if k != "as_of"}

    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        """Shortcut for :func:`score` with this model."""
        return score(self, features)


def fit_model(training: TrainingSet, key: str, *, params: dict | None = None, cv_result: ModelResult | None = None,
              balance_classes: bool = True, random_state: int = 0) -> TrainedModel:
    """Fit one model on the whole training set (slow models: on their capped sample).

    Parameters
    ----------
    training : TrainingSet
    key : str
    params : dict, optional
        Hyperparameters (e.g. ``TuningResult.best_params``); default: ``cv_result.params``.
    cv_result : ModelResult, optional
        Its cross-validation result; its metrics go into the metadata.
    balance_classes, random_state
        As in :func:`iter_train` (use the same to get the model that was evaluated).

    Returns
    -------
    TrainedModel
    """
    spec = _spec(key)
    check_classes(training.y, 2, training.target)
    if cv_result is not None and cv_result.key != key:
        raise InvalidParameterError(f"The cross-validation result is for '{cv_result.key}', not '{key}'.")
    params = dict(params if params is not None else (cv_result.params if cv_result else {}))
    kinds = feature_kinds(training.X)
    Xp = prepare_features(training.X, kinds)
    idx = _cap(key, np.arange(training.n_users), training.y, random_state)
    pipe = make_pipeline(key, kinds, n_train=len(idx), params=params, balance_classes=balance_classes,
                         random_state=random_state)
    t0 = time.perf_counter()
    _fit(pipe, Xp.iloc[idx], training.y[idx])
    fp = training.feature_params
    return TrainedModel(
        pipeline=pipe, key=key, name=spec.name, feature_kinds=kinds, target=training.target.to_dict(),
        feature_params=fp.to_dict() if fp is not None else {}, cv_metrics=cv_result.metrics() if cv_result else {},
        training={"users": training.n_users, "positives": training.positives,
                  "positive_rate": round(training.positive_rate, 6), "fitted_on": len(idx),
                  "fit_seconds": round(time.perf_counter() - t0, 3), "balance_classes": balance_classes,
                  "random_state": random_state, "data_fingerprint": training.fingerprint(),
                  "dataset_id": training.dataset_id, "source_hash": training.source_hash},
        params=params, versions=library_versions(), created_at=datetime.now(UTC).isoformat())


def save_model(model: TrainedModel, directory: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model.skops`` (skops format, never pickle) and ``metadata.json`` into ``directory``.

    Parameters
    ----------
    model : TrainedModel
    directory : path
        Created if needed; must be empty unless ``overwrite``.
    overwrite : bool
        Replace a model already saved there.

    Returns
    -------
    Path
        The directory.
    """
    import skops.io as sio

    if not isinstance(model, TrainedModel):
        raise InvalidParameterError(f"save_model needs a TrainedModel (from fit_model), got {type(model).__name__}.")
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise InvalidParameterError(f"'{d}' is a file, not a folder; choose a folder for the model.")
    if d.is_dir() and any(d.iterdir()) and not overwrite:
        raise InvalidParameterError(f"The folder '{d}' is not empty; choose a new folder or allow overwriting.")
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (MODEL_FILE + ".tmp")
    sio.dump(model.pipeline, tmp)
    digest = _sha256(tmp)
    os.replace(tmp, d / MODEL_FILE)
    meta = model.metadata() | {"model_file": MODEL_FILE, "model_sha256": digest}
    tmp_meta = d / (META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=False))
    os.replace(tmp_meta, d / META_FILE)
    return d


def read_metadata(directory: str | Path) -> dict:
    """The ``metadata.json`` of a saved model (cheap: for listing saved models).

    Raises
    ------
    ModelCompatibilityError
        No model there, or the metadata is unreadable.
    """
    d = Path(directory)
    path = d / META_FILE
    if not path.is_file() or not (d / MODEL_FILE).is_file():
        raise ModelCompatibilityError(f"There is no saved MarketLens model in '{d}' (expected {MODEL_FILE} and "
                                      f"{META_FILE}).")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelCompatibilityError(f"The model description in '{d}' cannot be read ({exc}); save the model "
                                      "again.") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelCompatibilityError(f"'{d}' does not hold a MarketLens model.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelCompatibilityError(f"The model in '{d}' was saved in format version {meta.get('format_version')}, "
                                      f"this MarketLens reads version {FORMAT_VERSION}; train it again.")
    return meta


def load_model(directory: str | Path) -> TrainedModel:
    """Load a model saved with :func:`save_model`, refusing anything that cannot be trusted or used.

    The file is checked before it is loaded: same scikit-learn version as
    here, unchanged since saving (SHA-256 in the metadata), and containing only
    the types listed in :data:`TRUSTED_TYPES` (skops is told to trust exactly
    those, never everything).

    Raises
    ------
    ModelCompatibilityError
        With a message saying what differs and what to do.
    """
    import sklearn
    import skops.io as sio

    d = Path(directory)
    meta = read_metadata(d)
    saved = (meta.get("versions") or {}).get("scikit-learn")
    if saved != sklearn.__version__:
        raise ModelCompatibilityError(
            f"This model was saved with scikit-learn {saved} but this installation has {sklearn.__version__}. "
            "A model can score differently (or not load) under another version, so it is refused. Train it again "
            f"here, or use it where scikit-learn {saved} is installed.")
    path = d / MODEL_FILE
    if _sha256(path) != meta.get("model_sha256"):
        raise ModelCompatibilityError(f"The model file in '{d}' has changed since it was saved (it does not match its "
                                      "description); it is refused. Save the model again.")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same answer
        raise ModelCompatibilityError(f"The model file in '{d}' cannot be read ({type(exc).__name__}).") from exc
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelCompatibilityError(
            f"The model file in '{d}' contains object types MarketLens does not load ({', '.join(unexpected[:5])}); "
            "it was not made by MarketLens or has been altered, so it is refused.")
    try:
        pipe = sio.load(path, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise ModelCompatibilityError(f"The model file in '{d}' cannot be loaded ({type(exc).__name__}: {exc}).") \
            from exc
    return TrainedModel(
        pipeline=pipe, key=meta["model"], name=meta.get("model_name", meta["model"]),
        feature_kinds={f["name"]: f["kind"] for f in meta["features"]}, target=meta.get("target", {}),
        feature_params=meta.get("feature_params", {}), cv_metrics=meta.get("cv_metrics", {}),
        training=meta.get("training", {}), params=meta.get("params", {}), versions=meta.get("versions", {}),
        created_at=meta.get("created_at", ""))


def score(model: TrainedModel | str | Path, features: pd.DataFrame) -> pd.DataFrame:
    """Score users with a fitted or saved model.

    Parameters
    ----------
    model : TrainedModel or path
        A model from :func:`fit_model`/:func:`load_model`, or the folder of a saved one.
    features : DataFrame
        ``user_id`` and the model's feature columns, computed like at training
        (``TrainedModel.feature_params``, ``as_of`` = the date to score at);
        extra columns are ignored.

    Returns
    -------
    DataFrame
        ``user_id`` and ``score`` (0..1, higher = more likely positive), in the
        order of ``features``.

    Raises
    ------
    ModelCompatibilityError
        A feature the model needs is missing (or the saved model is refused).
    """
    if not isinstance(model, TrainedModel):
        model = load_model(model)
    if not isinstance(features, pd.DataFrame):
        raise InvalidParameterError(f"features must be a table (DataFrame), got {type(features).__name__}.")
    if "user_id" not in features.columns:
        raise InvalidParameterError("The feature table has no 'user_id' column.")
    missing = [c for c in model.feature_kinds if c not in features.columns]
    if missing:
        raise ModelCompatibilityError(
            f"The new data lacks {len(missing)} feature{'s' if len(missing) > 1 else ''} the model was trained on: "
            f"{', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}. This happens when an event type or "
            "attribute is absent from the new log or named differently. Score data with the same events and "
            "attributes, or train a new model on it.")
    if features.empty:
        return pd.DataFrame({"user_id": pd.Series([], dtype=object), "score": pd.Series([], dtype=float)})
    Xp = prepare_features(features, model.feature_kinds)
    p = _positive_scores(model.pipeline, Xp, model.name)
    return pd.DataFrame({"user_id": features["user_id"].astype(str).to_numpy(dtype=object), "score": p})


def library_versions() -> dict:
    """Versions of the libraries a saved model depends on."""
    import scipy
    import sklearn
    import skops

    return {"scikit-learn": sklearn.__version__, "skops": skops.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__, "python": platform.python_version(),
            "marketlens": _marketlens_version()}


# Types skops does not trust by default that the zoo's pipelines contain; a file
# with any other untrusted type is refused. Checked by tests against every model.
# functools.partial is safe to list: skops checks the function it wraps as a type
# of its own, and the only one listed is check_array (HistGradientBoosting's
# categorical preprocessing stores partial(check_array, ...)).
TRUSTED_TYPES: tuple[str, ...] = (
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.tree._tree.Tree",
)


# --- helpers -----------------------------------------------------------------------------------


def _check_scores(y: np.ndarray, scores: np.ndarray, need_both: bool = True) -> tuple[np.ndarray, np.ndarray]:
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


def _cumulative(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _holdout(y: np.ndarray, test_size: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y, random_state=random_state)
    return np.sort(tr), np.sort(te)


def _segment_lookup(segments: pd.Series | pd.DataFrame | dict, user_ids: np.ndarray,
                    missing: str = "(no segment)") -> np.ndarray:
    if isinstance(segments, pd.DataFrame):
        if "user_id" not in segments.columns:
            raise InvalidParameterError("The segment table needs a 'user_id' column.")
        others = [c for c in segments.columns if c != "user_id"]
        col = "segment" if "segment" in others else (others[0] if len(others) == 1 else None)
        if col is None:
            raise InvalidParameterError(f"The segment table needs a 'segment' column; it has "
                                        f"{', '.join(map(str, segments.columns))}.")
        mapping = pd.Series(segments[col].to_numpy(), index=segments["user_id"].astype(str))
    elif isinstance(segments, dict):
        mapping = pd.Series(segments)
        mapping.index = mapping.index.astype(str)
    elif isinstance(segments, pd.Series):
        mapping = segments.copy()
        mapping.index = mapping.index.astype(str)
    else:
        raise InvalidParameterError(f"Segments must be a Series, a dict or a table, got {type(segments).__name__}.")
    mapping = mapping[~mapping.index.duplicated()]
    out = mapping.reindex(pd.Index(np.asarray(user_ids).astype(str)))
    return out.astype(object).where(out.notna(), missing).astype(str).to_numpy(dtype=object)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _marketlens_version() -> str:
    try:
        import tomllib

        with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "unknown"


def _r(v: float | None, digits: int = 6) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), digits)


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v



__all__ = ["DEFAULT_MODELS", "MODELS", "SAMPLE_CAPS", "TRUSTED_TYPES", "CalibrationCurve", "ConfusionResult", "Curve",
           "GainLift", "ImportanceResult", "LearningCurveResult", "ModelCompatibilityError", "ModelReport",
           "ModelResult", "OutOfTimeResult", "ProfitCurve", "TrainedModel", "TuningResult", "available_models",
           "calibration", "confusion_at", "feature_kinds", "fit_model", "gain_lift", "iter_train",
           "learning_curve_report", "library_versions", "load_model", "make_pipeline", "metrics_table",
           "permutation_importance_report", "prepare_features", "profit_curve", "read_metadata", "roc_points",
           "pr_points", "save_model", "score", "search_space", "segment_performance", "target_list",
           "target_list_csv", "train_models", "tune_model"]

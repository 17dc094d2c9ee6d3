"""Classifiers: the zoo of models, each a scikit-learn Pipeline, and how features enter them.
Each model is a scikit-learn :class:`~sklearn.pipeline.Pipeline`
``prep -> clf``; ``prep`` is fitted inside each fold, never on the test fold:

========  ==============================  =====  ============  ==========================
key       model                           scale  class weight  trains on at most
========  ==============================  =====  ============  ==========================
``nb``    Gaussian naive Bayes            yes    no (priors)   all users
``lr``    logistic regression             yes    balanced      all users
``tree``  decision tree (depth 8)         no     balanced      all users
``hgb``   HistGradientBoosting            no     no            all users
``rf``    random forest (see below)       no     balanced      100,000 (20,000 per tree)
``knn``   k-nearest neighbours (k=25)     yes    no            20,000 users
``mlp``   neural network (32-16, ReLU)    yes    no            20,000 users
``svm``   SVM, RBF kernel, Platt scores   yes    balanced      5,000 users
========  ==============================  =====  ============  ==========================

Two more keys read each user's events instead of (or beside) the aggregates:
``seq`` ("Sequence network": a GRU over the most recent 200 events up to the
cutoff) and ``agg+seq`` ("Aggregates + sequence": gradient boosting on the
features plus the network's cross-fitted score; its networks train on at
most 20,000 users of a fold like ``seq``, the booster on all). They need PyTorch
(``requirements-deep.txt``), the events of the dataset, and are never in
:data:`DEFAULT_MODELS`; see :mod:`analytics.sequences.propensity` for how they
are trained on the same folds without any test label reaching them.

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
Gradient boosting never takes class weights: with any sample weights,
scikit-learn (1.9) bins every feature with one weighted-percentile sort per bin
edge, which made 5-fold CV four times slower (39 vs 10 CPU-seconds on the
10M-event benchmark log's 149k users x 22 features) for the same AUC (0.92807
both ways); its scores are then plain probabilities. The
forest and logistic regression keep them: same cost, and they gain AUC there
(+0.002 and +0.0007).

Sizes, chosen so that 5-fold CV of LR + RF + HGB stays cheap on big logs: on
the 10M-event benchmark log's 149k users it takes about 31 CPU-seconds, a third of what
100 trees and weighted boosting took (``bench/bench_models.py``,
``bench/bench_journey.py``):

- random forest: :data:`RF_TREES` (40) trees of depth <= 12 with leaves of >= 10 users; each tree
  draws a bootstrap of :data:`RF_MAX_SAMPLES` (20,000) users (``max_samples``)
  from a stratified pool of at most 100,000 users of the fold. A tree's cost
  grows with the rows it is *given*, not only with its bootstrap (about 0.03 s
  per tree on 40k rows, 0.12 s on 400k), hence the pool. On the 50k-user
  benchmark this costs 0.0007 AUC against 100 full-size trees of depth 14;
  60 trees instead of 100 cost 0.0003 AUC on the 10M-event log's 149k users
  for 40% less time, 40 instead of 60 another 0.0002-0.0004 (three fold seeds)
  for a third less (a smaller pool or bootstrap cost 0.001-0.003).
- HistGradientBoosting: 60 rounds at learning rate 0.15 (same AUC as 100 at
  0.1 on the benchmark), early stopping on a 10% split above 10,000 users
  (after 5 rounds without improvement).
- kernel SVM, kNN and the MLP train on samples (table above) because their
  cost grows with the square of the rows (SVM), with the training rows at
  every prediction (kNN) or with passes times rows (MLP).

A sampled model says so in ``ModelResult.sample_note``.

Threads: the forest and kNN run on ``MARKETLENS_MODEL_THREADS`` joblib threads
(default: all cores) when fitted once; in cross-validation the forest fits one
fold per thread instead (below). OpenMP (HistGradientBoosting) and BLAS (logistic
regression, MLP, distances) run on one thread, because their threads busy-wait
and, when other processes share the cores (the app's server, DuckDB, another
user), a fit becomes several times slower instead of faster; measured here on
a busy 2-core machine: HGB on 8,000 rows 12 s on 2 threads vs 0.4 s on one, on
400,000 rows 48 s vs 7 s; LR on 40,000 rows 1.1 s vs 0.14 s. On a dedicated
machine, setting ``MARKETLENS_MODEL_THREADS`` explicitly also gives
HistGradientBoosting that many threads from :data:`OPENMP_MIN_ROWS` rows on.
Models that fit on one thread get their parallelism from cross-validation
instead: their folds are fitted concurrently, one per thread
(:func:`analytics.models.fitting.fold_workers`), with the same scores as one
after another.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics import config
from analytics.errors import InvalidParameterError

RF_MAX_SAMPLES = 20_000

RF_TREES = 40

SAMPLE_CAPS: dict[str, int] = {"svm": 5_000, "knn": 20_000, "mlp": 20_000, "rf": 100_000, "seq": 20_000}

DEFAULT_MODELS: tuple[str, ...] = ("lr", "rf", "hgb")

MISSING_TEXT = "(none)"


# Below this many rows HistGradientBoosting runs on one OpenMP thread (see _openmp_threads).
OPENMP_MIN_ROWS = 100_000


@dataclass(frozen=True)
class ModelSpec:
    """How one kind of model is built and what it needs."""

    key: str
    name: str
    scale: bool
    class_weight: bool
    cost: int  # run order: cheapest first
    why_sample: str = ""
    sequence: bool = False  # reads event sequences (needs torch and the events), not only the feature table
    about: str = ""


MODELS: dict[str, ModelSpec] = {s.key: s for s in (
    ModelSpec("nb", "Naive Bayes", True, False, 0),
    ModelSpec("lr", "Logistic regression", True, True, 1),
    ModelSpec("tree", "Decision tree", False, True, 2),
    ModelSpec("hgb", "Gradient boosting", False, False, 3),
    ModelSpec("rf", "Random forest", False, True, 4,
              "each tree costs time in proportion to all the rows it is given, not just its own sample"),
    ModelSpec("knn", "k-nearest neighbours", True, False, 5,
              "every prediction compares a user with all training users"),
    ModelSpec("mlp", "Neural network (MLP)", True, False, 6,
              "training time grows with users times passes over the data"),
    ModelSpec("svm", "SVM (RBF kernel)", True, True, 7,
              "training time grows with the square of the number of users"),
    ModelSpec("seq", "Sequence network", False, False, 8, "every epoch passes over every event of every user",
              sequence=True,
              about="a recurrent network (GRU) reading each user's last 200 events in order: event type, product, "
                    "time since the previous event, amount, hour and weekday"),
    ModelSpec("agg+seq", "Aggregates + sequence", False, False, 9, sequence=True,
              about="gradient boosting on the aggregate features plus the sequence network's score (cross-fitted "
                    "inside each training fold): does the order of events add anything to the aggregates?"),
)}

AGGREGATE_MODELS: tuple[str, ...] = tuple(k for k, s in MODELS.items() if not s.sequence)
"""The models that learn from the feature table alone."""

SEQUENCE_MODELS: tuple[str, ...] = tuple(k for k, s in MODELS.items() if s.sequence)
"""The models that read each user's events in order (need PyTorch and the events)."""


def available_models() -> pd.DataFrame:
    """The zoo as a table for a model picker: key, name, whether it trains on a sample, what it reads."""
    rows = [{"key": s.key, "model": s.name, "class weights": s.class_weight,
             "trains on at most": f"{SAMPLE_CAPS[s.key]:,} users" if s.key in SAMPLE_CAPS else "all users",
             "reads": "event sequences" if s.sequence else "features"}
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
            out[col] = signed_log(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
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
    table = np.array([text_code(str(u)) for u in uniques], dtype=np.int64)
    return table[codes] if len(table) else np.zeros(len(values), dtype=np.int64)


@functools.lru_cache(maxsize=65_536)
def text_code(text: str) -> int:
    """The code of one text value (see :func:`text_codes`); kept for the values seen most recently."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=6).digest(), "big")


def signed_log(values: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)`` of float values, with infinities made empty (NaN)."""
    v = np.where(np.isfinite(values), values, np.nan)
    return np.sign(v) * np.log1p(np.abs(v))


def make_pipeline(key: str, kinds: dict[str, str], *, n_train: int, params: dict | None = None,
                  balance_classes: bool = True, random_state: int = 0, threads: int | None = None):
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
    threads : int, optional
        Joblib threads of the forest and kNN (default :func:`model_threads`; 1 for a
        cross-validation fold that already has a thread of its own).

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    spec = feature_model_spec(key)
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
    clf = _estimator(key, n_train, balance_classes, random_state, threads or model_threads())
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


def _estimator(key: str, n_train: int, balance: bool, random_state: int, threads: int):
    cw = "balanced" if balance and MODELS[key].class_weight else None
    if key == "nb":
        from sklearn.naive_bayes import GaussianNB
        return GaussianNB()
    if key == "lr":
        from sklearn.linear_model import LogisticRegression
        # Newton-Cholesky: many more users than columns, the case it is made for. On the 10M-event log's
        # 149k users 5-fold took half the time of lbfgs, and lbfgs had stopped short of the optimum
        # (AUC 0.91004 against 0.91020).
        return LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=1000, class_weight=cw)
    if key == "tree":
        from sklearn.tree import DecisionTreeClassifier
        return DecisionTreeClassifier(max_depth=8, min_samples_leaf=20, class_weight=cw, random_state=random_state)
    if key == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        # Stop after 5 rounds without a better validation loss instead of 10: the extra rounds only
        # added trees past the best one (10M log, 149k users, two fold seeds: 6% less CPU, AUC 0.92817
        # and 0.92818 against 0.92801 and 0.92813).
        return HistGradientBoostingClassifier(max_iter=60, learning_rate=0.15, early_stopping="auto",
                                              n_iter_no_change=5, random_state=random_state)
    if key == "rf":
        from sklearn.ensemble import RandomForestClassifier
        return RandomForestClassifier(n_estimators=RF_TREES, max_depth=12, min_samples_leaf=10, max_features="sqrt",
                                      max_samples=RF_MAX_SAMPLES if n_train > RF_MAX_SAMPLES else None,
                                      class_weight=cw, n_jobs=threads, random_state=random_state)
    if key == "knn":
        from sklearn.neighbors import KNeighborsClassifier
        # Brute force: fast with BLAS in ~40 dimensions, and no search tree in the saved file.
        return KNeighborsClassifier(n_neighbors=int(max(1, min(25, n_train))), algorithm="brute", n_jobs=threads)
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


def model_spec(key: str) -> ModelSpec:
    if key not in MODELS:
        raise InvalidParameterError(f"Unknown model '{key}'. Choose from: {', '.join(MODELS)}.")
    return MODELS[key]


def feature_model_spec(key: str) -> ModelSpec:
    """The spec of a model that learns from the feature table alone; a clear error for the sequence models."""
    spec = model_spec(key)
    if spec.sequence:
        raise InvalidParameterError(
            f"{spec.name} reads each user's events in order, not only the feature table, so this tool (which refits "
            "a feature-table model: importance, learning curve, tuning) is not available for it. Pick another model.")
    return spec


def model_threads() -> int:
    """Threads a model may use: ``MARKETLENS_MODEL_THREADS``, default all cores."""
    return configured_threads() or max(1, os.cpu_count() or 1)


def configured_threads() -> int:
    """``MARKETLENS_MODEL_THREADS``, or 0 when it is not set."""
    return config.model_threads_setting()

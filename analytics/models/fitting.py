"""The one recipe for fitting a zoo model: sample the slow ones, fit with bounded threads, score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.models.zoo import OPENMP_MIN_ROWS, SAMPLE_CAPS, configured_threads, make_pipeline, model_threads
from analytics.sampling import MIN_PER_CLASS, stratified_sample

MAX_FOLD_WORKERS = 4


def thread_limits(n_rows: int) -> dict[str, int]:
    # OpenMP (HistGradientBoosting) threads cost more than they save on small data,
    # and spin-waiting threads on a busy machine can make a fit several times slower.
    # BLAS (logistic regression, MLP, kNN distances) gains little from threads on
    # these narrow tables and suffers the same way; the forest and kNN get their
    # parallelism from joblib instead.
    return {"openmp": (configured_threads() or 1) if n_rows >= OPENMP_MIN_ROWS else 1, "blas": 1}


def fold_workers(key: str, n_rows: int) -> int:
    """How many cross-validation folds of ``key`` to fit at the same time.

    Models that run on one thread (logistic regression, boosting below
    :data:`~analytics.models.zoo.OPENMP_MIN_ROWS` rows or without
    ``MARKETLENS_MODEL_THREADS``, naive Bayes, tree, MLP, SVM) fit one fold per
    thread on up to :func:`~analytics.models.zoo.model_threads` threads: their
    numeric kernels release the GIL. So does the forest, one fold per thread
    (each on one joblib thread): its trees' sampling and its predictions run in
    Python between the parallel tree fits, which left a core idle when one forest
    had both threads (LR + RF + HGB 5-fold on the 10M log's 149k users, alternated
    five times: 10.9-11.2 s -> 9.0-11.1 s, the same scores). kNN spreads one
    fit over those threads, so its folds run one after another. At most
    :data:`MAX_FOLD_WORKERS` folds at once: each holds its own prepared copy of
    the training rows (about 180 MB for logistic regression on 500k users).
    """
    if key == "knn" or (key == "hgb" and thread_limits(n_rows)["openmp"] > 1):
        return 1
    return min(model_threads(), MAX_FOLD_WORKERS)


def fit_one(key: str, kinds: dict[str, str], Xp: pd.DataFrame, y: np.ndarray, rows: np.ndarray, *,
            params: dict | None = None, balance_classes: bool = True, random_state: int = 0,
            sample_seed: int | None = None, threads: int | None = None):
    """Fit one zoo model on some rows: how every fit in MarketLens is done.

    The slow models fit on a stratified sample of ``rows`` (their cap in
    :data:`~analytics.models.zoo.SAMPLE_CAPS`, drawn with ``sample_seed``,
    default ``random_state``); threads are bounded as :func:`thread_limits` says.

    Parameters
    ----------
    key : str
        A key of :data:`~analytics.models.zoo.MODELS`.
    kinds : dict
        Feature column -> ``"number"``/``"text"``.
    Xp : DataFrame
        Features after :func:`~analytics.models.zoo.prepare_features`.
    y : ndarray of 0/1
    rows : ndarray of int
        Positions of ``Xp``/``y`` to fit on.

    Returns
    -------
    pipeline : sklearn Pipeline
        Fitted.
    fitted_rows : ndarray of int
        The positions it was fitted on (``rows`` or a sample of them).
    """
    fitted_rows = training_rows(key, rows, y, random_state if sample_seed is None else sample_seed)
    pipe = make_pipeline(key, kinds, n_train=len(fitted_rows), params=params, balance_classes=balance_classes,
                         random_state=random_state, threads=threads)
    fit_pipeline(pipe, Xp.iloc[fitted_rows], y[fitted_rows])
    return pipe, fitted_rows


def fit_pipeline(pipe, X: pd.DataFrame, y: np.ndarray) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    # The MLP and LR may stop at max_iter with a still-useful model; the CV scores
    # say how useful, the warning would only alarm.
    with warnings.catch_warnings(), threadpool_limits(thread_limits(len(y))):
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)


def positive_scores(pipe, X: pd.DataFrame, name: str) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(thread_limits(len(X))):
        p = pipe.predict_proba(X)[:, 1].astype(float)
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} produced {int((~np.isfinite(p)).sum())} empty scores")
    return np.clip(p, 0.0, 1.0)


def stratified_folds(y: np.ndarray, n_folds: int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    return list(skf.split(np.zeros(len(y)), y))


def training_rows(key: str, idx: np.ndarray, y: np.ndarray, random_state: int) -> np.ndarray:
    """Positions to fit on: all of ``idx``, or a stratified sample for the slow models."""
    cap = SAMPLE_CAPS.get(key)
    if cap is None or len(idx) <= cap:
        return idx
    return idx[stratified_sample(y[idx], cap, random_state=random_state, min_per_group=MIN_PER_CLASS)]


def stratified_holdout(y: np.ndarray, test_size: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y, random_state=random_state)
    return np.sort(tr), np.sort(te)

"""Cross-validation of several models on the same folds, one result at a time.

Cross-validation is stratified k-fold (default 5) with the same folds for every
model and for tuning, so their AUCs are comparable. :func:`iter_train` yields
each model's :class:`ModelResult` as soon as its folds are done, cheapest model
first, so a page can draw the first ROC curve within about a second of
pressing Train on 50k users. Within a model, the folds of models that run on
one thread (logistic regression, boosting, ...) are fitted concurrently on the
model threads (:func:`~analytics.models.fitting.fold_workers`), and when the
next model is one of them too its folds are queued behind these, so no thread
waits for the slowest fold of a model; scores and metrics are the same as one
fold after another.

No NaN is ever returned as a score: a metric that cannot be computed (one class
in a fold or segment) is None with a note saying why, and a model that fails
or produces non-finite scores comes back with ``error`` set instead of metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, MarketLensError
from analytics.models.curves import pr_points, roc_points
from analytics.models.fitting import fit_one, fold_workers, positive_scores, stratified_folds
from analytics.models.results import ModelReport, ModelResult, OutOfTimeResult
from analytics.models.training_set import TrainingSet, check_classes
from analytics.models.zoo import DEFAULT_MODELS, MODELS, feature_kinds, model_spec, prepare_features
from analytics.progress import Progress, within


def iter_train(training: TrainingSet, models: Sequence[str] = DEFAULT_MODELS, *, n_folds: int = 5,
               out_of_time: TrainingSet | None = None, params: dict[str, dict] | None = None,
               balance_classes: bool = True, keep_order: bool = False, random_state: int = 0,
               progress: Progress | None = None,
               on_fold: Callable[[ModelResult], None] | None = None) -> Iterator[ModelResult]:
    """Cross-validate models one by one, yielding each result as soon as it is done.

    Parameters
    ----------
    training : TrainingSet
    models : sequence of str
        Keys of :data:`MODELS` (default LR, RF, HGB).
    n_folds : int
        Stratified folds, 2 to 20 (default 5); the same folds for every model.
    out_of_time : TrainingSet, optional
        The same target one window earlier (:func:`analytics.models.training_set.build_out_of_time_set`):
        each model is also fitted on it and tested on ``training``.
    params : dict, optional
        Per model key, hyperparameters to use instead of the defaults.
    balance_classes : bool
        Class weights "balanced" where supported (see module docstring).
    keep_order : bool
        Run in the given order instead of cheapest first.
    random_state : int
    progress : callable, optional
        ``progress(fraction, message)`` after each fold (e.g. "Random forest: fold 2 of 5"); the
        sequence models also report every epoch.
    on_fold : callable, optional
        Called in the calling thread after each fold but a model's last with a provisional
        :class:`ModelResult` over the folds done so far (name "... (2 of 5 folds)"), so a page
        can draw a model's ROC curve before it is finished: on the 10M-event log's 149k users
        the first fold of logistic regression is done in about a second, all five in three.

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
    if any(MODELS[k].sequence for k in keys):
        from analytics.sequences import require_torch

        require_torch()  # say how to install it before any model runs
    check_classes(training.y, n_folds, training.target)
    if out_of_time is not None:
        _check_oot(training, out_of_time)
    params = dict(params or {})
    unknown = sorted(set(params) - set(keys))
    if unknown:
        raise InvalidParameterError(f"Parameters given for models not being trained: {', '.join(unknown)}.")
    if not keep_order:
        keys = sorted(keys, key=lambda k: MODELS[k].cost)
    return _iter_train(training, keys, n_folds, out_of_time, params, balance_classes, random_state, progress,
                       on_fold)


def _iter_train(training: TrainingSet, keys: list[str], n_folds: int, out_of_time: TrainingSet | None,
                params: dict, balance_classes: bool, random_state: int,
                progress: Progress | None, on_fold: Callable[[ModelResult], None] | None = None,
                ) -> Iterator[ModelResult]:
    kinds = feature_kinds(training.X)
    Xp = prepare_features(training.X, kinds)
    folds = stratified_folds(training.y, n_folds, random_state)
    oot = None
    if out_of_time is not None:
        oot = (prepare_features(out_of_time.X, kinds), out_of_time.y, out_of_time.target.cutoff)
    shared: dict = {}  # the sequence network's outer-fold scores, reused by agg+seq

    def pooled(key: str) -> bool:
        return not MODELS[key].sequence and fold_workers(key, len(training.y)) > 1

    def runner(key: str) -> Callable[[int], tuple]:
        return _fold_runner(key, Xp, training.y, kinds, folds, params.get(key), balance_classes, random_state)

    # Consecutive models that fit one fold per thread share one pool, and the next one's folds are queued
    # behind the current one's: its last fold would otherwise leave a core idle (5 folds on 2 threads).
    pool = _FoldPool(max(fold_workers(k, len(training.y)) for k in keys)) \
        if any(pooled(a) and pooled(b) for a, b in zip(keys, keys[1:])) else None
    started: dict[str, dict] = {}
    try:
        for i, key in enumerate(keys):
            stage = within(progress, i / len(keys), (i + 1) / len(keys))
            if MODELS[key].sequence:
                from analytics.sequences.propensity import cross_validate_sequence

                yield cross_validate_sequence(key, Xp, training, kinds, folds, params.get(key), random_state, stage,
                                              shared, out_of_time=out_of_time is not None, on_fold=on_fold)
                continue
            if pool is not None and pooled(key):
                if key not in started:
                    started[key] = pool.start(runner(key), len(folds))
                following = keys[i + 1] if i + 1 < len(keys) else None
                if following is not None and pooled(following):
                    started[following] = pool.start(runner(following), len(folds))
            yield cross_validate(key, Xp, training, kinds, folds, params.get(key), balance_classes, random_state,
                                 stage, oot, on_fold, started=started.pop(key, None))
            if pool is not None and not any(pooled(k) for k in keys[i + 1:]):
                pool.close()  # the models left bring their own threads (and settings)
                pool = None
    finally:
        if pool is not None:
            pool.close()


def train_models(training: TrainingSet, models: Sequence[str] = DEFAULT_MODELS, *, n_folds: int = 5,
                 out_of_time: TrainingSet | None = None, params: dict[str, dict] | None = None,
                 balance_classes: bool = True, random_state: int = 0,
                 on_result: Callable[[ModelResult], None] | None = None,
                 progress: Progress | None = None) -> ModelReport:
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


def cross_validate(key: str, Xp: pd.DataFrame, training: TrainingSet, kinds: dict, folds: list,
                   params: dict | None, balance: bool, random_state: int,
                   progress: Progress | None, oot: tuple | None,
                   on_fold: Callable[[ModelResult], None] | None = None,
                   started: dict | None = None) -> ModelResult:
    """Cross-validate one model on given folds (``Xp`` prepared with :func:`prepare_features`);
    ``on_fold`` as in :func:`iter_train`; ``started``: its folds already queued on a :class:`_FoldPool`."""
    spec = MODELS[key]
    y = training.y
    res = ModelResult(key=key, name=spec.name, base_rate=float(y.mean()), n_users=len(y), n_folds=len(folds),
                      params=dict(params or {}))
    t_start = time.perf_counter()
    fold_scores: dict[int, np.ndarray] = {}
    try:
        fitted = _as_finished(started) if started is not None else _map_folds(
            _fold_runner(key, Xp, y, kinds, folds, params, balance, random_state), len(folds),
            fold_workers(key, len(y)))
        for done, (i, (p, n_fit, fit_s)) in enumerate(fitted):
            res.fit_seconds += fit_s
            fold_scores[i] = p
            res.train_rows = max(res.train_rows, n_fit)
            if progress:
                progress((done + 1) / len(folds), f"{spec.name}: fold {done + 1} of {len(folds)}")
            if on_fold and len(fold_scores) < len(folds):
                on_fold(provisional(res, y, folds, fold_scores))
        if oot is not None:
            res.out_of_time = _out_of_time(key, oot, Xp, y, kinds, params, balance, random_state,
                                           training.target.cutoff)
    except MarketLensError:
        raise
    except Exception as exc:  # noqa: BLE001 - one model failing must not stop the others
        res.error = f"{spec.name} could not be trained on this data ({type(exc).__name__}: {exc})."
        res.seconds = time.perf_counter() - t_start
        return res
    finish_result(res, y, folds, fold_scores, spec.why_sample)
    res.seconds = time.perf_counter() - t_start
    return res


def finish_result(res: ModelResult, y: np.ndarray, folds: list, fold_scores: dict[int, np.ndarray],
                  why_sample: str = "") -> ModelResult:
    """Fill a result's metrics, curves and out-of-fold scores from each fold's test scores (any model kind)."""
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    oof = np.full(len(y), np.nan)
    aucs, aps, losses, skipped = [], [], [], 0
    # Metrics in fold order, whatever order the folds finished in.
    for i, (_, te) in enumerate(folds):
        yt, p = y[te], fold_scores[i]
        oof[te] = p
        losses.append(float(log_loss(yt, p, labels=[0, 1])))
        if 0 < yt.sum() < len(yt):
            aucs.append(float(roc_auc_score(yt, p)))
            aps.append(float(average_precision_score(yt, p)))
        else:
            skipped += 1
    spec_name = res.name
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
        res.sample_note = (f"{spec_name} trained on a sample of {res.train_rows:,} of the "
                           f"{max(len(tr) for tr, _ in folds):,} users in each training fold "
                           f"({why_sample}); its scores cover all {len(y):,} users.")
    return res


def provisional(res: ModelResult, y: np.ndarray, folds: list, fold_scores: dict[int, np.ndarray]) -> ModelResult:
    """A result over the folds done so far, named "... (k of n folds)"."""
    done = sorted(fold_scores)
    partial = replace(res, name=f"{res.name} ({len(done)} of {len(folds)} folds)", notes=[])
    return finish_result(partial, y, [folds[i] for i in done], {j: fold_scores[i] for j, i in enumerate(done)})


def _fold_runner(key: str, Xp: pd.DataFrame, y: np.ndarray, kinds: dict, folds: list, params: dict | None,
                 balance: bool, random_state: int) -> Callable[[int], tuple[np.ndarray, int, float]]:
    """``run_fold(i)``: fit ``key`` on fold ``i``'s training rows; its test scores, rows fitted and seconds."""
    name = MODELS[key].name
    # Folds fitted side by side have a thread each: the forest must not start more.
    threads = 1 if fold_workers(key, len(y)) > 1 else None

    def run_fold(i: int) -> tuple[np.ndarray, int, float]:
        tr, te = folds[i]
        t0 = time.perf_counter()
        pipe, fit_idx = fit_one(key, kinds, Xp, y, tr, params=params, balance_classes=balance,
                                random_state=random_state, sample_seed=random_state + i, threads=threads)
        fit_s = time.perf_counter() - t0
        return positive_scores(pipe, Xp.iloc[te], name), len(fit_idx), fit_s

    return run_fold


class _FoldPool:
    """Threads that fit folds, with BLAS on one thread and convergence warnings off while it is open.

    BLAS thread limits and warning filters are process-wide: they are set once here, so
    the workers' own (nested) settings never restore other values while another fold
    still runs; :meth:`close` undoes them.
    """

    def __init__(self, workers: int):
        import warnings
        from concurrent.futures import ThreadPoolExecutor
        from contextlib import ExitStack

        from sklearn.exceptions import ConvergenceWarning
        from threadpoolctl import threadpool_limits

        self._stack = ExitStack()
        self._stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", ConvergenceWarning)
        self._stack.enter_context(threadpool_limits({"blas": 1}))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="marketlens-fold")

    def start(self, run_fold: Callable[[int], tuple], n_folds: int) -> dict:
        """Queue every fold; ``{future: fold}`` for :func:`_as_finished`."""
        return {self._pool.submit(run_fold, i): i for i in range(n_folds)}

    def close(self) -> None:
        """Drop the folds not started, wait for the running ones, undo the settings."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._stack.close()


def _as_finished(pending: dict) -> Iterator[tuple[int, tuple]]:
    """``(fold, result)`` of queued folds as they finish (ties in fold order); the rest are cancelled if
    the caller stops early or a fold failed."""
    from concurrent.futures import FIRST_COMPLETED, wait

    try:
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=pending.get):
                yield pending.pop(future), future.result()
    finally:
        for future in pending:
            future.cancel()


def _map_folds(run_fold: Callable[[int], tuple], n_folds: int, workers: int) -> Iterator[tuple[int, tuple]]:
    """``(fold, run_fold(fold))`` for every fold, as they finish; on ``workers`` threads when more than one."""
    if workers <= 1:
        for i in range(n_folds):
            yield i, run_fold(i)
        return
    pool = _FoldPool(workers)
    try:
        yield from _as_finished(pool.start(run_fold, n_folds))
    finally:
        pool.close()


def _out_of_time(key: str, oot: tuple, Xp_test: pd.DataFrame, y_test: np.ndarray, kinds: dict, params: dict | None,
                 balance: bool, random_state: int, test_cutoff: datetime) -> OutOfTimeResult:
    from sklearn.metrics import average_precision_score, roc_auc_score

    Xo, yo, train_cutoff = oot
    pipe, idx = fit_one(key, kinds, Xo, yo, np.arange(len(yo)), params=params, balance_classes=balance,
                        random_state=random_state)
    p = positive_scores(pipe, Xp_test, MODELS[key].name)
    auc = ap = None
    note = ""
    if 0 < y_test.sum() < len(y_test):
        auc, ap = float(roc_auc_score(y_test, p)), float(average_precision_score(y_test, p))
    else:
        note = "The later period has only one class, so its AUC is not defined."
    return OutOfTimeResult(train_cutoff=train_cutoff, test_cutoff=test_cutoff, n_train=len(idx), n_test=len(y_test),
                           auc=auc, average_precision=ap, note=note)


def _check_models(models: Sequence[str]) -> list[str]:
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    keys = list(dict.fromkeys(models))
    if not keys:
        raise InvalidParameterError(f"Pick at least one model ({', '.join(MODELS)}).")
    for k in keys:
        model_spec(k)
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

"""The sequence models of the catalogue, ``seq`` and ``agg+seq``, on the same folds as every other model.

``seq`` ("Sequence network")
    :class:`~analytics.sequences.encoder.SequenceClassifier` (GRU by default) on
    each user's last 200 events up to the cutoff. In outer fold ``k`` it trains on
    the training users of the fold (early stopping on a stratified 10% of *them*)
    and scores the test users: the same stratified folds, users and target as the
    aggregate models (:func:`analytics.models.fitting.stratified_folds`).

``agg+seq`` ("Aggregates + sequence")
    Gradient boosting (the zoo's ``hgb`` pipeline) on the aggregate features plus
    one more column, ``sequence_score``, the network's score. Within outer fold ``k``:

    1. the test users' ``sequence_score`` comes from the network trained on the
       fold's training users (the very network of ``seq`` in fold ``k`` when
       ``seq`` ran in the same call: it is reused, not trained again);
    2. the training users' ``sequence_score`` is **cross-fitted inside the
       training fold**: it is split into 2 stratified halves, a network trained on
       one half scores the other, and the other way round; so no training user's
       score comes from a network that saw their label;
    3. gradient boosting is fitted on the training users and scores the test users.

    No label of a test user ever reaches a network or the booster used to score
    that user. (Scores of networks fitted on half a fold are a little less sharp
    than the full-fold network's test scores: the usual stacking compromise, as in
    scikit-learn's ``StackingClassifier``.) Its fitted model for scoring repeats
    this on all users: network on all of them, booster on the 2-fold cross-fitted
    scores.

The vocabulary (event types, products) comes from the events up to the cutoff of
all users of the training set, without labels, like the feature definitions.

Folds train on up to :func:`fold_workers` Python threads at once (one torch
thread each), so two folds use both cores of a small machine; per-epoch
progress from every fold is passed on from the calling thread, and whatever the
caller's progress callback raises (the Models page's Stop button) stops every
fold within about a second (:data:`~analytics.sequences.encoder.PROGRESS_EVERY_S`).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, MarketLensError
from analytics.models.fitting import fit_pipeline, positive_scores, training_rows
from analytics.models.results import ModelResult
from analytics.models.training import finish_result, provisional
from analytics.models.training_set import TrainingSet
from analytics.models.zoo import MODELS, SAMPLE_CAPS, make_pipeline, model_threads, prepare_features
from analytics.progress import Progress, within
from analytics.sequences import encoder as enc
from analytics.sequences.threads import torch_threads
from analytics.sequences.tokens import Sequences

SCORE_COLUMN = "sequence_score"
INNER_FOLDS = 2
MAX_FOLD_WORKERS = 2

ENCODER_PARAMS = ("kind", "hidden", "event_dim", "item_dim", "numeric_dim", "heads", "dropout")
TRAIN_PARAMS = ("max_epochs", "patience", "batch_size", "learning_rate", "weight_decay", "validation_share")


def network_settings(params: dict | None, seqs: Sequences, seed: int) -> tuple[enc.EncoderConfig, enc.TrainConfig]:
    """The encoder and training settings from a model's ``params`` (e.g. ``{"kind": "transformer"}``)."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(ENCODER_PARAMS) - set(TRAIN_PARAMS))
    if unknown:
        raise InvalidParameterError(f"The sequence models have no setting {', '.join(unknown)}; they take "
                                    f"{', '.join(ENCODER_PARAMS + TRAIN_PARAMS)}.")
    encoder = enc.EncoderConfig.for_vocabulary(seqs.vocab, **{k: params[k] for k in ENCODER_PARAMS if k in params})
    train = enc.TrainConfig(seed=seed, **{k: params[k] for k in TRAIN_PARAMS if k in params})
    return encoder, train


def fold_workers(n_folds: int) -> int:
    """Folds trained at the same time: one per core up to :data:`MAX_FOLD_WORKERS` (each on one torch thread)."""
    return max(1, min(MAX_FOLD_WORKERS, model_threads(), n_folds))


# --- cross-validation ---------------------------------------------------------------------------------------------


def cross_validate_sequence(key: str, Xp: pd.DataFrame, training: TrainingSet, kinds: dict, folds: list,
                            params: dict | None, random_state: int, progress: Progress | None, shared: dict,
                            out_of_time: bool = False,
                            on_fold: Callable[[ModelResult], None] | None = None) -> ModelResult:
    """Cross-validate ``seq`` or ``agg+seq`` on the given folds (see the module docstring).

    Parameters
    ----------
    key : str
        ``"seq"`` or ``"agg+seq"``.
    Xp : DataFrame
        The training set's features after :func:`~analytics.models.zoo.prepare_features` (``agg+seq``).
    shared : dict
        Kept across the models of one :func:`~analytics.models.iter_train` call: ``seq``
        leaves its outer-fold test scores there for ``agg+seq``.
    out_of_time : bool
        An out-of-time check was asked for (not run for these models; a note says so).
    on_fold : callable, optional
        Called in the calling thread after each fold with a provisional result over the
        folds done so far (for a live ROC curve).

    Returns
    -------
    ModelResult
        With ``error`` set when the model cannot run on this data (no events, one
        class in a fold); cancellation propagates.
    """
    spec = MODELS[key]
    y = training.y
    res = ModelResult(key=key, name=spec.name, base_rate=float(y.mean()), n_users=len(y), n_folds=len(folds),
                      params=dict(params or {}))
    t_start = time.perf_counter()
    say = progress or (lambda _f, _m: None)
    try:
        say(0.0, f"{spec.name}: reading each user's events")
        seqs = training.sequences()
        encoder, train = network_settings(params, seqs, random_state)
    except MarketLensError as exc:
        res.error = f"{spec.name} cannot run here: {exc}"
        res.seconds = time.perf_counter() - t_start
        return res
    params_key = json.dumps(params or {}, sort_keys=True, default=str)
    histories: dict[int, list[enc.FitHistory]] = {}

    def outer_scores(i: int, report: Progress) -> np.ndarray:
        cached = shared.get(("seq", params_key, random_state, i))
        if cached is not None:
            return cached
        tr, te = folds[i]
        net, history = enc.fit_classifier(seqs, y, network_rows(tr, y, random_state + i), encoder,
                                          _seeded(train, random_state + i), report,
                                          label=f"{spec.name}, fold {i + 1} of {len(folds)}")
        histories.setdefault(i, []).append(history)
        p = enc.predict_proba(net, seqs, te)
        shared[("seq", params_key, random_state, i)] = p
        return p

    def run_fold(i: int, report: Progress) -> np.ndarray:
        if key == "seq":
            return outer_scores(i, report)
        tr, te = folds[i]
        reused = ("seq", params_key, random_state, i) in shared
        steps = INNER_FOLDS + (0 if reused else 1)
        p_test = outer_scores(i, within(report, 0, 1 / steps))
        p_train = cross_fitted_scores(seqs, y, tr, encoder, _seeded(train, random_state + 100 * (i + 1)),
                                      within(report, (steps - INNER_FOLDS) / steps, 1.0),
                                      label=f"{spec.name}, fold {i + 1} of {len(folds)}")
        return _boosted_scores(Xp, kinds, y, tr, te, p_train, p_test, random_state)

    fold_scores: dict[int, np.ndarray] = {}
    try:
        for i, p in run_folds(run_fold, len(folds), fold_workers(len(folds)), progress, spec.name):
            fold_scores[i] = p
            if on_fold and len(fold_scores) < len(folds):
                on_fold(provisional(res, y, folds, fold_scores))
    except MarketLensError as exc:
        res.error = f"{spec.name} could not be trained on this data: {exc}"
        res.seconds = time.perf_counter() - t_start
        return res
    res.fit_seconds = time.perf_counter() - t_start
    res.train_rows = max(len(tr) for tr, _ in folds) if key == "agg+seq" else \
        max(len(network_rows(tr, y, random_state + i)) for i, (tr, _) in enumerate(folds))
    finish_result(res, y, folds, fold_scores, spec.why_sample)
    if key == "agg+seq" and any(len(network_rows(tr, y, 0)) < len(tr) for tr, _ in folds):
        res.sample_note = (f"Its sequence networks trained on a sample of {SAMPLE_CAPS['seq']:,} users of each "
                           "training fold (every epoch passes over every event of every user); the booster on all.")
    kept = [h.best_epoch for i in sorted(histories) for h in histories[i][:1]]
    if kept:
        res.notes.append(f"Early stopping kept epoch {', '.join(map(str, kept))} (of at most {train.max_epochs}) "
                         f"in the {len(kept)} folds; {encoder.kind.upper()} encoder, {len(seqs.vocab.events)} event "
                         f"types{f', {len(seqs.vocab.items)} products' if seqs.vocab.items else ''}.")
    res.notes.extend(seqs.notes)
    if out_of_time:
        res.notes.append("The out-of-time check is not run for sequence models.")
    res.seconds = time.perf_counter() - t_start
    return res


def cross_fitted_scores(seqs: Sequences, y: np.ndarray, rows: np.ndarray, encoder: enc.EncoderConfig,
                        train: enc.TrainConfig, progress: Progress | None = None,
                        label: str = "Sequence network") -> np.ndarray:
    """Network scores of ``rows`` (in their order), each from a network that did not see that user's label.

    ``rows`` is split into :data:`INNER_FOLDS` stratified parts; a network trained on
    the others scores each part.
    """
    from sklearn.model_selection import StratifiedKFold

    rows = np.asarray(rows, dtype=np.int64)
    out = np.zeros(len(rows))
    splitter = StratifiedKFold(n_splits=INNER_FOLDS, shuffle=True, random_state=train.seed)
    for j, (a, b) in enumerate(splitter.split(np.zeros(len(rows)), y[rows])):
        net, _ = enc.fit_classifier(seqs, y, network_rows(rows[a], y, train.seed + j), encoder,
                                    _seeded(train, train.seed + j),
                                    within(progress, j / INNER_FOLDS, (j + 1) / INNER_FOLDS),
                                    label=f"{label} (inner {j + 1} of {INNER_FOLDS})")
        out[b] = enc.predict_proba(net, seqs, rows[b])
    return out


def network_rows(rows: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """The users a network trains on: all of ``rows``, or a stratified sample of ``SAMPLE_CAPS["seq"]``."""
    return training_rows("seq", np.asarray(rows, dtype=np.int64), y, seed)


def score_frame(p: np.ndarray) -> pd.DataFrame:
    """The network's scores as the prepared ``sequence_score`` feature column (same transform as at scoring)."""
    return prepare_features(pd.DataFrame({SCORE_COLUMN: p}), {SCORE_COLUMN: "number"})


def _boosted_scores(Xp: pd.DataFrame, kinds: dict, y: np.ndarray, tr: np.ndarray, te: np.ndarray,
                    p_train: np.ndarray, p_test: np.ndarray, random_state: int) -> np.ndarray:
    pipe = make_pipeline("hgb", kinds | {SCORE_COLUMN: "number"}, n_train=len(tr), random_state=random_state)
    X_train = pd.concat([Xp.iloc[tr].reset_index(drop=True), score_frame(p_train)], axis=1)
    X_test = pd.concat([Xp.iloc[te].reset_index(drop=True), score_frame(p_test)], axis=1)
    fit_pipeline(pipe, X_train, y[tr])
    return positive_scores(pipe, X_test, MODELS["agg+seq"].name)


def _seeded(train: enc.TrainConfig, seed: int) -> enc.TrainConfig:
    from dataclasses import replace

    return replace(train, seed=int(seed))


# --- folds on threads, progress and cancellation from the calling thread -----------------------------------------


def run_folds(run_fold: Callable[[int, Progress], np.ndarray], n_folds: int, workers: int,
              progress: Progress | None, name: str = "Sequence network") -> Iterator[tuple[int, np.ndarray]]:
    """``(fold, run_fold(fold, report))`` as folds finish, on ``workers`` threads (one torch thread each).

    ``progress`` gets the share of all folds' work done (never going back) and each
    fold's messages, then "<name>: fold k of n" as each finishes.

    Workers never call ``progress`` themselves (a Streamlit page can only be updated
    from its own thread): their reports are queued and passed on here, in the
    calling thread. When ``progress`` raises (cancellation), every worker stops at
    its next report and the exception propagates.
    """
    fractions = [0.0] * n_folds
    shown = [0.0]

    def tell(i: int, f: float, msg: str) -> None:
        fractions[i] = max(fractions[i], min(1.0, f))
        shown[0] = max(shown[0], sum(fractions) / n_folds)
        if progress:
            progress(shown[0], msg)

    if workers <= 1:
        with torch_threads():
            for i in range(n_folds):
                p = run_fold(i, lambda f, msg, i=i: tell(i, f, msg))
                tell(i, 1.0, f"{name}: fold {i + 1} of {n_folds}")
                yield i, p
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    reports: queue.Queue = queue.Queue()
    stop = threading.Event()
    done = [0]

    def in_worker(i: int) -> np.ndarray:
        # torch's thread count is per OS thread (an OpenMP setting): set it in each worker too.
        enc.torch.set_num_threads(1)
        return run_fold(i, reporter(i))

    def reporter(i: int) -> Progress:
        def report(f: float, msg: str) -> None:
            if stop.is_set():
                raise enc.TrainingCancelled()
            reports.put((i, f, msg))
        return report

    def drain() -> None:
        while True:
            try:
                i, f, msg = reports.get_nowait()
            except queue.Empty:
                return
            tell(i, f, msg)

    with torch_threads(1), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="marketlens-seq") as pool:
        pending = {pool.submit(in_worker, i): i for i in range(n_folds)}
        try:
            while pending:
                finished, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                drain()
                for future in sorted(finished, key=pending.get):
                    i = pending.pop(future)
                    p = future.result()
                    done[0] += 1
                    tell(i, 1.0, f"{name}: fold {done[0]} of {n_folds}")
                    yield i, p
        except BaseException:
            stop.set()
            for future in pending:
                future.cancel()
            raise


# --- the model fitted on all users --------------------------------------------------------------------------------


def fit_sequence_model(training: TrainingSet, key: str, params: dict | None, random_state: int,
                       kinds: dict, progress: Progress | None = None) -> tuple[object, object, dict]:
    """``(network, pipeline or None, sequence metadata)`` of ``seq``/``agg+seq`` fitted on all users.

    ``agg+seq``'s booster learns from the 2-fold cross-fitted network scores of all
    users (see the module docstring); the network kept for scoring is trained on all of them.
    """
    seqs = training.sequences()
    encoder, train = network_settings(params, seqs, random_state)
    y = training.y
    rows = np.arange(len(y))
    with torch_threads():
        net_rows = network_rows(rows, y, random_state)
        net, history = enc.fit_classifier(seqs, y, net_rows, encoder, train,
                                          within(progress, 0, 0.5 if key != "seq" else 1.0))
        pipeline = None
        if key == "agg+seq":
            p = cross_fitted_scores(seqs, y, rows, encoder, _seeded(train, random_state + 1),
                                    within(progress, 0.5, 1.0))
            Xp = prepare_features(training.X, kinds)
            pipeline = make_pipeline("hgb", kinds | {SCORE_COLUMN: "number"}, n_train=len(y),
                                     random_state=random_state)
            fit_pipeline(pipeline, pd.concat([Xp.reset_index(drop=True), score_frame(p)], axis=1), y)
    meta = {"vocab": seqs.vocab.to_dict(), "encoder": encoder.to_dict(), "train": train.to_dict(),
            "history": history.to_dict(), "network_users": int(len(net_rows)),
            "score_column": SCORE_COLUMN if pipeline is not None else None}
    return net, pipeline, meta


def network_scores(network, sequences: Sequences) -> np.ndarray:
    """P(positive) from a fitted network for every user of ``sequences``."""
    return enc.predict_proba(network, sequences)

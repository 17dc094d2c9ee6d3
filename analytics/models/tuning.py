"""Time-bounded randomized search of one model's hyperparameters on the same folds."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.jsonable import json_safe, rounded
from analytics.models.fitting import stratified_folds
from analytics.models.results import ModelResult
from analytics.models.training import cross_validate
from analytics.models.training_set import TrainingSet, check_classes
from analytics.models.zoo import feature_kinds, feature_model_spec, model_spec, prepare_features
from analytics.progress import Progress
from analytics.sampling import MIN_PER_CLASS, stratified_sample


def search_space(key: str) -> dict[str, Any]:
    """The hyperparameters :func:`tune_model` samples for a model (lists or scipy distributions)."""
    from scipy.stats import loguniform, randint

    feature_model_spec(key)
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

    def to_parts(self) -> tuple[dict, dict[str, pd.DataFrame]]:
        """JSON metadata and tables, for the workspace (:meth:`from_parts` reads them back)."""
        meta = {k: v for k, v in self.__dict__.items() if k != "trials"}
        return json_safe(meta), {"trials": self.trials}

    @classmethod
    def from_parts(cls, meta: dict, frames: dict[str, pd.DataFrame]) -> TuningResult:
        return cls(**meta, trials=frames["trials"])


def tune_model(training: TrainingSet, key: str, *, time_budget_s: float = 60.0, max_candidates: int = 30,
               n_folds: int = 5, max_rows: int = 100_000, balance_classes: bool = True, random_state: int = 0,
               progress: Progress | None = None) -> TuningResult:
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
        ``progress(fraction of the time budget used, message)`` after each candidate.

    Returns
    -------
    TuningResult
        ``best_params`` is empty when no candidate beat the defaults.
    """
    from sklearn.model_selection import ParameterSampler

    spec = model_spec(key)
    if not 5 <= float(time_budget_s) <= 3600:
        raise InvalidParameterError(f"The time budget must be between 5 and 3600 seconds, got {time_budget_s}.")
    if not 1 <= max_candidates <= 500:
        raise InvalidParameterError(f"max_candidates must be between 1 and 500, got {max_candidates}.")
    check_classes(training.y, n_folds, training.target)
    t0 = time.perf_counter()
    ts = training
    if training.n_users > max_rows:
        idx = stratified_sample(training.y, max_rows, random_state=random_state, min_per_group=MIN_PER_CLASS)
        ts = replace(training, X=training.X.iloc[idx].reset_index(drop=True), y=training.y[idx],
                     user_ids=training.user_ids[idx])
    kinds = feature_kinds(ts.X)
    Xp = prepare_features(ts.X, kinds)
    folds = stratified_folds(ts.y, n_folds, random_state)

    def evaluate(params: dict | None) -> ModelResult:
        return cross_validate(key, Xp, ts, kinds, folds, params, balance_classes, random_state, None, None)

    started = time.perf_counter()
    base = evaluate(None)
    slowest = time.perf_counter() - started  # the budget is kept on one clock: this function's
    if base.error or base.auc_mean is None:
        raise InvalidParameterError(f"{spec.name} cannot be tuned on this data: "
                                    f"{base.error or 'its AUC is not defined'}")
    trials = [{"params": "defaults", "ROC AUC": round(base.auc_mean, 4), "std": round(base.auc_std or 0, 4),
               "seconds": round(base.seconds, 2)}]
    best, best_params = base, {}
    stopped = False
    sampler = ParameterSampler(search_space(key), n_iter=max_candidates, random_state=random_state)
    for cand in sampler:
        started = time.perf_counter()
        if started - t0 + slowest > time_budget_s:  # the next candidate would likely end past the budget
            stopped = True
            break
        cand = {k: json_safe(v) for k, v in cand.items()}
        r = evaluate(cand)
        slowest = max(slowest, time.perf_counter() - started)
        trials.append({"params": json.dumps(json_safe(cand)), "ROC AUC": rounded(r.auc_mean, 4),
                       "std": rounded(r.auc_std, 4), "seconds": round(r.seconds, 2)})
        if r.ok and r.auc_mean > best.auc_mean:
            best, best_params = r, cand
        if progress:
            spent = time.perf_counter() - t0
            progress(min(1.0, spent / time_budget_s), f"{len(trials) - 1} settings tried in {spent:.0f} s")
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

"""What makes cross-validation fast (issue 18): the catalogue's costs and folds fitted concurrently."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from analytics import models as M
from analytics.models import fitting, training
from analytics.models.training import cross_validate
from analytics.models.zoo import RF_MAX_SAMPLES, RF_TREES, feature_kinds, model_threads, prepare_features
from tests.test_models import synthetic


def test_gradient_boosting_never_takes_class_weights_the_others_keep_them():
    table = M.available_models().set_index("key")
    assert not table.loc["hgb", "class weights"] and table.loc["lr", "class weights"] and \
        table.loc["rf", "class weights"]
    kinds = {"x": "number", "c": "text"}
    for balance in (True, False):
        hgb = M.make_pipeline("hgb", kinds, n_train=200_000, balance_classes=balance)[-1]
        assert hgb.class_weight is None
        assert M.make_pipeline("lr", kinds, n_train=1000, balance_classes=balance)[-1].class_weight == \
            ("balanced" if balance else None)
    rf = M.make_pipeline("rf", kinds, n_train=200_000)[-1]
    assert rf.n_estimators == RF_TREES == 40 and rf.class_weight == "balanced" and rf.max_samples == RF_MAX_SAMPLES


def test_folds_run_one_at_a_time_where_the_model_has_its_own_threads(monkeypatch):
    monkeypatch.delenv("MARKETLENS_MODEL_THREADS", raising=False)
    assert fitting.fold_workers("knn", 500) == 1
    assert fitting.fold_workers("lr", 500) == fitting.fold_workers("hgb", 500_000) == fitting.fold_workers(
        "rf", 500_000) == min(model_threads(), 4)  # the forest: one fold per thread, each on one thread
    monkeypatch.setenv("MARKETLENS_MODEL_THREADS", "2")
    assert fitting.fold_workers("hgb", 500_000) == 1  # boosting then uses OpenMP threads itself
    assert fitting.fold_workers("hgb", 5_000) == fitting.fold_workers("lr", 5_000) == 2
    monkeypatch.setenv("MARKETLENS_MODEL_THREADS", "16")
    assert fitting.fold_workers("lr", 5_000) == fitting.MAX_FOLD_WORKERS == 4  # memory: one prepared copy per fold


def _cv(key, ts, workers, monkeypatch, progress=None):
    monkeypatch.setattr(training, "fold_workers", lambda *_: workers)
    threads = set()
    fit_one = fitting.fit_one

    def spy(*args, **kwargs):
        threads.add(threading.current_thread().name)
        pipe, rows = fit_one(*args, **kwargs)
        if args[0] == "rf":  # a fold beside others has one thread: the forest starts no more
            assert pipe[-1].n_jobs == (1 if workers > 1 else model_threads())
        return pipe, rows

    monkeypatch.setattr(training, "fit_one", spy)
    kinds = feature_kinds(ts.X)
    folds = fitting.stratified_folds(ts.y, 5, 0)
    res = cross_validate(key, prepare_features(ts.X, kinds), ts, kinds, folds, None, True, 0, progress, None)
    return res, threads


@pytest.mark.parametrize("key", ["lr", "hgb", "rf", "tree", "nb"])
def test_concurrent_folds_give_exactly_the_scores_of_one_at_a_time(key, monkeypatch):
    ts = synthetic(700, 0.3, seed=3)
    one, threads_one = _cv(key, ts, 1, monkeypatch)
    many, threads_many = _cv(key, ts, 3, monkeypatch)
    assert threads_one == {threading.current_thread().name}
    assert len(threads_many) > 1 and all(t.startswith("marketlens-fold") for t in threads_many)
    assert one.error is None and many.error is None
    assert many.auc_folds == one.auc_folds and many.log_loss == pytest.approx(one.log_loss, rel=1e-12)
    # The same trees; a forest on several threads only adds their votes up in another order.
    np.testing.assert_allclose(many.oof_scores, one.oof_scores, rtol=1e-12 if key == "rf" else 0, atol=0)
    assert many.auc_mean > 0.7


def test_concurrent_folds_report_progress_for_every_fold(monkeypatch):
    calls = []
    res, _ = _cv("lr", synthetic(500, 0.3), 2, monkeypatch, progress=lambda f, m: calls.append((f, m)))
    assert [f for f, _ in calls] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert calls[-1][1] == "Logistic regression: fold 5 of 5" and res.error is None


def test_a_failing_concurrent_fold_is_reported_not_raised(monkeypatch):
    monkeypatch.setattr(training, "fold_workers", lambda *_: 2)
    fit_one = fitting.fit_one

    def flaky(key, kinds, Xp, y, rows, **kwargs):
        if kwargs.get("sample_seed") == 3:
            raise ValueError("fold 4 broke")
        return fit_one(key, kinds, Xp, y, rows, **kwargs)

    monkeypatch.setattr(training, "fit_one", flaky)
    res = M.train_models(synthetic(400, 0.3), ["lr"])
    assert "fold 4 broke" in res.results[0].error and res.results[0].auc_mean is None


def test_the_next_models_folds_are_queued_before_this_model_is_done_with_the_same_scores(monkeypatch):
    ts = synthetic(600, 0.3, seed=4)
    keys = ["lr", "hgb", "nb"]  # all fit one fold per thread
    monkeypatch.setattr(training, "fold_workers", lambda *_: 1)
    alone = {r.key: r for r in M.iter_train(ts, keys, keep_order=True)}
    monkeypatch.setattr(training, "fold_workers", lambda *_: 2)
    queued = []
    runner = training._fold_runner
    monkeypatch.setattr(training, "_fold_runner", lambda key, *a: queued.append(key) or runner(key, *a))
    shared = {}
    for r in M.iter_train(ts, keys, keep_order=True):
        shared[r.key] = r
        # When a model's result comes, the next model's folds are already waiting for a free thread.
        assert queued == keys[:keys.index(r.key) + 2]
    for key in keys:
        assert shared[key].error is None and shared[key].auc_folds == alone[key].auc_folds
        np.testing.assert_array_equal(shared[key].oof_scores, alone[key].oof_scores)


def test_leakage_auc_from_ranks_equals_sklearn_with_ties_and_empty_values():
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from analytics.models.leakage import check_leakage, rank_auc

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 3000)
    for v in (rng.normal(size=3000), rng.integers(0, 4, 3000).astype(float), np.where(y == 1, 1.0, np.nan)):
        ranks = pd.Series(v).rank(method="average", na_option="top").to_numpy()
        assert rank_auc(ranks, y) == pytest.approx(roc_auc_score(y, ranks), abs=1e-12)
    X = pd.DataFrame({"leak": y + rng.normal(0, 0.01, 3000), "honest": rng.normal(size=3000) + y,
                      "flag": np.where(y == 1, "yes", "no")})
    found = {f.feature: f.auc for f in check_leakage(X, y)}
    assert set(found) == {"leak", "flag"} and found["flag"] == 1.0

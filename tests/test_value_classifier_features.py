"""Customer-value features for the classifiers: as of the cutoff only, recomputed as of the scoring date."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics import models as M
from analytics.errors import ModelCompatibilityError
from analytics.value import value_features
from analytics.value.simulate import simulate_transaction_log

CUTOFF = datetime(2024, 9, 1, 23, 59, 59)
TARGET = M.TargetDefinition(kind="event", target_event="purchase", horizon_days=30, cutoff=CUTOFF)
VALUE_COLUMNS = ["p_alive", "expected_purchases_30d"]


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    """300 BG/NBD customers over a year, plus 20 visitors who never buy."""
    buys = simulate_transaction_log(300, {"r": 0.8, "alpha": 20.0, "a": 0.6, "b": 3.0}, random_state=11)
    rng = np.random.default_rng(1)
    visits = pd.DataFrame({"user_id": [f"v{i % 20}" for i in range(200)],
                           "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 360, 200), unit="D"),
                           "event": "page_view", "amount": np.nan})
    return pd.concat([buys, visits], ignore_index=True).sort_values("ts", ignore_index=True)


def rewritten_after_cutoff(log: pd.DataFrame) -> pd.DataFrame:
    """The same log up to the cutoff; after it, every purchase moved, doubled in value, and new ones added."""
    before = log[log["ts"] <= CUTOFF]
    after = log[log["ts"] > CUTOFF].copy()
    after["ts"] = after["ts"] + timedelta(days=3)
    after["amount"] = after["amount"] * 2
    extra = before[before["event"] == "purchase"].sample(50, random_state=0).assign(
        ts=CUTOFF + timedelta(days=5), amount=99.0)
    return pd.concat([before, after[after["ts"] <= log["ts"].max()], extra], ignore_index=True)


def imported(workspace, tmp_path, frame: pd.DataFrame, name: str):
    path = tmp_path / f"{name}.csv"
    frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(path, index=False)
    return workspace.import_file(path, name=name)


def test_value_features_never_change_when_events_after_the_cutoff_are_rewritten(workspace, tmp_path, log):
    a = imported(workspace, tmp_path, log, "a")
    b = imported(workspace, tmp_path, rewritten_after_cutoff(log), "b")
    ts_a = M.build_training_set(workspace, a.id, TARGET, n_folds=None, check_leaks=False, value_features=True)
    ts_b = M.build_training_set(workspace, b.id, TARGET, n_folds=None, check_leaks=False, value_features=True)
    assert ts_a.value_features == M.ValueFeatures("purchase", (30.0,), "bgnbd")
    assert set(VALUE_COLUMNS) <= set(ts_a.X.columns) and ts_a.summary()["value_features"]["model"] == "bgnbd"
    assert list(ts_a.user_ids) == list(ts_b.user_ids)
    pd.testing.assert_frame_equal(ts_a.X[VALUE_COLUMNS], ts_b.X[VALUE_COLUMNS])
    assert not np.array_equal(ts_a.y, ts_b.y)  # the rewrite did change what happens after the cutoff
    # Buyers have values, the visitors who never bought have none; the join kept every user in place.
    buyers = pd.Series(ts_a.user_ids).str.startswith("c").to_numpy()
    assert ts_a.X.loc[buyers, "p_alive"].between(0, 1).all() and ts_a.X.loc[~buyers, "p_alive"].isna().all()
    direct = value_features(workspace.cursor(), a.events_table, "purchase", CUTOFF, horizons_days=(30,))
    mine = pd.DataFrame({"user_id": ts_a.user_ids, "p_alive": ts_a.X["p_alive"]})
    merged = mine.merge(direct, on="user_id", suffixes=("", "_direct"))
    assert len(merged) == len(mine)
    np.testing.assert_allclose(merged["p_alive"], merged["p_alive_direct"])
    # The out-of-time set computes them again as of its own, earlier cutoff.
    oot = M.build_out_of_time_set(workspace, a.id, TARGET, value_features=ts_a.value_features)
    assert oot.value_features == ts_a.value_features and set(VALUE_COLUMNS) <= set(oot.X.columns)


def test_a_saved_model_recomputes_them_as_of_the_scoring_date(workspace, tmp_path, log):
    a = imported(workspace, tmp_path, log, "a")
    ts = M.build_training_set(workspace, a.id, TARGET, check_leaks=False, value_features=True)
    M.save_model(M.fit_model(ts, "lr"), tmp_path / "model")
    model = M.load_model(tmp_path / "model")
    assert model.value_features == {"purchase_event": "purchase", "horizons_days": [30.0], "model": "bgnbd"}
    when = datetime(2024, 11, 15)
    scored = M.score_dataset(workspace, a.id, model, as_of=when)
    # The same by hand: features and value features as of the scoring date, then the model.
    feats = workspace.features(a.id, workspace.feature_params(a.id, **model.feature_overrides(), as_of=when))
    extra = value_features(workspace.cursor(), a.events_table, "purchase", when, horizons_days=(30,))
    by_hand = M.score(model, feats.merge(extra, on="user_id", how="left"))
    pd.testing.assert_series_equal(scored.set_index("user_id")["score"].sort_index(),
                                   by_hand.set_index("user_id")["score"].sort_index(), check_names=False)
    # Rewriting what happened after the scoring date changes nothing.
    later = log[log["ts"] > when].assign(amount=1.0)
    b = imported(workspace, tmp_path, pd.concat([log[log["ts"] <= when], later], ignore_index=True), "b")
    pd.testing.assert_frame_equal(scored, M.score_dataset(workspace, b.id, model, as_of=when))
    # Scored as of another date, they are computed again (so the scores move).
    other = M.score_dataset(workspace, a.id, model, as_of=datetime(2024, 10, 1))
    assert not np.allclose(other.set_index("user_id")["score"].sort_index(),
                           scored.set_index("user_id")["score"].sort_index())
    # A bare feature table without them is refused with the way out.
    with pytest.raises(ModelCompatibilityError, match="customer-value features .*score_dataset"):
        M.score(model, feats)


def test_without_enough_repeat_buyers_the_models_train_without_them(workspace, tmp_path, log):
    once = log.drop_duplicates("user_id")
    only_once = pd.concat([once, once.assign(event="page_view", ts=once["ts"] + timedelta(days=200))])
    ds = imported(workspace, tmp_path, only_once, "once")
    ts = M.build_training_set(workspace, ds.id, TARGET, n_folds=None, check_leaks=False, value_features=True)
    assert ts.value_features is None and not set(VALUE_COLUMNS) & set(ts.X.columns)
    assert any("cannot be computed as of the cutoff 2024-09-01" in w and "train without them" in w
               and "two different days" in w for w in ts.warnings), ts.warnings
    with pytest.raises(Exception, match="customer-value features cannot be computed as of the earlier cutoff"):
        M.build_out_of_time_set(workspace, ds.id, TARGET, n_folds=None,
                                value_features=M.ValueFeatures("purchase", (30.0,)))


def test_a_model_that_uses_them_is_refused_where_they_cannot_be_computed(workspace, tmp_path, log):
    a = imported(workspace, tmp_path, log, "a")
    ts = M.build_training_set(workspace, a.id, TARGET, check_leaks=False, value_features=True)
    model = M.fit_model(ts, "lr")
    once = imported(workspace, tmp_path, log.drop_duplicates("user_id"), "once")
    with pytest.raises(ModelCompatibilityError, match=r"customer-value features .* cannot be computed on 'once'"):
        M.score_dataset(workspace, once.id, model)
    # Dropping one of them leaves a model that does not ask for them.
    assert ts.drop(["p_alive"]).value_features is None

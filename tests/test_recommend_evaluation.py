"""Evaluation: metrics against hand computation, protocols that never leak, the result and its JSON."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analytics.errors import InvalidParameterError, NoDataError
from analytics.recommend import (
    build_interactions,
    evaluate,
    from_frame,
    ranking_metrics,
    split_by_time,
    split_last_n,
)
from sample_data.generate import generate_log
from tests.recommend_data import planted_events


@pytest.fixture(scope="module")
def data():
    return from_frame(planted_events(300, seed=5))


def test_metrics_by_hand():
    # Two users, catalogue of 10. User 0 has relevant {1, 5}; user 1 has {7}.
    recommended = np.array([[1, 2, 5, -1], [0, 3, 4, 6]])
    relevant = sp.csr_matrix(([1, 1, 1], ([0, 0, 1], [1, 5, 7])), shape=(2, 10))
    m = ranking_metrics(recommended, relevant, k=3, n_items=10)
    # User 0: hits at ranks 1 and 3 -> recall 2/2, DCG 1 + 1/log2(4) = 1.5, IDCG 1 + 1/log2(3).
    ndcg0 = 1.5 / (1 + 1 / np.log2(3))
    assert m["recall"] == pytest.approx((1.0 + 0.0) / 2)
    assert m["ndcg"] == pytest.approx((ndcg0 + 0.0) / 2)
    assert m["hit_rate"] == pytest.approx(0.5)
    # Distinct products in the top 3 of anyone: {1, 2, 5, 0, 3, 4} = 6 of 10.
    assert m["coverage"] == pytest.approx(0.6)
    m1 = ranking_metrics(recommended, relevant, k=1, n_items=10)
    assert m1["recall"] == pytest.approx(0.25) and m1["ndcg"] == pytest.approx(0.5)


def test_last_n_holds_out_the_last_products_and_never_leaks(data):
    split = split_last_n(data, 3)
    pairs = data.pairs.sort_values(["user", "first_ts", "item"])
    for u in split.test_users[:50]:
        mine = pairs[pairs["user"] == u]
        assert set(split.test[u].indices) == set(mine["item"].iloc[-3:])
        # No record of a held-out product is left in training, at any time.
        train_items = set(split.train.item[split.train.user == u])
        assert not train_items & set(split.test[u].indices)
        assert len(train_items) == len(mine) - 3
    # Users with 3 products or fewer are not tested but still train.
    counts = pairs.groupby("user").size()
    assert set(split.test_users) == set(counts[counts > 3].index)


def test_time_split_trains_only_on_the_past(data):
    date = "2025-01-20"
    split = split_by_time(data, date)
    assert split.train.day.max() < np.datetime64(date)
    for u in split.test_users[:50]:
        before = set(data.item[(data.user == u) & (data.day < np.datetime64(date))])
        after = set(data.item[(data.user == u) & (data.day >= np.datetime64(date))])
        assert set(split.test[u].indices) == after - before
        assert before  # only users active before the date are tested
    with pytest.raises(InvalidParameterError, match="split date"):
        split_by_time(data, "2030-01-01")
    with pytest.raises(InvalidParameterError, match="not a date"):
        split_by_time(data, "soon")


def test_evaluate_never_recommends_what_is_held_out_as_seen(data):
    # The seen products excluded at ranking time are the training ones: held-out products stay findable.
    result = evaluate(data, "pop,itemknn", protocol="last-n", n=2)
    assert result.metrics.loc["itemknn", "recall@10"] > 0


def test_planted_structure_beats_popularity(data):
    result = evaluate(data, "pop,itemknn,ease,als", protocol="last-n", n=2, ks=(5, 10))
    ndcg = result.metrics["ndcg@10"]
    for key in ("itemknn", "ease", "als"):
        assert ndcg[key] > ndcg["pop"] * 1.3, result.metrics
    assert result.metrics.loc["pop", "coverage@10"] < result.metrics.loc["itemknn", "coverage@10"]
    assert result.best() in ("itemknn", "ease", "als")


def test_result_table_and_json(data):
    result = evaluate(data, ["pop", "ease"], protocol="time-split", split_date="2025-01-20", ks=(10, 20),
                      model_params={"ease": {"l2": 100.0}})
    d = json.loads(json.dumps(result.to_dict()))
    assert d["protocol"]["name"] == "time-split" and d["protocol"]["split_date"] == "2025-01-20"
    assert "full catalogue" in d["protocol"]["ranking"] and "2025-01-20" in d["protocol"]["description"]
    assert set(d["models"]) == {"pop", "ease"}
    assert {"recall@10", "ndcg@20", "hit_rate@20", "coverage@10", "fit_seconds"} <= set(d["models"]["ease"])
    assert d["data"]["users_evaluated"] == result.users_evaluated > 0
    table = result.table()
    assert list(table.columns[:2]) == ["model", "Recall@10"] and len(table) == 2


def test_skipped_models_and_bad_parameters(data):
    result = evaluate(data, "pop,ease", n=2, model_params={"ease": {"max_items": 10}})
    assert "ease" in result.metrics.index and any("10 most frequent" in n for n in result.notes)
    with pytest.raises(InvalidParameterError, match="Unknown protocol"):
        evaluate(data, "pop", protocol="random")
    with pytest.raises(InvalidParameterError, match="not evaluated"):
        evaluate(data, "pop", model_params={"ease": {}})
    with pytest.raises(InvalidParameterError, match="K values"):
        evaluate(data, "pop", ks=(0,))


def test_too_few_products_per_user_says_what_to_do():
    df = planted_events(40, seed=9).groupby("user_id").head(2)
    it = from_frame(df)
    with pytest.raises(NoDataError, match="No user has more than 5 products.*Hold out fewer \\(at most 1\\)"):
        evaluate(it, "pop", n=5)
    assert evaluate(it, "pop", n=1).users_evaluated > 0
    one = from_frame(df.groupby("user_id").head(1))  # the fewer-or-time-split advice would fail there too
    with pytest.raises(NoDataError, match="No user has more than 1 product,.*Every user has a single product, so no "
                                          "recommendation can be tested on this log"):
        evaluate(one, "pop", n=1)
    assert any("the most popular ones for Popularity" in n for n in one.notes)


def test_max_users_samples_reproducibly(data):
    a = evaluate(data, "pop", n=2, max_users=50, random_state=1)
    b = evaluate(data, "pop", n=2, max_users=50, random_state=1)
    assert a.users_evaluated == 50 and a.metrics["recall@10"].equals(b.metrics["recall@10"])


def test_the_generated_shop_hides_what_the_models_find():
    log = generate_log(60_000, seed=7)
    con = duckdb.connect()
    con.register("ev", log.events)
    con.execute("CREATE TABLE events AS SELECT user_id, CAST(event_time AS TIMESTAMP) AS ts, event, item_id FROM ev")
    it = build_interactions(con, "events", "item_id")
    result = evaluate(it, "pop,itemknn,ease,als", n=5)
    ndcg = result.metrics["ndcg@20"]
    assert min(ndcg["itemknn"], ndcg["ease"], ndcg["als"]) > 1.1 * ndcg["pop"], result.metrics
    assert isinstance(pd.DataFrame(result.to_dict()["models"]), pd.DataFrame)

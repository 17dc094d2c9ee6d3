"""Every recommender finds the structure planted in small seeded logs, under one interface."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analytics.errors import InvalidParameterError
from analytics.recommend import ALS, BPR, EASE, MODELS, ItemKNN, Popularity, RecentPopularity, from_frame, make_model
from analytics.recommend.base import top_k
from analytics.recommend.models import log_weights
from tests.recommend_data import PAIRS, cluster_items, cluster_of, item_name, planted_events


@pytest.fixture(scope="module")
def data():
    return from_frame(planted_events(400, seed=0))


def _col(it, name):
    return int(np.flatnonzero(it.item_ids == name)[0])


def test_popularity_is_the_most_popular_unseen_products(data):
    model = Popularity().fit(data)
    items, scores = model.recommend(np.arange(data.n_users), 5)
    # Independent: distinct users per product, best first, ties by product index.
    users_per_item = pd.Series(data.item).groupby(data.user).unique().explode().value_counts()
    X = data.matrix.toarray() > 0
    for u in range(0, data.n_users, 37):
        ranking = sorted(range(data.n_items), key=lambda i: (-users_per_item.get(i, 0), i))
        expected = [i for i in ranking if not X[u, i]][:5]
        assert list(items[u]) == expected
        assert list(scores[u]) == [users_per_item[i] for i in expected]


def test_recent_popularity_counts_only_the_last_days():
    df = planted_events(200, seed=1)
    late = df["ts"].max() - pd.Timedelta(days=2)
    extra = pd.DataFrame({"user_id": [f"u{u:04d}" for u in range(30)], "ts": late, "event": "view_item",
                          "item_id": "p059"})
    it = from_frame(pd.concat([df, extra], ignore_index=True))
    recent = RecentPopularity(days=3).fit(it)
    all_time = Popularity().fit(it)
    fresh = 150  # a user who never had p059
    assert it.item_ids[recent.recommend([fresh], 1)[0][0, 0]] == "p059"
    assert it.item_ids[all_time.recommend([fresh], 1)[0][0, 0]] != "p059"


def test_itemknn_similarity_is_the_cosine_of_user_vectors(data):
    model = ItemKNN(neighbours=5).fit(data)
    X = log_weights(data.matrix).toarray()
    norm = np.linalg.norm(X, axis=0)
    cos = (X.T @ X) / np.outer(norm, norm)
    np.fill_diagonal(cos, 0)
    for i in (0, 17, 41, 55):
        items, sims = model.similar_items(i, 5)
        expected = np.argsort(-cos[i], kind="stable")[:5]
        assert np.allclose(sims, cos[i, expected], atol=1e-5)
        assert set(items) == set(expected)


@pytest.mark.parametrize("key", ["itemknn", "ease"])
def test_bundle_partners_rank_first(data, key):
    model = make_model(key).fit(data)
    for a, b in PAIRS:
        user_items = sp.csr_matrix(([5.0], ([0], [_col(data, item_name(a))])), shape=(1, data.n_items))
        items, _ = model.recommend([0], 3, user_items=user_items)
        assert data.item_ids[items[0, 0]] == item_name(b), (key, a)


@pytest.mark.parametrize("key", ["itemknn", "ease", "als"])
def test_personal_models_recommend_the_users_taste_cluster(data, key):
    model = make_model(key).fit(data)
    items, _ = model.recommend(np.arange(data.n_users), 5)
    share = np.mean([len({data.item_ids[i] for i in items[u] if i >= 0} & cluster_items(cluster_of(data.user_ids[u])))
                     / 5 for u in range(data.n_users)])
    pop_items, _ = Popularity().fit(data).recommend(np.arange(data.n_users), 5)
    pop_share = np.mean([len({data.item_ids[i] for i in pop_items[u]} & cluster_items(cluster_of(data.user_ids[u])))
                         / 5 for u in range(data.n_users)])
    assert share > 0.6 > pop_share + 0.2, (key, share, pop_share)


def test_ease_matches_the_closed_form(data):
    model = EASE(l2=50.0).fit(data)
    X = log_weights(data.matrix).toarray().astype(np.float64)
    G = X.T @ X + 50.0 * np.eye(data.n_items)
    P = np.linalg.inv(G)
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0)
    assert np.allclose(model.B, B, atol=1e-4)


def test_ease_restricts_large_catalogues_and_refuses_huge_ones(data):
    model = EASE(max_items=20).fit(data)
    assert "20 most frequent of 60" in model.note
    items, _ = model.recommend(np.arange(data.n_users), 10)
    assert items.max() < 20
    with pytest.raises(InvalidParameterError, match="GB of memory"):
        EASE(max_items=1_000_000)


@pytest.mark.parametrize("key", list(MODELS))
def test_seen_products_are_never_recommended_and_shapes_hold(data, key):
    model = make_model(key).fit(data)
    users = np.arange(0, data.n_users, 3)
    items, scores = model.recommend(users, 15)
    assert items.shape == scores.shape == (len(users), 15)
    X = data.matrix
    for r, u in enumerate(users):
        assert not set(items[r][items[r] >= 0]) & set(X[u].indices)
        assert np.all(np.diff(scores[r][np.isfinite(scores[r])]) <= 1e-6)
    kept, _ = model.recommend(users, 15, exclude_seen=False)
    assert kept.shape == (len(users), 15)


def test_fewer_products_than_k_are_padded():
    df = planted_events(50, seed=3)
    df = df[df["item_id"].isin(["p000", "p001", "p002", "p040"])]
    it = from_frame(df)
    items, scores = Popularity().fit(it).recommend(np.arange(it.n_users), 6)
    assert (items[:, 4:] == -1).all() and np.isnan(scores[:, 4:]).all()


@pytest.mark.parametrize("key", ["pop", "itemknn", "ease"])
def test_fresh_rows_equal_training_rows(data, key):
    model = make_model(key).fit(data)
    users = np.arange(0, 40)
    a, _ = model.recommend(users, 10)
    b, _ = model.recommend(np.arange(40), 10, user_items=data.matrix[:40])
    assert (a == b).all()


@pytest.mark.parametrize("cls", [ALS, BPR])
def test_factor_models_fold_in_new_users(data, cls):
    model = cls().fit(data)
    a, _ = model.recommend(np.arange(40), 10)
    b, _ = model.recommend(np.arange(40), 10, user_items=data.matrix[:40])
    overlap = np.mean([len(set(a[u]) & set(b[u])) / 10 for u in range(40)])
    assert overlap > 0.5


def test_same_seed_same_factors(data):
    a = ALS(random_state=3).fit(data).recommend(np.arange(50), 10)[0]
    b = ALS(random_state=3).fit(data).recommend(np.arange(50), 10)[0]
    assert (a == b).all()


def test_parameters_are_checked():
    with pytest.raises(InvalidParameterError, match="neighbours must be a whole number from 1"):
        ItemKNN(neighbours=0)
    with pytest.raises(InvalidParameterError, match="has no parameter factors"):
        make_model("ease", factors=3)
    with pytest.raises(InvalidParameterError, match="Unknown recommender 'svd'"):
        make_model("svd")
    with pytest.raises(InvalidParameterError, match="not fitted"):
        Popularity().recommend([0], 5)


def test_k_and_user_bounds(data):
    model = Popularity().fit(data)
    with pytest.raises(InvalidParameterError, match="k must be"):
        model.recommend([0], 0)
    with pytest.raises(InvalidParameterError, match="User indices"):
        model.recommend([data.n_users], 5)


def test_top_k_breaks_ties_by_index_even_at_the_cut():
    s = np.array([[1, 3, 3, 3, 0, -np.inf], [5, 5, 5, 5, 5, 5]], dtype=np.float32)
    idx, val = top_k(s, 2)
    assert idx.tolist() == [[1, 2], [0, 1]]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(50, 200)).astype(np.float32)
    idx, _ = top_k(x, 17)
    assert (idx == np.argsort(-x, axis=1, kind="stable")[:, :17]).all()

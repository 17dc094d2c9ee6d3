"""Interactions from the events table: weights, indexing, and clear messages on bad input."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidParameterError, MappingError, NoDataError
from analytics.recommend import DEFAULT_WEIGHTS, build_interactions, from_frame
from tests.recommend_data import planted_events


def _con(df: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("frame", df)
    con.execute("CREATE TABLE events AS SELECT * FROM frame")
    return con


def test_weights_sum_per_user_and_product_against_pandas():
    df = planted_events(120, seed=1)
    it = from_frame(df)
    w = df["event"].map(DEFAULT_WEIGHTS)
    expected = df.assign(w=w).groupby(["user_id", "item_id"])["w"].sum()
    coo = it.matrix.tocoo()
    got = pd.Series(coo.data, index=pd.MultiIndex.from_arrays(
        [it.user_ids[coo.row], it.item_ids[coo.col]], names=["user_id", "item_id"])).sort_index()
    pd.testing.assert_series_equal(got.astype(float), expected.sort_index().astype(float), check_names=False)
    # Products are indexed from the most to the least frequent (distinct users).
    users_per_item = np.diff(it.matrix.tocsc().indptr)
    assert (np.diff(users_per_item) <= 0).all()


def test_custom_weights_and_ignored_events():
    df = planted_events(80, seed=2)
    only_buys = from_frame(df, weights={"purchase": 1, "view_item": 0})
    assert set(np.unique(only_buys.weight)) <= {1.0, 2.0, 3.0, 4.0}
    bought = df[df["event"] == "purchase"].groupby(["user_id", "item_id"]).size()
    assert only_buys.matrix.nnz == len(bought)
    with pytest.raises(InvalidParameterError, match="between 0 and 1000"):
        from_frame(df, weights={"purchase": -1})
    with pytest.raises(InvalidParameterError, match="positive weight"):
        from_frame(df, weights={"purchase": 0})


def test_from_a_workspace_dataset(workspace, tmp_path):
    df = planted_events(60, seed=3)
    path = tmp_path / "log.csv"
    df.assign(ts=df["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)
    ds = workspace.import_file(path, name="shop")
    it = build_interactions(workspace.cursor(), ds.events_table, "item_id")
    assert it.n_users == df["user_id"].nunique() and it.n_items == df["item_id"].nunique()
    assert it.summary()["item_column"] == "item_id"


def test_no_item_column_names_the_candidates(sample_dataset, workspace):
    con = workspace.cursor()
    with pytest.raises(MappingError, match="Recommendations need an item column.*'item_id', 'channel'"):
        build_interactions(con, sample_dataset.events_table, None)
    # The sample as it was before it had products.
    con.execute(f"CREATE TEMP TABLE no_items AS SELECT * EXCLUDE (item_id) FROM {sample_dataset.events_table}")
    with pytest.raises(MappingError, match="no column 'item_id'.*'channel', 'platform', 'country', 'category'"):
        build_interactions(con, "no_items", "item_id")


def test_price_column_is_detected():
    df = planted_events(50, seed=4)
    rng = np.random.default_rng(0)
    df["price"] = np.round(rng.uniform(2, 200, len(df)), 2)
    df["price_text"] = df["price"].map(lambda v: f"{v:.2f}")
    con = _con(df)
    for col in ("price", "price_text"):
        with pytest.raises(MappingError, match="looks like a price"):
            build_interactions(con, "events", col)


def test_whole_number_ids_are_fine():
    df = planted_events(50, seed=5)
    df["sku"] = df["item_id"].str[1:].astype(int) + 1000
    df["sku_float"] = df["sku"].astype(float)
    con = _con(df)
    a = build_interactions(con, "events", "sku")
    b = build_interactions(con, "events", "sku_float")
    assert set(a.item_ids) == set(b.item_ids) == {str(v) for v in df["sku"].unique()}


def test_one_product_and_no_weighted_products():
    df = planted_events(30, seed=6).assign(item_id="p000")
    with pytest.raises(NoDataError, match="Only one product"):
        from_frame(df)
    df = planted_events(30, seed=6).assign(event="click")
    with pytest.raises(NoDataError, match="'click'.*Give those events weights"):
        from_frame(df)
    df = planted_events(30, seed=6).assign(item_id=None)
    with pytest.raises(NoDataError, match="empty in every event"):
        from_frame(df)


def test_users_with_one_interaction_are_kept_and_noted():
    df = planted_events(40, seed=7)
    lone = pd.DataFrame({"user_id": ["solo1", "solo2"], "ts": pd.to_datetime(["2025-02-01", "2025-02-02"]),
                         "event": "purchase", "item_id": ["p001", "p002"]})
    it = from_frame(pd.concat([df, lone], ignore_index=True))
    assert {"solo1", "solo2"} <= set(it.user_ids)
    assert any("single product" in n for n in it.notes)


def test_a_million_products_keeps_the_most_frequent_with_a_note():
    # A long tail of ~1M products seen once, and 2,000 products that many users share.
    con = duckdb.connect()
    con.execute("""CREATE TABLE events AS
        SELECT 'u' || (i % 5000) AS user_id, TIMESTAMP '2025-01-01' + INTERVAL (i % 1000) MINUTE AS ts,
               'view_item' AS event, 'p' || (CASE WHEN i % 10 < 3 THEN hash(i) % 2000 ELSE 2000 + i END) AS item_id
        FROM range(1500000) t(i)""")
    it = build_interactions(con, "events", "item_id", max_items=1000)
    assert it.n_items == 1000
    assert any("has 1,052,000 products; the 1,000 most frequent are used" in n for n in it.notes)
    assert {int(p[1:]) for p in it.item_ids} <= set(range(2000))  # the shared products come first
    with pytest.raises(InvalidParameterError, match="max_items"):
        build_interactions(con, "events", "item_id", max_items=1)
    # Without the shared head, a new value per interaction is an id, not a product: refused, not capped.
    con.execute("CREATE TABLE orders AS SELECT user_id, ts, event, 'o' || rowid AS order_id FROM events LIMIT 100000")
    with pytest.raises(MappingError, match="only 0.0% of the 100,000 user-product pairs.*order, event or session"):
        build_interactions(con, "orders", "order_id", max_items=1000)


def test_subset_keeps_the_index_and_fingerprint_changes():
    it = from_frame(planted_events(60, seed=8))
    half = it.subset(np.arange(it.n_records) % 2 == 0)
    assert half.n_items == it.n_items and half.n_users == it.n_users
    assert half.fingerprint() != it.fingerprint()
    assert it.fingerprint() == from_frame(planted_events(60, 8)).fingerprint()

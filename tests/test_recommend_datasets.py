"""Recommendations on stored datasets: item column, weights, product attributes, saved models, the sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.errors import MappingError, ModelCompatibilityError, NoDataError
from analytics.recommend import (
    DEFAULT_WEIGHTS,
    EvaluationResult,
    also_bought,
    default_split_date,
    evaluate,
    from_frame,
    make_model,
    segment_items,
    split_by_time,
)
from analytics.recommend import datasets as rec_data
from sample_data.generate import items_truth_path
from tests.helpers import SAMPLE_TRUTH, write
from tests.recommend_data import planted_events


@pytest.fixture(scope="module")
def sample_items() -> pd.DataFrame:
    return pd.read_csv(items_truth_path(SAMPLE_TRUTH))


@pytest.fixture
def sample_data(sample_dataset, workspace):
    return rec_data.dataset_interactions(workspace, sample_dataset.id, "item_id")


def test_the_sample_names_its_products(sample_dataset, workspace, sample_items):
    ws, ds = workspace, sample_dataset.id
    assert rec_data.default_item_column(ws, ds) == "item_id"
    assert rec_data.item_columns(ws, ds)[0] == "item_id"
    assert rec_data.resolve_item_column(ws, ds, None) == rec_data.resolve_item_column(ws, ds, "ITEM_ID") == "item_id"
    with pytest.raises(MappingError, match="no column 'sku'.*'item_id'"):
        rec_data.resolve_item_column(ws, ds, "sku")
    weights = rec_data.event_weights(ws, ds, "item_id").set_index("event")
    assert weights.loc["page_view", "with_item"] == 0 and weights.loc["page_view", "weight"] == 0
    assert weights.loc[weights["weight"] > 0, "weight"].to_dict() == DEFAULT_WEIGHTS
    # The events' category is the product's: it becomes the product attribute, channel and country do not.
    attrs = rec_data.dataset_item_attributes(ws, ds, "item_id")
    assert list(attrs.columns) == ["item_id", "category"] and len(attrs) == len(sample_items)
    assert attrs.merge(sample_items, on="item_id", suffixes=("", "_truth")).eval("category == category_truth").all()


def test_a_log_without_products_says_what_it_needs(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "no_items.csv", "user,time,event,channel\n"
                                     "a,2025-01-01 10:00,view,email\nb,2025-01-02 10:00,buy,ads\n"))
    assert rec_data.default_item_column(workspace, ds.id) is None
    assert rec_data.item_columns(workspace, ds.id) == ["channel"]
    with pytest.raises(MappingError, match="need an item column.*'channel'"):
        rec_data.resolve_item_column(workspace, ds.id, None)


def test_an_order_id_is_not_a_product(workspace, tmp_path):
    rows = "\n".join(f"u{i % 300},2025-01-{1 + i % 28:02d} 10:{i % 60:02d},purchase,o{i}" for i in range(1500))
    ds = workspace.import_file(write(tmp_path / "orders.csv", "user,time,event,order_ref\n" + rows + "\n"))
    with pytest.raises(MappingError, match="1,500 different values.*only 0.0% of the 1,500.*order, event or session"):
        rec_data.dataset_interactions(workspace, ds.id, "order_ref", {"purchase": 1})


def test_saved_recommender_recommends_for_a_dataset(sample_dataset, workspace, sample_data, tmp_path):
    model = make_model("ease").fit(sample_data)
    folder = rec_data.save_dataset_recommender(workspace, sample_dataset.id, "Shop EASE", model, sample_data,
                                               {"ndcg": 0.29, "protocol": "last-n"})
    assert (folder / "arrays.npz").is_file()
    saved = rec_data.saved_recommenders(workspace, sample_dataset.id)
    assert saved[["name", "model", "item column", "products", "NDCG"]].iloc[0].tolist() == [
        "shop_ease", "EASE (Steck 2019)", "item_id", 300, 0.29]
    # Newer data: the sample's last month as a dataset of its own.
    events = workspace.events(sample_dataset.id, limit=None)
    recent = events[events["ts"] >= "2025-06-01"].rename(columns={"ts": "event_time"})
    path = tmp_path / "june.csv"
    recent.drop(columns=["session_id"]).to_csv(path, index=False)
    june = workspace.import_file(path, name="June")
    recs = rec_data.recommend_for_dataset(workspace, sample_dataset.id, "shop_ease", june.id, 5)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "category"]
    assert set(recs["user_id"]) <= set(recent["user_id"]) and recs.groupby("user_id").size().max() == 5
    had = set(zip(recent["user_id"], recent["item_id"]))
    assert not any((u, i) in had for u, i in zip(recs["user_id"], recs["item_id"]))  # nothing they already had
    (folder / "arrays.npz").write_bytes(b"not a model")
    with pytest.raises(ModelCompatibilityError):
        rec_data.recommend_for_dataset(workspace, sample_dataset.id, "shop_ease", june.id, 5)


def test_settings_keys_are_stable_and_distinct():
    a = rec_data.settings_key("eval", item_col="item_id", weights={"purchase": 5, "view_item": 1}, n=5)
    b = rec_data.settings_key("eval", n=5, weights={"view_item": 1, "purchase": 5}, item_col="item_id")
    c = rec_data.settings_key("eval", item_col="item_id", weights={"purchase": 5, "view_item": 1}, n=3)
    assert a == b != c and a.startswith("eval_")


def test_stored_evaluation_reads_back_and_default_split_date():
    data = from_frame(planted_events(200, seed=3))
    result = evaluate(data, "pop,ease", protocol="time-split")
    again = EvaluationResult.from_dict(result.to_dict())
    assert again.to_dict() == result.to_dict() and again.best() == result.best()
    pd.testing.assert_frame_equal(again.table(), result.table())
    assert str(default_split_date(data)) == split_by_time(data).split_date == result.split_date
    share_after = np.mean(data.day >= default_split_date(data))
    assert 0.1 < share_after < 0.3


def test_models_find_the_sample_structure(sample_dataset, workspace, sample_data, sample_truth, sample_items):
    # Persistent tastes: personal models beat popularity on each user's last products.
    result = evaluate(sample_data, "pop,ease,als")
    ndcg = result.metrics["ndcg@20"]
    assert ndcg["ease"] > 1.15 * ndcg["pop"] and ndcg["als"] > 1.15 * ndcg["pop"]
    # Product lines: the products that characterise a taste line are of that line.
    lines = sample_truth[["user_id", "taste_line"]].rename(columns={"taste_line": "segment"})
    per_line = segment_items(sample_data, lines, 10).merge(sample_items[["item_id", "line"]], on="item_id")
    assert (per_line["line"] == per_line["segment"]).mean() > 0.9
    # Bundles: buyers of a bundle product also bought its partner.
    buys = rec_data.dataset_interactions(workspace, sample_dataset.id, "item_id", {"purchase": 1})
    hits = []
    for item, partners in sample_items.dropna(subset=["bundle_with"])[["item_id", "bundle_with"]].itertuples(
            index=False):
        if item in set(buys.item_ids):
            hits.append(bool(set(partners.split()) & set(also_bought(buys, item, 3)["item_id"])))
    assert len(hits) > 40 and np.mean(hits) > 0.5


def test_a_spark_dataset_is_refused_with_the_reason(sample_dataset, workspace, monkeypatch):
    from analytics.workspace import Dataset

    monkeypatch.setattr(Dataset, "has_events", property(lambda self: False))
    with pytest.raises(NoDataError, match="data lake.*import the log"):
        rec_data.item_columns(workspace, sample_dataset.id)

"""Using recommendations: lists, segments, "also bought", CSV export, saved models, charts."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analytics.charts.recommend import also_bought_chart, metrics_chart, popularity_curve, segment_items_chart
from analytics.errors import InvalidParameterError, ModelCompatibilityError, NoDataError
from analytics.recommend import (
    MODELS,
    also_bought,
    evaluate,
    export_recommendations,
    from_frame,
    load_recommender,
    make_model,
    read_recommender_metadata,
    recommend_latest,
    save_recommender,
    segment_items,
    top_items,
)
from tests.recommend_data import PAIRS, cluster_items, cluster_of, item_name, planted_events


@pytest.fixture(scope="module")
def data():
    return from_frame(planted_events(300, seed=11))


@pytest.fixture(scope="module")
def knn(data):
    return make_model("itemknn").fit(data)


def test_top_items_with_names(data, knn):
    attrs = pd.DataFrame({"item_id": [item_name(i) for i in range(60)], "name": [f"Product {i}" for i in range(60)],
                          "price": np.arange(60) + 0.5})
    recs = top_items(knn, data, 5, item_attributes=attrs)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "name", "price"]
    assert recs.groupby("user_id").size().max() == 5 and recs["user_id"].nunique() == data.n_users
    assert (recs["name"] == "Product " + recs["item_id"].str[1:].astype(int).astype(str)).all()
    one = top_items(knn, data, 3, users=[data.user_ids[4]])
    assert one["rank"].tolist() == [1, 2, 3]
    with pytest.raises(InvalidParameterError, match="1 user\\(s\\) have no products.*nobody"):
        top_items(knn, data, 3, users=["nobody"])
    with pytest.raises(InvalidParameterError, match="item_id"):
        top_items(knn, data, 3, item_attributes=pd.DataFrame({"sku": [1]}))


def test_export_is_formula_safe(data, knn, tmp_path):
    recs = top_items(knn, data, 2).head(4).copy()
    recs.loc[0, "user_id"] = "=HYPERLINK(\"http://x\")"
    recs.loc[1, "item_id"] = "+cmd"
    text = export_recommendations(recs).decode()
    assert text.splitlines()[0] == "user_id,rank,item_id,score"
    assert "'=HYPERLINK" in text and "'+cmd" in text
    path = export_recommendations(recs, tmp_path / "recs.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == ["user_id", "rank", "item_id", "score"] and len(back) == 4
    with pytest.raises(InvalidParameterError, match="lack"):
        export_recommendations(recs.drop(columns=["score"]))


def test_segment_items_finds_each_clusters_products(data):
    segments = pd.DataFrame({"user_id": data.user_ids, "segment": [f"taste {cluster_of(u)}" for u in data.user_ids]})
    table = segment_items(data, segments, top=5)
    for c in range(4):
        mine = table[table["segment"] == f"taste {c}"]
        assert set(mine["item_id"]) <= cluster_items(c)
        assert (mine["lift"] > 2).all()
    # Lift = share in the segment / share overall, recomputed by hand for one row.
    row = table.iloc[0]
    X = data.matrix.toarray() > 0
    col = int(np.flatnonzero(data.item_ids == row["item_id"])[0])
    in_seg = segments["segment"].eq(row["segment"]).to_numpy()
    assert row["lift"] == pytest.approx(X[in_seg, col].mean() / X[:, col].mean())
    with pytest.raises(NoDataError, match="same dataset"):
        segment_items(data, pd.DataFrame({"user_id": ["x"], "segment": [1]}))


def test_also_bought_finds_the_bundle_partner():
    buys = from_frame(planted_events(300, seed=11), weights={"purchase": 1})
    for a, b in PAIRS:
        table = also_bought(buys, item_name(a), 5)
        assert table.iloc[0]["item_id"] == item_name(b)
        assert table.iloc[0]["confidence"] > 0.5
    with pytest.raises(InvalidParameterError, match="does not appear"):
        also_bought(buys, "p999")


@pytest.mark.parametrize("key", list(MODELS))
def test_save_and_load_round_trip(data, key, tmp_path):
    model = make_model(key).fit(data)
    folder = save_recommender(model, data, tmp_path / key, extra={"dataset": "shop"})
    saved = load_recommender(folder)
    assert saved.model.key == key and saved.meta["extra"] == {"dataset": "shop"}
    assert list(saved.item_ids) == list(data.item_ids)
    a, sa = model.recommend(np.arange(30), 10)
    b, sb = saved.model.recommend(np.arange(30), 10)
    assert (a == b).all() and np.allclose(sa, sb, equal_nan=True)
    # Folding in the same users' products from new data gives mostly the same lists.
    c, _ = saved.model.recommend(np.arange(30), 10, user_items=data.matrix[:30])
    assert np.mean([len(set(a[u]) & set(c[u])) / 10 for u in range(30)]) > 0.5
    meta = read_recommender_metadata(folder)
    assert meta["data_fingerprint"] == data.fingerprint() and "numpy" in meta["versions"]


def test_tampered_or_foreign_files_are_refused(data, knn, tmp_path):
    folder = save_recommender(knn, data, tmp_path / "m")
    arrays = folder / "arrays.npz"
    raw = bytearray(arrays.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    arrays.write_bytes(bytes(raw))
    with pytest.raises(ModelCompatibilityError, match="changed since it was saved"):
        load_recommender(folder)

    # Rewritten files with a matching checksum: an object array (pickle) or an array unlike its description.
    for name, bad, message in [("state_similarity_data", np.array([object()], dtype=object), "cannot be read"),
                               ("state_similarity_data", np.zeros(3, dtype=np.float32), "not what the description")]:
        folder2 = save_recommender(knn, data, tmp_path / f"m2_{message[:3]}")
        with np.load(folder2 / "arrays.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays[name] = bad
        with open(folder2 / "arrays.npz", "wb") as fh:
            np.savez(fh, **arrays)
        meta = json.loads((folder2 / "metadata.json").read_text())
        meta["arrays_sha256"] = hashlib.sha256((folder2 / "arrays.npz").read_bytes()).hexdigest()
        (folder2 / "metadata.json").write_text(json.dumps(meta))
        with pytest.raises(ModelCompatibilityError, match=message):
            load_recommender(folder2)

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelCompatibilityError, match="no saved recommender"):
        load_recommender(tmp_path / "empty")
    folder3 = save_recommender(knn, data, tmp_path / "m3")
    (folder3 / "metadata.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ModelCompatibilityError, match="does not hold"):
        load_recommender(folder3)
    with pytest.raises(InvalidParameterError, match="not empty"):
        save_recommender(knn, data, folder3)


def test_recommend_latest_with_a_saved_model(data, tmp_path):
    model = make_model("ease").fit(data)
    saved = load_recommender(save_recommender(model, data, tmp_path / "ease"))
    newer = from_frame(planted_events(80, seed=12).assign(user_id=lambda d: "new_" + d["user_id"]))
    recs = recommend_latest(saved.model, saved.item_ids, newer, 5)
    assert recs["user_id"].str.startswith("new_").all() and recs["user_id"].nunique() == newer.n_users
    hit = np.mean([len(set(g["item_id"]) & cluster_items(cluster_of(u[4:]))) / 5 for u, g in recs.groupby("user_id")])
    assert hit > 0.5


def test_charts_build_and_escape(data, knn):
    result = evaluate(data, "pop,itemknn", n=2)
    fig = metrics_chart(result)
    assert isinstance(fig, go.Figure) and len(fig.data) == 2
    assert "held out" in fig.layout.title.text
    assert isinstance(popularity_curve(data), go.Figure)
    seg = segment_items(data, pd.DataFrame({"user_id": data.user_ids, "segment": "<b>all</b>"}), min_users=1)
    assert "&lt;b&gt;" in segment_items_chart(seg, "<b>all</b>").layout.title.text
    ab = also_bought(data, item_name(54), 5)
    assert isinstance(also_bought_chart(ab, "<i>x</i>"), go.Figure)


def test_segment_items_keeps_only_what_stands_out(data):
    everyone = pd.DataFrame({"user_id": data.user_ids, "segment": "all"})
    assert segment_items(data, everyone).empty  # lift 1 everywhere: nothing characterises "everyone"
    assert np.allclose(segment_items(data, everyone, min_lift=0)["lift"], 1.0)
    with pytest.raises(InvalidParameterError, match="min_lift"):
        segment_items(data, everyone, min_lift=-1)


def test_a_list_whose_scores_are_all_about_zero_is_flagged():
    """ALS on a log where each user has one product scored every product ~1e-24: an arbitrary order.
    Item kNN has no co-purchases to go by either; popularity still ranks."""
    from analytics.recommend import flat_scores

    one = from_frame(planted_events(200, seed=4).groupby("user_id").head(1))
    lists = {key: top_items(make_model(key).fit(one), one, 5) for key in ("als", "itemknn", "pop")}
    assert flat_scores(lists["als"]) and flat_scores(lists["itemknn"]) and not flat_scores(lists["pop"])
    assert not flat_scores(lists["als"].head(0))
    full = from_frame(planted_events(200, seed=4))
    assert not flat_scores(top_items(make_model("als").fit(full), full, 5))

"""AppTest of the Recommendations page: empty workspace, the sample end to end, logs without products, bad input."""

from __future__ import annotations

import pandas as pd

from tests.apptest_helpers import app, button, errors, no_traceback, open_page, read, text_box
from tests.helpers import write
from tests.sequence_data import without_torch

PAGE = "pages/recommendations.py"


def frames_with(at, column: str) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if column in d.value.columns]


def test_empty_workspace(workspace):
    at = open_page(app(), PAGE)
    assert any("no dataset yet" in i.value for i in at.info)


def test_sample_evaluate_list_save_and_reload(sample_dataset, workspace):
    ds = sample_dataset
    at = open_page(app(), PAGE)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Products"] == "300" and metrics["Users with products"] == "905"
    assert at.selectbox(key=f"rec_item_{ds.id}").value == "item_id"
    at.multiselect(key=f"rec_models_{ds.id}").set_value(["pop", "ease"]).run()
    assert any("Last-5 hold-out" in c.value for c in at.caption)  # the protocol, stated before evaluating
    button(at, "Evaluate").click().run()
    no_traceback(at)
    assert errors(at) == []
    [table] = frames_with(at, "Recall@10")
    assert table["model"].tolist() == ["Popularity (all time)", "EASE (Steck 2019)"]
    assert {"NDCG@20", "Hit rate@20", "Coverage@10"} <= set(table.columns)
    assert any("567 users with more than 5 products" in i.value for i in at.info)
    assert len(workspace.results(ds.id, "receval")) == 1

    # The best model (EASE) is the default; top 20 for every user, with the product's category.
    assert at.selectbox(key=f"rec_model_{ds.id}_ease").value == "ease"
    button(at, "Recommend for every user").click().run()
    no_traceback(at)
    [recs] = frames_with(at, "score")
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "category"] and recs["rank"].max() == 20
    labels = [b.label for b in at.get("download_button")]
    assert "Download recommendations (CSV: user_id, rank, item_id, score)" in labels
    text_box(at, "Model name").set_value("shop ease").run()
    button(at, "Save model").click().run()
    no_traceback(at)
    [saved] = workspace.results(ds.id, "model")
    assert (saved.key, saved.meta["type"], saved.meta["model"]) == ("shop_ease", "recommender", "ease")
    button(at, "Recommend for the latest data").click().run()
    no_traceback(at)
    assert errors(at) == []

    # A reload opens the page with the last settings and shows the stored results without computing them.
    again = open_page(app(), PAGE)
    assert again.multiselect(key=f"rec_models_{ds.id}").value == ["pop", "ease"]
    assert frames_with(again, "Recall@10") and frames_with(again, "score")
    assert len(workspace.results(ds.id, "receval")) == 1


def test_segments_and_also_bought(sample_dataset, workspace, sample_truth):
    labels = sample_truth[["user_id", "taste_line"]].rename(columns={"taste_line": "segment"})
    workspace.put_result(sample_dataset.id, "segmentation", "tastes", {}, {"labels": labels.assign(segment_id=0)})
    at = open_page(app(), PAGE)
    [per_segment] = frames_with(at, "overall_share")
    assert set(per_segment["segment"]) == {"value", "classic", "premium"} and (per_segment["lift"] > 1).all()
    [also] = frames_with(at, "users_with_both")
    assert {"item_id", "product", "confidence", "lift"} <= set(also.columns) and len(also) > 0
    assert at.toggle(key="rec_only_buys").value is True
    assert errors(at) == []


def test_a_log_without_products_says_what_it_needs(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "plain.csv", "user,time,event,channel\na,2025-01-01,view,email\n"
                                                             "b,2025-01-02,buy,ads\n"))
    at = open_page(app(), PAGE)
    assert any("item column" in i.value and "every other page works" in i.value.lower() for i in at.info)
    assert at.selectbox(key=f"rec_item_{ds.id}").value is None and errors(at) == []
    at.selectbox(key=f"rec_item_{ds.id}").set_value("channel").run()  # any text column may be chosen
    no_traceback(at)
    workspace.import_file(write(tmp_path / "bare.csv", "user,time,event\na,2025-01-01,view\n"), name="bare")
    at = open_page(app(), PAGE)
    assert any("no column besides user, time, event" in i.value for i in at.info)


SHOP = "user,time,event,amount,unit_price,order_ref,item_id\n" + "".join(
    f"u{u},2025-01-{1 + (u + j) % 28:02d} 1{j % 10}:00,purchase,10,{(u % 7) + 0.49},o{u * 40 + j},"
    f"{'p1' if u % 2 else 'p2'}\n" for u in range(30) for j in range(40))


def test_bad_columns_and_data_are_explained(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "shop.csv", SHOP))
    at = open_page(app(), PAGE)
    at.selectbox(key=f"rec_item_{ds.id}").set_value("unit_price").run()
    no_traceback(at)
    assert any("numbers with decimals" in e and "price" in e for e in errors(at))
    at.selectbox(key=f"rec_item_{ds.id}").set_value("order_ref").run()
    no_traceback(at)
    assert any("order, event or session id" in e for e in errors(at))
    # Every user bought one product: two products in all, and nobody has more than one to hide.
    at.selectbox(key=f"rec_item_{ds.id}").set_value("item_id").run()
    no_traceback(at)
    assert errors(at) == []
    button(at, "Evaluate").click().run()
    no_traceback(at)
    assert any("No user has more than 5 products" in e and "Every user has a single product" in e
               for e in errors(at))
    assert [s.label for s in at.status] == ["Evaluating: stopped"]  # not left saying "Evaluating..."


def test_a_list_in_arbitrary_order_says_so(workspace, tmp_path):
    """One product per user among 30: ALS has nothing to rank by (every score ~1e-24)."""
    ds = workspace.import_file(write(tmp_path / "once.csv", "user,time,event,item_id\n" + "".join(
        f"u{i},2025-01-{1 + i % 28:02d},purchase,p{i % 30}\n" for i in range(300))))
    at = open_page(app(), PAGE)
    at.selectbox(key=f"rec_model_{ds.id}_None").set_value("als").run()  # nothing evaluated: no best model yet
    button(at, "Recommend for every user").click().run()
    no_traceback(at)
    assert any("ALS" in w.value and "the order of this list is arbitrary" in w.value for w in at.warning)
    at.selectbox(key=f"rec_model_{ds.id}_None").set_value("pop").run()
    button(at, "Recommend for every user").click().run()
    assert not any("arbitrary" in w.value for w in at.warning)


def test_one_product_is_explained(workspace, tmp_path):
    workspace.import_file(write(tmp_path / "one.csv", "user,time,event,item_id\n" + "".join(
        f"u{i},2025-01-0{1 + i % 5},purchase,p1\n" for i in range(20))))
    at = open_page(app(), PAGE)
    assert any("Only one product" in e for e in errors(at))


def test_a_catalogue_above_the_cap_keeps_the_most_frequent(sample_dataset, workspace, monkeypatch):
    from analytics.recommend import interactions

    monkeypatch.setattr(interactions, "MAX_ITEMS", 50)  # as a catalogue of millions would meet the real cap
    at = open_page(app(), PAGE)
    assert {m.label: m.value for m in at.metric}["Products"] == "50"
    assert any("The catalogue has 300 products; the 50 most frequent are used" in i.value for i in at.info)


def test_time_split_is_stated_and_evaluated(sample_dataset, workspace):
    ds = sample_dataset
    at = open_page(app(), PAGE)
    at.multiselect(key=f"rec_models_{ds.id}").set_value(["pop", "pop_recent"]).run()
    at.radio(key=f"rec_proto_{ds.id}").set_value("time-split").run()
    split = at.date_input(key=f"rec_split_{ds.id}").value
    assert split.isoformat() == "2025-05-24"  # the day that leaves ~20% of the interactions after it
    assert any(f"Time split at {split.isoformat()}" in c.value for c in at.caption)
    button(at, "Evaluate").click().run()
    no_traceback(at)
    assert any(f"Time split at {split.isoformat()}: the models learn from everything before it"
               in i.value.replace("\\", "") for i in at.info)  # shown escaped, as plain text
    [table] = frames_with(at, "Recall@20")
    assert table["model"].tolist() == ["Popularity (all time)", "Popularity (recent)"]


def test_hostile_product_and_event_names_stay_text(workspace, tmp_path):
    from tests.test_app_hostile_text import IMAGE, LINK, assert_no_markup

    rows = ["user,time,event,item_id"]
    for u in range(40):
        for j in range(8):
            event = f"{LINK} buy" if j % 4 == 0 else ("page" if j % 4 == 1 else "view_item")
            item = "" if event == "page" else (f"{IMAGE}{(u + j) % 6}" if j % 2 else f"p{(u * 3 + j) % 9}")
            rows.append(f"u{u},2025-01-{1 + (u + j) % 28:02d} 1{j}:00,{event},{item}")
    ds = workspace.import_file(write(tmp_path / "hostile.csv", "\n".join(rows) + "\n"), name=f"{IMAGE} shop")
    at = open_page(app(), PAGE)
    assert at.selectbox(key=f"rec_item_{ds.id}").value == "item_id" and errors(at) == []
    assert any("Events without a product are not used" in c.value for c in at.caption)  # the 'page' event
    assert_no_markup(at)
    at.multiselect(key=f"rec_models_{ds.id}").set_value(["pop"]).run()
    at.number_input(key=f"rec_n_{ds.id}").set_value(1).run()
    button(at, "Evaluate").click().run()
    button(at, "Recommend for every user").click().run()
    assert frames_with(at, "score") and errors(at) == []
    assert_no_markup(at)


def test_the_sequence_recommender_joins_the_comparison(sample_dataset, workspace):
    ds = sample_dataset
    at = open_page(app(), PAGE)
    picker = at.multiselect(key=f"rec_models_{ds.id}")
    assert "gru4rec" in picker.options or "Sequence (GRU4Rec-style)" in picker.options
    picker.set_value(["pop", "gru4rec"]).run()
    button(at, "Evaluate").click().run()
    no_traceback(at)
    assert errors(at) == []
    [table] = frames_with(at, "Recall@10")
    assert table["model"].tolist() == ["Popularity (all time)", "Sequence (GRU4Rec-style)"]
    assert (table["NDCG@20"] > 0).all()
    assert workspace.results(ds.id, "receval")[0].meta["result"]["skipped"] == {}


def test_without_pytorch_the_sequence_recommender_is_not_offered(sample_dataset, workspace, monkeypatch):
    without_torch(monkeypatch)  # "import torch" fails as on a machine without it
    at = open_page(app(), PAGE)
    picker = at.multiselect(key=f"rec_models_{sample_dataset.id}")
    assert not any("GRU4Rec" in str(o) or o == "gru4rec" for o in picker.options)
    assert any("pip install -r requirements-deep.txt" in read(c.value) for c in at.caption)
    assert errors(at) == []

"""Products in the sample generator: other columns unchanged, and the promised product structure."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest

from sample_data.generate import generate, generate_log, items_truth_path, main
from tests.helpers import SAMPLE_TRUTH


@pytest.fixture(scope="module")
def log():
    out = generate_log(60_000, seed=11)
    return out.events.to_pandas(), out.truth.to_pandas(), out.items.to_pandas()


def test_the_committed_sample_is_the_generator_with_products(sample_log):
    # generate.py --events 60000 --seed 7 (-o sample_events.csv.gz --truth sample_truth.csv.gz).
    log = generate_log(60_000, seed=7)
    assert log.events.column_names[-1] == "item_id"
    for table, path in ((log.events, sample_log), (log.truth, SAMPLE_TRUTH),
                        (log.items, items_truth_path(SAMPLE_TRUTH))):
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="none"))
        assert buf.getvalue() == gzip.decompress(path.read_bytes()), path.name


def test_no_items_is_the_log_without_the_item_column():
    with_items, truth_a = generate(10_000, seed=4)
    without, truth_b = generate(10_000, seed=4, items=False)
    assert "item_id" not in without.column_names
    assert with_items.drop_columns(["item_id"]).equals(without)
    assert truth_a.select(truth_b.column_names).equals(truth_b)


def test_cli_writes_the_product_truth_next_to_the_user_truth(tmp_path):
    out, truth = tmp_path / "log.csv", tmp_path / "truth.csv.gz"
    assert main(["--events", "5000", "-o", str(out), "--truth", str(truth)]) == 0
    items = pd.read_csv(items_truth_path(truth))
    assert items_truth_path(truth).name == "truth_items.csv.gz"
    assert {"item_id", "category", "line", "bundle", "bundle_with"} <= set(items.columns)
    assert main(["--events", "5000", "-o", str(out), "--no-items"]) == 0
    assert "item_id" not in pd.read_csv(out, nrows=5).columns


def test_every_product_event_has_a_product_of_its_category(log):
    events, _, items = log
    product_events = events["event"].isin(["view_item", "add_to_cart", "begin_checkout", "purchase"])
    assert events["item_id"].notna().eq(product_events).all()
    m = events[product_events].merge(items[["item_id", "category"]], on="item_id", suffixes=("", "_of_item"))
    assert len(m) == product_events.sum() and (m["category"] == m["category_of_item"]).all()
    assert events["item_id"].dropna().str.fullmatch(r"p\d{5}").all()


def test_popularity_is_a_power_law(log):
    events, _, items = log
    counts = events["item_id"].value_counts()
    top_decile = counts.iloc[: max(1, len(items) // 10)].sum() / counts.sum()
    assert top_decile > 0.35  # a uniform catalogue would give 0.10
    # More popular in truth -> more events.
    n = items.set_index("item_id")["popularity_rank"].map(lambda r: "head" if r <= 3 else "tail")
    per_item = counts.reindex(items["item_id"]).fillna(0)
    assert per_item.groupby(n.reindex(per_item.index)).mean()["head"] > 4 * per_item.groupby(
        n.reindex(per_item.index)).mean()["tail"]


def test_users_keep_their_product_line(log):
    events, truth, items = log
    m = events.dropna(subset=["item_id"]).merge(items[["item_id", "line"]], on="item_id").merge(
        truth[["user_id", "taste_line"]], on="user_id")
    # A line is a third of the catalogue; the preferred one gets far more than a third.
    assert (m["line"] == m["taste_line"]).mean() > 0.55


def test_bundle_partners_are_bought_together(log):
    events, _, items = log
    buys = events[events["event"] == "purchase"]
    baskets = buys.groupby("user_id")["item_id"].apply(set)
    pairs = [(a, b) for a, others in items.dropna(subset=["bundle_with"])[["item_id", "bundle_with"]].itertuples(
        index=False) for b in others.split()]
    bought_a = {a: {u for u, s in baskets.items() if a in s} for a, _ in pairs}
    rate_partner = np.mean([np.mean([b in baskets[u] for u in bought_a[a]]) for a, b in pairs if bought_a[a]])
    popularity = buys["item_id"].value_counts() / buys["user_id"].nunique()
    rate_base = np.mean([popularity.get(b, 0.0) for a, b in pairs if bought_a[a]])
    assert rate_partner > 3 * rate_base


def test_what_is_bought_was_in_the_cart(log):
    events, _, _ = log
    ev = events[events["event"].isin(["add_to_cart", "purchase"])].copy()
    # Sessions are not in the log; a purchase follows its cart event of the same user within minutes.
    ev["ts"] = pd.to_datetime(ev["event_time"])
    ev = ev.sort_values(["user_id", "ts"])
    prev = ev.groupby("user_id").shift(1)
    buys = ev[(ev["event"] == "purchase") & (prev["event"] == "add_to_cart") & (ev["category"] == prev["category"])]
    assert len(buys) > 100
    assert (buys["item_id"] == prev.loc[buys.index, "item_id"]).mean() > 0.95

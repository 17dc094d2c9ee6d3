"""The per-user feature table: equal to an independent pandas implementation, and each definition checked."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from analytics.engines.duckdb import compile_sql, unbound_events
from analytics.errors import InvalidParameterError, NoDataError
from analytics.features.profile import (
    FEW_VALUES,
    IDENTIFIER_DISTINCT,
    DatasetProfile,
    distinct_in_sample,
    looks_like_identifier,
)
from analytics.features.spec import event_column_names, resolve_spec
from analytics.features.summary import feature_summary
from analytics.features.table import feature_table
from bench.pandas_reference import features as pandas_features
from bench.pandas_reference import read_log
from tests.helpers import write


def assert_same(engine: pd.DataFrame, reference: pd.DataFrame) -> None:
    engine = engine.set_index("user_id").sort_index()
    reference = reference.set_index("user_id").sort_index()
    assert list(engine.index) == list(reference.index)
    for col in reference.columns:
        a, b = engine[col], reference[col]
        if b.dtype.kind in "if":
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-9, atol=1e-6, err_msg=col)
        else:
            assert (a.fillna("") == b.fillna("")).all(), col


def test_engine_equals_pandas_reference_on_the_sample(sample_dataset, workspace, sample_log):
    engine = workspace.features(sample_dataset.id)
    reference = pandas_features(read_log(str(sample_log)), "purchase",
                                text_attributes=["channel", "platform", "country", "category"])
    assert list(engine.columns) == list(reference.columns)
    assert_same(engine, reference)


def test_reference_date_uses_only_earlier_events(sample_dataset, workspace, sample_log):
    as_of = datetime(2025, 4, 1, 12, 0)
    params = workspace.feature_params(sample_dataset.id, as_of=as_of, top_events=3)
    engine = workspace.features(sample_dataset.id, params)
    reference = pandas_features(read_log(str(sample_log)), "purchase", as_of=pd.Timestamp(as_of), top_events=3,
                                text_attributes=["channel", "platform", "country", "category"])
    assert_same(engine, reference)
    assert engine["recency_days"].min() >= 0
    assert "n_other_events" in engine and (engine["n_other_events"] > 0).any()


def test_an_earlier_date_reuses_the_stored_session_marks_and_gets_the_same_table(sample_dataset, workspace):
    # The default table stored the marks; a training-set cutoff builds from them, without the ordered pass.
    cur = workspace.cursor()
    workspace.features(sample_dataset.id)
    [(marks_table,)] = cur.execute("SELECT table_name FROM results WHERE dataset_id = ? AND kind = 'session_marks'",
                                   [sample_dataset.id]).fetchall()
    params = workspace.feature_params(sample_dataset.id, as_of=datetime(2025, 3, 10, 18, 30))
    from_marks = workspace.features(sample_dataset.id, params)
    sql = workspace_sql(workspace, sample_dataset, params)
    assert marks_table in sql and "LAG(" not in sql.upper()
    events = unbound_events(cur, sample_dataset.events_table)
    alone = cur.execute(compile_sql(feature_table(events, params, resolve_spec(params, sample_dataset.profile)))).df()
    assert len(from_marks) > 100 and (from_marks["n_sessions"] > 1).any()
    assert_same(from_marks, alone)

    workspace.delete(sample_dataset.id)
    assert not cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [marks_table]).fetchone()[0]


def workspace_sql(workspace, ds, params) -> str:
    spec = resolve_spec(params, ds.profile)
    cur = workspace.cursor()
    events = unbound_events(cur, ds.events_table)
    return compile_sql(feature_table(events, params, spec, workspace._session_marks(cur, ds.id, events, params)))


LOG = """user,time,event,amount,channel
a,2025-01-01 10:00:00,view,,email
a,2025-01-01 10:20:00,buy,10,email
a,2025-01-01 11:00:00,view,,seo
a,2025-01-03 09:00:00,buy,30,email
b,2025-01-02 23:50:00,view,,ads
b,2025-01-03 00:10:00,view,,ads
"""


@pytest.fixture
def small(workspace, tmp_path):
    return workspace.import_file(write(tmp_path / "small.csv", LOG))


def test_definitions_by_hand(small, workspace):
    f = workspace.features(small.id).set_index("user_id")
    a, b = f.loc["a"], f.loc["b"]
    assert small.purchase_event == "buy"
    # Reference date = last event (2025-01-03 09:00).
    assert a["recency_days"] == pytest.approx(0)
    assert b["recency_days"] == pytest.approx((9 * 60 - 10) / 1440)
    assert a["tenure_days"] == pytest.approx(2 - 1 / 24)
    assert (a["frequency"], a["monetary"], a["avg_order_value"]) == (2, 40, 20)
    assert a["mean_days_between_purchases"] == pytest.approx((2 * 24 - 1 - 20 / 60) / 24)
    # 10:00 and 10:20 are one session; 11:00 is 40 min later: a new one; Jan 3 another.
    assert a["n_sessions"] == 3 and a["session_conversion_rate"] == pytest.approx(2 / 3)
    assert a["active_days"] == 2
    # b's two events are 20 minutes apart across midnight: one session, two days.
    assert (b["n_sessions"], b["active_days"], b["frequency"], b["monetary"]) == (1, 2, 0, 0)
    assert np.isnan(b["avg_order_value"]) and np.isnan(b["days_since_last_purchase"])
    assert (a["top_channel"], b["top_channel"]) == ("email", "ads")
    assert (a["n_view"], a["n_buy"], a["n_other_events"]) == (2, 2, 0)


def test_few_valued_attributes_count_each_value_in_the_user_pass_with_the_same_result(workspace, tmp_path):
    # 'channel' has 3 values (one non-ASCII, ties, gaps): the profile keeps them all and the feature
    # table counts each one per user; 'page' has 20: it keeps its grouped pass. Both give what
    # the grouped pass gives for every attribute, ties going to the smallest value.
    rows = ["user,time,event,channel,page"]
    channels = {"a": ["seo", "email", "email", "seo"], "b": ["", "", "", ""], "c": ["ads", "", "seo", "ads"],
                "d": ["ümlaut", "seo", "ümlaut", "seo"]}
    for u, values in channels.items():
        rows += [f"{u},2025-01-0{k + 1} 10:00,view,{v},p{(k * 7 + ord(u)) % 20}" for k, v in enumerate(values)]
    rows += [f"e,2025-01-09 10:{k:02d},view,seo,p{k}" for k in range(20)]
    ds = workspace.import_file(write(tmp_path / "tops.csv", "\n".join(rows) + "\n"))
    attrs = ds.profile.attributes
    assert attrs["channel"].values == ("ads", "email", "seo", "ümlaut") and attrs["page"].values == ()
    assert attrs["page"].distinct > FEW_VALUES

    params = workspace.feature_params(ds.id)
    spec = resolve_spec(params, ds.profile)
    assert spec.attribute_values == {"channel": ("ads", "email", "seo", "ümlaut")}
    cur = workspace.cursor()
    events = unbound_events(cur, ds.events_table)
    counted = cur.execute(compile_sql(feature_table(events, params, spec))).df()
    grouped = cur.execute(compile_sql(feature_table(events, params, replace(spec, attribute_values={})))).df()
    assert "_v0_0" not in counted.columns and list(counted.columns) == list(grouped.columns)
    pd.testing.assert_frame_equal(counted, grouped)
    top = counted.set_index("user_id")["top_channel"]
    assert top["a"] == "email" and top["c"] == "ads" and top["d"] == "seo" and top["e"] == "seo"
    assert pd.isna(top["b"])
    assert list(workspace.features(ds.id)["top_channel"].fillna("-")) == ["email", "-", "ads", "seo", "seo"]

    # The values survive the profile's round trip through the catalogue.
    assert DatasetProfile.from_dict(ds.profile.to_dict()) == ds.profile
    assert workspace.get(ds.id).profile.attributes["channel"].values == attrs["channel"].values


def test_session_gap_and_purchase_event_are_parameters(small, workspace):
    p = workspace.feature_params(small.id, session_gap_minutes=60, purchase_event="view")
    f = workspace.features(small.id, p).set_index("user_id")
    assert f.loc["a", "n_sessions"] == 2  # 40 minutes is now within a session
    assert f.loc["a", "frequency"] == 2 and f.loc["b", "frequency"] == 2


@pytest.mark.parametrize("gap", [1, 7, 30, 1440])
def test_sessions_found_through_time_slots_equal_an_event_by_event_pass(workspace, tmp_path, gap):
    # Sessions come from each user's time slots (at most the gap long, never across midnight), not
    # from every event: gaps of exactly the session gap, a second over or under it, events either
    # side of midnight and of slot edges, equal times and purchases that open a session all
    # give what ordering every event gives (the pandas reference).
    rng = np.random.default_rng(gap)
    steps = np.array([0, 1, 59, 60, 61, gap * 60 - 1, gap * 60, gap * 60 + 1, 399, 400, 401, 1799, 1800, 1801,
                      3 * 3600, 86_399, 86_400])
    rows = ["user_id,event_time,event,amount"]
    for u in range(40):
        t = np.datetime64("2025-01-01T23:00:00") + rng.integers(0, 7200)
        for _ in range(int(rng.integers(1, 30))):
            t = t + np.timedelta64(int(rng.choice(steps)), "s")
            buy = rng.random() < 0.2
            rows.append(f"u{u},{str(t).replace('T', ' ')},{'buy' if buy else 'view'},{'5' if buy else ''}")
    path = write(tmp_path / "slots.csv", "\n".join(rows) + "\n")
    ds = workspace.import_file(path, features=False)
    engine = workspace.features(ds.id, workspace.feature_params(ds.id, session_gap_minutes=gap,
                                                                purchase_event="buy"))
    assert_same(engine, pandas_features(read_log(str(path)), "buy", gap_minutes=gap))
    assert engine["n_sessions"].sum() > 40 and engine["session_conversion_rate"].between(0, 1).all()
    # Without a purchase event the marks hold no purchase rows; the sessions stay the same.
    none = workspace.features(ds.id, workspace.feature_params(ds.id, session_gap_minutes=gap, purchase_event=None))
    assert none["n_sessions"].tolist() == engine["n_sessions"].tolist()
    assert (none["session_conversion_rate"] == 0).all() and (none["frequency"] == 0).all()


def test_given_session_ids_are_used(workspace, tmp_path):
    text = ("user,time,event,session_id\na,2025-01-01 10:00,view,s1\na,2025-01-01 13:00,buy,s1\n"
            "a,2025-01-02 10:00,view,s2\n")
    ds = workspace.import_file(write(tmp_path / "s.csv", text))
    assert ds.profile.has_sessions
    f = workspace.features(ds.id).set_index("user_id")
    assert f.loc["a", "n_sessions"] == 2  # a 3-hour gap inside s1 is still one session
    assert f.loc["a", "session_conversion_rate"] == pytest.approx(0.5)


def test_top_events_groups_the_rest(small, workspace):
    f = workspace.features(small.id, workspace.feature_params(small.id, top_events=1)).set_index("user_id")
    assert "n_view" in f and "n_buy" not in f
    assert f.loc["a", "n_other_events"] == 2


def test_event_names_become_safe_unique_columns():
    names = event_column_names(["Add to cart", "add-to-cart", "<script>", "", "recency_days"])
    assert list(names) == ["n_add_to_cart", "n_add_to_cart_2", "n_script", "n_event", "n_recency_days"]


def test_parameters_are_validated(small, workspace):
    with pytest.raises(InvalidParameterError, match="top_events"):
        workspace.features(small.id, workspace.feature_params(small.id, top_events=99))
    with pytest.raises(NoDataError, match="before the first event"):
        workspace.features(small.id, workspace.feature_params(small.id, as_of=datetime(2020, 1, 1)))


def test_features_are_stored_once(small, workspace):
    params = workspace.feature_params(small.id, top_events=2)
    assert workspace.stored_features_table(small.id, params) is None
    t1 = workspace.features_table(small.id, params)
    assert workspace.features_table(small.id, params) == t1
    assert workspace.stored_features_table(small.id, params) == t1


def test_summary_splits_numbers_and_text(small, workspace):
    numbers, texts = feature_summary(workspace.features(small.id))
    assert "recency_days" in set(numbers["feature"]) and set(texts["feature"]) == {"top_channel"}
    row = numbers.set_index("feature").loc["monetary"]
    assert row["max"] == 40 and row["min"] == 0


def test_a_purchase_event_without_amounts_leaves_money_empty_not_zero(workspace, tmp_path):
    text = ("user,time,event,amount\nu1,2025-01-01 10:00,add_to_cart,\nu1,2025-01-02 10:00,purchase,30\n"
            "u2,2025-01-03 10:00,add_to_cart,\n")
    ds = workspace.import_file(write(tmp_path / "carts.csv", text))
    buys = workspace.features(ds.id).set_index("user_id")
    assert buys.loc["u1", "monetary"] == 30 and buys.loc["u2", "monetary"] == 0  # bought nothing: spent 0
    carts = workspace.feature_params(ds.id, purchase_event="add_to_cart")
    feats = workspace.features(ds.id, carts).set_index("user_id")
    assert feats.loc["u2", "frequency"] == 1 and feats["monetary"].isna().all()  # spend unknown, not 0
    assert workspace.feature_meta(ds.id, carts)["has_amounts"] is False


def test_a_log_without_amounts_leaves_money_empty_not_zero(workspace, tmp_path):
    text = "user,time,event\nu1,2025-01-01 10:00,view\nu1,2025-01-02 10:00,purchase\nu2,2025-01-03 10:00,view\n"
    ds = workspace.import_file(write(tmp_path / "no_amounts.csv", text))
    feats = workspace.features(ds.id).set_index("user_id")
    assert feats.loc["u1", "frequency"] == 1  # purchases still count
    assert feats["monetary"].isna().all() and feats["avg_order_value"].isna().all()
    assert workspace.feature_meta(ds.id, workspace.feature_params(ds.id))["has_amounts"] is False
    from analytics import segments

    choice = segments.choose_features(feats.reset_index())
    assert "monetary" not in choice.columns and any("monetary" in n for n in choice.notices)


def test_product_ids_are_identifiers_not_features(sample_dataset, workspace):
    # The sample's item_id repeats (about 300 products) yet names a product: the item role, not an attribute,
    # so no "most frequent product" column.
    assert sample_dataset.mapping.item_id == "item_id" and "item_id" not in sample_dataset.profile.attributes
    assert "top_item_id" not in workspace.features(sample_dataset.id).columns
    assert "item_id" in workspace.events(sample_dataset.id, limit=5).columns  # still kept in the events


def test_identifier_names_need_many_values():
    names = ["item_id", "productId", "SKU", "content id", "product", "order_id"]
    assert all(looks_like_identifier(n) for n in names)
    assert not any(looks_like_identifier(n) for n in ["country", "category", "paid", "channel", "country_code"])
    sample = pd.DataFrame({"product": [f"p{i % 60}" for i in range(600)], "channel": [f"c{i % 60}" for i in range(600)],
                           "store_id": [f"s{i % 10}" for i in range(600)]})
    distinct = distinct_in_sample(sample, ["product", "channel", "store_id"])
    assert distinct == {"product": IDENTIFIER_DISTINCT, "channel": 60, "store_id": 10}


def test_an_attribute_without_any_value_gets_no_feature_and_one_filled_late_keeps_its(workspace, tmp_path):
    # The preview reads the first 2,000 rows: 'coupon' is empty there and has values after them.
    rows = "".join(f"u{i % 40},2025-03-{1 + i % 27:02d} {i % 24:02d}:{i % 60:02d}:00,view,,"
                   f"{'spring' if i > 2400 else ''},web\n" for i in range(2600))
    ds = workspace.import_file(write(tmp_path / "log.csv", "user_id,time,event,ref,coupon,platform\n" + rows))
    attrs = ds.profile.attributes
    assert attrs["ref"].empty and not attrs["coupon"].empty and attrs["coupon"].values == ("spring",)
    features = workspace.features(ds.id)
    assert "top_coupon" in features.columns and "top_ref" not in features.columns
    assert workspace.feature_meta(ds.id, workspace.feature_params(ds.id))["skipped_attributes"] == ["ref"]
    # Stored and read back, the profile still says so.
    assert workspace.get(ds.id).profile.attributes["ref"].empty

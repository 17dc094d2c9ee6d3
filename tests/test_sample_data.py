"""The sample generator: deterministic, sized by a flag, and with the structure it promises."""

from __future__ import annotations

import pandas as pd
import pytest

from sample_data.generate import CUSTOMER_TYPES, generate


@pytest.fixture(scope="module")
def log():
    events, truth = generate(120_000, seed=3)
    return events.to_pandas(), truth.to_pandas()


def test_size_flag_and_determinism():
    a, _ = generate(20_000, seed=1)
    b, _ = generate(20_000, seed=1)
    c, _ = generate(20_000, seed=2)
    assert a.equals(b) and not a.equals(c)
    assert 15_000 < a.num_rows < 25_000


def test_committed_sample_matches_the_generator(sample_log, sample_truth):
    assert sorted(sample_truth["customer_type"].unique()) == sorted(t.name for t in CUSTOMER_TYPES)
    df = pd.read_csv(sample_log)
    assert set(df["user_id"]) <= set(sample_truth["user_id"])


def test_customer_types_differ_in_spend_and_funnel(log):
    events, truth = log
    m = events.merge(truth, on="user_id")
    per_user = m.groupby(["customer_type", "user_id"]).agg(
        buys=("event", lambda e: (e == "purchase").sum()), spend=("amount", "sum"), n=("event", "size"))
    by_type = per_user.groupby("customer_type").mean()
    assert by_type["spend"].idxmax() == "loyal_high_spender"
    assert by_type.loc["window_shopper", "buys"] < by_type.loc["bargain_hunter", "buys"]
    conv = m.groupby("customer_type")["event"].apply(lambda e: (e == "purchase").mean())
    assert conv["loyal_high_spender"] > 2 * conv["window_shopper"]


def test_weekly_seasonality_and_channels(log):
    events, _ = log
    ts = pd.to_datetime(events["event_time"])
    by_day = ts.dt.day_of_week.value_counts(normalize=True)
    assert by_day[[5, 6]].mean() > by_day[[0, 1, 2, 3]].mean() * 1.2  # weekends are busier
    assert events["channel"].nunique() == 6


def test_new_and_lapsed_users(log):
    events, truth = log
    last = pd.to_datetime(events.groupby("user_id")["event_time"].max()).rename("last")
    first = pd.to_datetime(events.groupby("user_id")["event_time"].min()).rename("first")
    t = truth.set_index("user_id").join(last).join(first)
    end = last.max()
    lapsed_gap = (end - t.loc[t.lapsed, "last"]).dt.days.median()
    active_gap = (end - t.loc[t.customer_type == "loyal_high_spender", "last"]).dt.days.median()
    assert lapsed_gap > 60 > active_gap
    start = first.min()
    assert (t.loc[t.is_new, "first"] - start).dt.days.median() > 30
    assert (t.loc[~t.is_new, "first"] - start).dt.days.median() < 15

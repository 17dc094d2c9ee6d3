"""Event sequences for the sequence models: windowing, order, vocabulary caps, odd logs (no torch needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidParameterError, ModelCompatibilityError
from analytics.sequences.tokens import NUMERIC_INPUTS, sequences_from_frame
from analytics.sequences.vocabulary import FIRST_ID, OTHER, PAD, Vocabulary

CUTOFF = pd.Timestamp("2024-03-01")


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "ts", "event", "amount"])


def test_events_come_oldest_first_and_ties_within_a_second_are_ordered_by_name_then_row():
    rows = [("a", "2024-01-02 10:00:00", "view", None), ("a", "2024-01-01 09:00:00", "search", None),
            ("a", "2024-01-02 10:00:00", "cart", 5.0), ("a", "2024-01-02 10:00:00", "cart", 7.0)]
    vocab = Vocabulary(events=("cart", "search", "view"))
    forward = sequences_from_frame(frame(rows), ["a"], CUTOFF, vocab=vocab)
    again = sequences_from_frame(frame(rows), ["a"], CUTOFF, vocab=vocab)
    ids = {name: FIRST_ID + i for i, name in enumerate(vocab.events)}
    assert forward.event_tokens.tolist() == [ids["search"], ids["cart"], ids["cart"], ids["view"]]
    assert forward.amount[1:3].tolist() == [5.0, 7.0]  # equal name and second: the row order decides
    assert again.event_tokens.tolist() == forward.event_tokens.tolist()
    # Same second: zero gap, never negative; the first event ever is flagged instead of given a gap.
    assert np.isnan(forward.gap_s[0]) and forward.gap_s[2] == 0 and forward.gap_s[3] == 0
    numeric = forward.batch(np.array([0])).numeric[0]
    assert numeric[0, NUMERIC_INPUTS.index("first_event")] == 1 and np.isfinite(numeric).all()


def test_only_events_up_to_the_cutoff_and_the_most_recent_max_len_are_kept():
    ts = pd.date_range("2024-01-01", periods=500, freq="h")
    rows = [("long", t, "view", None) for t in ts] + [("one", "2024-02-01", "buy", 12.5)]
    seqs = sequences_from_frame(frame(rows), ["long", "one", "never"], "2024-01-10", max_len=50)
    last_before = ts[ts <= pd.Timestamp("2024-01-10")][-1]
    assert seqs.lengths.tolist() == [50, 0, 0]  # "one" acted after the cutoff only
    assert seqs.truncated.tolist() == [True, False, False] and "50 most recent" in seqs.notes[0]
    ages = seqs.age_s[:50]
    assert np.all(np.diff(ages) < 0) and ages[-1] == pytest.approx((pd.Timestamp("2024-01-10") - last_before)
                                                                  .total_seconds())
    batch = seqs.batch(np.array([1, 0, 2]))
    assert batch.events.shape == (3, 50) and (batch.events[[0, 2]] == PAD).all()
    assert np.isfinite(batch.numeric).all() and (batch.numeric[[0, 2]] == 0).all()


def test_empty_infinite_and_huge_amounts_give_finite_inputs():
    rows = frame([("a", "2024-01-01", "buy", 1e308), ("a", "2024-01-02", "buy", float("inf")),
                  ("a", "2024-01-03", "buy", float("nan")), ("a", "2024-01-04", "refund", -1e300)])
    numeric = sequences_from_frame(rows, ["a"], CUTOFF).batch(np.array([0])).numeric[0]
    has, amount = numeric[:, NUMERIC_INPUTS.index("has_amount")], numeric[:, NUMERIC_INPUTS.index("log_amount")]
    assert np.isfinite(numeric).all() and has.tolist() == [1, 0, 0, 1]
    assert amount[0] > 10 and amount[3] < -10


def test_a_user_with_one_event_gets_a_sequence_of_one():
    seqs = sequences_from_frame(frame([("solo", "2024-02-01 12:30:00", "buy", -20.0)]), None, CUTOFF)
    assert seqs.lengths.tolist() == [1] and seqs.user_ids.tolist() == ["solo"]
    b = seqs.batch(np.array([0]))
    x = dict(zip(NUMERIC_INPUTS, b.numeric[0, 0]))
    assert x["first_event"] == 1 and x["log_gap"] == 0 and x["has_amount"] == 1 and x["log_amount"] < 0
    assert x["hour_sin"] == pytest.approx(np.sin(2 * np.pi * 12.5 / 24), abs=1e-6)


def test_a_vocabulary_of_100k_event_types_is_capped_and_the_rest_share_one_token():
    rng = np.random.default_rng(0)
    n = 100_000
    names = np.array([f"type_{i}" for i in range(n)], dtype=object)
    common = np.array(["view", "cart"], dtype=object)
    events = np.concatenate([names, rng.choice(common, size=20_000)])
    users = np.array([f"u{i % 300}" for i in range(len(events))], dtype=object)
    ts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 50 * 86400, size=len(events)), unit="s")
    seqs = sequences_from_frame(pd.DataFrame({"user_id": users, "ts": ts, "event": events}), None, CUTOFF)
    vocab = seqs.vocab
    assert len(vocab.events) == 500 and vocab.events[:2] in (("view", "cart"), ("cart", "view"))
    assert vocab.n_event_tokens == 502 and seqs.event_tokens.max() < vocab.n_event_tokens
    assert (seqs.event_tokens == OTHER).mean() > 0.5  # the one-off types
    assert seqs.lengths.max() == 200 and seqs.truncated_users > 0


def test_products_get_tokens_rare_ones_share_other_and_events_without_one_get_padding():
    rows = frame([("a", "2024-01-01", "view", None), ("a", "2024-01-02", "view", None),
                  ("b", "2024-01-03", "view", None), ("b", "2024-01-04", "search", None)])
    rows["item_id"] = ["p1", "p1", "p2", None]
    seqs = sequences_from_frame(rows, ["a", "b"], CUTOFF)
    assert seqs.vocab.item_column == "item_id" and seqs.vocab.items == ("p1", "p2")
    assert seqs.item_tokens.tolist() == [FIRST_ID, FIRST_ID, FIRST_ID + 1, PAD]
    capped = sequences_from_frame(rows, ["a", "b"], CUTOFF,
                                  vocab=Vocabulary(events=("view",), items=("p1",), item_column="item_id"))
    assert capped.item_tokens.tolist() == [FIRST_ID, FIRST_ID, OTHER, PAD]
    assert capped.event_tokens.tolist()[-1] == OTHER  # "search" is not in that vocabulary
    with pytest.raises(ModelCompatibilityError, match="'sku'"):
        sequences_from_frame(rows, ["a"], CUTOFF, vocab=Vocabulary(events=("view",), items=("p1",),
                                                                   item_column="sku"))


def test_subset_keeps_each_users_events():
    rng = np.random.default_rng(1)
    rows = [(f"u{u}", pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=int(m)), str(rng.choice(["a", "b", "c"])),
             float(m)) for u in range(30) for m in rng.integers(0, 50_000, size=int(rng.integers(0, 9)))]
    seqs = sequences_from_frame(frame(rows), [f"u{u}" for u in range(30)], CUTOFF)
    pick = np.array([7, 3, 22, 3 + 10])
    sub = seqs.subset(pick)
    assert sub.user_ids.tolist() == seqs.user_ids[pick].tolist() and sub.lengths.tolist() == seqs.lengths[pick].tolist()
    full, part = seqs.batch(pick), sub.batch(np.arange(len(pick)))
    assert np.array_equal(full.events, part.events) and np.array_equal(full.numeric, part.numeric)


def test_vocabulary_round_trips_and_refuses_anything_else():
    v = Vocabulary(events=("view", "buy"), items=("p1",), item_column="item_id", max_len=120)
    assert Vocabulary.from_dict(v.to_dict()) == v
    for bad in ({}, {"events": [1, 2]}, {"events": ["a"], "max_len": 10**9}, {"events": ["a"], "item_column": 3}):
        with pytest.raises(ModelCompatibilityError, match="vocabulary"):
            Vocabulary.from_dict(bad)


def test_bad_settings_and_duplicate_users_are_refused_clearly():
    rows = frame([("a", "2024-01-01", "view", None)])
    with pytest.raises(InvalidParameterError, match="max_len"):
        sequences_from_frame(rows, ["a"], CUTOFF, max_len=0)
    with pytest.raises(InvalidParameterError, match="twice"):
        sequences_from_frame(rows, ["a", "a"], CUTOFF)
    with pytest.raises(InvalidParameterError, match="event"):
        sequences_from_frame(rows.drop(columns="event"), ["a"], CUTOFF)

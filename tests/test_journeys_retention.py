"""Retention cohorts and lifecycle: ISO weeks and months, starting/returning events, pandas agreement."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from analytics.journeys import lifecycle, retention
from bench import pandas_journeys as pj
from tests.journeys_support import log_con, sample_con

STATES = ["new", "returning", "resurrected", "dormant"]


@pytest.fixture(scope="module")
def sample():
    con, df = sample_con()
    yield con, df


def assert_matches_pandas(result, df, period, **kw):
    sizes, table = pj.retention_counts(df, period, **kw)
    m = result.matrix
    assert [pd.Timestamp(c) for c in m.cohort_starts] == list(sizes.index)
    assert m.sizes == [int(n) for n in sizes.to_numpy()]
    for c, row in zip(m.cohort_starts, m.counts):
        expected = table.loc[pd.Timestamp(c)] if pd.Timestamp(c) in table.index else pd.Series(dtype=int)
        assert row == [int(expected.get(p, 0)) for p in range(len(row))], c
        # Nothing is lost beyond the triangle's edge: the data ends there.
        assert int(expected[expected.index >= len(row)].sum()) == 0


# --- hand-made logs -------------------------------------------------------------------------------

def test_iso_weeks_start_on_monday_utc():
    con, df = log_con([
        ("a", "2025-01-05 23:59:59", "visit"),  # Sunday: week of Monday 2024-12-30
        ("a", "2025-01-06 00:00:00", "visit"),  # Monday: next week, offset 1
        ("b", "2025-01-06 00:00:00", "visit"),
        ("b", "2025-01-19 12:00:00", "visit"),  # offset 1 for b (week of 2025-01-13)
        ("c", "2025-01-20 08:00:00", "visit"),
    ])
    r = retention(con, "ev", "week")
    m = r.matrix
    assert m.cohort_starts == [dt.date(2024, 12, 30), dt.date(2025, 1, 6), dt.date(2025, 1, 20)]
    assert m.sizes == [1, 1, 1]
    assert m.counts == [[1, 1, 0, 0], [1, 1, 0], [1]]
    assert_matches_pandas(r, df, "week")


def test_months_and_the_weighted_average_curve():
    con, df = log_con([
        ("a", "2025-01-31 23:00:00", "visit"), ("a", "2025-02-01 01:00:00", "visit"),
        ("b", "2025-01-10 00:00:00", "visit"),
        ("c", "2025-02-15 00:00:00", "visit"), ("c", "2025-03-02 00:00:00", "visit"),
        ("d", "2025-02-16 00:00:00", "visit"), ("e", "2025-02-17 00:00:00", "visit"),
    ])
    r = retention(con, "ev", "month")
    m = r.matrix
    assert m.cohort_starts == [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)][:2]
    assert m.sizes == [2, 3] and m.counts == [[2, 1, 0], [3, 1]]
    # Offset 1: (1 + 1) returning of (2 + 3) users, not the mean of 50% and 33%.
    assert m.average == [1.0, pytest.approx(2 / 5), 0.0]
    assert m.average_users == [5, 5, 2]
    assert_matches_pandas(r, df, "month")


def test_starting_and_returning_events():
    con, df = log_con([
        ("a", "2025-01-06 09:00:00", "buy"),  # before the signup: not a return
        ("a", "2025-01-07 10:00:00", "signup"),
        ("a", "2025-01-08 10:00:00", "buy"),  # same week, after signup: offset 0
        ("a", "2025-01-20 10:00:00", "visit"),  # not the returning event
        ("b", "2025-01-13 10:00:00", "visit"),  # never signs up: not in any cohort
        ("c", "2025-01-08 00:00:00", "signup"), ("c", "2025-01-15 00:00:00", "buy"),
        ("c", "2025-01-27 00:00:00", "buy"),
    ])
    r = retention(con, "ev", "week", cohort_event="signup", return_event="buy")
    assert r.matrix.sizes == [2] and r.matrix.counts == [[1, 1, 0, 1]]
    assert_matches_pandas(r, df, "week", cohort_event="signup", return_event="buy")
    r = retention(con, "ev", "week", cohort_event="signup")
    assert r.matrix.counts == [[2, 1, 1, 1]]


def test_max_periods_and_partial_last_period():
    con, _ = log_con([("a", "2025-01-06 00:00:00", "v"), ("a", "2025-02-20 00:00:00", "v")])
    r = retention(con, "ev", "week", max_periods=2)
    assert r.matrix.counts == [[1, 0, 0]]
    assert r.last_period_partial  # the data stops on a Thursday
    r = retention(con, "ev", "month")
    assert r.matrix.counts == [[1, 1]] and r.last_period_partial


def test_one_user_log():
    con, _ = log_con([("solo", "2025-01-06 00:00:00", "v")])
    r = retention(con, "ev")
    assert r.matrix.counts == [[1]] and r.matrix.average == [1.0]
    assert lifecycle(con, "ev").table[STATES].to_numpy().tolist() == [[1, 0, 0, 0]]


def test_lifecycle_states_by_definition():
    con, df = log_con([
        ("a", "2025-01-06 10:00:00", "v"), ("a", "2025-01-13 10:00:00", "v"),  # new, returning
        ("a", "2025-01-27 10:00:00", "v"),  # dormant in week 3, resurrected in week 4
        ("b", "2025-01-13 11:00:00", "v"),  # new in week 2, dormant in week 3
        ("b", "2025-01-13 12:00:00", "v"),
    ])
    t = lifecycle(con, "ev").table
    assert list(t["period_start"].dt.date) == [dt.date(2025, 1, 6), dt.date(2025, 1, 13), dt.date(2025, 1, 20),
                                               dt.date(2025, 1, 27)]
    assert t[STATES].to_numpy().tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 2], [0, 0, 1, 0]]
    assert list(t["active"]) == [1, 2, 0, 1]
    assert t[STATES].to_numpy().tolist() == pj.lifecycle_table(df)[STATES].to_numpy().tolist()


# --- the sample log ---------------------------------------------------------------------------------

@pytest.mark.parametrize("period,kw", [
    ("week", {}), ("month", {}), ("week", {"return_event": "purchase"}),
    ("week", {"cohort_event": "add_to_cart", "return_event": "purchase"}), ("month", {"cohort_event": "purchase"}),
])
def test_sample_matches_pandas(sample, period, kw):
    con, df = sample
    r = retention(con, "ev", period, **kw)
    assert_matches_pandas(r, df, period, **kw)


def test_sample_weekly_shape(sample):
    con, _ = sample
    m = retention(con, "ev", "week").matrix
    assert len(m.cohort_starts) == 26 and m.users == 949
    assert all(row[0] == n for row, n in zip(m.counts, m.sizes))  # any event: offset 0 is everyone
    assert m.average[0] == 1.0 and 0.2 < m.average[1] < 0.4
    # The average at offset p is the sum over observed cohorts, weighted by size.
    p = 5
    rows = [(row[p], n) for row, n in zip(m.counts, m.sizes) if len(row) > p]
    assert m.average[p] == pytest.approx(sum(r for r, _ in rows) / sum(n for _, n in rows))
    assert m.average_users[p] == sum(n for _, n in rows)


def test_sample_breakdown_adds_up(sample):
    con, df = sample
    r = retention(con, "ev", "month", by="country", top=3)
    assert r.by == "country" and [g.value for g in r.groups][-1] == "(other)" and len(r.groups) == 4
    total = [[0] * len(row) for row in r.matrix.counts]
    for g in r.groups:
        for row in g.matrix.counts:
            i = [len(x) for x in r.matrix.counts].index(len(row))
            total[i] = [a + b for a, b in zip(total[i], row)]
    assert total == r.matrix.counts
    seg = pd.DataFrame({"user_id": sorted(df["user_id"].unique())[:100], "segment": "first hundred"})
    r = retention(con, "ev", "week", segments=seg)
    assert {g.value: g.matrix.users for g in r.groups} == {"first hundred": 100, "(no segment)": 849}


def test_sample_lifecycle_matches_pandas(sample):
    con, df = sample
    for period, event in (("week", None), ("month", None), ("week", "purchase")):
        t = lifecycle(con, "ev", period, event=event).table
        ref = pj.lifecycle_table(df, period, event)
        assert list(t["period_start"]) == list(ref["period_start"])
        assert t[STATES].to_numpy().tolist() == ref[STATES].to_numpy().tolist(), (period, event)


def test_retention_json(sample):
    con, _ = sample
    doc = retention(con, "ev", "week").to_dict()
    assert json.loads(json.dumps(doc)) == doc
    first = doc["cohorts"][0]
    assert first["start"] == "2024-12-30" and first["users"] == first["retained"][0]
    assert len(doc["cohorts"]) == 26 and len(doc["cohorts"][-1]["retained"]) == 1
    assert doc["average"][0] == {"offset": 0, "rate": 1.0, "users": 949}
    frame = retention(con, "ev", "week").matrix.frame()
    assert list(frame.columns[:3]) == ["cohort", "users", 0] and frame.shape == (26, 28)

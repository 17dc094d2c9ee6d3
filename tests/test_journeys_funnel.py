"""Funnels: the rule pinned on hand-made logs, exact agreement with the pandas reference, breakdowns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics.journeys import funnel
from analytics.journeys.funnel import TIME_EDGES
from bench import pandas_journeys as pj
from tests.journeys_support import log_con, sample_con

SHOP = ["page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"]


@pytest.fixture(scope="module")
def sample():
    con, df = sample_con()
    yield con, df
    con.close()


def users(con, steps, window=7, **kw) -> list[int]:
    return [s.users for s in funnel(con, "ev", steps, window, **kw).steps]


def reference(df, steps, window, **kw) -> list[tuple]:
    """(users, median seconds from previous, non-empty histogram buckets) per step, from pandas."""
    summary = pj.funnel_summary(pj.funnel_times(df, steps, window, **kw), len(steps))
    return [(s["users"], None if s["med_prev"] is None else s["med_prev"] / 1e6,
             None if s["med_start"] is None else s["med_start"] / 1e6, s["hist"]) for s in summary]


def from_sql(result) -> list[tuple]:
    return [(s.users, s.median_seconds_from_previous, s.median_seconds_from_start,
             {i: b.users for i, b in enumerate(s.time_to_convert) if b.users}) for s in result.steps]


def check_both(con, df, steps, window=7, **kw) -> list[int]:
    """SQL and pandas agree exactly; returns users per step."""
    sql = from_sql(funnel(con, "ev", steps, window, **kw))
    assert sql == reference(df, steps, window, **kw)
    return [s[0] for s in sql]


# --- the rule, case by case -------------------------------------------------------------------------

def test_same_timestamp_counts_as_in_order():
    con, df = log_con([("a", "2025-01-01 10:00:00", "view"), ("a", "2025-01-01 10:00:00", "cart"),
                       ("a", "2025-01-01 10:00:00", "buy")])
    assert check_both(con, df, ["view", "cart", "buy"]) == [1, 1, 1]
    assert funnel(con, "ev", ["view", "cart", "buy"]).steps[2].median_seconds_from_start == 0.0


def test_window_end_is_included_and_a_microsecond_later_is_not():
    con, df = log_con([("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-08 00:00:00", "cart"),
                       ("b", "2025-01-01 00:00:00", "view"), ("b", "2025-01-08 00:00:00.000001", "cart")])
    assert check_both(con, df, ["view", "cart"], 7) == [2, 1]
    assert check_both(con, df, ["view", "cart"], 7 + 1 / 86_400) == [2, 2]


def test_events_before_step_one_do_not_count():
    con, df = log_con([("a", "2025-01-01 09:00:00", "cart"), ("a", "2025-01-01 10:00:00", "view"),
                       ("b", "2025-01-01 09:00:00", "cart")])
    assert check_both(con, df, ["view", "cart"]) == [1, 0]


def test_only_the_first_step_one_opens_the_window():
    # A second "view" ten days later does not open a new window.
    con, df = log_con([("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-11 00:00:00", "view"),
                       ("a", "2025-01-11 00:05:00", "cart")])
    assert check_both(con, df, ["view", "cart"], 7) == [1, 0]


def test_each_step_is_the_earliest_occurrence_after_the_previous():
    con, df = log_con([
        # cart at 1h (earliest), buy at 3h: in order.
        ("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-01 01:00:00", "cart"),
        ("a", "2025-01-01 05:00:00", "cart"), ("a", "2025-01-01 03:00:00", "buy"),
        # buy only before the cart: not converted.
        ("b", "2025-01-01 00:00:00", "view"), ("b", "2025-01-01 01:00:00", "buy"),
        ("b", "2025-01-01 02:00:00", "cart"),
    ])
    result = funnel(con, "ev", ["view", "cart", "buy"], 1)
    assert [s.users for s in result.steps] == [2, 2, 1]
    assert result.steps[1].median_seconds_from_previous == (3600 + 7200) / 2  # 1 h and 2 h
    assert result.steps[2].median_seconds_from_previous == 7200.0
    assert result.steps[2].median_seconds_from_start == 10800.0
    check_both(con, df, ["view", "cart", "buy"], 1)


def test_repeated_step_needs_a_strictly_later_occurrence():
    con, df = log_con([
        ("a", "2025-01-01 00:00:00", "view"),  # one view only
        ("b", "2025-01-01 00:00:00", "view"), ("b", "2025-01-01 00:00:00", "view"),  # two at the same time
        ("c", "2025-01-01 00:00:00", "view"), ("c", "2025-01-01 00:00:01", "view"),  # a later one
    ])
    assert check_both(con, df, ["view", "view"]) == [3, 1]
    # view, cart, view with the cart at the view's time: the second view must still be later.
    con, df = log_con([("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-01 00:00:00", "cart"),
                       ("b", "2025-01-01 00:00:00", "view"), ("b", "2025-01-01 00:00:00", "cart"),
                       ("b", "2025-01-01 00:00:02", "view")])
    assert check_both(con, df, ["view", "cart", "view"]) == [2, 2, 1]


def test_exclusion_closes_the_window_at_the_first_excluded_event():
    con, df = log_con([
        ("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-01 01:00:00", "refund"),
        ("a", "2025-01-01 02:00:00", "cart"),  # after the refund: excluded
        ("b", "2025-01-01 00:00:00", "view"), ("b", "2025-01-01 02:00:00", "refund"),
        ("b", "2025-01-01 02:00:00", "cart"),  # at the same moment as the refund: counts
        ("c", "2025-01-01 00:00:00", "refund"), ("c", "2025-01-01 00:00:00", "view"),
        ("c", "2025-01-01 03:00:00", "cart"),  # refund at the step-1 time is not "in between"
    ])
    assert check_both(con, df, ["view", "cart"], exclude="refund") == [3, 2]
    assert users(con, ["view", "cart"]) == [3, 3]


def test_any_order_counts_steps_done_in_any_order_within_the_window():
    con, df = log_con([
        ("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-01 01:00:00", "buy"),
        ("a", "2025-01-01 02:00:00", "cart"),
        ("b", "2025-01-01 00:00:00", "view"), ("b", "2025-01-09 00:00:00", "cart"),  # outside the window
        ("c", "2025-01-01 00:00:00", "cart"), ("c", "2025-01-01 00:10:00", "view"),  # cart before step 1
    ])
    assert check_both(con, df, ["view", "cart", "buy"], any_order=True) == [3, 1, 1]
    assert check_both(con, df, ["view", "cart", "buy"]) == [3, 1, 0]
    result = funnel(con, "ev", ["view", "cart", "buy"], any_order=True)
    assert result.steps[2].median_seconds_from_start == 7200.0  # reached when the last of them happened


def test_time_to_convert_distribution_buckets():
    con, df = log_con([
        ("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-01 00:00:59", "cart"),  # < 1 min
        ("b", "2025-01-01 00:00:00", "view"), ("b", "2025-01-01 00:01:00", "cart"),  # 1 to 5 min
        ("c", "2025-01-01 00:00:00", "view"), ("c", "2025-01-03 00:00:00", "cart"),  # 2 to 3 d
    ])
    step = funnel(con, "ev", ["view", "cart"], 2).steps[1]
    buckets = {b.label: b.users for b in step.time_to_convert}
    assert buckets["< 1 min"] == 1 and buckets["1 min to 5 min"] == 1 and buckets["2 d to 3 d"] == 1
    assert sum(buckets.values()) == 3
    # Only buckets a conversion inside the 2-day window can reach.
    assert max(b.lower_seconds for b in step.time_to_convert) == 2 * 86_400
    assert step.median_seconds_from_previous == 60.0
    check_both(con, df, ["view", "cart"], 2)


def test_one_user_log():
    con, df = log_con([("solo", "2025-01-01 00:00:00", "view"), ("solo", "2025-01-01 00:00:05", "cart")])
    result = funnel(con, "ev", ["view", "cart"])
    assert [s.users for s in result.steps] == [1, 1]
    assert result.steps[1].conversion_from_start == 1.0


# --- the sample log: exact agreement with pandas ------------------------------------------------------

@pytest.mark.parametrize("steps,window,kw", [
    (SHOP, 7, {}),
    (["page_view", "add_to_cart", "purchase"], 1, {}),
    (["page_view", "add_to_cart", "purchase"], 0.25, {}),
    (["view_item", "add_to_cart", "view_item", "purchase"], 3, {}),
    (["page_view", "page_view", "page_view"], 2, {}),
    (SHOP, 14, {"exclude": "search"}),
    (["page_view", "purchase", "add_to_cart"], 7, {"any_order": True}),
    (["view_item", "add_to_cart", "view_item", "purchase"], 3, {"any_order": True}),
])
def test_sample_matches_pandas(sample, steps, window, kw):
    con, df = sample
    counts = check_both(con, df, steps, window, **kw)
    assert counts[0] > 0 and all(a >= b for a, b in zip(counts, counts[1:]))


def test_sample_conversion_and_drop_off_arithmetic(sample):
    con, _ = sample
    result = funnel(con, "ev", SHOP, 7)
    s = result.steps
    assert s[0].users == 949  # every sample user views a page
    for prev, cur in zip(s, s[1:]):
        assert cur.drop_off == prev.users - cur.users
        assert cur.conversion_from_previous == pytest.approx(cur.users / prev.users)
        assert cur.conversion_from_start == pytest.approx(cur.users / s[0].users)
    # A wider window never converts fewer users.
    wide = funnel(con, "ev", SHOP, 30).steps
    assert all(w.users >= n.users for w, n in zip(wide, s))


def test_breakdown_by_channel_matches_pandas_and_adds_up(sample):
    con, df = sample
    result = funnel(con, "ev", SHOP, 7, by="channel", top=3)
    assert result.by == "channel"
    assert [g.value for g in result.groups][-1] == "(other)" and len(result.groups) == 4
    for k in range(len(SHOP)):
        assert sum(g.steps[k].users for g in result.groups) == result.steps[k].users
    times = pj.funnel_times(df, SHOP, 7)
    groups = pj.user_groups(df, times.rename(columns={"t1": "t0"}), "channel", 3, SHOP[0])
    times = times.assign(g=groups.to_numpy())
    for g in result.groups:
        part = times[times["g"] == g.value]
        assert [s.users for s in g.steps] == [int(part[f"t{k}"].notna().sum()) for k in range(1, 6)], g.value


def test_breakdown_by_segment_mapping(sample):
    con, df = sample
    all_users = sorted(df["user_id"].unique())
    seg = pd.DataFrame({"user_id": all_users[:500], "segment": ["early"] * 250 + ["late"] * 250})
    result = funnel(con, "ev", SHOP, 7, segments=seg)
    assert result.by == "segment"
    sizes = {g.value: g.users for g in result.groups}
    assert sizes == {"early": 250, "late": 250, "(no segment)": 449}
    assert [g.value for g in result.groups][-1] == "(no segment)"
    # A DuckDB relation works as well as a DataFrame.
    relation = con.sql("SELECT user_id, CASE WHEN user_id < 'u0000500' THEN 'a' ELSE 'b' END AS segment "
                       "FROM ev GROUP BY user_id")
    by_relation = funnel(con, "ev", SHOP, 7, segments=relation)
    assert sum(g.users for g in by_relation.groups) == 949 and {g.value for g in by_relation.groups} == {"a", "b"}


def test_attribute_with_very_many_values_is_grouped():
    n = 2_000
    rows = [(f"u{i}", "2025-01-01 00:00:00", "view", f"campaign-{i}") for i in range(n)]
    rows += [(f"u{i}", "2025-01-01 01:00:00", "cart", f"campaign-{i}") for i in range(0, n, 2)]
    con, _ = log_con(rows)
    result = funnel(con, "ev", ["view", "cart"], by="channel", top=10)
    assert len(result.groups) == 11 and result.groups[-1].value == "(other)"
    assert result.groups[-1].users == n - 10
    assert sum(g.steps[1].users for g in result.groups) == n // 2


def test_attribute_with_100k_values():
    con, _ = log_con([("x", "2025-01-01 00:00:00", "view")])
    con.execute("DROP TABLE ev")
    con.execute("CREATE TABLE ev AS SELECT 'u' || i AS user_id, TIMESTAMP '2025-01-01' + to_seconds(i % 50) AS ts, "
                "CASE WHEN i % 3 = 0 THEN 'cart' ELSE 'view' END AS event, NULL::DOUBLE AS amount, "
                "NULL::VARCHAR AS session_id, 'v' || (i // 3) AS channel FROM range(300000) t(i)")
    result = funnel(con, "ev", ["view", "cart"], by="channel", top=5)
    assert len(result.groups) == 6 and result.groups[-1].value == "(other)"
    assert result.steps[0].users == 200_000


def test_to_dict_is_the_cli_json(sample):
    con, _ = sample
    doc = funnel(con, "ev", ["page_view", "add_to_cart", "purchase"], 7, by="platform").to_dict()
    text = json.dumps(doc)  # plain JSON types only
    assert json.loads(text) == doc
    assert list(doc["steps"][0])[:2] == ["event", "users"]
    assert [s["event"] for s in doc["steps"]] == ["page_view", "add_to_cart", "purchase"]
    assert doc["window_days"] == 7.0 and doc["order"] == "sequential" and doc["by"] == "platform"
    assert {b["value"] for b in doc["breakdown"]} == {"web", "ios", "android"}
    assert len(doc["steps"][1]["time_to_convert"]) == TIME_EDGES.index(7 * 86_400) + 1


def test_tables_for_download(sample):
    con, _ = sample
    result = funnel(con, "ev", SHOP, 7, by="platform")
    assert list(result.table()["event"]) == SHOP
    bt = result.breakdown_table()
    assert list(bt.columns[:3]) == ["group", "step", "event"] and len(bt) == 3 * len(SHOP)


def test_progress_is_reported(sample):
    con, _ = sample
    seen = []
    funnel(con, "ev", SHOP, 7, progress=lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    assert all(isinstance(m, str) and m for _, m in seen)


def test_steps_given_as_text():
    con, _ = log_con([("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-01 00:00:01", "cart")])
    assert users(con, "view,cart") == [1, 1]


def test_on_a_workspace_dataset(sample_dataset, workspace, sample):
    """The entry points run on the workspace's own connection and events table, as the page and CLI will call them."""
    from analytics.journeys import paths, retention

    cur = workspace.cursor()
    table = sample_dataset.events_table
    mem, _ = sample
    assert funnel(cur, table, SHOP, 7, by="channel").to_dict() == funnel(mem, "ev", SHOP, 7, by="channel").to_dict()
    assert retention(cur, table, "week").to_dict() == retention(mem, "ev", "week").to_dict()
    assert paths(cur, table, "add_to_cart", 3).to_dict() == paths(mem, "ev", "add_to_cart", 3).to_dict()
    # The connection is left clean: no registered views, no unfinished result.
    funnel(cur, table, SHOP, segments=pd.DataFrame({"user_id": ["u0000001"], "segment": ["x"]}))
    assert cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] == sample_dataset.rows
    assert not [v for (v,) in cur.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
                if v.startswith("_ml_")]

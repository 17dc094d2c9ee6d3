"""Paths after/before an event: ordering rules on hand-made logs, Sankey consistency, pandas agreement."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics.journeys import paths
from analytics.journeys.paths import END, START
from bench import pandas_journeys as pj
from tests.journeys_support import log_con, sample_con


@pytest.fixture(scope="module")
def sample():
    con, df = sample_con()
    yield con, df


def transitions_from_pandas(wide: pd.DataFrame, steps: int, direction: str) -> dict:
    """(step, from, to) -> users, from the pandas paths (same reading order as the library's table)."""
    out: dict = {}
    ends = END if direction == "after" else START
    for k in range(steps):
        near = wide[f"e{k}"]
        far = wide[f"e{k + 1}"].astype(object).fillna(ends).where(near.notna())
        pairs = pd.DataFrame({"near": near, "far": far}).dropna()
        for (a, b), n in pairs.groupby(["near", "far"]).size().items():
            key = (k + 1, a, b) if direction == "after" else (-(k + 1), b, a)
            out[key] = int(n)
    return out


def test_next_steps_with_ties_and_repeats():
    con, df = log_con([
        ("a", "2025-01-01 00:00:00", "view"), ("a", "2025-01-01 00:01:00", "cart"),
        ("a", "2025-01-01 00:02:00", "cart"), ("a", "2025-01-01 00:03:00", "buy"),
        # Ties at the anchor's time: ordered by event name, so "zoom" comes after "cart", "add" before.
        ("b", "2025-01-01 00:00:00", "cart"), ("b", "2025-01-01 00:00:00", "zoom"),
        ("b", "2025-01-01 00:00:00", "add"),
    ])
    r = paths(con, "ev", "cart", 2)
    got = {tuple(p): n for p, n in zip(r.top_paths["path"], r.top_paths["users"])}
    assert got == {("cart", "buy", END): 1, ("cart", "zoom", END): 1}
    r = paths(con, "ev", "cart", 2, collapse_repeats=False)
    got = {tuple(p): n for p, n in zip(r.top_paths["path"], r.top_paths["users"])}
    assert got == {("cart", "cart", "buy"): 1, ("cart", "zoom", END): 1}
    r = paths(con, "ev", "cart", 2, direction="before")
    got = {tuple(p): n for p, n in zip(r.top_paths["path"], r.top_paths["users"])}
    assert got == {(START, "view", "cart"): 1, (START, "add", "cart"): 1}
    for direction in ("after", "before"):
        for collapse in (True, False):
            wide = pj.paths_table(df, "cart", 2, direction, collapse)
            r = paths(con, "ev", "cart", 2, direction=direction, collapse_repeats=collapse)
            got = {(t.step, t.from_event, t.to_event): t.users for t in r.transitions.itertuples()}
            assert got == transitions_from_pandas(wide, 2, direction)


def test_anchor_is_the_first_occurrence():
    con, _ = log_con([("a", "2025-01-01 00:00:00", "buy"), ("a", "2025-01-01 01:00:00", "view"),
                      ("a", "2025-01-01 02:00:00", "buy"), ("a", "2025-01-01 03:00:00", "exit")])
    r = paths(con, "ev", "buy", 3)
    assert list(r.top_paths["path"][0]) == ["buy", "view", "buy", "exit"]


@pytest.mark.parametrize("event,steps,direction,collapse", [
    ("add_to_cart", 3, "after", True), ("add_to_cart", 3, "after", False), ("purchase", 3, "before", True),
    ("purchase", 4, "before", False), ("page_view", 2, "after", True), ("search", 5, "after", True),
])
def test_sample_matches_pandas(sample, event, steps, direction, collapse):
    con, df = sample
    r = paths(con, "ev", event, steps, direction=direction, collapse_repeats=collapse)
    wide = pj.paths_table(df, event, steps, direction, collapse)
    assert r.users == len(wide)
    got = {(t.step, t.from_event, t.to_event): t.users for t in r.transitions.itertuples()}
    assert got == transitions_from_pandas(wide, steps, direction)
    counts = pj.path_counts(wide).sort_values("n", ascending=False)
    assert list(r.top_paths["users"]) == list(counts["n"].head(len(r.top_paths)))


def test_sankey_is_consistent(sample):
    con, _ = sample
    r = paths(con, "ev", "view_item", 3, top=2)
    assert r.nodes[0].step == 0 and r.nodes[0].label == "view_item" and r.nodes[0].users == r.users
    for step in (1, 2, 3):
        labels = [n.label for n in r.nodes if n.step == step]
        assert len([x for x in labels if not x.startswith("(")]) <= 2
        # Everyone is somewhere at step 1; later steps lose only those who ended before.
        assert sum(n.users for n in r.nodes if n.step == step) <= r.users
    assert sum(n.users for n in r.nodes if n.step == 1) == r.users
    into = {}
    out = {}
    for link in r.links:
        into[link.target] = into.get(link.target, 0) + link.users
        out[link.source] = out.get(link.source, 0) + link.users
        assert r.nodes[link.target].step == r.nodes[link.source].step + 1
    for i, node in enumerate(r.nodes):
        if node.step > 0:
            assert into[i] == node.users  # what flows in is the node
        if 0 < node.step < 3 and node.label != END:
            assert out[i] == node.users  # and flows on, to an event or "(end)"
    shares = r.transitions.groupby(["step", "from_event"])["share"].sum()
    assert shares.round(9).eq(1.0).all()


def test_before_sankey_flows_towards_the_anchor(sample):
    con, _ = sample
    r = paths(con, "ev", "purchase", 2, direction="before")
    assert {n.step for n in r.nodes} == {-2, -1, 0}
    anchor = next(i for i, n in enumerate(r.nodes) if n.step == 0)
    assert sum(k.users for k in r.links if k.target == anchor) == r.users
    doc = r.to_dict()
    assert json.loads(json.dumps(doc)) == doc and doc["direction"] == "before"


def test_many_event_names_and_long_time_spans_give_the_same_paths(sample, monkeypatch):
    """The event code comes from a join beyond ENUM_LIMIT names, keys are HUGEINT when BIGINT could overflow."""
    from analytics.journeys import _paths_sql

    con, _ = sample
    expected = paths(con, "ev", "view_item", 3, direction="before").to_dict()
    monkeypatch.setattr(_paths_sql, "ENUM_LIMIT", 2)
    assert paths(con, "ev", "view_item", 3, direction="before").to_dict() == expected
    monkeypatch.setattr(_paths_sql, "_BIGINT_SAFE", 10)
    assert paths(con, "ev", "view_item", 3, direction="before").to_dict() == expected
    assert not [v for (v,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]


def test_event_names_with_quotes():
    con, df = log_con([("a", "2025-01-01 00:00:00", "it's"), ("a", "2025-01-01 00:00:01", 'say "hi"')])
    r = paths(con, "ev", "it's", 1)
    assert list(r.top_paths["path"][0]) == ["it's", 'say "hi"']

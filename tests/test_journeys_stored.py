"""Journey views of a workspace dataset: stored once per (dataset, settings), found again; audiences reused."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from analytics.audiences import Audience, membership
from analytics.errors import InvalidParameterError
from analytics.journeys import (
    FunnelResult,
    LifecycleResult,
    PathsResult,
    RetentionResult,
    funnel,
    lifecycle,
    paths,
    retention,
    stored,
)
from analytics.journeys.settings import (
    Breakdown,
    FunnelSettings,
    LifecycleSettings,
    PathsSettings,
    RetentionSettings,
)

SHOP = ("page_view", "view_item", "add_to_cart", "begin_checkout", "purchase")


def test_results_survive_their_json_round_trip(workspace, sample_dataset):
    con, t = workspace.cursor(), sample_dataset.events_table
    for cls, result in [(FunnelResult, funnel(con, t, list(SHOP), 7, by="platform", exclude="search")),
                        (RetentionResult, retention(con, t, "month", by="channel", cohort_event="purchase")),
                        (PathsResult, paths(con, t, "add_to_cart", 3, direction="before")),
                        (LifecycleResult, lifecycle(con, t, "week"))]:
        again = cls.from_dict(result.to_dict())
        assert again.to_dict() == result.to_dict(), cls.__name__
    p = paths(con, t, "search", 2)
    back = PathsResult.from_dict(p.to_dict())
    pd.testing.assert_frame_equal(back.transitions, p.transitions)
    assert list(back.paths_table()["path"]) == [" > ".join(x) for x in p.top_paths["path"]]


def test_a_view_is_computed_once_per_settings_and_found_again(workspace, sample_dataset):
    ds = sample_dataset.id
    settings = FunnelSettings(list(SHOP), 7)
    assert stored.find(workspace, ds, settings) is None
    calls = []
    first = stored.compute(workspace, ds, settings, progress=lambda f, m: calls.append((f, m)))
    assert [s.users for s in first.result.steps] == [949, 801, 364, 226, 157]
    assert calls[0][0] == 0.0 and calls[-1] == (1.0, "Done")
    # 7 days as an int or a float, steps as a list or a tuple: the same stored result.
    again = stored.compute(workspace, ds, FunnelSettings(SHOP, 7.0))
    assert again.key == first.key and again.result == first.result
    assert len(workspace.results(ds, "journey")) == 1
    assert stored.latest_settings(workspace, ds, "funnel") == settings
    assert stored.latest_settings(workspace, ds, "paths") is None
    other = stored.compute(workspace, ds, FunnelSettings(SHOP, 1))
    assert other.key != first.key and other.result.steps[-1].users < 157
    unstored = stored.compute(workspace, ds, FunnelSettings(SHOP, 2), store=False)
    assert unstored.key is None and stored.find(workspace, ds, FunnelSettings(SHOP, 2)) is None


def test_old_results_are_pruned(workspace, sample_dataset, monkeypatch):
    monkeypatch.setattr(stored, "KEEP", 2)
    ds = sample_dataset.id
    for event in ("purchase", "search", "add_to_cart"):
        stored.compute(workspace, ds, LifecycleSettings("month", event))
    stored.compute(workspace, ds, PathsSettings("purchase", 1))
    kept = [r.meta["settings"] for r in workspace.results(ds, "journey")]
    assert [k.get("event") for k in kept] == ["purchase", "add_to_cart", "search"]
    assert stored.find(workspace, ds, LifecycleSettings("month", "purchase")) is None


def test_breakdown_by_saved_segmentation_and_audience(workspace, sample_dataset, sample_truth):
    ds = sample_dataset.id
    labels = sample_truth.rename(columns={"customer_type": "segment"})[["user_id", "segment"]].astype(str)
    workspace.put_result(ds, "segmentation", "truth", {"brief": {}}, {"labels": labels})
    by_type = stored.compute(workspace, ds, FunnelSettings(SHOP, 7, breakdown=Breakdown("segmentation", "truth")))
    sizes = {g.value: g.users for g in by_type.result.groups}
    assert sum(sizes.values()) == 949 and len(sizes) == 5
    # The users who stopped at the cart, saved; then used as a two-group breakdown.
    settings = FunnelSettings(SHOP, 7)
    audience = stored.funnel_audience(workspace, ds, settings, 3)
    assert audience.size == 364 - 226 and audience.rule["reached"] == 3
    key = stored.save_audience(workspace, ds, audience, "  Cart quitters ")
    assert key == "cart_quitters"
    back = workspace.audience(ds, key)
    assert back.name == "Cart quitters" and back.description == audience.description
    assert sorted(back.users["user_id"]) == sorted(audience.users["user_id"])
    assert Breakdown("audience", key) in stored.breakdowns(workspace, ds)
    split = stored.compute(workspace, ds, RetentionSettings("week", breakdown=Breakdown("audience", key)))
    assert {g.value: g.matrix.users for g in split.result.groups} == {"not in Cart quitters": 949 - 138,
                                                                      "in Cart quitters": 138}
    # Saving the audience again (other users) makes the stored breakdown outdated: it is not found any more.
    stored.save_audience(workspace, ds, stored.funnel_audience(workspace, ds, settings, 2), "Cart quitters")
    assert stored.find(workspace, ds, split.settings) is None
    workspace.drop_result(ds, "audience", key)
    assert stored.find(workspace, ds, split.settings) is None


def test_cohort_audience_and_group_audience(workspace, sample_dataset):
    ds = sample_dataset.id
    settings = RetentionSettings("week", breakdown=Breakdown("attribute", "platform"))
    r = stored.compute(workspace, ds, settings).result
    m = r.matrix
    lost = stored.cohort_audience(workspace, ds, settings, m.cohort_starts[0], 2, retained=False)
    assert lost.size == m.sizes[0] - m.counts[0][2]
    assert lost.name == f"Week {m.cohort_starts[0]} cohort, not back in week 2"
    g = r.groups[0]
    kept = stored.cohort_audience(workspace, ds, settings, g.matrix.cohort_starts[1], 1, group=g.value)
    assert kept.size == g.matrix.counts[1][1] and kept.name.endswith(f", {g.value}")


def test_membership_splits_a_population():
    aud = Audience("Buyers", "who bought", pd.DataFrame({"user_id": ["a", "c", "zz"]}))
    out = membership(aud, ["a", "b", "c", "a", 7])
    assert list(out["user_id"]) == ["a", "b", "c", "7"]
    assert list(out["segment"]) == ["in Buyers", "not in Buyers", "in Buyers", "not in Buyers"]


def test_bad_use_is_refused_with_a_message(workspace, sample_dataset, monkeypatch):
    ds = sample_dataset.id
    with pytest.raises(InvalidParameterError, match="Give the audience a name"):
        stored.save_audience(workspace, ds, Audience("x", "", pd.DataFrame({"user_id": ["a"]})), "  ")
    with pytest.raises(InvalidParameterError, match="A breakdown is by attribute, segmentation, audience"):
        Breakdown("colour", "x")
    with pytest.raises(InvalidParameterError, match="conversion window must be more than 0"):
        stored.compute(workspace, ds, FunnelSettings(SHOP, 0))
    assert workspace.results(ds, "journey") == []
    spark = dataclasses.replace(sample_dataset, engine="spark")
    monkeypatch.setattr(type(workspace), "get", lambda self, dataset_id: spark)
    with pytest.raises(InvalidParameterError, match="live in the data lake"):
        stored.compute(workspace, ds, LifecycleSettings())

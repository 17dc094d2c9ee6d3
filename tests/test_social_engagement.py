"""Social engagement features, content performance, audiences and event kinds on hand-made logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.audiences import Audience
from analytics.errors import InvalidParameterError, MappingError, NoDataError
from analytics.social import (
    EventKinds,
    content_performance,
    engaged_audience,
    engagement_conversion,
    engagement_features,
    guess_social_columns,
)
from analytics.social.intervals import poisson_rate_interval, wilson_interval
from analytics.social.kinds import normalise
from tests.social_helpers import events_table

D0 = pd.Timestamp("2025-05-01 10:00")
COLS = ("channel", "content_id")


def at(days: float, minutes: float = 0) -> pd.Timestamp:
    return D0 + pd.Timedelta(days=days, minutes=minutes)


def hand_log() -> list[tuple]:
    return [
        # a: sees and engages on facebook and instagram, follows then unfollows, buys on day 2.
        ("a", at(0), "impression", "facebook", "p1"), ("a", at(0, 1), "Likes", "facebook", "p1"),
        ("a", at(0, 2), "link_click", "facebook", "p1"), ("a", at(1), "impression", "instagram", "p2"),
        ("a", at(1, 1), "comment", "instagram", "p2"), ("a", at(1, 2), "follow", "instagram", None),
        ("a", at(2), "purchase", None, None, 30.0), ("a", at(3), "unfollow", "instagram", None),
        # b: shown a tiktok post twice on two days, never engages.
        ("b", at(0), "impression", "tiktok", "p3"), ("b", at(5), "impression", "tiktok", "p3"),
        # c: only buys. d: shares a post it was never shown (no impression logged).
        ("c", at(1), "purchase", None, None, 10.0), ("d", at(0, 5), "share", "facebook", "p1"),
        # e: shown p3, buys 10 days later. f: bought an hour before being shown p3.
        ("e", at(0), "impression", "tiktok", "p3"), ("e", at(10), "purchase", None, None, 5.0),
        ("f", at(0, -60), "purchase", None, None, 5.0), ("f", at(0), "impression", "tiktok", "p3"),
    ]


def test_event_names_are_read_as_kinds():
    k = EventKinds()
    assert [k.kind_of(e) for e in ("Impressions", "Link Clicks", "Retweets", "likes", "Reactions", "video_view",
                                   "new_follower", "Unsubscribe", "purchase", "page_view")] == [
        "impression", "click", "share", "like", "like", "impression", "follow", "unfollow", None, None]
    assert normalise("  Post Comments ") == "post_comment"
    k2 = k.with_events(click="tap_link", impression=["seen_story"]).with_events(like=[])
    assert k2.kind_of("tap_link") == "click" and k2.kind_of("seen_story") == "impression"
    assert EventKinds(explicit={"likes": None}).kind_of("likes") is None
    with pytest.raises(InvalidParameterError, match="Unknown kind of social event 'poke'"):
        EventKinds(explicit={"poke": "poke"})


def test_social_columns_are_guessed_from_names():
    assert guess_social_columns(["user_id", "ts", "post_id", "utm_campaign"]) == {"content": "post_id",
                                                                                  "campaign": "utm_campaign"}
    assert guess_social_columns(["Creative ID", "Campaign Name", "channel"]) == {"content": "Creative ID",
                                                                                 "campaign": "Campaign Name"}
    assert guess_social_columns(["user", "country"]) == {"content": None, "campaign": None}


def test_engagement_features_by_hand():
    con, t = events_table(hand_log(), COLS)
    f = engagement_features(con, t, content="content_id")
    rows = f.table.set_index("user_id")
    a = rows.loc["a"]
    assert (a.n_impressions, a.n_engagements, a.n_clicks, a.n_likes, a.n_comments, a.n_shares) == (2, 3, 1, 1, 1, 0)
    assert a.engagement_rate == pytest.approx(1.5)
    assert (a.share_clicks, a.share_likes, a.share_comments, a.share_shares) == pytest.approx((1 / 3, 1 / 3, 1 / 3, 0))
    assert (a.n_follows, a.n_unfollows, a.net_follows) == (1, 1, 0)
    assert a.social_days_active == 3  # days 0, 1 and 3; the purchase on day 2 is not social
    assert (a.first_touch_channel, a.last_touch_channel) == ("facebook", "instagram")
    assert (a.posts_seen, a.posts_engaged) == (2, 2)
    b = rows.loc["b"]
    assert (b.n_impressions, b.n_engagements, b.engagement_rate, b.social_days_active) == (2, 0, 0.0, 2)
    assert np.isnan(b.share_likes) and (b.first_touch_channel, b.last_touch_channel) == ("tiktok", "tiktok")
    c = rows.loc["c"]
    assert (c.n_impressions, c.n_engagements, c.social_days_active, c.posts_seen) == (0, 0, 0, 0)
    assert np.isnan(c.engagement_rate) and pd.isna(c.first_touch_channel)
    d = rows.loc["d"]
    assert d.n_shares == 1 and np.isnan(d.engagement_rate) and d.share_shares == 1.0
    assert "n_saves" not in f.table.columns  # the log has no saves
    assert sorted(f.table["user_id"]) == ["a", "b", "c", "d", "e", "f"]
    assert f.kinds["like"] == ["Likes"] and f.kinds["click"] == ["link_click"]
    assert f.to_dict()["users_with_social_events"] == 5


def test_engagement_without_impressions_or_channel():
    rows = [("a", at(0), "like", "p1"), ("a", at(1), "comment", "p1"), ("b", at(0), "purchase", None, 3.0)]
    con, t = events_table(rows, ("content_id",))
    f = engagement_features(con, t)
    assert f.table["engagement_rate"].isna().all()
    assert any("No impression events" in n for n in f.notes) and any("no 'channel' column" in n for n in f.notes)
    assert "first_touch_channel" not in f.table.columns
    with pytest.raises(MappingError, match="no column 'platform'"):
        engagement_features(con, t, channel="platform")


def test_no_social_events_lists_the_log_events():
    con, t = events_table([("a", at(0), "page_view", "web"), ("a", at(1), "purchase", "web", 5.0)])
    with pytest.raises(NoDataError, match="No social events.*'page_view'"):
        engagement_features(con, t)
    with pytest.raises(NoDataError, match="No social events"):
        content_performance(con, t, "channel")


def test_content_performance_by_hand():
    con, t = events_table(hand_log(), COLS)
    c = content_performance(con, t, "content_id", conversion="purchase", window_days=7)
    rows = c.table.set_index("content_id")
    p1, p2, p3 = rows.loc["p1"], rows.loc["p2"], rows.loc["p3"]
    # p1: a (shown, liked, clicked; bought a day later) and d (shared, never bought).
    assert (p1.reach, p1.impressions, p1.engagements, p1.clicks, p1.engaged_users, p1.conversions) == (2, 1, 3, 1, 2, 1)
    assert p1.engagement_rate == 3.0 and p1.conversion_rate == 0.5
    assert (p2.reach, p2.impressions, p2.engagements, p2.conversions) == (1, 1, 1, 1)
    # p3: b never buys, e buys 10 days later (outside 7), f bought before being shown.
    assert (p3.reach, p3.impressions, p3.engagements, p3.conversions) == (3, 4, 0, 0)
    assert rows["few_users"].all() and any("fewer than 30 users" in n for n in c.notes)
    wide = content_performance(con, t, "content_id", window_days=14).table.set_index("content_id")
    assert wide.loc["p3", "conversions"] == 1
    by_channel = content_performance(con, t, "channel", conversion=None).table.set_index("channel")
    assert by_channel.loc["instagram", "reach"] == 1 and "conversions" not in by_channel.columns
    assert by_channel.loc["tiktok", "reach"] == 3


def test_rankings_use_the_lower_end_of_the_interval():
    rows = [(f"t{i}", at(0), ev, "fb", "tiny") for i in range(2) for ev in ("impression", "like")]
    rows += [(f"b{i}", at(0), "impression", "fb", "big") for i in range(40)]
    rows += [(f"b{i}", at(0, 1), "like", "fb", "big") for i in range(30)]
    rows += [("b0", at(1), "purchase", None, None, 9.0), ("t0", at(1), "purchase", None, None, 9.0)]
    con, t = events_table(rows, COLS)
    c = content_performance(con, t, "content_id")
    table = c.table.set_index("content_id")
    assert table.loc["tiny", "engagement_rate"] > table.loc["big", "engagement_rate"]
    assert c.ranked("engagement")["content_id"].tolist() == ["big", "tiny"]
    assert table.loc["tiny", "few_users"] and not table.loc["big", "few_users"]
    # tiny converts 1 of 2 (50%), big 1 of 40, but 1 of 2 is not much evidence either way.
    assert table.loc["tiny", "conversion_rate"] == 0.5
    assert c.ranked("conversion", top=1)["content_id"].tolist() == ["tiny"]
    with pytest.raises(InvalidParameterError, match="Rank by one of engagement, conversion"):
        c.ranked("likes")


def test_interval_formulas():
    # Wilson: the p solving |x/n - p| = z sqrt(p(1 - p)/n), i.e. a quadratic in p.
    z = 1.959963984540054
    for x, n in ((1, 2), (0, 12), (12, 12), (37, 250)):
        ph = x / n
        a, b, cc = 1 + z * z / n, -(2 * ph + z * z / n), ph * ph
        roots = np.sort(np.roots([a, b, cc]).real)
        low, high = wilson_interval(np.array([x]), np.array([n]))
        assert (low[0], high[0]) == pytest.approx((max(0, roots[0]), min(1, roots[1])), abs=1e-12)
    assert np.isnan(wilson_interval(np.array([0]), np.array([0]))[0][0])
    # Exact Poisson interval for 3 events: 0.6187 to 8.7673 (Garwood's table); per 10 exposures a tenth of it.
    low, high = poisson_rate_interval(np.array([3, 0, 3]), np.array([1.0, 1.0, 10.0]))
    assert low[0] == pytest.approx(0.6187, abs=1e-4) and high[0] == pytest.approx(8.7673, abs=1e-4)
    assert low[1] == 0 and high[1] == pytest.approx(3.6889, abs=1e-4)
    assert low[2] == pytest.approx(0.06187, abs=1e-5)


def test_content_without_impressions_ranks_by_engaged_users():
    rows = [("a", at(0), "like", "fb", "p1"), ("b", at(0), "like", "fb", "p1"), ("c", at(0), "comment", "fb", "p2")]
    con, t = events_table(rows, COLS)
    c = content_performance(con, t, "content_id", conversion=None)
    assert c.engagement_basis == "reach" and c.table["engagement_rate"].isna().all()
    assert any("No impression events" in n for n in c.notes)


def test_content_bad_input():
    con, t = events_table(hand_log(), COLS)
    with pytest.raises(MappingError, match="no column 'post'.*'content_id'"):
        content_performance(con, t, "post")
    with pytest.raises(NoDataError, match="no 'signup' events.*'impression'"):
        content_performance(con, t, "content_id", conversion="signup")
    for kwargs, name in (({"window_days": 0}, "window_days"), ({"confidence": 1.5}, "confidence"),
                         ({"min_users": 0}, "min_users")):
        with pytest.raises(InvalidParameterError, match=name):
            content_performance(con, t, "content_id", **kwargs)
    with pytest.raises(InvalidParameterError, match="no conversion ranking"):
        content_performance(con, t, "content_id", conversion=None).ranked("conversion")


def test_engagement_conversion_by_hand():
    con, t = events_table(hand_log(), COLS)
    ec = engagement_conversion(con, t, "channel", window_days=7)
    got = {(r.channel, r.kind): (r.users, r.converted) for r in ec.table.itertuples()}
    assert got[("facebook", "click")] == (1, 1) and got[("facebook", "share")] == (1, 0)
    assert got[("tiktok", "impression")] == (3, 0) and got[("instagram", "unfollow")] == (1, 0)


def test_engaged_audience():
    con, t = events_table(hand_log(), COLS)
    aud = engaged_audience(con, t, "content_id", ["p1"])
    assert aud.users["user_id"].tolist() == ["a", "d"] and aud.users["engagements"].tolist() == [2, 1]
    assert aud.name == "Engaged with content_id p1" and aud.to_dict()["users"] == 2
    assert isinstance(aud, Audience) and aud.rule["column"] == "content_id" and aud.rule["values"] == ["p1"]
    assert aud.description == "Users who clicked, liked, commented on, shared or saved content_id p1."
    assert engaged_audience(con, t, "content_id", ["p1"], min_engagements=2).users["user_id"].tolist() == ["a"]
    assert engaged_audience(con, t, "content_id", ["p3"], kinds=["impression"]).size == 3
    assert engaged_audience(con, t, "channel", ["facebook", "instagram"], since=at(1)).users["user_id"].tolist() == [
        "a"]
    seen = engaged_audience(con, t, "content_id", ["p1", "p3"], kinds=["impression"], since=at(0), min_engagements=2)
    assert seen.description == "Users who were shown content_id p1 or p3 at least twice (from 2025-05-01 10:00)."
    assert seen.users["user_id"].tolist() == ["b"] and seen.rule["since"] == "2025-05-01T10:00:00"
    with pytest.raises(NoDataError, match="No row has content_id 'p9'"):
        engaged_audience(con, t, "content_id", ["p9"])
    with pytest.raises(InvalidParameterError, match="Unknown kind 'poke'"):
        engaged_audience(con, t, "content_id", ["p1"], kinds=["poke"])
    with pytest.raises(NoDataError, match="no save events"):
        engaged_audience(con, t, "content_id", ["p1"], kinds=["save"])
    with pytest.raises(InvalidParameterError, match="time range is empty"):
        engaged_audience(con, t, "content_id", ["p1"], since=at(2), until=at(1))


def test_engaged_audience_is_stored_by_the_workspace(workspace, tmp_path):
    from tests.helpers import csv_bytes

    rows = [(u, ts, e, ch, post) for u, ts, e, ch, post, *_ in hand_log()]
    log = tmp_path / "social.csv"
    log.write_bytes(csv_bytes(pd.DataFrame(rows, columns=["user", "time", "event", "channel", "content_id"])))
    ds = workspace.import_file(log, features=False)
    aud = engaged_audience(workspace.cursor(), ds.events_table, "content_id", ["p1"])
    key = workspace.save_audience(ds.id, aud)
    back = workspace.audience(ds.id, key)
    assert back.description == aud.description and back.rule == aud.rule
    assert back.users["user_id"].tolist() == ["a", "d"] and back.users["engagements"].tolist() == [2, 1]

"""The social sample: deterministic, imports with the right roles, and hides the structure it promises."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import spearmanr

from analytics.social import content_performance, engagement_conversion, engagement_features, guess_social_columns
from sample_data.generate_social import AUDIENCE_TYPES, CAMPAIGNS, CHANNELS, generate
from tests.social_helpers import SOCIAL_LOG, social_sample


@pytest.fixture(scope="module")
def social(tmp_path_factory):
    with social_sample(tmp_path_factory.mktemp("ws")) as sample:
        yield sample


def truth_of(truth: pd.DataFrame, kind: str) -> pd.DataFrame:
    return truth[truth["kind"] == kind].pivot(index="key", columns="field", values="value")


def test_size_flag_and_determinism():
    a, ta = generate(20_000, seed=1)
    b, tb = generate(20_000, seed=1)
    c, _ = generate(20_000, seed=2)
    assert a.equals(b) and ta.equals(tb) and not a.equals(c)
    assert 17_000 < a.num_rows < 23_000
    with pytest.raises(ValueError, match="n_events"):
        generate(10)


def test_committed_sample_is_the_generator_output():
    events, truth = generate(40_000, seed=11)
    committed = pd.read_csv(SOCIAL_LOG, keep_default_na=False)
    assert len(committed) == events.num_rows
    assert committed["event_time"].tolist() == events["event_time"].to_pylist()
    assert committed["content_id"].tolist() == [v or "" for v in events["content_id"].to_pylist()]


def test_imports_with_the_right_roles(tmp_path):
    from analytics.workspace import Workspace, close_all

    try:
        ds = Workspace(tmp_path).import_file(SOCIAL_LOG, name="Social", features=False)
        m = ds.mapping
        assert (m.user_id, m.timestamp, m.event, m.amount, m.session_id) == ("user_id", "event_time", "event",
                                                                            "amount", None)
        assert (m.content_id, m.campaign, m.attributes) == ("content_id", "campaign", ["channel"])
        assert ds.purchase_event == "purchase" and ds.rows == ds.rows_read
        assert ds.text_columns == ["content_id", "campaign", "channel"]
        assert guess_social_columns(ds.text_columns) == {"content": "content_id", "campaign": "campaign"}
    finally:
        close_all()


def test_audience_types_behave_as_described(social):
    con, table, _, truth = social
    types = truth_of(truth, "user")["audience_type"].rename("type")
    f = engagement_features(con, table).table.join(types, on="user_id")
    buys = con.execute(f"SELECT user_id, count(*) AS buys FROM {table} WHERE event = 'purchase' GROUP BY 1").df()
    f = f.merge(buys, on="user_id", how="left").fillna({"buys": 0})
    by = f.groupby("type")[["engagement_rate", "share_clicks", "share_shares", "net_follows", "buys"]].mean()
    assert sorted(by.index) == sorted(t.name for t in AUDIENCE_TYPES)
    assert by["engagement_rate"].idxmin() == "lurker" and by["engagement_rate"].idxmax() == "advocate"
    assert by["share_shares"].idxmax() == "advocate" and by["net_follows"].idxmax() == "advocate"
    assert by["share_clicks"].idxmax() == "converter" and by["buys"].idxmax() == "converter"
    assert by.loc["converter", "buys"] > 3 * by.loc["engager", "buys"]


def test_campaign_truth_engagement_is_not_conversion(social):
    con, table, _, truth = social
    camp = truth_of(truth, "campaign")
    assert set(camp.index) == {c.name for c in CAMPAIGNS}
    perf = content_performance(con, table, "campaign").table.set_index("campaign")
    # The giveaway engages most but truly sells nothing.
    assert perf["engagement_rate"].idxmax() == "giveaway" and camp.loc["giveaway", "lifts_conversion"] == "false"
    assert perf["rank_conversion"].idxmax() == "giveaway"
    # Retargeting reaches people who buy anyway: high conversion after exposure, no lift.
    assert camp.loc["retargeting", "lifts_conversion"] == "false"
    assert perf.loc["retargeting", "rank_conversion"] <= 2
    lifting = camp.index[camp["lifts_conversion"] == "true"]
    assert int(camp.loc[lifting, "caused_purchases"].astype(int).min()) > 0
    assert int(camp.loc[camp["lifts_conversion"] == "false", "caused_purchases"].astype(int).max()) == 0


def test_clicks_convert_on_one_channel_while_its_likes_do_not(social):
    con, table, _, truth = social
    ch = truth_of(truth, "channel")
    assert set(ch.index) == set(CHANNELS)
    clicker = ch.index[ch["click_converts"] == "true"].item()
    assert ch.loc[clicker, "like_converts"] == "false"
    rates = engagement_conversion(con, table, "channel").table.set_index(["channel", "kind"])
    click, like = rates.loc[(clicker, "click")], rates.loc[(clicker, "like")]
    assert click["conversion_rate_low"] > like["conversion_rate_high"]
    # Its likes convert no better than merely being shown its posts.
    assert like["conversion_rate"] < rates.loc[(clicker, "impression"), "conversion_rate_high"]


def test_post_quality_shows_in_engagement(social):
    con, table, _, truth = social
    quality = truth_of(truth, "content")["quality"].astype(float)
    perf = content_performance(con, table, "content_id").table.join(quality, on="content_id")
    big = perf[perf["impressions"] >= 100]
    assert len(big) > 40
    assert spearmanr(big["engagement_rate"], big["quality"]).statistic > 0.35

"""Audiences (users behind a funnel step or a cohort cell) and the chart builders."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from analytics.charts import journeys as charts
from analytics.exports import frame_bytes
from analytics.journeys import (
    cohort_users,
    funnel,
    funnel_dropoff_users,
    lifecycle,
    paths,
    retention,
)
from bench import pandas_journeys as pj
from tests.journeys_support import log_con, sample_con

SHOP = ["page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"]


@pytest.fixture(scope="module")
def sample():
    con, df = sample_con()
    yield con, df


def test_dropoff_audiences_match_the_funnel_and_pandas(sample):
    con, df = sample
    result = funnel(con, "ev", SHOP, 7)
    times = pj.funnel_times(df, SHOP, 7)
    for k in range(1, len(SHOP) + 1):
        aud = funnel_dropoff_users(con, "ev", SHOP, k, 7)
        expected = result.steps[k].drop_off if k < len(SHOP) else result.steps[-1].users
        assert aud.size == expected
        reached = times[f"t{k}"].notna() & (times[f"t{k + 1}"].isna() if k < len(SHOP) else True)
        assert list(aud.users["user_id"]) == sorted(times.loc[reached, "user_id"])
        assert aud.users["reached_at"].notna().all()
    aud = funnel_dropoff_users(con, "ev", SHOP, 3, 7)
    assert aud.description == "Reached 'add_to_cart' (step 3) but not 'begin_checkout' (step 4) within 7 days"
    assert aud.rule["reached"] == 3 and aud.name == "Stopped after add_to_cart (step 3)"


def test_dropoff_audience_of_one_breakdown_group(sample):
    con, _ = sample
    result = funnel(con, "ev", SHOP, 7, by="channel", top=2)
    for g in result.groups:
        aud = funnel_dropoff_users(con, "ev", SHOP, 2, 7, by="channel", top=2, group=g.value)
        assert aud.size == g.steps[2].drop_off, g.value
        assert aud.description.endswith(f"channel = {g.value}")


def test_cohort_cell_audiences_match_the_matrix(sample):
    con, _ = sample
    r = retention(con, "ev", "week", return_event="purchase")
    m = r.matrix
    for i in (0, 3, 10):
        start = m.cohort_starts[i]
        whole = cohort_users(con, "ev", start, None, "week", return_event="purchase")
        assert whole.size == m.sizes[i]
        for off in (0, 1, 2):
            kept = cohort_users(con, "ev", start, off, "week", return_event="purchase")
            lost = cohort_users(con, "ev", start, off, "week", retained=False, return_event="purchase")
            assert kept.size == m.counts[i][off]
            assert kept.size + lost.size == m.sizes[i]
            assert set(kept.users["user_id"]).isdisjoint(lost.users["user_id"])
    rb = retention(con, "ev", "month", by="platform")
    g = rb.groups[0]
    aud = cohort_users(con, "ev", g.matrix.cohort_starts[1], 2, "month", by="platform", group=g.value)
    assert aud.size == g.matrix.counts[1][2]
    assert aud.description == f"Month cohort of {g.matrix.cohort_starts[1]}, active in month 2, platform = {g.value}"


def test_audience_download_is_formula_safe():
    con, _ = log_con([("=HYPERLINK(\"x\")", "2025-01-06 00:00:00", "view"), ("b", "2025-01-06 00:00:00", "view"),
                      ("b", "2025-01-06 00:00:00", "cart")])
    aud = funnel_dropoff_users(con, "ev", ["view", "cart"], 1)
    assert list(aud.users["user_id"]) == ['=HYPERLINK("x")']
    text = frame_bytes(aud.users, "csv").decode()
    assert "'=HYPERLINK" in text


# --- charts -----------------------------------------------------------------------------------------

def test_funnel_charts(sample):
    con, _ = sample
    result = funnel(con, "ev", SHOP, 7)
    fig = charts.funnel_chart(result)
    assert isinstance(fig, go.Figure) and len(fig.data) == 1
    assert list(fig.data[0].y) == [s.users for s in result.steps]
    assert "of previous" in fig.data[0].text[1]
    grouped = charts.funnel_chart(funnel(con, "ev", SHOP, 7, by="platform"))
    assert len(grouped.data) == 3
    ttc = charts.time_to_convert_chart(result, 3)
    assert sum(ttc.data[0].y) == result.steps[2].users
    assert "median" in ttc.layout.title.text
    with pytest.raises(ValueError):
        charts.time_to_convert_chart(result, 1)


def test_retention_and_lifecycle_charts(sample):
    con, _ = sample
    r = retention(con, "ev", "month", by="platform")
    heat = charts.cohort_heatmap(r)
    assert len(heat.data[0].z) == len(r.matrix.sizes)
    assert heat.data[0].z[0][0] == pytest.approx(r.matrix.rates[0][0])
    assert heat.data[0].z[-1][-1] is None  # the triangle's empty corner
    assert charts.cohort_heatmap(r, group="ios", show="counts").data[0].z[0][0] == r.groups[[
        g.value for g in r.groups].index("ios")].matrix.counts[0][0]
    curves = charts.retention_curves(r)
    assert len(curves.data) == 1 + len(r.groups)
    lc = lifecycle(con, "ev")
    fig = charts.lifecycle_chart(lc)
    assert [t.name for t in fig.data] == ["new", "returning", "resurrected", "dormant"]
    assert (fig.data[3].y <= 0).all() and fig.layout.barmode == "relative"


def test_sankey_chart(sample):
    con, _ = sample
    result = paths(con, "ev", "add_to_cart", 3)
    fig = charts.sankey_chart(result)
    sk = fig.data[0]
    assert len(sk.node.label) == len(result.nodes) and sum(sk.link.value) == sum(k.users for k in result.links)


def test_text_from_the_data_is_escaped():
    con, _ = log_con([("a", "2025-01-06 00:00:00", "<b>view</b>", "<i>mail</i>"),
                      ("a", "2025-01-06 00:01:00", "cart", "<i>mail</i>")])
    result = funnel(con, "ev", ["<b>view</b>", "cart"], by="channel")
    fig = charts.funnel_chart(result, title="<script>")
    assert "&lt;b&gt;view&lt;/b&gt;" in fig.data[0].x[0] and "<b>view" not in fig.data[0].x[0]
    assert fig.data[0].name == "&lt;i&gt;mail&lt;/i&gt;" and "<script>" not in fig.layout.title.text
    sk = charts.sankey_chart(paths(con, "ev", "<b>view</b>", 1))
    assert "&lt;b&gt;view&lt;/b&gt;" in sk.data[0].node.label
    assert isinstance(pd.DataFrame(result.table()), pd.DataFrame)

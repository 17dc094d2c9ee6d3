"""Social and attribution charts: they build from real results and escape text from the data."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.attribution import MODELS, attribute
from analytics.charts.social import (
    attribution_chart,
    content_chart,
    engagement_conversion_chart,
    path_chart,
    path_table,
    removal_effect_chart,
)
from analytics.social import content_performance, engagement_conversion
from tests.social_helpers import events_table

D0 = pd.Timestamp("2025-05-01")
EVIL = "<b>evil</b>"


def log() -> list[tuple]:
    rows = []
    for u in range(12):
        chans = [EVIL, "email", "search"][: 1 + u % 3]
        for i, ch in enumerate(chans):
            rows.append((f"u{u}", D0 + pd.Timedelta(days=i), "impression", ch, f"post{i}"))
            rows.append((f"u{u}", D0 + pd.Timedelta(days=i, minutes=1), "click" if u % 2 else "like", ch, f"post{i}"))
        if u % 4:
            rows.append((f"u{u}", D0 + pd.Timedelta(days=5), "purchase", None, None, 10.0 + u))
    return rows


def test_attribution_charts_and_path_table():
    con, t = events_table(log(), ("channel", "content_id"))
    r = attribute(con, t, "purchase", touch_events=["impression", "click", "like"])
    fig = attribution_chart(r)
    assert isinstance(fig, go.Figure) and len(fig.data) == len(MODELS)
    assert "&lt;b&gt;evil&lt;/b&gt;" in fig.data[0].x and EVIL not in fig.data[0].x
    assert abs(sum(fig.data[-1].y) - 1.0) < 1e-9  # shares of one model sum to 1
    assert len(attribution_chart(r, share=False, top=2).data[0].x) == 2  # top 1 + "other (2)"
    assert "&lt;b&gt;evil&lt;/b&gt;" in removal_effect_chart(r).data[0].y
    table = path_table(r, top=3)
    assert list(table.columns) == ["Path", "Touches", "Journeys", "Conversions", "Conversion rate"]
    assert table["Path"].iloc[0].startswith(EVIL)  # a table shows text as text: not escaped
    assert all("&lt;" in y or "<" not in y for y in path_chart(r).data[0].y)


def test_content_and_engagement_charts():
    con, t = events_table(log(), ("channel", "content_id"))
    perf = content_performance(con, t, "channel")
    fig = content_chart(perf, "engagement")
    labels = list(fig.data[0].y)
    assert any("&lt;b&gt;evil&lt;/b&gt; (few users)" == y for y in labels)
    assert content_chart(perf, "conversion").data[0].error_x.array is not None
    ec = engagement_conversion(con, t, "channel", min_users=1)
    fig = engagement_conversion_chart(ec)
    assert [d.name for d in fig.data] == ["impression", "click", "like"]

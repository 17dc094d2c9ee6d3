"""Plotly figures for social channels and attribution: results in, ``go.Figure`` (or a display table) out.

Pure builders over :class:`analytics.attribution.AttributionResult`,
:class:`analytics.social.ContentPerformance` and
:class:`analytics.social.EngagementConversion`. Text from the data (channel,
campaign and post names) is escaped with :func:`analytics.charts.safe`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.attribution import MODEL_LABELS, MODELS, AttributionResult
from analytics.charts import TEMPLATE, safe
from analytics.social import ContentPerformance, EngagementConversion

MODEL_COLORS = {"first_touch": "#4C78A8", "last_touch": "#F58518", "linear": "#54A24B", "time_decay": "#B279A2",
                "markov": "#E45756"}
KIND_COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]
FEW_COLOR = "#BBBBBB"
_LAYOUT = dict(template=TEMPLATE, margin=dict(t=60, b=50, l=60, r=20))


def attribution_chart(result: AttributionResult, share: bool = True, top: int = 12) -> go.Figure:
    """Credit per touch value under each model, side by side (the model comparison).

    Parameters
    ----------
    result : AttributionResult
    share : bool
        Shares of the attributed conversions (True) or conversions credited.
    top : int
        Show the ``top`` values by data-driven credit; the rest are summed as "other".
    """
    table = result.shares() if share else result.credits.copy()
    table = _top_rows(table, result.by, top)
    fig = go.Figure()
    names = [safe(v) for v in table[result.by]]
    for m in MODELS:
        y = table[m].to_numpy(float)
        if np.isnan(y).all():
            continue
        text = [f"{v:.0%}" if share else f"{v:,.1f}" for v in y]
        fig.add_bar(x=names, y=y, name=MODEL_LABELS[m], marker_color=MODEL_COLORS[m], text=text,
                    textposition="outside", cliponaxis=False,
                    hovertemplate="%{x}<br>" + MODEL_LABELS[m] + ": %{text}<extra></extra>")
    sub = (f"{result.attributed:,} of {result.conversions:,} '{safe(result.conversion)}' conversions with a touch in "
           f"the {result.lookback_days:g} days before")
    fig.update_layout(**_LAYOUT, height=440, barmode="group",
                      title=f"Credit per {safe(result.by)} by attribution model<br>"
                            f"<span style='font-size:12px;color:gray'>{sub}</span>",
                      yaxis_title="share of conversions" if share else "conversions credited",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, title=None))
    if share:
        fig.update_yaxes(tickformat=".0%")
    return fig


def removal_effect_chart(result: AttributionResult) -> go.Figure:
    """The Markov model's removal effects: share of conversions lost if each value's touches led nowhere."""
    eff = result.removal_effects.dropna().sort_values("removal_effect")
    fig = go.Figure(go.Bar(x=eff["removal_effect"], y=[safe(v) for v in eff[result.by]], orientation="h",
                           marker_color=MODEL_COLORS["markov"], text=[f"{v:.0%}" for v in eff["removal_effect"]],
                           textposition="outside", cliponaxis=False,
                           hovertemplate="without %{y}: %{x:.1%} of conversions lost<extra></extra>"))
    fig.update_layout(**_LAYOUT, height=max(260, 40 + 28 * len(eff)),
                      title=f"Removal effect per {safe(result.by)} (data-driven model)",
                      xaxis_title="conversions lost without it")
    fig.update_xaxes(tickformat=".0%", range=[0, 1.2])
    return fig


def path_table(result: AttributionResult, top: int | None = None, sep: str = " → ") -> pd.DataFrame:
    """The top paths as a display table: Path, Touches, Journeys, Conversions, Conversion rate (text, not HTML)."""
    t = result.path_text(sep)
    if top:
        t = t.head(top)
    return pd.DataFrame({
        "Path": t["path"], "Touches": t["touches"], "Journeys": t["journeys"], "Conversions": t["conversions"],
        "Conversion rate": t["conversion_rate"].round(4),
    })


def path_chart(result: AttributionResult, top: int = 10, sep: str = " → ") -> go.Figure:
    """Conversions of the top paths (bars), each labelled with its conversion rate."""
    t = result.path_text(sep).head(top).iloc[::-1]
    labels = [safe(p if len(p) <= 60 else p[:57] + "...") for p in t["path"]]
    fig = go.Figure(go.Bar(
        x=t["conversions"], y=labels, orientation="h", marker_color=MODEL_COLORS["first_touch"],
        text=[f"{r:.1%} of {j:,}" for r, j in zip(t["conversion_rate"], t["journeys"])], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}<br>%{x:,} conversions, %{text} journeys convert<extra></extra>"))
    fig.update_layout(**_LAYOUT, height=max(280, 60 + 30 * len(t)),
                      title=f"Top paths to '{safe(result.conversion)}' ({result.distinct_paths:,} distinct paths)",
                      xaxis_title="conversions")
    # Room for the labels outside the bars.
    fig.update_xaxes(range=[0, max(1.0, float(t["conversions"].max()) if len(t) else 1.0) * 1.3])
    return fig


def content_chart(perf: ContentPerformance, metric: str = "engagement", top: int = 15) -> go.Figure:
    """Posts (campaigns, ...) ranked by engagement or conversion, with confidence intervals.

    Rows reaching fewer than ``perf.min_users`` users are grey and marked
    "few users". The ranking is by the interval's lower end (see :mod:`analytics.social.content`).
    """
    t = perf.ranked(metric, top).iloc[::-1]
    if metric == "engagement":
        col = "engagement_rate" if perf.engagement_basis == "impressions" else "engaged_user_rate"
        axis = "engagements per impression" if col == "engagement_rate" else "share of reached users who engaged"
    else:
        col, axis = "conversion_rate", f"share of reached users converting within {perf.window_days:g} days"
    x = t[col].to_numpy(float)
    lo, hi = t[f"{col}_low"].to_numpy(float), t[f"{col}_high"].to_numpy(float)
    few = t["few_users"].to_numpy(bool)
    labels = [safe(v) + (" (few users)" if f else "") for v, f in zip(t[perf.by], few)]
    fig = go.Figure(go.Scatter(
        x=x, y=labels, mode="markers", marker=dict(size=10, color=np.where(few, FEW_COLOR, MODEL_COLORS["markov"])),
        error_x=dict(type="data", symmetric=False, array=hi - x, arrayminus=x - lo, color="#888888", thickness=1.5),
        customdata=np.c_[t["reach"], t["impressions"], lo, hi],
        hovertemplate="%{y}<br>" + safe(axis) + ": %{x:.3f}<br>interval %{customdata[2]:.3f} to %{customdata[3]:.3f}"
                      "<br>reach %{customdata[0]:,}, impressions %{customdata[1]:,}<extra></extra>"))
    level = f"{perf.confidence:.0%}"
    fig.update_layout(**_LAYOUT, height=max(300, 70 + 28 * len(t)), showlegend=False,
                      title=f"Top {safe(perf.by)} by {metric} ({level} intervals; ranked by the lower end)",
                      xaxis_title=axis)
    fig.update_xaxes(rangemode="tozero", tickformat=".1f" if col == "engagement_rate" else ".0%")
    return fig


def engagement_conversion_chart(ec: EngagementConversion, kinds: list[str] | None = None) -> go.Figure:
    """Conversion within the window after each kind of event, per channel (grouped bars with intervals)."""
    t = ec.table
    kinds = kinds or [k for k in ("impression", "click", "like", "comment", "share", "save") if k in set(t["kind"])]
    fig = go.Figure()
    for i, k in enumerate(kinds):
        s = t[t["kind"] == k]
        y = s["conversion_rate"].to_numpy(float)
        fig.add_bar(x=[safe(v) for v in s[ec.by]], y=y, name=safe(k), marker_color=KIND_COLORS[i % len(KIND_COLORS)],
                    error_y=dict(type="data", symmetric=False, array=s["conversion_rate_high"].to_numpy(float) - y,
                                 arrayminus=y - s["conversion_rate_low"].to_numpy(float), thickness=1),
                    customdata=np.c_[s["users"], s["converted"]],
                    hovertemplate="%{x}, " + safe(k) + ": %{y:.1%}<br>%{customdata[1]:,} of %{customdata[0]:,} "
                                  "users<extra></extra>")
    fig.update_layout(**_LAYOUT, height=420, barmode="group",
                      title=f"Who converts ('{safe(ec.conversion)}') within {ec.window_days:g} days after each kind "
                            f"of event, per {safe(ec.by)}",
                      yaxis_title="share of users converting",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, title=None))
    fig.update_yaxes(tickformat=".0%")
    return fig


def _top_rows(table: pd.DataFrame, by: str, top: int) -> pd.DataFrame:
    if len(table) <= top:
        return table
    head = table.head(top - 1)
    rest = table.iloc[top - 1:]
    other = {by: f"other ({len(rest)})", **{m: rest[m].sum(min_count=1) for m in MODELS}}
    return pd.concat([head, pd.DataFrame([other])], ignore_index=True)

"""Plotly figures for customer value: results of :mod:`analytics.value` in, ``go.Figure`` out.

Pure builders: everything shown is already computed by :mod:`analytics.value`
(validation tables, per-customer predictions). Text from the data (segment
names) is escaped with :func:`analytics.charts.safe`. Per-customer histograms
bin all customers (no sample needed: a histogram draws bins, not points).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.charts import LEGEND_BACKGROUND, TEMPLATE, safe
from analytics.value.validation import ALL_LABELS, ValidationReport

COLORS = {"actual": "#333333", "bgnbd": "#4C78A8", "paretonbd": "#F58518", "ml": "#54A24B"}
_LAYOUT = dict(template=TEMPLATE, height=420, margin=dict(t=60, b=50, l=60, r=20),
               legend=dict(yanchor="top", y=0.98, xanchor="left", x=0.02, bgcolor=LEGEND_BACKGROUND))


def _models(df: pd.DataFrame) -> list[str]:
    return [k for k in ("bgnbd", "paretonbd", "ml") if k in df.columns]


def _unit_days(validation: ValidationReport) -> str:
    return f"{validation.summary.holdout_days:g} days"


def frequency_chart(validation: ValidationReport) -> go.Figure:
    """The classic check: mean holdout purchases by number of calibration repeat purchases, actual vs models."""
    t = validation.by_frequency
    fig = go.Figure()
    fig.add_bar(x=t["frequency"], y=t["actual"], name="actual", marker_color="#BBBBBB", customdata=t["customers"],
                hovertemplate="%{x} repeat purchases before<br>actual %{y:.2f} on average<br>%{customdata:,} customers"
                              "<extra></extra>")
    for key in _models(t):
        fig.add_scatter(x=t["frequency"], y=t[key], mode="lines+markers", name=ALL_LABELS[key],
                        line=dict(color=COLORS[key], width=2),
                        hovertemplate="%{x} repeat purchases before<br>predicted %{y:.2f}" f"<extra>{ALL_LABELS[key]}"
                                      "</extra>")
    fig.update_layout(**_LAYOUT, title=f"Holdout purchases by past repeat purchases (holdout {_unit_days(validation)})",
                      xaxis_title="repeat purchases in the calibration period",
                      yaxis_title="purchases in the holdout, per customer", bargap=0.25)
    fig.update_xaxes(type="category")
    return fig


def tracking_chart(validation: ValidationReport, cumulative: bool = True) -> go.Figure:
    """Repeat purchases per calendar week (cumulative or not), actual vs each count model; calibration end marked.

    Not cumulative, a last week cut short by the holdout end is scaled to a 7-day rate.
    """
    t = validation.tracking
    x = pd.to_datetime(t["week_end"])
    fig = go.Figure()
    per_week = 7.0 / t["days"].to_numpy(float)  # a last week cut short is scaled to 7 days
    actual = t["actual"] if cumulative else t["actual_weekly"] * per_week
    fig.add_scatter(x=x, y=actual, mode="lines", name="actual", line=dict(color=COLORS["actual"], width=2),
                    hovertemplate="week to %{x|%Y-%m-%d}<br>actual %{y:,.0f}<extra></extra>")
    for key in ("bgnbd", "paretonbd"):
        if key not in t:
            continue
        y = t[key] if cumulative else np.diff(t[key].to_numpy(), prepend=0.0) * per_week
        fig.add_scatter(x=x, y=y, mode="lines", name=ALL_LABELS[key],
                        line=dict(color=COLORS[key], width=2, dash="dash"),
                        hovertemplate="week to %{x|%Y-%m-%d}<br>expected %{y:,.0f}" f"<extra>{ALL_LABELS[key]}</extra>")
    cal = pd.Timestamp(validation.summary.calibration_end)
    fig.add_shape(type="line", x0=cal, x1=cal, y0=0, y1=1, yref="paper", line=dict(color="gray", dash="dot"))
    fig.add_annotation(x=cal, y=1, yref="paper", text="calibration end: fit | forecast", showarrow=False,
                       xanchor="left", yanchor="bottom", font=dict(size=11, color="gray"))
    what = "Cumulative repeat purchases" if cumulative else "Repeat purchases per week"
    fig.update_layout(**_LAYOUT, title=f"{what} of the {validation.summary.n_customers:,} calibration customers",
                      xaxis_title="week", yaxis_title="repeat purchases" + (" (cumulative)" if cumulative else ""))
    return fig


def p_alive_chart(predictions: pd.DataFrame, bins: int = 40) -> go.Figure:
    """Distribution of P(alive), one-time buyers and repeat buyers stacked apart.

    They are shown apart because BG/NBD puts every one-time buyer at exactly 1
    (it only lets customers drop out after a repeat purchase).
    """
    fig = go.Figure()
    once = predictions["frequency"] == 0
    for mask, name, color in ((~once, "repeat buyers", "#4C78A8"), (once, "one purchase only", "#BBBBBB")):
        fig.add_histogram(x=predictions.loc[mask, "p_alive"], name=f"{name} ({int(mask.sum()):,})",
                          xbins=dict(start=0, end=1.0 + 1.0 / bins, size=1.0 / bins), marker_color=color,
                          hovertemplate="P(alive) %{x}<br>%{y:,} customers<extra></extra>")
    model = predictions.attrs.get("model_label", "")
    title = "Probability each customer is still active" + (f" ({safe(model)})" if model else "")
    fig.update_layout(**_LAYOUT, barmode="stack", title=title,
                      xaxis_title="P(alive)", yaxis_title="customers")
    # P(alive) = 1 exactly falls in the bin right of 1; the legend goes where the middle bins are low.
    fig.update_xaxes(range=[0, 1.0 + 1.0 / bins])
    fig.update_layout(legend=dict(xanchor="center", x=0.5))
    return fig


def clv_chart(predictions: pd.DataFrame, bins: int = 50, clip_quantile: float = 0.99) -> go.Figure:
    """Distribution of CLV over the horizon; the top 1% are gathered in the last bin so the body stays visible."""
    clv = predictions["clv"].dropna()
    fig = go.Figure()
    horizon = predictions.attrs.get("horizon_days")
    title = f"Customer value over the next {horizon:g} days" if horizon else "Customer value"
    if clv.empty:
        fig.update_layout(**_LAYOUT, title=title + " (not available: no spend model)")
        return fig
    cap = float(clv.quantile(clip_quantile)) if len(clv) > 100 else float(clv.max())
    shown = clv.clip(upper=cap)
    fig.add_histogram(x=shown, nbinsx=bins, marker_color="#4C78A8", name="customers",
                      hovertemplate="CLV %{x}<br>%{y:,} customers<extra></extra>")
    # The figures go on a second line: half-width charts cut a long one-line title.
    fig.update_layout(**_LAYOUT, title=f"{title}<br><sup>total {clv.sum():,.0f}, median {clv.median():,.2f}</sup>",
                      xaxis_title=f"CLV (values above {cap:,.0f} shown at {cap:,.0f})", yaxis_title="customers",
                      showlegend=False)
    return fig


def segment_value_chart(by_segment: pd.DataFrame) -> go.Figure:
    """Total CLV per segment (bars) with mean P(alive) in the hover; from :func:`analytics.value.value_by_segment`."""
    df = by_segment.sort_values("total_clv", ascending=True, na_position="first")
    names = [safe(s) for s in df["segment"]]
    fig = go.Figure(go.Bar(
        x=df["total_clv"], y=names, orientation="h", marker_color="#4C78A8",
        customdata=np.stack([df["customers"], df["mean_clv"], df["mean_p_alive"], df["expected_purchases"]], 1),
        hovertemplate="%{y}<br>total CLV %{x:,.0f}<br>%{customdata[0]:,} customers, mean CLV %{customdata[1]:,.2f}"
                      "<br>mean P(alive) %{customdata[2]:.2f}<br>expected purchases %{customdata[3]:,.0f}"
                      "<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=max(300, 40 * len(df) + 120), margin=dict(t=60, b=50, l=160, r=20),
                      title="Customer value per segment", xaxis_title="total CLV over the horizon")
    return fig

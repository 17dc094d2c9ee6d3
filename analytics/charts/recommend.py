"""Plotly figures for the Recommendations page: results of :mod:`analytics.recommend` in, ``go.Figure`` out.

Text from the data (product ids and names, segment names) is escaped with
:func:`analytics.charts.safe`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.charts import TEMPLATE, safe
from analytics.recommend.evaluation import METRIC_LABELS, METRICS, EvaluationResult
from analytics.recommend.interactions import Interactions

COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]
_LAYOUT = dict(template=TEMPLATE, height=420, margin=dict(t=60, b=50, l=60, r=20))


def metrics_chart(result: EvaluationResult, k: int | None = None,
                  metrics: Sequence[str] = METRICS) -> go.Figure:
    """Grouped bars: one group per metric at cut-off ``k`` (default the largest), one bar per model.

    The protocol is stated in the subtitle, so the chart is never read without it.
    """
    k = k if k is not None else max(result.ks)
    fig = go.Figure()
    names = [METRIC_LABELS[m] + f"@{k}" for m in metrics]
    for i, (_, row) in enumerate(result.metrics.iterrows()):
        values = [float(row[f"{m}@{k}"]) for m in metrics]
        fig.add_bar(x=names, y=values, name=safe(row["label"]), marker_color=COLORS[i % len(COLORS)],
                    text=[f"{v:.3f}" for v in values], textposition="outside",
                    hovertemplate="%{x}: %{y:.3f}" f"<extra>{safe(row['label'])}</extra>")
    proto = (f"last {result.n_holdout} products per user held out" if result.protocol == "last-n"
             else f"time split at {result.split_date}")
    sub = (f"<br><span style='font-size:12px;color:gray'>{safe(proto)}; {result.users_evaluated:,} users, "
           f"ranked against all {result.items:,} products, already-had excluded</span>")
    top = max([float(result.metrics[f"{m}@{k}"].max()) for m in metrics] + [0.01])
    fig.update_layout(**_LAYOUT, barmode="group", title=f"Recommenders compared (K = {k})" + sub,
                      yaxis_title="score (higher is better)",
                      legend=dict(orientation="h", yanchor="bottom", y=-0.25, x=0))
    fig.update_yaxes(range=[0, min(1.05, top * 1.15)])
    return fig


def popularity_curve(interactions: Interactions) -> go.Figure:
    """The long tail: share of all user-product pairs held by the top x% of products."""
    per_item = np.sort(np.diff(interactions.matrix.tocsc().indptr))[::-1].astype(float)
    share = np.cumsum(per_item) / max(1.0, per_item.sum())
    x = 100 * np.arange(1, len(per_item) + 1) / len(per_item)
    step = max(1, len(x) // 500)
    fig = go.Figure()
    fig.add_scatter(x=np.r_[0, x[::step], x[-1]], y=np.r_[0, 100 * share[::step], 100 * share[-1]], mode="lines",
                    line=dict(color=COLORS[0], width=2), name="products",
                    hovertemplate="top %{x:.1f}% of products<br>%{y:.1f}% of user-product pairs<extra></extra>")
    fig.add_scatter(x=[0, 100], y=[0, 100], mode="lines", line=dict(dash="dash", color="gray", width=1),
                    name="every product equally popular", hoverinfo="skip")
    fig.update_layout(**_LAYOUT, title=f"How concentrated the catalogue is ({interactions.n_items:,} products)",
                      xaxis_title="products, most popular first (%)", yaxis_title="user-product pairs (%)",
                      legend=dict(yanchor="bottom", y=0.02, xanchor="right", x=0.98))
    return fig


def segment_items_chart(table: pd.DataFrame, segment: object, label_col: str | None = None) -> go.Figure:
    """Horizontal bars of lift for one segment's characteristic products (from ``segment_items``)."""
    df = table[table["segment"] == segment].sort_values("lift")
    labels = df[label_col] if label_col and label_col in df else df["item_id"]
    fig = go.Figure(go.Bar(
        x=df["lift"], y=[safe(v) for v in labels], orientation="h", marker_color=COLORS[0],
        customdata=np.c_[100 * df["share"], 100 * df["overall_share"], df["users"]],
        hovertemplate="%{y}<br>lift %{x:.2f}x<br>%{customdata[0]:.1f}% of the segment vs "
                      "%{customdata[1]:.1f}% of all users<br>%{customdata[2]:,} users<extra></extra>"))
    fig.add_vline(x=1, line_dash="dash", line_color="gray")
    fig.update_layout(**_LAYOUT, title=f"Products that characterise segment {safe(segment)}",
                      xaxis_title="lift (x the overall rate)", yaxis_title=None)
    return fig


def also_bought_chart(table: pd.DataFrame, item_label: object, label_col: str | None = None,
                      verb: str = "had") -> go.Figure:
    """Bars of lift for the products X's users also had (from ``also_bought``), in its order; the share of X's
    users who had each is written on the bar.

    ``verb`` says what the users did ("had", or "bought" for purchases only).
    """
    df = table.sort_values("rank", ascending=False)
    labels = df[label_col] if label_col and label_col in df else df["item_id"]
    fig = go.Figure(go.Bar(
        x=df["lift"], y=[safe(v) for v in labels], orientation="h", marker_color=COLORS[1],
        text=[f"{100 * c:.0f}% of them" for c in df["confidence"]], textposition="auto",
        customdata=np.c_[100 * df["confidence"], df["users_with_both"]],
        hovertemplate="%{y}<br>lift %{x:.2f}x<br>%{customdata[0]:.1f}% of them (%{customdata[1]:,} users)"
                      "<extra></extra>"))
    fig.add_vline(x=1, line_dash="dash", line_color="gray")
    fig.update_layout(**_LAYOUT, title=f"Users who {safe(verb)} {safe(item_label)} also {safe(verb)}",
                      xaxis_title="lift (x as often as among all users)", yaxis_title=None)
    return fig

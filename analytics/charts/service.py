"""Chart of the Service page: live score distribution against the training one."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.charts import TEMPLATE


def score_drift_chart(hist: pd.DataFrame) -> go.Figure:
    """Grouped bars of the share of users per score bin, training vs live (``ServiceStatus.histogram()``)."""
    fig = go.Figure([go.Bar(x=hist["score_from"], y=hist["training"], name="training (reference)"),
                     go.Bar(x=hist["score_from"], y=hist["live"], name="live (latest score per user)")])
    fig.update_layout(template=TEMPLATE, barmode="group", height=320, xaxis_title="score (bins of 0.05)",
                      yaxis_title="share of users", title="Scores: training vs live")
    return fig

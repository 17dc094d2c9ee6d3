"""Feature distributions.

Histograms are binned here (numpy) and drawn as bars, so a feature of a
million users sends forty numbers to the browser, not a million. Text that
comes from the data (feature names, event names, segment names) is escaped
before it reaches a title or label, so HTML in a log shows as text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.charts import TEMPLATE, safe


def histogram(values: pd.Series, name: str, log_scale: bool = False, bins: int = 40) -> go.Figure:
    """Distribution of one feature.

    Parameters
    ----------
    values : Series
        Numeric values; missing ones are counted in the title and left out.
    name : str
        Feature name for the title and axis.
    log_scale : bool
        Geometric bins on a log axis; zeros and negatives cannot be placed on
        it, so they are counted in the title instead.
    bins : int
    """
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    missing = int(np.isnan(x).sum())
    x = x[np.isfinite(x)]
    notes = []
    if missing:
        notes.append(f"{missing:,} empty")
    fig = go.Figure()
    if log_scale:
        positive = x[x > 0]
        if len(positive) < len(x):
            notes.append(f"{len(x) - len(positive):,} at or below 0 not shown")
        x = positive
    if len(x):
        lo, hi = float(x.min()), float(x.max())
        if log_scale:
            edges = np.geomspace(lo, hi if hi > lo else lo * 10, bins + 1)
        else:
            edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        counts, edges = np.histogram(x, bins=edges)
        centers = (edges[:-1] + edges[1:]) / 2
        widths = np.diff(edges)
        fig.add_bar(x=centers, y=counts, width=widths, marker_color="#4C78A8",
                    customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                    hovertemplate="%{customdata[0]:.3g} to %{customdata[1]:.3g}: %{y:,} users<extra></extra>")
    title = safe(name) + (f" <span style='font-size:12px;color:gray'>({', '.join(notes)})</span>" if notes else "")
    fig.update_layout(template=TEMPLATE, title=title, bargap=0.02, height=360, margin=dict(t=50, b=40, l=50, r=20),
                      xaxis_title=safe(name), yaxis_title="users")
    if log_scale:
        fig.update_xaxes(type="log")
    return fig

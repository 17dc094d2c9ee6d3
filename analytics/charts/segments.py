"""Plotly figures for the Segments page: data in, ``go.Figure`` out.

Every text that comes from the data (segment names, feature names, user ids)
goes through :func:`analytics.charts.safe` before it reaches a title, label,
legend or hover, so HTML in a log shows as text. Segment ``i`` always has colour
:func:`segment_color` ``(i)`` so cards, bars, map and dendrogram agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.charts import TEMPLATE, safe
from analytics.segments.clustering import Dendrogram
from analytics.segments.features import DEFINED_FOR, feature_label
from analytics.segments.ksweep import SCORE_LABELS, KSweepResult
from analytics.segments.maps import Embedding
from analytics.segments.segment import SegmentationResult

SEGMENT_COLORS = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B", "#9D755D",
                  "#FF9DA6", "#BAB0AC", "#1F77B4", "#2CA02C", "#D62728", "#9467BD", "#8C564B")
_MARGIN = dict(t=60, b=40, l=60, r=20)
_SCORE_HINTS = {
    "inertia": "lower = tighter; look for the bend",
    "silhouette": "higher is better",
    "calinski_harabasz": "higher is better",
    "davies_bouldin": "lower is better",
}


def segment_color(segment: int) -> str:
    """Colour of a segment number (cycles after 15)."""
    return SEGMENT_COLORS[int(segment) % len(SEGMENT_COLORS)]


def k_sweep_chart(sweep: KSweepResult) -> go.Figure:
    """The four scores against k on a 2x2 grid, the recommended k marked on each.

    Parameters
    ----------
    sweep : KSweepResult
    """
    scores = sweep.scores
    titles = [f"{SCORE_LABELS[s]} <span style='font-size:11px;color:gray'>({_SCORE_HINTS[s]})</span>"
              for s in SCORE_LABELS]
    fig = make_subplots(rows=2, cols=2, subplot_titles=titles, horizontal_spacing=0.1, vertical_spacing=0.18)
    k_best = sweep.recommended_k
    for i, score in enumerate(SCORE_LABELS):
        row, col = divmod(i, 2)
        y = scores[score].to_numpy(dtype=float)
        fig.add_scatter(x=scores["k"], y=y, mode="lines+markers", name=SCORE_LABELS[score], showlegend=False,
                        line_color="#4C78A8", row=row + 1, col=col + 1,
                        hovertemplate=f"k = %{{x}}<br>{SCORE_LABELS[score]}: %{{y:.4g}}<extra></extra>")
        best = scores["k"] == k_best
        if best.any():
            fig.add_scatter(x=scores.loc[best, "k"], y=y[best.to_numpy()], mode="markers", showlegend=False,
                            marker=dict(size=13, color="#E45756", symbol="star"), row=row + 1, col=col + 1,
                            hovertemplate="recommended k = %{x}<extra></extra>")
        fig.add_vline(x=k_best, line_dash="dot", line_color="#E45756", row=row + 1, col=col + 1)
        fig.update_xaxes(title_text="number of segments (k)", dtick=1, row=row + 1, col=col + 1)
    note = (f"silhouette on a random sample of {sweep.silhouette_sample_size:,} of {sweep.n_users:,} users"
            if sweep.silhouette_sampled else f"{sweep.n_users:,} users")
    fig.update_layout(template=TEMPLATE, height=560, margin=dict(t=90, b=40, l=60, r=20),
                      title=f"Recommended: {k_best} segments <span style='font-size:12px;color:gray'>({note})"
                            "</span>")
    return fig


def segment_sizes_chart(result: SegmentationResult) -> go.Figure:
    """Users per segment as horizontal bars, with the share of users and of revenue in the label."""
    s = result.summary
    names = [safe(n) for n in s["name"]]
    text = []
    for r in s.itertuples():
        label = f"{r.share:.0%} of users"
        if pd.notna(r.revenue_share):
            label += f"<br>{r.revenue_share:.0%} of revenue"  # two short lines fit beside a half-width chart
        text.append(label)
    # Labels sit right of each bar, in room kept for them, so a small segment's label is never cut.
    fig = go.Figure(go.Bar(
        y=names, x=s["users"], orientation="h", text=text, textposition="outside", cliponaxis=False,
        marker_color=[segment_color(i) for i in s["segment"]],
        hovertemplate="%{y}: %{x:,} users<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title="Segment sizes", height=max(260, 60 + 42 * len(s)),
                      margin=dict(t=50, b=40, l=10, r=20), xaxis_title="users")
    fig.update_xaxes(range=[0, float(s["users"].max()) * 1.6])
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def profile_heatmap(result: SegmentationResult, clip: float = 2.5) -> go.Figure:
    """Each feature's segment mean as a z-score against all users (red above, blue below).

    Parameters
    ----------
    result : SegmentationResult
    clip : float
        Colour range is -clip..clip standard deviations; the cell text keeps the real value.
    """
    z = result.profile.to_numpy(dtype=float)
    means = result.profile_means.reindex(result.profile.index)[result.profile.columns].to_numpy(dtype=float)
    x = [safe(feature_label(c)) for c in result.profile.columns]
    y = [safe(n) for n in result.names]
    # Order value and the like are compared among the users who have one (see segment_profiles).
    among = np.array([[f"all {DEFINED_FOR.get(c, 'users')}" for c in result.profile.columns]] * len(y), dtype=object)
    fig = go.Figure(go.Heatmap(
        z=np.clip(z, -clip, clip), x=x, y=y, zmid=0, zmin=-clip, zmax=clip, colorscale="RdBu", reversescale=True,
        # Blank, not "null", where a segment has no users to compare (no buyers for order value).
        text=[[f"{round(v, 1) + 0.0:g}" if np.isfinite(v) else "" for v in row] for row in z], texttemplate="%{text}",
        customdata=np.dstack([z, means, among]),
        colorbar=dict(title="z"),
        hovertemplate="%{y}<br>%{x}: %{customdata[0]:.2f} sd from %{customdata[2]}"
                      "<br>segment mean %{customdata[1]:.3g}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title="What sets each segment apart (z-score vs all users)",
                      height=max(300, 90 + 46 * len(y)), margin=dict(t=60, b=80, l=10, r=20))
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def dendrogram_chart(dendrogram: Dendrogram, names: Sequence[str] | None = None) -> go.Figure:
    """The top of the Ward tree of the sample, leaves coloured by segment, the cut marked.

    Parameters
    ----------
    dendrogram : Dendrogram
    names : list of str, optional
        Segment names for the leaf hover.
    """
    fig = go.Figure()
    for xs, ys in zip(dendrogram.icoord, dendrogram.dcoord):
        fig.add_scatter(x=xs, y=ys, mode="lines", line=dict(color="#888", width=1.2), hoverinfo="skip",
                        showlegend=False)
    leaf_x = [5 + 10 * i for i in range(len(dendrogram.leaf_labels))]
    seg_names = [safe(names[s]) if names is not None and s < len(names) else f"segment {s}"
                 for s in dendrogram.leaf_segments]
    fig.add_scatter(x=leaf_x, y=[0] * len(leaf_x), mode="markers", showlegend=False,
                    marker=dict(size=10, color=[segment_color(s) for s in dendrogram.leaf_segments]),
                    customdata=np.array([[safe(lbl), n] for lbl, n in zip(dendrogram.leaf_labels, seg_names)],
                                        dtype=object).reshape(-1, 2),
                    hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra></extra>")
    fig.add_hline(y=dendrogram.cut_height, line_dash="dash", line_color="#E45756",
                  annotation_text="cut into segments", annotation_position="top right")
    fig.update_layout(template=TEMPLATE, height=380, margin=_MARGIN,
                      title=f"Hierarchy of a sample of {dendrogram.sample_size:,} users (Ward)",
                      xaxis=dict(showticklabels=False, title="groups of users"), yaxis_title="merge distance")
    return fig


def embedding_chart(embedding: Embedding, *, user_ids: Sequence | None = None, labels: Sequence | None = None,
                    names: Sequence[str] | None = None, features: pd.DataFrame | None = None,
                    color_by: str = "segment", hover_features: Sequence[str] | None = None,
                    point_size: float | None = None) -> go.Figure:
    """2-D map as a WebGL scatter, coloured by segment or by a feature.

    Parameters
    ----------
    embedding : Embedding
    user_ids, labels : array, optional
        Full-length (all users, input order); indexed by ``embedding.indices``.
    names : list of str, optional
        Segment names (legend and hover).
    features : DataFrame, optional
        Full-length feature table, for colouring by a feature and for the hover.
    color_by : str
        "segment", or a column of ``features``.
    hover_features : list of str, optional
        Feature columns shown on hover (default: up to 4 of recency_days, frequency,
        monetary, n_sessions that exist).
    point_size : float, optional
        Marker size; default shrinks as points grow.
    """
    idx = embedding.indices
    xy = embedding.coords
    m = len(idx)
    size = point_size or (6 if m < 5_000 else 4 if m < 30_000 else 3)
    hover_cols = list(hover_features) if hover_features is not None else (
        [c for c in ("recency_days", "frequency", "monetary", "n_sessions") if features is not None
         and c in features.columns][:4])
    custom, template = _hover(idx, user_ids, features, hover_cols)
    fig = go.Figure()
    if color_by == "segment" and labels is not None:
        seg = np.asarray(labels)[idx]
        for s in np.unique(seg):
            mask = seg == s
            label = safe(names[int(s)]) if names is not None and int(s) < len(names) else f"segment {int(s)}"
            fig.add_trace(go.Scattergl(
                x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=label,
                marker=dict(size=size, color=segment_color(int(s)), opacity=0.7),
                customdata=custom[mask] if custom is not None else None,
                hovertemplate=f"<b>{label}</b><br>{template}<extra></extra>"))
        subtitle = "coloured by segment"
    elif color_by != "segment" and features is not None and color_by in features.columns:
        values = pd.to_numeric(features[color_by], errors="coerce").to_numpy(dtype=float)[idx]
        finite = values[np.isfinite(values)]
        lo, hi = (np.quantile(finite, [0.02, 0.98]) if len(finite) else (0.0, 1.0))
        fig.add_trace(go.Scattergl(
            x=xy[:, 0], y=xy[:, 1], mode="markers", name=safe(feature_label(color_by)),
            marker=dict(size=size, color=values, colorscale="Viridis", cmin=lo, cmax=hi if hi > lo else lo + 1,
                        opacity=0.75, colorbar=dict(title=safe(feature_label(color_by)))),
            customdata=custom, hovertemplate=f"{template}<extra></extra>"))
        subtitle = f"coloured by {safe(feature_label(color_by))}"
    else:
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", marker=dict(size=size, opacity=0.7),
                                   customdata=custom, hovertemplate=f"{template}<extra></extra>", showlegend=False))
        subtitle = ""
    method = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}.get(embedding.method, safe(embedding.method))
    sample = f"{m:,} of {embedding.n_total:,} users" if embedding.sampled else f"{m:,} users"
    axes = ("PC1", "PC2") if embedding.method == "pca" else ("", "")
    if embedding.method == "pca" and embedding.explained_variance:
        axes = tuple(f"PC{i + 1} ({v:.0%} of spread)" for i, v in enumerate(embedding.explained_variance)) + ("",)
    fig.update_layout(template=TEMPLATE, height=560, margin=_MARGIN, legend=dict(itemsizing="constant"),
                      title=f"{method} map, {sample}" + (f" <span style='font-size:12px;color:gray'>({subtitle})"
                                                          "</span>" if subtitle else ""),
                      xaxis=dict(title=axes[0], showticklabels=embedding.method == "pca", zeroline=False),
                      yaxis=dict(title=axes[1], showticklabels=embedding.method == "pca", zeroline=False))
    return fig


def _hover(idx: np.ndarray, user_ids: Sequence | None, features: pd.DataFrame | None,
           cols: list[str]) -> tuple[np.ndarray | None, str]:
    parts, lines = [], []
    if user_ids is not None:
        parts.append(np.array([safe(u) for u in np.asarray(user_ids, dtype=object)[idx]], dtype=object))
        lines.append("user %{customdata[0]}")
    for c in cols:
        if features is None or c not in features.columns:
            continue
        values = pd.to_numeric(features[c], errors="coerce").to_numpy(dtype=float)[idx]
        parts.append(np.array([f"{v:,.4g}" if np.isfinite(v) else "empty" for v in values], dtype=object))
        lines.append(f"{safe(feature_label(c))}: %{{customdata[{len(parts) - 1}]}}")
    if not parts:
        return None, "x %{x:.2f}, y %{y:.2f}"
    return np.stack(parts, axis=1), "<br>".join(lines)

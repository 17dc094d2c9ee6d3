"""Plotly figures for the Models page: results of :mod:`analytics.models` in, ``go.Figure`` out.

Pure builders, nothing computed that :mod:`analytics.models` does not already
provide (curves arrive thinned to a few hundred points). Text from the data
(model, feature and segment names) is escaped with :func:`analytics.charts.safe`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from analytics.charts import LEGEND_BACKGROUND, TEMPLATE, safe
from analytics.models.curves import CalibrationCurve, ConfusionResult, GainLift
from analytics.models.diagnostics import ImportanceResult, LearningCurveResult
from analytics.models.economics import ProfitCurve
from analytics.models.results import ModelResult

# Plotly's qualitative palette, fixed per position so a model keeps its colour as curves arrive.
COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]
_LAYOUT = dict(template=TEMPLATE, height=420, margin=dict(t=50, b=50, l=60, r=20),
               legend=dict(yanchor="bottom", y=0.02, xanchor="right", x=0.98, bgcolor=LEGEND_BACKGROUND))


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def roc_chart(results: Sequence[ModelResult], title: str = "ROC curves (out-of-fold)") -> go.Figure:
    """ROC curve of every model that has one; legend: name and AUC mean ± std over folds.

    Failed models and models without a curve are listed in the subtitle instead.
    Call it again with one more result as each model finishes.
    """
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="gray", width=1),
                    name="chance (AUC 0.5)", hoverinfo="skip")
    missing = []
    for i, r in enumerate(results):
        if r.roc is None:
            missing.append(safe(r.label))
            continue
        fig.add_scatter(x=r.roc.x, y=r.roc.y, mode="lines", name=safe(r.label), line=dict(color=_color(i), width=2),
                        hovertemplate="false positive rate %{x:.2f}<br>true positive rate %{y:.2f}"
                                      f"<extra>{safe(r.name)}</extra>")
    sub = f"<br><span style='font-size:12px;color:gray'>no curve: {', '.join(missing)}</span>" if missing else ""
    fig.update_layout(**_LAYOUT, title=safe(title) + sub, xaxis_title="false positive rate",
                      yaxis_title="true positive rate (recall)")
    fig.update_xaxes(range=[0, 1], constrain="domain")
    fig.update_yaxes(range=[0, 1.02], scaleanchor="x", scaleratio=1)
    return fig


def pr_chart(results: Sequence[ModelResult], title: str = "Precision-recall (out-of-fold)") -> go.Figure:
    """Precision-recall curves with the base rate (a random ranking's precision) as a line.

    This is the chart to read when positives are rare: ROC AUC can look fine
    while precision stays near the base rate.
    """
    fig = go.Figure()
    base = next((r.base_rate for r in results if r.pr is not None), None)
    for i, r in enumerate(results):
        if r.pr is None:
            continue
        ap = "—" if r.average_precision is None else f"{r.average_precision:.3f}"
        fig.add_scatter(x=r.pr.x, y=r.pr.y, mode="lines", name=f"{safe(r.name)} (AP {ap})",
                        line=dict(color=_color(i), width=2, shape="vh"),  # see curves.pr_points
                        hovertemplate="recall %{x:.2f}<br>precision %{y:.2f}" f"<extra>{safe(r.name)}</extra>")
    if base is not None:
        fig.add_scatter(x=[0, 1], y=[base, base], mode="lines", line=dict(dash="dash", color="gray", width=1),
                        name=f"base rate {base:.3f}", hoverinfo="skip")
    fig.update_layout(**_LAYOUT, title=safe(title), xaxis_title="recall (share of positives found)",
                      yaxis_title="precision (share of contacted who are positive)")
    # Curves fall from top left to bottom right: the bottom left corner is free.
    fig.update_layout(legend=dict(yanchor="bottom", y=0.02, xanchor="left", x=0.02))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def gain_chart(curves: dict[str, GainLift], title: str = "Cumulative gain") -> go.Figure:
    """Share of all positives reached against the share of users contacted (model name -> curve)."""
    fig = _by_depth(curves, title, random_line=([0, 100], [0, 100]), random_name="random targeting",
                    y=lambda g: (np.r_[0, 100 * g.depth], np.r_[0, 100 * g.gain]),
                    hover="top %{x:.0f}% of users<br>%{y:.1f}% of positives", yaxis_title="positives reached (%)")
    fig.update_yaxes(range=[0, 101])
    return fig


def lift_chart(curves: dict[str, GainLift], title: str = "Lift") -> go.Figure:
    """How many times more positives than random targeting, by depth (model name -> curve)."""
    fig = _by_depth(curves, title, random_line=([0, 100], [1, 1]), random_name="random targeting (1x)",
                    y=lambda g: (100 * g.depth, g.lift), hover="top %{x:.0f}%: %{y:.2f}x random",
                    yaxis_title="lift (x random)")
    fig.update_layout(legend=dict(yanchor="top", y=0.98))
    return fig


def _by_depth(curves: dict[str, GainLift], title: str, *, random_line: tuple, random_name: str, y,
              hover: str, yaxis_title: str) -> go.Figure:
    """One line per model over targeting depth, with the random-targeting line dashed."""
    fig = go.Figure()
    fig.add_scatter(x=random_line[0], y=random_line[1], mode="lines", line=dict(dash="dash", color="gray", width=1),
                    name=random_name, hoverinfo="skip")
    for i, (name, g) in enumerate(curves.items()):
        xs, ys = y(g)
        fig.add_scatter(x=xs, y=ys, mode="lines", name=safe(name), line=dict(color=_color(i), width=2),
                        hovertemplate=hover + f"<extra>{safe(name)}</extra>")
    fig.update_layout(**_LAYOUT, title=safe(title), xaxis_title="users contacted, best scores first (%)",
                      yaxis_title=yaxis_title)
    fig.update_xaxes(range=[0, 100])
    return fig


def calibration_chart(curve: CalibrationCurve, name: str = "model") -> go.Figure:
    """Mean score against observed positive rate per bin; the diagonal is perfect calibration.

    Class-weighted models sit below the diagonal for rare positives by design:
    their scores rank well but overstate the probability.
    """
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="gray", width=1),
                    name="perfectly calibrated", hoverinfo="skip")
    fig.add_scatter(x=curve.mean_score, y=curve.observed_rate, mode="lines+markers", name=safe(name),
                    line=dict(color=COLORS[0], width=2), customdata=curve.counts,
                    hovertemplate="mean score %{x:.3f}<br>observed rate %{y:.3f}<br>%{customdata:,} users"
                                  "<extra></extra>")
    fig.update_layout(**_LAYOUT, title=f"Calibration of {safe(name)} (Brier score {curve.brier:.3f})",
                      xaxis_title="mean score in bin", yaxis_title="observed share of positives")
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def confusion_chart(cm: ConfusionResult, class_names: tuple[str, str] = ("negative", "positive"),
                    name: str = "model") -> go.Figure:
    """Confusion matrix heatmap at the threshold in ``cm`` (rows actual, columns predicted)."""
    z = cm.matrix
    labels = [safe(class_names[0]), safe(class_names[1])]
    text = [[f"{v:,}<br>({100 * v / max(1, z.sum()):.1f}%)" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=[f"predicted {s}" for s in labels], y=[f"actual {s}" for s in labels],
                               text=text, texttemplate="%{text}", colorscale="Blues", showscale=False,
                               hovertemplate="%{y}, %{x}: %{z:,}<extra></extra>"))
    prec = "—" if cm.precision is None else f"{cm.precision:.2f}"
    rec = "—" if cm.recall is None else f"{cm.recall:.2f}"
    fig.update_layout(template=TEMPLATE, height=360, margin=dict(t=60, b=40, l=40, r=20),
                      title=f"{safe(name)} at threshold {cm.threshold:.2f}: precision {prec}, recall {rec}, "
                            f"{cm.contacted:,} flagged")
    fig.update_yaxes(autorange="reversed")
    return fig


def importance_chart(imp: ImportanceResult, top: int = 20, name: str = "model") -> go.Figure:
    """Permutation importance bars (largest on top) with their spread over shuffles."""
    t = imp.table.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=t["importance"], y=[safe(f) for f in t["feature"]], orientation="h",
                           error_x=dict(type="data", array=t["std"], visible=True), marker_color=COLORS[0],
                           hovertemplate="%{y}: AUC drops by %{x:.4f}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=max(300, 24 * len(t) + 100), margin=dict(t=50, b=50, l=200, r=20),
                      title=f"What {safe(name)} relies on (permutation importance)",
                      xaxis_title="drop in ROC AUC when shuffled")
    return fig


def learning_curve_chart(lc: LearningCurveResult, name: str = "model") -> go.Figure:
    """Training and validation AUC against training size, the verdict as subtitle."""
    fig = go.Figure()
    for label, mean, std, color in (("validation", lc.valid_auc, lc.valid_std, COLORS[0]),
                                    ("training", lc.train_auc, lc.train_std, COLORS[1])):
        fig.add_scatter(x=lc.sizes, y=mean, mode="lines+markers", name=label, line=dict(color=color, width=2),
                        error_y=dict(type="data", array=std, visible=True),
                        hovertemplate="%{x:,} users: AUC %{y:.3f}<extra>" + label + "</extra>")
    verdict = "<br>".join(safe(line) for line in textwrap.wrap(lc.verdict, 90))
    fig.update_layout(**_LAYOUT, title=f"Learning curve of {safe(name)}<br><span style='font-size:12px;color:gray'>"
                                       f"{verdict}</span>",
                      xaxis_title="training users", yaxis_title="ROC AUC")
    fig.update_layout(margin=dict(t=100 + 18 * verdict.count("<br>"), b=50, l=60, r=20))
    return fig


def profit_chart(pc: ProfitCurve, name: str = "model", currency: str = "") -> go.Figure:
    """Profit against targeting depth, with the most profitable depth marked."""
    cur = safe(currency)
    fig = go.Figure()
    fig.add_scatter(x=pc.depth_pct, y=pc.profit, mode="lines", name=safe(name), line=dict(color=COLORS[0], width=2),
                    customdata=np.stack([pc.contacted, pc.conversions], axis=1),
                    hovertemplate="top %{x:.1f}% (%{customdata[0]:,} users)<br>%{customdata[1]:,} conversions"
                                  f"<br>profit %{{y:,.2f}} {cur}<extra></extra>")
    fig.add_hline(y=0, line=dict(color="gray", width=1, dash="dash"))
    fig.add_scatter(x=[pc.best_depth_pct], y=[pc.best_profit], mode="markers+text", name="best depth",
                    marker=dict(color=COLORS[3], size=12, symbol="star"),
                    text=[f"top {pc.best_depth_pct:.1f}%: {pc.best_profit:,.0f} {cur}"], textposition="top center",
                    hoverinfo="skip")
    fig.update_layout(**_LAYOUT, title=f"Campaign profit by targeting depth ({safe(name)})<br>"
                                       f"<span style='font-size:12px;color:gray'>cost {pc.cost_per_contact:,.2f} per "
                                       f"contact, value {pc.value_per_conversion:,.2f} per {pc.outcome[0]}</span>",
                      xaxis_title="users contacted, best scores first (%)", yaxis_title=f"profit {cur}".strip())
    # The legend goes below the plot: inside it, it could hide the curve or the best-depth star.
    fig.update_layout(margin=dict(t=80, b=90, l=70, r=20),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0))
    fig.update_xaxes(range=[0, 100])
    return fig


__all__ = ["calibration_chart", "confusion_chart", "gain_chart", "importance_chart", "learning_curve_chart",
           "lift_chart", "pr_chart", "profit_chart", "roc_chart"]

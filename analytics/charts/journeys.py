"""Plotly figures for the Journeys page: results of :mod:`analytics.journeys` in, ``go.Figure`` out.

Pure builders: nothing is computed here that the result does not already hold.
Event names, attribute values and segment names come from the data and pass
through :func:`analytics.charts.safe` before they reach a label, legend or hover.
"""

from __future__ import annotations

import plotly.graph_objects as go

from analytics.charts import TEMPLATE, safe
from analytics.journeys import FunnelResult, FunnelStep, LifecycleResult, PathsResult, RetentionResult

COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B", "#9D755D", "#FF9DA6",
          "#BAB0AC"]
STATE_COLORS = {"new": "#4C78A8", "returning": "#54A24B", "resurrected": "#F58518", "dormant": "#E45756"}
_MARGIN = dict(t=60, b=50, l=60, r=20)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _step_names(steps: list[FunnelStep]) -> list[str]:
    return [f"{s.step}. {safe(s.event)}" for s in steps]


def funnel_chart(result: FunnelResult, title: str | None = None) -> go.Figure:
    """Bars of users per step labelled with conversion from the start and from the previous step.

    With a breakdown, one bar colour per group, labelled with the conversion
    from that group's start only (the bars are narrow); the hover has the rest.
    """
    fig = go.Figure()
    names = _step_names(result.steps)
    series = [(g.value, g.steps) for g in result.groups] or [("all users", result.steps)]
    for i, (value, steps) in enumerate(series):
        if result.groups:
            text = [f"{100 * s.conversion_from_start:.0f}%" for s in steps]
        else:
            text = [f"{s.users:,}<br>{_pct(s.conversion_from_start)}" if s.step == 1 else
                    f"{s.users:,}<br>{_pct(s.conversion_from_start)} of start<br>"
                    f"{_pct(s.conversion_from_previous)} of previous" for s in steps]
        fig.add_bar(x=names, y=[s.users for s in steps], name=safe(value), text=text, textposition="outside",
                    marker_color=COLORS[i % len(COLORS)], cliponaxis=False,
                    customdata=[[s.drop_off, _pct(s.drop_off_rate), _pct(s.conversion_from_start),
                                 _pct(s.conversion_from_previous)] for s in steps],
                    hovertemplate="%{x}<br>%{y:,} users: %{customdata[2]} of start, %{customdata[3]} of previous"
                                  "<br>dropped since previous step: %{customdata[0]:,} (%{customdata[1]})"
                                  f"<extra>{safe(value)}</extra>")
    order = "in any order" if result.any_order else "in order"
    sub = f"{result.users:,} users entering, steps {order} within {result.window_days:g} days"
    if result.exclude:
        sub += f", without {safe(result.exclude)} in between"
    head = safe(title) if title else "Funnel"
    fig.update_layout(template=TEMPLATE, height=460, margin=_MARGIN, barmode="group",
                      title=f"{head}<br><span style='font-size:12px;color:gray'>{sub}</span>",
                      yaxis_title="users", showlegend=bool(result.groups))
    fig.update_yaxes(rangemode="tozero")
    return fig


def time_to_convert_chart(result: FunnelResult, step: int) -> go.Figure:
    """Distribution of the time from step ``step - 1`` to ``step`` (users per time bucket), median marked."""
    if not 2 <= step <= len(result.steps):
        raise ValueError(f"step must be from 2 to {len(result.steps)}, got {step}")
    s = result.steps[step - 1]
    prev = result.steps[step - 2]
    fig = go.Figure()
    fig.add_bar(x=[b.label for b in s.time_to_convert], y=[b.users for b in s.time_to_convert],
                marker_color=COLORS[0], hovertemplate="%{x}: %{y:,} users<extra></extra>")
    med = s.median_seconds_from_previous
    sub = "nobody converted" if med is None else f"median {_duration(med)}"
    fig.update_layout(template=TEMPLATE, height=360, margin=_MARGIN, xaxis_title="time to convert",
                      yaxis_title="users",
                      title=f"Time from {safe(prev.event)} to {safe(s.event)}<br>"
                            f"<span style='font-size:12px;color:gray'>{sub}</span>")
    return fig


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86_400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def cohort_heatmap(result: RetentionResult, group: str | None = None, show: str = "rates") -> go.Figure:
    """The cohort triangle: colour by retention rate, each cell showing count and percent.

    Parameters
    ----------
    group : str, optional
        A breakdown group's value (default: all users).
    show : {"rates", "counts"}
        What the colour scale encodes.
    """
    m = result.matrix_of(group)
    unit = result.period
    y = [f"{c.isoformat()} ({n:,})" for c, n in zip(m.cohort_starts, m.sizes)]
    width = max((len(r) for r in m.counts), default=0)

    def pad(row: list, fill: object = None) -> list:
        return list(row) + [fill] * (width - len(row))

    rates = show == "rates"
    dense = width > 12  # no room for two figures per cell: show the one the colours encode
    z = [pad(r) for r in (m.rates if rates else m.counts)]
    both = [[f"{c:,} users, {_pct(r)}" for c, r in zip(cr, rr)] for cr, rr in zip(m.counts, m.rates)]
    if dense:
        text = [pad([f"{100 * v:.0f}%" if rates else f"{v:,}" for v in row], "")
                for row in (m.rates if rates else m.counts)]
    else:
        text = [pad([f"{c:,}<br>{_pct(r)}" for c, r in zip(cr, rr)], "") for cr, rr in zip(m.counts, m.rates)]
    # With "any event" offset 0 is 100% by definition: scale the colours to the later periods so they differ.
    first = 1 if result.return_event is None else 0
    later = [v for row in z for v in row[first:] if v is not None]
    top = max(later, default=0) or None
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(p) if dense else f"{unit} {p}" for p in range(width)], y=y, text=text, texttemplate="%{text}",
        customdata=[pad(r, "") for r in both], textfont=dict(size=10), colorscale="Blues", zmin=0, zmax=top,
        hovertemplate=f"cohort %{{y}}<br>{unit} %{{x}}: %{{customdata}}<extra></extra>" if dense else
        "cohort %{y}<br>%{x}: %{customdata}<extra></extra>", hoverongaps=False,
        colorbar=dict(title="retained" if rates else "users", tickformat=".0%" if rates else "")))
    who = "any event" if result.return_event is None else safe(result.return_event)
    start = "first event" if result.cohort_event is None else f"first {safe(result.cohort_event)}"
    sub = f"cohort = {unit} of {start}; retained = {who} in that {unit}"
    if group is not None:
        sub += f"; {safe(result.by)} = {safe(group)}"
    top_axis = len(y) > 12
    fig.update_layout(template=TEMPLATE, height=max(360, 26 * len(y) + 160),
                      margin=dict(t=120 if top_axis else 70, b=20 if top_axis else 50, l=150, r=20),
                      title=f"Retention by {unit} cohort<br><span style='font-size:12px;color:gray'>{sub}</span>")
    fig.update_yaxes(autorange="reversed", title="cohort (users)")
    fig.update_xaxes(title=f"{unit}s since the cohort's start", side="top" if top_axis else "bottom")
    return fig


def retention_curves(result: RetentionResult) -> go.Figure:
    """The average retention curve (weighted by cohort size), one line per breakdown group when there is one."""
    fig = go.Figure()
    series = [("all users", result.matrix)] + [(g.value, g.matrix) for g in result.groups]
    for i, (name, m) in enumerate(series):
        fig.add_scatter(x=list(range(len(m.average))), y=m.average, mode="lines+markers", name=safe(name),
                        line=dict(color=COLORS[i % len(COLORS)], width=3 if i == 0 else 2),
                        customdata=m.average_users,
                        hovertemplate=f"{result.period} %{{x}}: %{{y:.1%}} of %{{customdata:,}} users"
                                      f"<extra>{safe(name)}</extra>")
    fig.update_layout(template=TEMPLATE, height=400, margin=_MARGIN, title="Average retention",
                      xaxis_title=f"{result.period}s since the cohort's start", yaxis_title="retained")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def sankey_chart(result: PathsResult) -> go.Figure:
    """The paths as a Sankey: one column per step, the anchor event in its own column.

    Every node is placed explicitly (column by step, stacked by users in the
    result's order), so a path that ends early ends in its own column rather
    than being pushed to the last one.
    """
    labels = [safe(n.label) for n in result.nodes]
    steps = [n.step for n in result.nodes]
    lo, hi = min(steps), max(steps)
    span = max(hi - lo, 1)
    x = [0.01 + 0.98 * (s - lo) / span for s in steps]
    total = max(result.users, 1)
    y, filled = [], {}
    for n in result.nodes:
        before = filled.get(n.step, 0)
        y.append(0.02 + 0.96 * (before + n.users / 2) / total)
        filled[n.step] = before + n.users
    palette = _event_colors(result)
    colors = [palette[n.label] for n in result.nodes]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=labels, x=x, y=y, color=colors, pad=10, thickness=14,
                  customdata=[[n.step, n.users] for n in result.nodes],
                  hovertemplate="step %{customdata[0]}: %{label}<br>%{customdata[1]:,} users<extra></extra>"),
        link=dict(source=[k.source for k in result.links], target=[k.target for k in result.links],
                  value=[k.users for k in result.links],
                  color=[_translucent(colors[k.target if result.direction == "after" else k.source])
                         for k in result.links],
                  hovertemplate="%{source.label} → %{target.label}: %{value:,} users<extra></extra>")))
    how = "after" if result.direction == "after" else "before"
    fig.update_layout(template=TEMPLATE, height=520, margin=dict(t=60, b=20, l=20, r=20),
                      title=f"{result.steps} steps {how} the first {safe(result.event)}<br>"
                            f"<span style='font-size:12px;color:gray'>{result.users:,} users; one column per step, "
                            "the rarer events of a step in (other)</span>")
    return fig


def _event_colors(result: PathsResult) -> dict[str, str]:
    """Same event, same colour in every column; the commonest events get distinct colours, catch-alls grey."""
    events = COLORS[:-1]  # the last colour is the catch-alls' grey
    users: dict[str, int] = {}
    for n in result.nodes:
        users[n.label] = users.get(n.label, 0) + n.users
    ranked = sorted((e for e in users if not e.startswith("(")), key=lambda e: (-users[e], e))
    return {e: COLORS[-1] for e in users if e.startswith("(")} | {
        e: events[i % len(events)] for i, e in enumerate(ranked)}


def _translucent(hex_color: str, alpha: float = 0.35) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def lifecycle_chart(result: LifecycleResult) -> go.Figure:
    """Stacked bars per period: new, returning and resurrected above zero, dormant below."""
    t = result.table
    fig = go.Figure()
    for state in ("new", "returning", "resurrected", "dormant"):
        y = -t[state] if state == "dormant" else t[state]
        fig.add_bar(x=t["period_start"], y=y, name=state, marker_color=STATE_COLORS[state],
                    customdata=t[state], hovertemplate=f"%{{x|%Y-%m-%d}}: %{{customdata:,}} {state}<extra></extra>")
    what = "any event" if result.event is None else safe(result.event)
    fig.update_layout(template=TEMPLATE, height=420, margin=_MARGIN, barmode="relative",
                      title=f"Lifecycle per {result.period}<br><span style='font-size:12px;color:gray'>active = "
                            f"{what}; dormant: active the {result.period} before, not this one</span>",
                      xaxis_title=f"{result.period} starting", yaxis_title="users")
    return fig

"""The report as one self-contained HTML document: text escaped, charts interactive, plotly.js inlined once.

:func:`render` turns a :class:`~analytics.report.content.ReportContent` into
HTML with the Jinja2 template next to this module (``templates/report.html.j2``,
autoescaping on: text from users and files can never become markup). Charts come
from the builders in :mod:`analytics.charts`, each as a ``<div>`` and a call to
``Plotly.newPlot``; plotly.js itself is inlined once in the head, so the file
opens without a network. A Content-Security-Policy in the document forbids
every network request (images, scripts, styles, fonts, connections) as a second
line of defence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import jinja2
import pandas as pd
import plotly
import plotly.graph_objects as go
from markupsafe import Markup

from analytics.charts import features as feature_charts
from analytics.charts import models as model_charts
from analytics.charts import segments as segment_charts
from analytics.features.spec import FEATURE_DOCS
from analytics.ingest.report import CleaningReport
from analytics.models.results import metrics_table
from analytics.report.content import ModelPart, ReportContent, SegmentPart
from analytics.segments.features import feature_label

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "toImageButtonOptions": {"format": "png", "scale": 2}}
# Histograms shown in the features section (when present), with a log axis for the skewed ones.
_HISTOGRAMS = (("recency_days", False), ("frequency", True), ("monetary", True), ("n_sessions", True))


@dataclass
class Table:
    """A table for the template: header, rows of display text, and which columns hold numbers."""

    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # a line under each row's first cell (e.g. what a feature means)


class _Charts:
    """Figures as HTML fragments with stable element ids (``chart-1``, ``chart-2``, ...)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: go.Figure) -> Markup:
        self.count += 1
        fragment = fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOTLY_CONFIG,
                               div_id=f"chart-{self.count}", default_height=fig.layout.height or 420)
        return Markup(fragment)  # noqa: S704 - plotly's own output; it escapes "<" in the figure JSON


def render(content: ReportContent) -> str:
    """The report as one HTML document (text).

    Parameters
    ----------
    content : ReportContent
        From :func:`analytics.report.content.gather`.

    Returns
    -------
    str
    """
    chart = _Charts()
    view = {
        "title": f"MarketLens report: {content.dataset.name}",
        "dataset_name": content.dataset.name,
        "generated": _when(content.generated_at) + " UTC",
        "glance": _glance(content),
        "dataset": _dataset(content),
        "features": _features(content, chart),
        "segments": _segments(content.segments, chart),
        "models": _models(content.models, chart),
        "money": _money_section(content, chart),
        "settings": _settings(content),
        "absent": content.absent,
        "plotly_version": plotly.__version__,
    }
    view["toc"] = [(anchor, title) for anchor, title in (
        ("glance", "At a glance"), ("dataset", "Dataset and cleaning"), ("features", "Features"),
        ("segments", "Segments"), ("models", "Model comparison"), ("money", "Money"), ("settings", "Settings"))]
    return _template().render(plotly_js=Markup(_plotly_js()), **view)  # noqa: S704 - the installed plotly.js


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("analytics.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def _template() -> jinja2.Template:
    return _environment().get_template("report.html.j2")


@cache
def _plotly_js() -> str:
    """plotly.js of the installed plotly package (read once per process; about 4.8 MB)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


# --- formatting -------------------------------------------------------------------------------------------


def _int(v) -> str:
    return "—" if _missing(v) else f"{int(v):,}"


def _missing(v) -> bool:
    return v is None or (not isinstance(v, str) and bool(pd.isna(v))) or (isinstance(v, float) and math.isinf(v))


def _num(v, digits: int = 3) -> str:
    """A number with up to ``digits`` decimals (trailing zeros dropped); very large or small ones in e-notation."""
    if _missing(v):
        return "—"
    v = float(v)
    if v != 0 and (abs(v) >= 1e9 or abs(v) < 10 ** -digits):
        return f"{v:.{digits}g}"
    text = f"{v:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if digits else text


def _money(v) -> str:
    return "—" if _missing(v) else f"{float(v):,.2f}"


def _pct(v, digits: int = 1) -> str:
    return "—" if _missing(v) else f"{100 * float(v):.{digits}f}%"


def _when(v) -> str:
    if _missing(v):
        return "—"
    t = datetime.fromisoformat(v) if isinstance(v, str) else v
    return f"{t:%Y-%m-%d %H:%M}"


def _sig(v) -> str:
    """A statistic: four significant digits, whole numbers from 1,000 on."""
    if _missing(v):
        return "—"
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _day(v) -> str:
    return _when(v)[:10]


def _frame_table(frame: pd.DataFrame, formats: dict | None = None) -> Table:
    """A DataFrame as display text, numbers formatted (``formats``: column -> function, default :func:`_sig`)."""
    formats = formats or {}
    numeric = [c in formats or pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    rows = []
    for rec in frame.itertuples(index=False):
        row = []
        for c, v, is_num in zip(frame.columns, rec, numeric):
            if c in formats:
                row.append(formats[c](v))
            elif is_num:
                row.append(_sig(v))
            else:
                row.append("" if _missing(v) else str(v))
        rows.append(row)
    return Table([str(c) for c in frame.columns], rows, numeric)


# --- sections ---------------------------------------------------------------------------------------------


def _glance(c: ReportContent) -> list[tuple[str, str, str]]:
    """Headline cards: label, value, a short note."""
    ds = c.dataset
    cards = [("Events", _int(ds.rows), f"{_int(ds.rows_read)} rows read"),
             ("Users", _int(ds.users), f"{_day(ds.ts_min)} to {_day(ds.ts_max)}")]
    if c.segments:
        r = c.segments.result
        cards.append(("Segments", str(r.k), f"{'K-means' if r.method == 'kmeans' else 'Ward'}, "
                                            f"saved as {c.segments.key}"))
    if c.models and c.models.chosen:
        m = c.models.chosen
        cards.append(("Best model", f"AUC {m.auc_mean:.3f}", m.name))
    if c.models and c.models.profit:
        p = c.models.profit
        cards.append(("Best profit", _money(p.best_profit), f"contacting the top {p.best_depth_pct:.1f}%"))
    return cards


def _dataset(c: ReportContent) -> dict:
    ds = c.dataset
    r: CleaningReport = ds.report
    roles = {role: col for role, col in ds.mapping.roles().items() if col}
    facts = [("Name", ds.name), ("Source file", ds.source_file), ("Format", ds.source_format),
             ("Imported", _when(ds.created_at) + " UTC"), ("Events kept", _int(ds.rows)), ("Users", _int(ds.users)),
             ("First event", _when(ds.ts_min)), ("Last event", _when(ds.ts_max)),
             ("Purchase event", ds.purchase_event or "(none)")]
    if ds.source_uri:
        facts.append(("Connected log", ds.source_uri))
    if ds.mapping.event is None:
        facts.append(("Event of every row", ds.mapping.event_name))
    events = ds.profile.events_by_count
    event_table = Table(["event", "events", "with an amount"],
                        [[e, _int(ds.profile.event_counts.get(e)), _int(ds.profile.amount_counts.get(e, 0))]
                         for e in events[:30]], [False, True, True])
    cleaning = [("Rows read", _int(r.rows_read)), ("Rows kept", _int(r.rows_kept)),
                ("Duplicates removed", _int(r.duplicates_removed)),
                ("Rows dropped", _int(sum(r.dropped.values()) + r.rejected_rows)),
                ("Values changed", _int(sum(r.coerced.values())))]
    rows = r.rows()
    issues = Table(["What", "Done", "Rows / values", "Examples (line in the file: values)"],
                   [[x["issue"], x["action"], _int(x["count"]), x["examples"]] for x in rows],
                   [False, False, True, False]) if rows else None
    return {"facts": facts, "roles": Table(["role", "column"], [[k, v] for k, v in roles.items()]),
            "attributes": list(ds.mapping.attributes), "events": event_table, "more_events": max(0, len(events) - 30),
            "cleaning": cleaning, "issues": issues, "notes": list(r.notes), "warnings": list(r.warnings)}


def _features(c: ReportContent, chart: _Charts) -> dict | None:
    f = c.features
    if f is None:
        return None
    numbers = _frame_table(f.numbers, {"users with a value": _int}) if len(f.numbers) else None
    if numbers is not None:
        numbers.notes = [_meaning(n) for n in f.numbers["feature"]]
    texts = _frame_table(f.texts, {"users with a value": _int, "distinct values": _int}) if len(f.texts) else None
    if texts is not None:
        texts.notes = [_meaning(n) for n in f.texts["feature"]]
    p = f.params
    params = [("Purchase event", p.get("purchase_event") or "(none)"),
              ("Reference date", _when(f.as_of) + (" (the last event)" if not p.get("as_of") else "")),
              ("Event types with their own count", _int(p.get("top_events"))),
              ("Session gap (minutes)", _int(p.get("session_gap_minutes")))]
    charts = [chart(feature_charts.histogram(f.frame[col], col, log_scale=log)) for col, log in _HISTOGRAMS
              if col in f.frame.columns]
    return {"users": _int(f.n_users), "count": _int(f.n_features), "params": params, "charts": charts,
            "numbers": numbers, "texts": texts}


def _meaning(column: str) -> str:
    """What a feature column means, in words (as in the Features page's column help)."""
    if column in FEATURE_DOCS:
        return FEATURE_DOCS[column]
    for prefix, text in (("n_", "Number of '{}' events"), ("top_", "Most frequent {} of the user"),
                         ("avg_", "Mean {} over the user's events")):
        if column.startswith(prefix):
            return text.format(column[len(prefix):])
    return ""


def _segments(s: SegmentPart | None, chart: _Charts) -> dict | None:
    if s is None:
        return None
    r = s.result
    kpis = r.summary
    table = Table(["segment", "users", "share", "revenue share", "buyers", "session conversion",
                   "median recency (days)", "avg order value", "stability"], [], [False] + [True] * 8)
    for row in kpis.itertuples():
        table.rows.append([str(row.name), _int(row.users), _pct(row.share), _pct(getattr(row, "revenue_share", None)),
                           _pct(getattr(row, "buyer_share", None)), _pct(getattr(row, "session_conversion", None)),
                           _num(getattr(row, "median_recency_days", None), 1),
                           _money(getattr(row, "avg_order_value", None)), _num(getattr(row, "stability", None), 2)])
    prep = r.preprocessing or {}
    cap = prep.get("cap_quantiles")
    facts = [("Saved as", s.key), ("Saved", _when(s.saved_at) + " UTC"),
             ("Method", "K-means" if r.method == "kmeans" else "Ward hierarchical"),
             ("Segments", str(r.k)), ("Features", ", ".join(feature_label(col) for col in r.columns)),
             ("Scaling", str(prep.get("scaling", "standard"))),
             ("Outliers", f"capped at the {cap[0]:.0%}/{cap[1]:.0%} quantiles" if cap else "not capped"),
             ("Silhouette", _num(r.silhouette) + (f" (on {r.silhouette_sample_size:,} users)"
                                                    if r.silhouette_sample_size else ""))]
    if r.sweep is not None:
        facts.append(("Why this k", r.sweep.reason))
    charts = [chart(segment_charts.segment_sizes_chart(r)), chart(segment_charts.profile_heatmap(r))]
    if r.dendrogram is not None:
        charts.append(chart(segment_charts.dendrogram_chart(r.dendrogram, r.names)))
    maps = []
    for emb in s.maps:
        fig = segment_charts.embedding_chart(emb, user_ids=s.user_ids, labels=r.labels, names=r.names,
                                             features=s.features)
        maps.append({"chart": chart(fig), "notices": list(emb.notices)})
    return {"facts": facts, "stability": r.stability_text, "notices": list(r.notices), "table": table,
            "charts": charts, "maps": maps}


def _models(m: ModelPart | None, chart: _Charts) -> dict | None:
    if m is None:
        return None
    t = m.training
    facts = [("Run", m.key), ("Trained", _when(m.saved_at) + " UTC"), ("Target", m.target.describe()),
             ("Users", _int(t.get("users"))), ("Positives", f"{_int(t.get('positives'))} "
                                                           f"({_pct(t.get('positive_rate'))})"),
             ("Features", _int(t.get("features"))), ("Cross-validation", f"{m.n_folds} stratified folds")]
    out_of_time = [line for r in m.results if (line := r.out_of_time_line())]
    usable = m.usable
    charts = [chart(model_charts.roc_chart(m.results))]
    pair, calibration = [], None
    if usable:
        charts.append(chart(model_charts.pr_chart(usable)))
    if m.gains:
        pair = [chart(model_charts.gain_chart(m.gains)), chart(model_charts.lift_chart(m.gains))]
    if m.calibration is not None:
        calibration = chart(model_charts.calibration_chart(m.calibration, m.chosen.name))
    return {"facts": facts, "table": _frame_table(metrics_table(m.results)), "out_of_time": out_of_time,
            "charts": charts, "pair": pair, "calibration": calibration,
            "chosen": m.chosen.name if m.chosen else None}


def _money_section(c: ReportContent, chart: _Charts) -> dict | None:
    m = c.models
    if m is None or m.profit is None:
        return None
    p = m.profit
    return {"model": m.chosen.name, "warning": m.chance_warning, "outcome": p.outcome,
            "chart": chart(model_charts.profit_chart(p, m.chosen.name)), "note": p.note, "facts": [
                ("Model", m.chosen.name), ("Cost per contact", _money(p.cost_per_contact)),
                (f"Value per {p.outcome[0]}", _money(p.value_per_conversion)),
                ("Best depth", f"top {p.best_depth_pct:.1f}% ({_int(p.best_contacted)} of {_int(p.n_users)} users)"),
                (f"Expected {p.outcome[1]} there", _int(p.best_conversions)),
                ("Profit there", _money(p.best_profit))]}


def _settings(c: ReportContent) -> list[tuple[str, str]]:
    rows = [("Dataset id", c.dataset.id), ("Generated", _when(c.generated_at) + " UTC")]
    if c.features:
        p = c.features.params
        rows += [("Feature table", c.features.table), ("Purchase event", p.get("purchase_event") or "(none)"),
                 ("Reference date", p.get("as_of") or "the last event"), ("Top event types", _int(p.get("top_events"))),
                 ("Session gap (minutes)", _int(p.get("session_gap_minutes")))]
    if c.segments:
        r = c.segments.result
        prep = r.preprocessing or {}
        cap = prep.get("cap_quantiles")
        rows += [("Segmentation", c.segments.key),
                 ("Segmentation settings", f"{r.method}, k = {r.k}, random state {r.random_state}, "
                                           f"{prep.get('scaling', 'standard')} scaling, "
                                           + (f"capped at {cap[0]:g}/{cap[1]:g} quantiles" if cap else "not capped")
                                           + f", log transform: {prep.get('log_columns', 'auto')}")]
    if c.models:
        rows += [("Training run", c.models.key), ("Target", c.models.target.describe()),
                 ("Models", ", ".join(r.name for r in c.models.results)), ("Folds", str(c.models.n_folds))]
    # Worded as in the money section: a churn run values a churner reached, not a conversion.
    outcome = c.models.profit.outcome[0] if c.models and c.models.profit is not None else "conversion"
    rows += [("Cost per contact", _money(c.cost_per_contact)),
             (f"Value per {outcome}", _money(c.value_per_conversion)),
             ("Charts", f"Plotly {plotly.__version__}, plotly.js inlined")]
    return rows

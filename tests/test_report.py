"""The HTML report: every section, plotly.js once, nothing loaded from the network, hostile names as text."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest

from analytics.errors import DatasetNotFoundError, InvalidParameterError
from analytics.report import build_report, gather, render
from analytics.report import content as report_content
from tests import report_support
from tests.report_support import HOSTILE_DATASET, HOSTILE_SEGMENTS

report_template = report_support.report_template  # the fixtures, shared with the CLI tests
report_workspace = report_support.report_workspace

SECTIONS = ("glance", "dataset", "features", "segments", "models", "money", "settings")
PLOTLY_BANNER = re.compile(r"\* plotly\.js v\d+\.\d+\.\d+")


class Tags(HTMLParser):
    """Every start tag with its attributes (script contents are not parsed as tags, as in a browser)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def without_scripts(text: str) -> str:
    return re.sub(r"<script\b[^>]*>.*?</script>", "<script></script>", text, flags=re.S | re.I)


@pytest.fixture(scope="module")
def report(tmp_path_factory, report_template) -> str:
    """The report of the sample with a segmentation and a run, built once for the read-only checks."""
    from analytics.workspace import Workspace, close_all

    root = tmp_path_factory.mktemp("report") / "ws"
    shutil.copytree(report_template[0], root)
    try:
        return build_report(Workspace(root), report_template[1])
    finally:
        close_all()


def test_report_holds_every_section_with_its_charts(report):
    ids = {a.get("id") for _, a in Tags(report).tags}
    assert set(SECTIONS) <= ids
    toc = [a["href"] for t, a in Tags(report).tags if t == "a"]
    assert toc == [f"#{s}" for s in SECTIONS]
    for title in ("What cleaning did", "Numeric features", "Segment sizes", "What sets each segment apart",
                  "PCA map", "ROC curves", "Precision-recall", "Cumulative gain", "Lift", "Calibration of",
                  "Campaign profit by targeting depth", "Cost per contact", "Value per conversion",
                  "Logistic regression", "Naive Bayes", "run_20250701_120000", "kmeans_k4"):
        assert title in report, title
    charts = [a["id"] for t, a in Tags(report).tags if "plotly-graph-div" in a.get("class", "")]
    # 4 histograms, sizes, profile, map, ROC, PR, gain, lift, calibration, profit
    assert charts == [f"chart-{i}" for i in range(1, 14)]
    assert report.count("Plotly.newPlot(") == len(charts)
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", report)
    assert "absent" not in {a.get("class") for _, a in Tags(report).tags}


def test_plotly_js_is_inlined_exactly_once(report):
    assert len(PLOTLY_BANNER.findall(report)) == 1
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", report, flags=re.S)
    assert sum(len(s) > 1_000_000 for s in scripts) == 1
    assert 3_000_000 < len(report) < 8_000_000


def test_report_loads_nothing_from_anywhere(report):
    tags = Tags(report).tags
    assert not {t for t, _ in tags} & {"img", "link", "iframe", "object", "embed", "video", "audio", "source",
                                       "base", "form"}
    assert [t for t, a in tags if t == "script" and "src" in a] == []
    for tag, attrs in tags:
        for name in ("src", "href", "srcset", "action", "poster", "data", "xlink:href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    outside_scripts = without_scripts(report)
    loads = re.findall(r"""<[a-z][^<>]*?\s(?:src|href)\s*=\s*["']?([^"'\s>]+)""", outside_scripts, flags=re.I)
    assert loads and all(v.startswith("#") for v in loads)
    assert not re.search(r"https?://", outside_scripts.replace("http://evil", ""))
    assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import", outside_scripts, flags=re.I)
    csp = next(a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "connect-src" not in csp  # connections fall back to 'none'


def test_hostile_dataset_and_segment_names_stay_text(report):
    assert "<img" not in report.lower()
    assert "onerror=alert(1)" in report  # shown, as text
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    assert f"<title>MarketLens report: {escaped} ![x](http://evil)</title>" in report
    assert f"<h1>{escaped} ![x](http://evil)</h1>" in report
    cells = re.findall(r"<td>(.*?)</td>", without_scripts(report))
    assert escaped in cells and HOSTILE_SEGMENTS[1] in cells  # segment table
    assert [t for t, a in Tags(report).tags if any("evil" in v for v in a.values())] == []
    # The chart data carries the names escaped for Plotly's labels (which render them as text).
    assert '"&lt;img src=x onerror=alert(1)&gt;"' in report


def test_dataset_without_saved_results_says_so(workspace, sample_dataset):
    html = build_report(workspace, sample_dataset.id)
    assert "No segmentation has been saved for this dataset yet" in html
    assert "No model has been trained on this dataset yet" in html
    assert html.count("Plotly.newPlot(") == 4  # the feature histograms
    assert len(PLOTLY_BANNER.findall(html)) == 1
    assert "Sample shop" in html and "What cleaning did" in html


def test_named_results_and_unknown_names(report_workspace):
    ws, dataset_id = report_workspace
    content = gather(ws, dataset_id, segmentation="KMeans k4", run="run_20250701_120000")
    assert content.segments.key == "kmeans_k4" and content.models.key == "run_20250701_120000"
    with pytest.raises(InvalidParameterError, match="no saved segmentation 'other'.*saved: kmeans_k4"):
        gather(ws, dataset_id, segmentation="other")
    with pytest.raises(InvalidParameterError, match="no saved training run 'run_x'.*run_20250701_120000"):
        gather(ws, dataset_id, run="run_x")
    with pytest.raises(DatasetNotFoundError):
        gather(ws, "nope")
    for bad in (-1.0, float("nan"), float("inf"), "1", True):
        with pytest.raises(InvalidParameterError, match="0 or more"):
            gather(ws, dataset_id, cost_per_contact=bad)


def test_money_section_uses_the_given_settings(report_workspace):
    ws, dataset_id = report_workspace
    content = gather(ws, dataset_id, cost_per_contact=2.5, value_per_conversion=30.0)
    m = content.models
    assert m.chosen.auc_mean == max(r.auc_mean for r in m.results)
    scores = ws.result(dataset_id, "training", m.key).frames["scores"]
    y, s = scores["label"].to_numpy(), scores[m.chosen.key].to_numpy()
    # Independent check: profit at every distinct score cut (ties contacted together), and contacting nobody.
    best = max([0.0] + [30.0 * y[s >= t].sum() - 2.5 * (s >= t).sum() for t in np.unique(s)])
    assert m.profit.best_profit == pytest.approx(best)
    html = render(content)
    assert "<dt>Cost per contact</dt><dd>2.50</dd>" in html and "<dt>Value per conversion</dt><dd>30.00</dd>" in html
    assert f"{best:,.2f}" in html


def test_content_as_json(report_workspace):
    ws, dataset_id = report_workspace
    d = json.loads(json.dumps(gather(ws, dataset_id).to_dict()))
    assert d["dataset"]["name"] == HOSTILE_DATASET
    assert d["segmentation"]["name"] == "kmeans_k4" and d["segmentation"]["k"] == 4
    assert [s["name"] for s in d["segmentation"]["segments"]][:2] == list(HOSTILE_SEGMENTS)
    assert d["segmentation"]["maps"] == [{"method": "pca", "points": d["features"]["users"],
                                          "users": d["features"]["users"]}]
    assert {m["model"] for m in d["training"]["models"]} == {"lr", "nb"}
    assert d["training"]["money"]["cost_per_contact"] == 1.0 and d["settings"]["value_per_conversion"] == 40.0
    assert d["absent"] == {}


def test_large_maps_are_thinned_keeping_every_segment(report_workspace, monkeypatch):
    ws, dataset_id = report_workspace
    monkeypatch.setattr(report_content, "MAX_MAP_POINTS", 300)
    seg = gather(ws, dataset_id).segments
    emb = seg.maps[0]
    assert len(emb.indices) == 300 and emb.n_total == len(seg.user_ids)
    assert set(seg.result.labels[emb.indices]) == set(range(seg.result.k))


def test_chance_level_model_gets_a_warning():
    from analytics.models import ModelResult

    assert report_content._chance_warning(ModelResult("lr", "Logistic regression", auc_mean=0.88, auc_std=0.01)) \
        is None
    warning = report_content._chance_warning(ModelResult("lr", "Logistic regression", auc_mean=0.54, auc_std=0.05))
    assert "Logistic regression ranks users barely better than chance (ROC AUC 0.540 ± 0.050)" in warning
    # Well below 0.5 the ranking is inverted: "barely better" would be false (an audit found AUC 0.334 called so).
    inverted = report_content._chance_warning(ModelResult("lr", "Logistic regression", auc_mean=0.334, auc_std=0.028))
    assert "worse than chance (ROC AUC 0.334 ± 0.028): its ranking is inverted" in inverted
    near = ModelResult("lr", "Logistic regression", auc_mean=0.48, auc_std=0.04).chance_note()
    assert near == "Logistic regression ranks users no better than chance (ROC AUC 0.480 ± 0.040)"


def test_import_warnings_are_in_the_report_as_warnings(workspace, tmp_path):
    rows = "".join(f"u{i % 9},2025-01-{1 + i % 27:02d} 10:00,purchase,{'€' if i % 2 else '$'}{10 + i}.00\n"
                   for i in range(60))
    (tmp_path / "mixed.csv").write_text("user_id,event_time,event,amount\n" + rows)
    ds = workspace.import_file(tmp_path / "mixed.csv")
    [warning] = ds.report.warnings
    html = build_report(workspace, ds.id)
    assert '<p class="warning" role="alert">' + warning.replace("'", "&#39;") in html


def test_settings_word_the_value_as_the_money_section_does(report_workspace):
    """A churn run values a churner reached: the Settings list said 'Value per conversion' beside it."""
    from dataclasses import replace

    ws, dataset_id = report_workspace
    content = gather(ws, dataset_id, cost_per_contact=2.5, value_per_conversion=30.0)
    content.models.profit = replace(content.models.profit, target_kind="churn")
    html = render(content)
    assert html.count("<dt>Value per churner reached</dt><dd>30.00</dd>") == 2 and "Value per conversion" not in html

"""``python -m analytics report``: a dataset of the workspace by name or id to one HTML file."""

from __future__ import annotations

import json
import shutil

import pytest

from tests import report_support
from tests.report_support import HOSTILE_DATASET
from tests.test_cli import cli

report_template = report_support.report_template  # the fixture, shared with the library tests


@pytest.fixture
def env(tmp_path, report_template):
    root = tmp_path / "ws"
    shutil.copytree(report_template[0], root)
    return {"MARKETLENS_WORKSPACE": str(root)}


def test_report_by_name_with_json_summary(tmp_path, env, report_template):
    out = tmp_path / "out" / "report.html"
    res = cli("report", HOSTILE_DATASET.upper().lower(), "-o", out, "--cost", "2", "--value", "25", "--json", env=env)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["output"] == str(out) and summary["bytes"] == out.stat().st_size > 3_000_000
    assert summary["dataset"]["id"] == report_template[1]
    assert summary["segmentation"]["name"] == "kmeans_k4" and summary["training"]["run"] == "run_20250701_120000"
    assert summary["training"]["money"]["cost_per_contact"] == 2.0
    assert summary["settings"] == {"cost_per_contact": 2.0, "value_per_conversion": 25.0}
    html = out.read_text(encoding="utf-8")
    assert "<dt>Cost per contact</dt><dd>2.00</dd>" in html and "&lt;img src=x" in html and "<img" not in html


def test_report_by_id_names_what_it_holds(tmp_path, env, report_template):
    out = tmp_path / "r.html"
    res = cli("report", report_template[1], "-o", out, "--segmentation", "kmeans_k4", "--run",
              "run_20250701_120000", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1 and "features, segments, models" in res.stdout and str(out) in res.stdout


@pytest.mark.parametrize("args, words", [
    (["no such shop", "-o", "r.html"], "There is no dataset 'no such shop' in the workspace"),
    (["__ID__", "-o", "r.pdf"], "The output must end in .html, got 'r.pdf'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, env, report_template, args, words):
    """Unknown runs, segmentations and money are refused by the library (tests/test_report.py), with exit 2 here."""
    args = [report_template[1] if a == "__ID__" else str(tmp_path / a) if a.startswith("r.") else a for a in args]
    res = cli("report", *args, env=env)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ") and words in res.stderr
    assert list(tmp_path.glob("r.*")) == []

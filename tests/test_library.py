"""The library as people use it outside the app: the README's notebook example, and `pip install .`."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile

import pytest

import analytics
from tests.helpers import ROOT


def readme_python_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## From Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_notebook_example_runs():
    code = readme_python_example() + "\nassert len(features) == 949 and len(scores) == 949\n" \
                                     "assert 2 <= segments.k <= 12 and trained.report.best.auc_mean > 0.7\n"
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "AUC" in res.stdout


def test_facade_names_resolve_and_unknown_ones_fail():
    for name in analytics.__all__:
        assert getattr(analytics, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        analytics.nope  # noqa: B018


def test_features_from_events_leaves_nothing_behind(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    events = pd.DataFrame({"customer": ["a", "a", "b"], "when": ["2025-01-01", "2025-01-05", "2025-01-02"],
                           "what": ["view", "order", "view"], "value": [None, 20.0, None]})
    features = analytics.features_from_events(events, columns={"user_id": "customer"})
    assert list(features["user_id"]) == ["a", "b"] and features.set_index("user_id").loc["a", "monetary"] == 20.0
    assert list(tmp_path.iterdir()) == []  # no workspace folder appeared


@pytest.mark.slow
def test_pip_install_builds_a_package_with_the_marketlens_command(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    [wheel] = tmp_path.glob("marketlens-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        meta = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "marketlens = analytics.cli:main" in entry
    assert "analytics/engines/spark-log4j2.properties" in names and "analytics/models/zoo.py" in names
    assert "Requires-Dist: scikit-learn==" in meta and 'Requires-Dist: pyspark==4.0.5; extra == "spark"' in meta
    assert not any(n.startswith(("ui/", "pages/", "tests/")) for n in names)

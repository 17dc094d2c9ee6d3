"""python -m analytics segment / embed: segmentation and maps headless, from a log or a feature table."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from tests.helpers import ROOT


def cli(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=600)


def test_segment_a_log_with_auto_k(tmp_path, sample_log, sample_truth):
    out = tmp_path / "seg.csv"
    res = cli("segment", sample_log, "--k", "auto", "-o", out, "--json")
    assert res.returncode == 0, res.stderr
    brief = json.loads(res.stdout)
    assert 2 <= brief["k"] <= 12 and brief["k_reason"] and 0 <= brief["stability"] <= 1
    names = [s["name"] for s in brief["segments"]]
    assert len(set(names)) == len(names) == brief["k"]
    df = pd.read_csv(out)
    assert list(df.columns) == ["user_id", "segment", "segment_id"] and len(df) == len(sample_truth)
    assert set(df["segment"]) == set(names)


def test_segment_and_embed_a_feature_table(tmp_path, sample_log):
    feats = tmp_path / "feats.parquet"
    assert cli("features", sample_log, "-o", feats).returncode == 0
    res = cli("segment", feats, "--k", 3, "--method", "hierarchical", "-o", tmp_path / "s.csv", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["k"] == 3 and json.loads(res.stdout)["method"] == "hierarchical"
    res = cli("embed", feats, "--method", "pca", "-o", tmp_path / "map.csv", "--json")
    assert res.returncode == 0, res.stderr
    coords = pd.read_csv(tmp_path / "map.csv")
    assert list(coords.columns) == ["user_id", "x", "y"] and coords[["x", "y"]].notna().all().all()
    assert len(coords) == len(pd.read_parquet(feats))


def test_bad_k_is_one_line(tmp_path, sample_log):
    for k in ("50", "many"):
        res = cli("segment", sample_log, "--k", k, "-o", tmp_path / "s.csv")
        assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_warm_up_fills_numba_cache_and_says_where(tmp_path):
    # The default cache (<workspace>/cache/numba) is shared with the other UMAP tests: compiled once per machine.
    res = cli("warm-up", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["cache_dir"].endswith("cache/numba") and out["cached_functions"] >= 10
    from pathlib import Path

    assert len(list(Path(out["cache_dir"]).rglob("*.nbi"))) == out["cached_functions"]
    again = json.loads(cli("warm-up", "--json").stdout)
    assert again["newly_compiled"] == 0 and again["cached_functions"] == out["cached_functions"]

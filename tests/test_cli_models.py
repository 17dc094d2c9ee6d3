"""python -m analytics train / score: the classifier pipeline headless."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from tests.helpers import ROOT


def cli(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=600)


def test_train_then_score(tmp_path, sample_log):
    model_dir = tmp_path / "model"
    res = cli("train", sample_log, "--target-event", "purchase", "--horizon-days", 30, "--models", "lr,hgb",
              "-o", model_dir, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["n_users"] > 500 and 0 < out["positives"] < out["n_users"]
    assert [m["model"] for m in out["models"]] and out["best_model"] in ("lr", "hgb")
    assert all(m["roc_auc_mean"] > 0.7 and m["roc_auc_std"] is not None for m in out["models"])
    assert (model_dir / "model.skops").exists() and (model_dir / "metadata.json").exists()

    scores = tmp_path / "scores.csv"
    res = cli("score", model_dir, sample_log, "-o", scores, "--json")
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(scores)
    assert list(df.columns[:3]) == ["user_id", "score", "rank"] and df["rank"].tolist() == list(range(1, len(df) + 1))
    assert df["score"].between(0, 1).all()

    # The format follows the suffix (a .parquet output was once CSV text under that name).
    res = cli("score", model_dir, sample_log, "-o", tmp_path / "scores.parquet")
    assert res.returncode == 0, res.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "scores.parquet")[["user_id", "score", "rank"]],
                                  df[["user_id", "score", "rank"]].astype({"user_id": str}), check_dtype=False)


def test_train_refuses_bad_input_in_one_line(tmp_path, sample_log):
    res = cli("train", sample_log, "--target-event", "nope", "-o", tmp_path / "m")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "nope" in res.stderr
    res = cli("train", sample_log, "--cutoff", "2030-01-01", "-o", tmp_path / "m")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = cli("score", tmp_path / "no_model", sample_log, "-o", tmp_path / "s.csv")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = cli("train", sample_log, "--churn", "--target-event", "purchase", "-o", tmp_path / "m")
    assert res.returncode == 2 and "--target-event: not allowed with argument --churn" in res.stderr
    assert not (tmp_path / "m").exists()

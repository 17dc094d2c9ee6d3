"""python -m analytics train/score with the sequence models (in process, one epoch: the wiring, not the learning)."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd

from analytics.cli import main
from analytics.models import ModelResult


def test_train_reports_sequence_models_like_the_others_and_score_uses_the_saved_network(
        tmp_path, sample_log, capsys, monkeypatch):
    from analytics.sequences import propensity

    settings = propensity.network_settings
    monkeypatch.setattr(propensity, "network_settings",
                        lambda *a: (lambda enc, train: (enc, replace(train, max_epochs=1)))(*settings(*a)))
    model_dir = tmp_path / "model"
    code = main(["train", str(sample_log), "--models", "seq,agg+seq", "--folds", "2", "-o", str(model_dir), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out)
    by_key = {m["model"]: m for m in report["models"]}
    assert set(by_key) == {"seq", "agg+seq"}
    for m in by_key.values():  # the same fields as every other model's
        assert set(m) == set(ModelResult(key="lr", name="x").metrics())
        assert m["error"] is None and 0 <= m["roc_auc_mean"] <= 1 and len(m["roc_auc_folds"]) == 2
        assert m["n_users"] == report["n_users"] and m["name"] in ("Sequence network", "Aggregates + sequence")
    assert report["best_model"] in by_key and (model_dir / "network.safetensors").exists()

    # Score with the saved network (whichever of the two won).
    scores = tmp_path / "scores.csv"
    assert main(["score", str(model_dir), str(sample_log), "-o", str(scores), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    df = pd.read_csv(scores)
    assert summary["model"] == by_key[report["best_model"]]["name"] and len(df) == summary["users"] > 500
    assert df["score"].between(0, 1).all() and df["rank"].tolist() == list(range(1, len(df) + 1))


def test_unknown_model_keys_are_refused_before_any_work(tmp_path, sample_log, capsys):
    assert main(["train", str(sample_log), "--models", "lr,seqq", "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "seqq" in err and "agg+seq" in err and "Traceback" not in err

"""Sequence models in the catalogue: they learn order, on the same folds; files, scoring, cancellation, no torch."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from analytics import models as M
from analytics.errors import InvalidParameterError, ModelCompatibilityError
from analytics.models.targets import TargetDefinition
from analytics.sequences import DeepLearningUnavailableError, require_torch, torch_available
from analytics.workspace import temporary_workspace
from tests.sequence_data import CUTOFF, hidden_signal_events, without_torch, write_log
from tests.test_models import assert_no_nan_metrics, synthetic

# Small and quick: the network stops after a few epochs on ~450 training users per fold.
FAST = {"max_epochs": 6, "patience": 2}


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    """A workspace with a 700-user log whose buyers differ only in the order of their events."""
    events, truth = hidden_signal_events(700, seed=5, max_events=30, mean_events=20, p_buy=(0.1, 0.7))
    log = write_log(events, tmp_path_factory.mktemp("seq") / "hidden.csv.gz")
    with temporary_workspace() as ws:
        ds = ws.import_file(log)
        target = TargetDefinition(kind="event", target_event="purchase", horizon_days=30, cutoff=CUTOFF)
        training = M.build_training_set(ws, ds.id, target, n_folds=3, check_leaks=False)
        yield ws, ds, training


@pytest.fixture(scope="module")
def compared(hidden):
    """hgb and seq cross-validated on the same 3 folds, with every progress message."""
    _, _, training = hidden
    messages = []
    results = {r.key: r for r in M.iter_train(training, ["seq", "hgb"], n_folds=3, params={"seq": FAST},
                                              progress=lambda f, m: messages.append((f, m)))}
    return results, messages


def test_the_sequence_network_sees_the_order_that_aggregates_cannot(compared, hidden):
    results, _ = compared
    hgb, seq = results["hgb"], results["seq"]
    for r in (hgb, seq):
        assert r.ok, r.error
        assert_no_nan_metrics(r)
        assert r.n_folds == 3 and len(r.auc_folds) == 3 and np.isfinite(r.oof_scores).all()
        assert r.roc is not None and r.roc.x[0] == 0 and r.roc.y[-1] == 1
    # Counts, recency and gaps have the same distribution for buyers and the others: the
    # aggregates are near chance; the order (cart -> long absence) is the whole signal.
    assert hgb.auc_mean < 0.6
    assert seq.auc_mean > hgb.auc_mean + 0.1  # seeds 1-5 of this fixture: +0.15 to +0.23
    assert "Early stopping kept epoch" in seq.notes[0]
    report = M.ModelReport(list(results.values()), hidden[2].summary(), 3, 0)
    assert {m["model"] for m in report.to_dict()["models"]} == {"hgb", "seq"}
    json.dumps(report.to_dict())


def test_progress_reports_epochs_in_order_and_the_tools_work_on_the_scores(compared, hidden):
    results, messages = compared
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any("epoch" in m and "Sequence network, fold" in m for _, m in messages)
    y = hidden[2].y
    seq = results["seq"]
    assert M.profit_curve(y, seq.oof_scores, 1.0, 40.0).best_depth_pct >= 0
    assert M.gain_lift(y, seq.oof_scores) is not None
    with pytest.raises(InvalidParameterError, match="reads each user's events"):
        M.permutation_importance_report(hidden[2], "seq")


def test_agg_seq_reuses_the_outer_networks_of_seq_in_the_same_call(hidden, monkeypatch):
    from analytics.sequences import encoder as enc

    _, _, training = hidden
    calls = []
    original = enc.fit_classifier

    def counting(seqs, y, rows, *args, **kwargs):
        calls.append(len(rows))
        return original(seqs, y, rows, *args, **kwargs)

    monkeypatch.setattr(enc, "fit_classifier", counting)
    tiny = {"max_epochs": 1}
    partial, messages = [], []
    results = list(M.iter_train(training, ["seq", "agg+seq"], n_folds=2, params={"seq": tiny, "agg+seq": tiny},
                                on_fold=partial.append, progress=lambda f, m: messages.append(m)))
    assert all(r.ok for r in results) and results[1].key == "agg+seq"
    assert any("(inner 2 of 2)" in m for m in messages)  # agg+seq's cross-fitted networks
    # seq: 2 outer networks; agg+seq: only its 2 x 2 inner ones (the outer test scores are reused).
    assert len(calls) == 6 and sum(n > len(training.y) * 0.4 for n in calls) == 2
    # A provisional curve after the first fold of each, for the live chart.
    assert [r.name for r in partial] == ["Sequence network (1 of 2 folds)", "Aggregates + sequence (1 of 2 folds)"]
    assert all(r.roc is not None and len(r.auc_folds) == 1 for r in partial)


def test_training_is_deterministic_and_empty_histories_give_no_nan(hidden):
    from analytics.sequences import encoder as enc

    training = hidden[2]
    seqs = training.sequences()
    rows = np.arange(300)
    settings = enc.TrainConfig(max_epochs=2)
    a, _ = enc.fit_classifier(seqs, training.y, rows, train=settings)
    b, _ = enc.fit_classifier(seqs, training.y, rows, train=settings)
    assert np.array_equal(enc.predict_proba(a, seqs, rows), enc.predict_proba(b, seqs, rows))
    empty = seqs.subset(np.array([0, 1]))
    empty.lengths[:] = 0
    empty.offsets[:] = 0
    p = enc.predict_proba(a, empty)
    assert np.isfinite(p).all() and p[0] == p[1]
    assert enc.embed(a, empty).shape == (2, 64)


def test_the_transformer_variant_trains_too(hidden):
    from analytics.sequences import encoder as enc

    training = hidden[2]
    seqs = training.sequences()
    config = enc.EncoderConfig.for_vocabulary(seqs.vocab, kind="transformer")
    net, history = enc.fit_classifier(seqs, training.y, np.arange(400), config, enc.TrainConfig(max_epochs=2))
    assert len(history.epochs) == 2 and np.isfinite(enc.predict_proba(net, seqs)).all()


class Stop(BaseException):
    """What Streamlit raises from a progress update when the user presses Stop."""


def test_training_can_be_cancelled_from_the_progress_callback(hidden):
    from analytics.sequences import encoder as enc

    training = hidden[2]
    threads_before = enc.torch.get_num_threads()
    seen = []

    def stop_at_first_epoch(fraction, message):
        seen.append(message)
        if "epoch" in message:
            raise Stop()

    with pytest.raises(Stop):
        list(M.iter_train(training, ["seq"], n_folds=3, progress=stop_at_first_epoch))
    assert sum("epoch" in m for m in seen) == 1
    assert enc.torch.get_num_threads() == threads_before
    assert not [t for t in threading.enumerate() if t.name.startswith("marketlens-seq")]


def test_saved_sequence_models_score_like_the_fitted_ones_and_refuse_altered_files(hidden, tmp_path):
    ws, ds, training = hidden
    for key in ("seq", "agg+seq"):
        model = M.fit_model(training, key, params={"max_epochs": 2})
        folder = M.save_model(model, tmp_path / key)
        files = sorted(p.name for p in folder.iterdir())
        assert files == (["metadata.json", "network.safetensors"] if key == "seq"
                         else ["metadata.json", "model.skops", "network.safetensors"])
        meta = M.read_metadata(folder)
        assert meta["versions"]["torch"].startswith("2.13") and meta["sequence"]["vocab"]["events"]
        fresh = M.score_dataset(ws, ds.id, model, as_of=CUTOFF).set_index("user_id")["score"]
        loaded = M.score_dataset(ws, ds.id, folder, as_of=CUTOFF).set_index("user_id")["score"]
        assert len(loaded) == training.n_users and np.allclose(fresh.sort_index(), loaded.sort_index())
    with pytest.raises(ModelCompatibilityError, match="events"):
        M.score(M.load_model(tmp_path / "seq"), training.X.assign(user_id=training.user_ids))
    from analytics.service import ScoringService

    with pytest.raises(ModelCompatibilityError, match="event sequences"):
        ScoringService.open(tmp_path / "seq", ws)

    weights = tmp_path / "seq" / "network.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-8] + bytes(8))
    with pytest.raises(ModelCompatibilityError, match="changed since it was saved"):
        M.load_model(tmp_path / "seq")
    weights.write_bytes(original)

    meta_path = tmp_path / "seq" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["sequence"]["encoder"]["hidden"] = 32  # the weights no longer fit the description
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelCompatibilityError, match="do not match"):
        M.load_model(tmp_path / "seq")
    meta["sequence"]["encoder"]["hidden"] = 64
    meta["versions"]["torch"] = "1.13.1"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelCompatibilityError, match="PyTorch 1.13.1"):
        M.load_model(tmp_path / "seq")


def test_a_training_set_without_events_gives_a_clear_result_not_a_crash():
    ts = synthetic(120, 0.3)
    results = {r.key: r for r in M.iter_train(ts, ["lr", "seq"], n_folds=3)}
    assert results["lr"].ok
    assert not results["seq"].ok and "events" in results["seq"].error
    with pytest.raises(InvalidParameterError, match="reads each user's events"):
        M.make_pipeline("agg+seq", {"x": "number"}, n_train=10)


def test_without_torch_the_library_and_cli_say_how_to_install_it(monkeypatch, tmp_path, sample_log, capsys):
    from analytics.cli import main

    without_torch(monkeypatch)  # "import torch" now fails like on a machine without it
    assert not torch_available()
    with pytest.raises(DeepLearningUnavailableError, match="pip install -r requirements-deep.txt"):
        require_torch()
    with pytest.raises(DeepLearningUnavailableError, match="download.pytorch.org/whl/cpu"):
        list(M.iter_train(synthetic(60, 0.3), ["lr", "seq"], n_folds=2))
    code = main(["train", str(sample_log), "--models", "lr,seq", "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "pip install -r requirements-deep.txt" in err and "Traceback" not in err
    assert M.fit_model(synthetic(60, 0.3), "lr") is not None  # everything else still works

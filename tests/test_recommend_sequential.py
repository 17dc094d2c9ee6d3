"""The sequential recommender (GRU4Rec-style) learns order, joins the comparison, and says when PyTorch is missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidParameterError, NoDataError
from analytics.recommend import evaluate, from_frame, load_recommender, make_model, save_recommender
from analytics.recommend.sequential import SequenceGRU, interaction_sequences
from analytics.recommend.zoo import offered_models
from analytics.sequences import DeepLearningUnavailableError
from analytics.sequences.vocabulary import FIRST_ID
from tests.sequence_data import without_torch

N_BACKGROUND = 30


def chain_events(n_users: int = 300, seed: int = 0, at_end: bool = False) -> pd.DataFrame:
    """Background products with power-law popularity; half the users come to ``pA`` and right after it to ``pB``.

    A fifth of those users stop at ``pA`` (it is their last product): the sequence says
    ``pB`` comes next, while ``pB`` is far less popular than the top background products.
    ``at_end``: for every other one of those users the pair is their last two products (else always
    at a random place).
    """
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, N_BACKGROUND + 1)
    p /= p.sum()
    rows = []
    t0 = np.datetime64("2025-01-01T00:00:00")
    for u in range(n_users):
        items = [f"b{int(i):02d}" for i in rng.choice(N_BACKGROUND, size=int(rng.integers(5, 9)), p=p)]
        if u % 2 == 0:
            at = len(items) if at_end and u % 4 == 0 else int(rng.integers(0, len(items) + 1))
            chain = ["pA"] if u % 10 == 0 else ["pA", "pB"]
            items = items[:at] + chain + items[at:] if chain == ["pA", "pB"] else items + chain
        t = t0 + np.timedelta64(int(rng.integers(0, 86_400 * 10)), "s")
        for item in items:
            t = t + np.timedelta64(int(rng.integers(600, 86_400)), "s")
            rows.append((f"u{u:04d}", t, "view_item", item))
    return pd.DataFrame(rows, columns=["user_id", "ts", "event", "item_id"])


@pytest.fixture(scope="module")
def chains():
    return from_frame(chain_events())


@pytest.fixture(scope="module")
def gru(chains):
    return make_model("gru4rec", epochs=15).fit(chains)


def _col(data, name: str) -> int:
    return int(np.flatnonzero(data.item_ids == name)[0])


def _stopped_at_a(data) -> np.ndarray:
    """Users whose last product is pA (and who never had pB)."""
    seqs = interaction_sequences(data, 50)
    last = seqs.item_tokens[seqs.offsets[1:][seqs.lengths > 0] - 1] - FIRST_ID
    users = np.flatnonzero(seqs.lengths > 0)
    return users[last == _col(data, "pA")]


def test_the_product_that_comes_next_ranks_first_where_popularity_does_not(chains, gru):
    users = _stopped_at_a(chains)
    assert len(users) >= 20
    b = _col(chains, "pB")
    top_gru = gru.recommend(users, 1)[0][:, 0]
    top_pop = make_model("pop").fit(chains).recommend(users, 1)[0][:, 0]
    assert np.mean(top_gru == b) > 0.8
    assert np.mean(top_pop == b) < 0.2
    # Users who never came to pA are not pushed to pB: it follows pA, it is not popular on its own.
    others = np.setdiff1d(np.arange(chains.n_users), users)
    had_a = chains.matrix[:, _col(chains, "pA")].toarray().ravel() > 0
    assert np.mean(gru.recommend(others[~had_a[others]], 1)[0][:, 0] == b) < 0.2


def test_it_joins_the_comparison_under_the_same_protocol():
    result = evaluate(from_frame(chain_events(at_end=True)), "pop,itemknn,gru4rec", protocol="last-n", n=1,
                      ks=(1, 5), model_params={"gru4rec": {"epochs": 15}})
    assert list(result.metrics.index) == ["pop", "itemknn", "gru4rec"]
    assert result.metrics.loc["gru4rec", "label"] == SequenceGRU.label
    # For a quarter of the users the held-out last product is pB, right after pA: the sequence model learned
    # from the others that pB follows pA; popularity ranks the top background products first.
    assert result.metrics.loc["gru4rec", "hit_rate@1"] > result.metrics.loc["pop", "hit_rate@1"] + 0.1
    assert result.to_dict()["models"]["gru4rec"]["fit_seconds"] >= 0


def test_same_seed_same_lists_and_a_round_trip_without_pickle(chains, gru, tmp_path):
    again = make_model("gru4rec", epochs=15).fit(chains)
    a, sa = gru.recommend(np.arange(40), 5)
    b, sb = again.recommend(np.arange(40), 5)
    assert (a == b).all() and np.allclose(sa, sb)
    saved = load_recommender(save_recommender(gru, chains, tmp_path / "gru"))
    c, sc = saved.model.recommend(np.arange(40), 5)
    assert (a == c).all() and np.allclose(sa, sc, atol=1e-5)


def test_users_with_one_product_and_new_users_get_lists(chains, gru):
    one = from_frame(pd.DataFrame({"user_id": ["x", "y"], "ts": pd.to_datetime(["2025-01-01", "2025-01-02"]),
                                   "event": "view_item", "item_id": ["b00", "b01"]}))
    with pytest.raises(NoDataError, match="two or more events"):  # no second product: no "next" to learn
        make_model("gru4rec", epochs=2).fit(one)
    # A user known only by new data (a users x products matrix without times) is read too.
    fresh = chains.matrix[:3]
    items, scores = gru.recommend([0, 1, 2], 5, user_items=fresh)
    assert (items >= 0).all() and np.isfinite(scores).all()


def test_parameters_are_checked():
    with pytest.raises(InvalidParameterError, match="epochs must be a whole number from 1"):
        make_model("gru4rec", epochs=0)
    with pytest.raises(InvalidParameterError, match="has no parameter factors"):
        make_model("gru4rec", factors=3)


def test_without_pytorch_it_is_not_offered_and_the_evaluation_says_how_to_install(chains, monkeypatch):
    without_torch(monkeypatch)  # "import torch" fails as on a machine without it
    assert "gru4rec" not in offered_models() and "pop" in offered_models()
    result = evaluate(chains, "pop,gru4rec", protocol="last-n", n=1)
    assert list(result.metrics.index) == ["pop"]
    assert "pip install -r requirements-deep.txt" in result.skipped["gru4rec"]
    with pytest.raises(DeepLearningUnavailableError, match="requirements-deep.txt"):
        make_model("gru4rec").fit(chains)


def test_cli_compares_it_and_reports_it_as_json(tmp_path, capsys):
    import json

    from analytics.cli import main

    log = tmp_path / "log.csv"
    chain_events(200, seed=2).to_csv(log, index=False)
    code = main(["recommend", str(log), "--models", "pop,gru4rec", "--n", "1", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["models"]) == {"pop", "gru4rec"} and report["skipped"] == {}
    assert report["models"]["gru4rec"]["label"] == "Sequence (GRU4Rec-style)"

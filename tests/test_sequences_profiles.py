"""User profiles from behaviour sequences: they separate behaviour that only order tells apart, and feed segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from analytics import segments
from analytics.errors import InvalidParameterError, NoDataError
from analytics.sequences import DeepLearningUnavailableError
from analytics.sequences.profiles import ProfileSettings, UserProfiles, profiles_from_frame
from tests.sequence_data import without_torch

SETTINGS = ProfileSettings(dim=16, max_len=40, max_users=1000, max_epochs=15, batch_size=16, seed=0)


def order_groups(n_users: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two groups with the same events in the same numbers; only the order differs.

    Group 0 alternates ``view, cart, view, cart``; group 1 goes ``view, view, cart, cart``.
    Every user has as many views as carts, the same spread of lengths and times.
    """
    rng = np.random.default_rng(seed)
    rows, group = [], np.arange(n_users) % 2
    t0 = np.datetime64("2025-03-01T00:00:00")
    for u in range(n_users):
        pattern = ["view", "cart"] if group[u] == 0 else ["view", "view", "cart", "cart"]
        n = 4 * int(rng.integers(3, 7))
        start = int(rng.integers(0, len(pattern)))
        t = t0 + np.timedelta64(int(rng.integers(0, 86_400 * 5)), "s")
        for j in range(n):
            t = t + np.timedelta64(int(rng.integers(60, 7200)), "s")
            rows.append((f"u{u:04d}", t, pattern[(start + j) % len(pattern)]))
    return pd.DataFrame(rows, columns=["user_id", "ts", "event"]), group


@pytest.fixture(scope="module")
def groups():
    events, group = order_groups()
    return events, group, profiles_from_frame(events, settings=SETTINGS)


def test_profiles_separate_behaviour_that_only_order_tells_apart(groups):
    events, group, prof = groups
    assert prof.vectors.shape == (240, 16) and np.isfinite(prof.vectors).all()
    truth = group[[int(u[1:]) for u in prof.user_ids]]
    labels = KMeans(2, n_init=4, random_state=0).fit_predict(prof.vectors)
    assert adjusted_rand_score(truth, labels) > 0.8
    # The counts cannot: every user has as many views as carts.
    counts = pd.crosstab(events["user_id"], events["event"]).loc[prof.user_ids]
    by_counts = KMeans(2, n_init=4, random_state=0).fit_predict(counts.to_numpy(dtype=float))
    assert adjusted_rand_score(truth, by_counts) < 0.1
    assert prof.losses[-1] < prof.losses[0]


def test_segments_cluster_the_profiles_and_describe_them_with_features(groups):
    events, group, prof = groups
    features = pd.DataFrame({"user_id": prof.user_ids,
                             "n_events": events.groupby("user_id").size().loc[prof.user_ids].to_numpy(),
                             "tenure_days": np.linspace(1, 9, len(prof.user_ids))})
    result = segments.segment(features, 2, columns=["n_events", "tenure_days"], space="sequence",
                              matrix=prof.aligned(features["user_id"]), stability_resamples=2)
    truth = group[[int(u[1:]) for u in features["user_id"]]]
    assert adjusted_rand_score(truth, result.labels) > 0.8
    assert result.space == "sequence" and result.brief()["space"] == "sequence"
    assert list(result.profile.columns) == ["n_events", "tenure_days"]  # described with readable features
    assert any("behaviour-sequence embedding" in n for n in result.notices)
    again = segments.SegmentationResult.from_dict(result.to_dict(), result.assignments)
    assert again.space == "sequence"
    sweep = segments.k_sweep(features, matrix=prof.vectors, k_range=range(2, 5))
    assert sweep.recommended_k == 2
    emb = segments.embed(prof.vectors, "pca", labels=result.labels)
    assert emb.coords.shape == (240, 2)
    with pytest.raises(InvalidParameterError, match="has 239 rows but the feature table has 240"):
        segments.segment(features, 2, matrix=prof.vectors[1:], space="sequence")
    with pytest.raises(InvalidParameterError, match="cannot be placed"):
        segments.assign_segments(result, features, features)


def test_same_seed_same_profiles_and_they_survive_storage(groups):
    events, _, prof = groups
    again = profiles_from_frame(events, settings=SETTINGS)
    assert np.allclose(prof.vectors, again.vectors)
    stored = UserProfiles.from_parts(prof.meta(), prof.frame())
    assert np.allclose(stored.vectors, prof.vectors) and list(stored.user_ids) == list(prof.user_ids)
    order = prof.user_ids[::-1]
    assert np.allclose(stored.aligned(order), prof.vectors[::-1])
    with pytest.raises(InvalidParameterError, match="1 user without a sequence profile"):
        stored.aligned(["nobody"])


def test_users_with_one_event_or_none_get_a_profile(groups):
    events, _, _ = groups
    lone = pd.DataFrame({"user_id": ["solo"], "ts": [pd.Timestamp("2025-03-02")], "event": ["view"]})
    users = [*sorted(events["user_id"].unique())[:60], "solo", "ghost"]
    prof = profiles_from_frame(pd.concat([events, lone]), users, settings=SETTINGS)
    assert prof.vectors.shape == (62, 16) and np.isfinite(prof.vectors).all()
    assert any("1 user without events" in n for n in prof.notices)
    assert any("single event" in n for n in prof.notices)
    with pytest.raises(NoDataError, match="two or more events"):
        profiles_from_frame(lone, settings=SETTINGS)


def test_settings_are_checked():
    with pytest.raises(InvalidParameterError, match="max_epochs must be a whole number from 1 to 50"):
        ProfileSettings(max_epochs=0).validate()


def test_without_pytorch_the_message_says_how_to_install(groups, monkeypatch):
    events, _, _ = groups
    without_torch(monkeypatch)  # "import torch" fails as on a machine without it
    with pytest.raises(DeepLearningUnavailableError, match="pip install -r requirements-deep.txt"):
        profiles_from_frame(events, settings=SETTINGS)


def test_cli_segments_on_sequence_embeddings(groups, tmp_path, capsys):
    import json

    from analytics.cli import main

    events, group, _ = groups
    log = tmp_path / "log.csv"
    events.assign(amount=np.where(events["event"] == "cart", 10.0, np.nan)).to_csv(log, index=False)
    out = tmp_path / "segments.csv"
    assert main(["segment", str(log), "--k", "2", "--space", "sequence", "-o", str(out), "--json"]) == 0
    brief = json.loads(capsys.readouterr().out)
    assert brief["space"] == "sequence" and brief["sequence_profiles"]["users_trained"] > 0
    table = pd.read_csv(out)
    assert len(table) == 240 and set(table["segment_id"]) == {0, 1}
    features = tmp_path / "features.csv"
    pd.DataFrame({"user_id": ["a", "b"], "recency_days": [1, 2], "frequency": [1, 3]}).to_csv(features, index=False)
    assert main(["segment", str(features), "--space", "sequence", "-o", str(out)]) == 2
    assert "give the behaviour log" in capsys.readouterr().err

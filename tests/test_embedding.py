"""2-D maps: neighbourhoods kept, sampling, parameter bounds on tiny data, persistence, chart.

Quality is judged with scikit-learn's trustworthiness on small seeded data
(umap-learn's own tests do the same), never on coordinates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from sklearn.datasets import make_blobs
from sklearn.manifold import trustworthiness

from analytics import segments as emb
from analytics import segments as seg
from analytics.charts import segments as charts
from analytics.errors import InvalidParameterError
from analytics.sampling import stratified_sample

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def numba_cache():
    # A cache that outlives the test's temp folders, so only the first run ever compiles UMAP.
    emb.load_umap(cache_dir=ROOT / ".pytest_cache" / "numba")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=600, centers=5, n_features=8, cluster_std=2.0, random_state=0)
    return seg.prepare(_table(X)).X, y


def _table(X: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    df.insert(0, "user_id", [f"u{i}" for i in range(len(df))])
    return df


@pytest.mark.parametrize("method", ["pca", "tsne", pytest.param("umap", marks=pytest.mark.slow)])
def test_maps_keep_neighbourhoods(data, method):
    X, y = data
    e = emb.embed(X, method, labels=y, random_state=0)
    assert e.method == method and e.coords.shape == (len(X), 2) and np.isfinite(e.coords).all()
    assert trustworthiness(X[e.indices], e.coords, n_neighbors=10) >= 0.9


@pytest.mark.slow
def test_umap_on_customer_features_keeps_neighbourhoods(sample_dataset, workspace):
    features = workspace.features(sample_dataset.id)
    prep = seg.prepare(features)
    e = emb.embed(prep, "umap", max_points=500, random_state=0)
    assert len(e.indices) == 500
    assert trustworthiness(prep.X[e.indices], e.coords, n_neighbors=10) >= 0.9


@pytest.mark.slow
def test_large_umap_maps_take_fewer_epochs_and_stay_faithful():
    from analytics.segments.maps import LARGE_MAP, LARGE_MAP_EPOCHS

    X, _ = make_blobs(n_samples=LARGE_MAP + 500, centers=5, n_features=4, random_state=0)
    big = emb.embed(X, "umap", random_state=0)
    assert big.params["n_epochs"] == LARGE_MAP_EPOCHS < 200  # UMAP's own default there is 200
    pick = np.random.default_rng(0).choice(len(X), 2000, replace=False)
    assert trustworthiness(X[big.indices][pick], big.coords[pick], n_neighbors=10) >= 0.9
    assert emb.embed(X[:300], "umap", random_state=0).params["n_epochs"] is None  # small maps: UMAP's default
    assert emb.embed(X, "umap", random_state=0, n_epochs=30).params["n_epochs"] == 30  # asked for: kept
    assert big.params["negative_sample_rate"] == 5  # UMAP's own below HUGE_MAP


@pytest.mark.slow
def test_huge_umap_maps_draw_fewer_negative_samples_and_stay_faithful(monkeypatch):
    from analytics.segments import maps

    monkeypatch.setattr(maps, "HUGE_MAP", 3_000)  # a real huge map takes half a minute
    X, _ = make_blobs(n_samples=4_000, centers=5, n_features=4, random_state=0)
    big = emb.embed(X, "umap", random_state=0)
    assert big.params["negative_sample_rate"] == maps.HUGE_MAP_NEGATIVE_RATE < 5
    assert trustworthiness(X[big.indices], big.coords, n_neighbors=10) >= 0.9
    assert emb.embed(X[:2_000], "umap", random_state=0).params["negative_sample_rate"] == 5


@pytest.mark.parametrize("method", ["tsne", pytest.param("umap", marks=pytest.mark.slow)])
def test_same_seed_same_map(data, method):
    X, _ = data
    a = emb.embed(X[:200], method, random_state=1)
    b = emb.embed(X[:200], method, random_state=1)
    np.testing.assert_allclose(a.coords, b.coords)


def test_large_populations_are_sampled_by_segment():
    labels = np.r_[np.zeros(9000, int), np.ones(900, int), np.full(100, 2)]
    idx = stratified_sample(labels, 1000, random_state=0, min_per_group=emb.maps.MIN_PER_SEGMENT)
    assert len(idx) == 1000 and len(np.unique(idx)) == 1000 and (np.diff(idx) > 0).all()
    counts = np.bincount(labels[idx], minlength=3)
    assert counts[2] == 100  # a small segment keeps all its users (up to the floor)
    assert counts[0] > counts[1] > counts[2]  # otherwise in proportion
    again = stratified_sample(labels, 1000, random_state=0, min_per_group=emb.maps.MIN_PER_SEGMENT)
    assert (idx == again).all()
    assert len(stratified_sample(labels[:50], 1000)) == 50


def test_sampling_is_reported(data):
    X, y = data
    e = emb.embed(X, "pca", labels=y, max_points=100)
    assert e.sampled and len(e.indices) == 100 and e.n_total == len(X)
    assert any("100 of 600" in n for n in e.notices)
    assert set(y[e.indices]) == set(y)
    assert emb.DEFAULT_MAX_POINTS == {"pca": 200_000, "umap": 50_000, "tsne": 20_000}


def test_perplexity_larger_than_the_sample_is_lowered(data):
    X, _ = data
    e = emb.embed(X[:30], "tsne", perplexity=50)
    assert e.params["perplexity"] < 10
    assert any("Perplexity was lowered" in n for n in e.notices)


@pytest.mark.slow
def test_n_neighbors_larger_than_the_sample_is_lowered(data):
    X, _ = data
    e = emb.embed(X[:12], "umap", n_neighbors=50)
    assert e.params["n_neighbors"] == 11
    assert any("Neighbours was lowered" in n for n in e.notices)
    assert np.isfinite(e.coords).all()


@pytest.mark.parametrize("method", ["tsne", "umap", "pca"])
def test_two_users_give_a_valid_map(method):
    e = emb.embed(np.array([[0.0, 1.0], [1.0, 0.0]]), method)
    assert e.coords.shape == (2, 2) and np.isfinite(e.coords).all()
    if method != "pca":
        assert e.method == "pca" and any("showing PCA" in n for n in e.notices)


def test_one_feature_and_identical_users():
    one = emb.embed(np.arange(20, dtype=float)[:, None], "pca")
    assert one.coords.shape == (20, 2) and (one.coords[:, 1] == 0).all()
    assert any("single axis" in n for n in one.notices)
    same = emb.embed(np.ones((30, 3)), "tsne")
    assert same.method == "pca" and np.isfinite(same.coords).all()


@pytest.mark.parametrize("method", ["tsne", pytest.param("umap", marks=pytest.mark.slow)])
def test_identical_users_are_laid_out_once_and_drawn_together(data, method, monkeypatch):
    X = data[0][:300]
    copies = np.vstack([X, np.repeat(X[:20], 15, axis=0)])  # 20 users with 15 exact copies each
    laid_out = []
    real = getattr(emb.maps, f"{method}_map")
    monkeypatch.setattr(emb.maps, f"{method}_map", lambda Xs, *a: laid_out.append(len(Xs)) or real(Xs, *a))
    e = emb.embed(copies, method, random_state=0)
    assert laid_out == [300] and e.params["distinct_points"] == 300
    assert any("300 of the 600 users on the map have exactly the same features" in n for n in e.notices)
    assert e.coords.shape == (600, 2) and np.isfinite(e.coords).all()
    groups = np.concatenate([e.coords[:20, None], e.coords[300:].reshape(20, 15, 2)], axis=1)
    spread = np.linalg.norm(groups - groups[:, :1], axis=2)
    assert (spread[:, 1:] > 0).all()  # copies are visible, not one dot
    assert spread.max() <= emb.maps.MAX_GROUP_RADIUS * np.ptp(e.coords, axis=0).max()
    assert trustworthiness(copies, e.coords, n_neighbors=10) >= 0.9
    np.testing.assert_allclose(emb.embed(copies, method, random_state=0).coords, e.coords)
    # One copy among 300 users (under 1%) is still laid out once, but not worth a note on the map.
    few = emb.embed(np.vstack([X, X[:1]]), method, random_state=0)
    assert few.params["distinct_points"] == 300 and not any("exactly the same" in n for n in few.notices)


def test_groups_of_identical_users_grow_with_their_size_up_to_a_cap():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    counts = np.array([1, 4, 100, 100_000])
    inverse = np.repeat(np.arange(4), counts)
    xy = emb.maps.spread_identical(centres, inverse, counts)
    radius = [np.linalg.norm(xy[inverse == g] - centres[g], axis=1).max() for g in range(4)]
    assert radius[0] == 0 and 0 < radius[1] < radius[2] < radius[3]
    assert radius[3] <= emb.maps.MAX_GROUP_RADIUS * 10 + 1e-9  # a huge group stays a small part of the map
    assert len(np.unique(xy[inverse == 2].round(9), axis=0)) == 100  # no two members on the same spot


def test_feature_table_with_nan_and_inf_is_prepared_first(data):
    X, _ = data
    df = _table(X[:100])
    df.loc[:5, "x0"] = np.nan
    df.loc[6, "x1"] = np.inf
    e = emb.embed(df, "pca")
    assert np.isfinite(e.coords).all() and any("'x0'" in n for n in e.notices)
    with pytest.raises(InvalidParameterError, match="empty or infinite"):
        emb.embed(df[["x0", "x1"]].to_numpy(), "pca")


def test_bad_parameters_are_named():
    X = np.random.default_rng(0).normal(size=(50, 3))
    for kwargs, word in [({"method": "mds"}, "mds"), ({"perplexity": 0.5}, "perplexity"),
                         ({"n_neighbors": 1}, "n_neighbors"), ({"min_dist": 2.0}, "min_dist"),
                         ({"max_points": 0}, "max_points"), ({"labels": [0, 1]}, "labels")]:
        with pytest.raises(InvalidParameterError, match=word):
            emb.embed(X, **kwargs)
    with pytest.raises(InvalidParameterError, match="shape"):
        emb.embed(np.zeros(5), "pca")


def test_progress_goes_from_start_to_done(data):
    X, _ = data
    seen: list[float] = []
    emb.embed(X[:300], "tsne", progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) > 3
    assert all(0 <= f <= 1 for f in seen)


def test_embedding_round_trips_through_meta_and_frame(data):
    X, y = data
    e = emb.embed(X, "pca", labels=y, max_points=200)
    frame = e.frame(user_ids=[f"u{i}" for i in range(len(X))], labels=y)
    assert list(frame.columns) == ["row", "user_id", "x", "y", "segment"]
    back = emb.Embedding.from_parts(e.meta(), frame[["row", "x", "y"]])
    np.testing.assert_allclose(back.coords, e.coords)
    assert (back.indices == e.indices).all() and back.meta() == e.meta()


def test_warm_up_compiles_umap_with_a_disk_cache():
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    emb.warm_up(60)
    umap = emb.load_umap()
    layouts = [f for f in vars(umap.layouts).values() if isinstance(f, CPUDispatcher)]
    assert layouts and all(not isinstance(f._cache, NullCache) for f in layouts)  # cached on disk
    assert any(f.signatures for f in layouts)  # and already compiled for the map to come


def test_map_chart_is_webgl_with_escaped_hover(data):
    X, y = data
    features = _table(X)
    features.loc[0, "user_id"] = "<img src=x onerror=alert(1)>"
    e = emb.embed(X, "pca", labels=y)
    names = [f"<b>seg {i}</b>" for i in range(5)]
    fig = charts.embedding_chart(e, user_ids=features["user_id"], labels=y, names=names, features=features,
                                 hover_features=["x0", "x1"])
    assert isinstance(fig, go.Figure) and all(isinstance(t, go.Scattergl) for t in fig.data)
    assert len(fig.data) == 5
    text = fig.to_json()
    assert "<img" not in text and "<b>seg" not in text and "&lt;img" in text
    by_feature = charts.embedding_chart(e, features=features, color_by="x2")
    assert len(by_feature.data) == 1 and by_feature.data[0].marker.colorscale is not None


@pytest.mark.parametrize("include_self", [True, False])
def test_neighbours_on_the_principal_axes_are_the_exact_neighbours(include_self):
    from sklearn.neighbors import NearestNeighbors

    from analytics.segments.maps import nearest_neighbors

    rng = np.random.default_rng(3)
    base = rng.normal(size=(1500, 3))
    # Correlated, shifted and unevenly scaled columns: what the rotation is for.
    X = np.hstack([base, base @ rng.normal(size=(3, 5)) + rng.normal(0, 0.1, (1500, 5))]) * 7.0 + 40.0
    ind, dist = nearest_neighbors(X, 10, include_self=include_self)
    brute = NearestNeighbors(n_neighbors=10, algorithm="brute").fit(X)
    want_dist, want_ind = (brute.kneighbors(X) if include_self else brute.kneighbors(n_neighbors=10))
    np.testing.assert_array_equal(ind, want_ind)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-5, atol=1e-5)


def test_the_background_warm_up_does_not_swap_the_process_warning_state(monkeypatch):
    """The app warms UMAP up in a thread; a catch_warnings of ours around the fit put back, on its exit, the
    warning filters other threads had set meanwhile (for seconds while numba compiled). scikit-learn's own
    brief ones inside check_array are its business; the test suite starts no warm-up thread (conftest)."""
    import threading
    import traceback
    import warnings

    from analytics.segments.maps import warm_up

    ours = []
    real = warnings.catch_warnings

    def spy(*args, **kwargs):
        caller = traceback.extract_stack()[-2].filename
        if "/analytics/" in caller:
            ours.append(caller)
        return real(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", spy)
    thread = threading.Thread(target=warm_up, kwargs={"n_points": 60}, name="warm-up")
    thread.start()
    thread.join()
    assert ours == []

"""Session-side glue for the Segments page: the current (unsaved) segmentation, the k sweep, maps, saved ones.

An unsaved segmentation belongs to this browser session only. Saving writes it
into the workspace (kind ``segmentation``): the description as JSON and two
tables, ``labels`` (``user_id, segment, segment_id``) and one ``map_<method>``
per map drawn, so models and later sessions can use it.
"""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import pandas as pd
import streamlit as st

from analytics import segments
from analytics.sequences import INSTALL_HINT, torch_available
from analytics.sequences.profiles import ProfileSettings, UserProfiles, dataset_profiles
from analytics.workspace import Dataset
from ui import state

_CURRENT = "segmentation_current"  # (dataset id, features table, SegmentationResult)
_MAPS = "segmentation_maps"
_WARM = threading.Event()


def warm_umap_in_background() -> None:
    """Load UMAP's compiled code (disk cache) in a background thread, once per server process.

    The first UMAP map of a new process otherwise waits for numba to compile or load
    its functions; doing it while the user reads the page hides that wait.
    """
    if _WARM.is_set():
        return
    _WARM.set()
    threading.Thread(target=segments.warm_up, name="marketlens-umap-warmup", daemon=True).start()


def choose_features(features: pd.DataFrame) -> segments.FeatureChoice:
    return segments.choose_features(features)


# --- what to cluster: aggregate features or behaviour-sequence embeddings -----------------------------------------

SPACES = {"features": "Aggregate features", "sequence": "Behaviour-sequence embedding"}
PROFILE_SETTINGS = ProfileSettings()  # 32 numbers per user; learned on <= 20,000 users, <= 4 passes
_PROFILES = "seqprofile"


def sequence_unavailable(ds: Dataset) -> str | None:
    """Why behaviour-sequence embeddings cannot be learned for this dataset here, or None when they can."""
    if not torch_available():
        return INSTALL_HINT
    if not ds.has_events:
        return ("This dataset lives in the data lake (Spark): only its features are in the workspace, and sequence "
                "embeddings need the events themselves. Import the log to use them.")
    return None


def _profile_key(ds: Dataset, table: str) -> tuple:
    return ds.id, table, json.dumps(PROFILE_SETTINGS.to_dict(), sort_keys=True)


def stored_profiles(ds: Dataset, table: str) -> UserProfiles | None:
    """The profiles learned for this dataset's feature table, in this session or kept in the workspace."""
    return state.recall(_PROFILES, _profile_key(ds, table),
                        load=lambda meta, frames: UserProfiles.from_parts(meta, frames["vectors"]))


def profiles(ds: Dataset, table: str, features: pd.DataFrame, progress=None) -> UserProfiles:
    """The users' behaviour-sequence profiles: learned once per dataset and feature table, then kept."""
    found = stored_profiles(ds, table)
    if found is None:
        found = dataset_profiles(state.workspace(), ds.id, features["user_id"].astype(str).to_numpy(),
                                 PROFILE_SETTINGS, progress=progress)
        state.remember(_PROFILES, _profile_key(ds, table), found, keep=lambda p: (p.meta(), {"vectors": p.frame()}))
    return found


def profile_sentence(found: UserProfiles) -> str:
    """How the profiles were learned, in one or two plain sentences."""
    losses = found.losses
    trend = f" (prediction loss {losses[0]:.2f} -> {losses[-1]:.2f})" if len(losses) > 1 else ""
    return " ".join([f"The sequence model learned from {found.users_trained:,} users and "
                     f"{found.events_trained:,} events in {found.epochs} passes{trend}, "
                     f"{found.seconds:.0f} s.", *found.notices])


def _matrix(ds: Dataset, table: str, features: pd.DataFrame, space: str, progress=None) -> np.ndarray | None:
    if space == "features":
        return None
    return profiles(ds, table, features, progress).aligned(features["user_id"])


def _split(progress, share: float):
    """Two progress callbacks: the first stage reports into [0, share], the second into [share, 1]."""
    if progress is None:
        return None, None
    return (lambda f, m: progress(share * f, m)), (lambda f, m: progress(share + (1 - share) * f, m))


def _sweep_key(ds: Dataset, table: str, columns: list[str], prep: segments.Preprocessing,
               space: str = "features") -> tuple:
    key = (ds.id, table, tuple(columns), json.dumps(prep.to_dict(), sort_keys=True))
    return key if space == "features" else (*key, space, json.dumps(PROFILE_SETTINGS.to_dict(), sort_keys=True))


def sweep(ds: Dataset, table: str, features: pd.DataFrame, columns: list[str],
          prep: segments.Preprocessing, progress=None, space: str = "features") -> segments.KSweepResult:
    """The k sweep for these features (or the sequence embedding) and settings (computed once, kept)."""
    result = last_sweep(ds, table, columns, prep, space)
    if result is None:
        first, rest = _split(progress, 0.6) if space != "features" else (None, progress)
        matrix = _matrix(ds, table, features, space, first)
        result = state.remember("ksweep", _sweep_key(ds, table, columns, prep, space),
                                segments.k_sweep(features, columns, preprocessing=prep, matrix=matrix, progress=rest),
                                keep=lambda r: (r.to_dict(), {}))
    return result


def last_sweep(ds: Dataset, table: str, columns: list[str],
               prep: segments.Preprocessing, space: str = "features") -> segments.KSweepResult | None:
    return state.recall("ksweep", _sweep_key(ds, table, columns, prep, space),
                        load=lambda meta, _frames: segments.KSweepResult.from_dict(meta))


def rfm_grid() -> pd.DataFrame:
    """The RFM grid's cells and their definitions."""
    return segments.rfm_grid_table()


def segment(ds: Dataset, table: str, features: pd.DataFrame, k: int, *, method: str, columns: list[str],
            prep: segments.Preprocessing, progress=None, space: str = "features") -> segments.SegmentationResult:
    """Segment the users (K-means, Ward or the RFM grid) and make the result this session's current one.

    ``space`` "sequence" clusters the behaviour-sequence profiles (learned first if needed);
    the chosen feature columns then describe the segments.
    """
    if method == "rfm":
        result = segments.rfm_segment(features)
    else:
        first, rest = _split(progress, 0.6) if space != "features" else (None, progress)
        matrix = _matrix(ds, table, features, space, first)
        result = segments.segment(features, int(k), method=method, columns=columns, preprocessing=prep,
                                  matrix=matrix, space=space, progress=rest)
    set_current(ds, table, result)
    return result


def rename(ds: Dataset, table: str, result: segments.SegmentationResult, names: list[str]) -> None:
    set_current(ds, table, segments.rename_segments(result, names))


def current(ds: Dataset, table: str) -> segments.SegmentationResult | None:
    entry = st.session_state.get(_CURRENT)
    return entry[2] if entry and entry[0] == ds.id and entry[1] == table else None


def set_current(ds: Dataset, table: str, result: segments.SegmentationResult) -> None:
    st.session_state[_CURRENT] = (ds.id, table, result)
    st.session_state[_MAPS] = {}


def _result_key(result: segments.SegmentationResult) -> str:
    """What a map of this segmentation depends on (not the segment names, which a rename changes)."""
    d = result.to_dict()
    return json.dumps([d["method"], d["k"], d["columns"], d["preprocessing"], d["random_state"], d["centers"],
                       d.get("space", "features")], sort_keys=True)


def changed_since(result: segments.SegmentationResult, method: str, k: int, columns: list[str],
                  prep: segments.Preprocessing, space: str) -> list[str]:
    """What the settings on screen change against the segmentation shown, in words (empty: nothing)."""
    if method != result.method:
        return ["the method"]
    if method == "rfm":  # the grid has no other setting
        return []
    changes = [what for what, differs in (
        ("the number of segments", int(k) != result.k),
        ("what is clustered", space != result.space),
        ("the features", list(columns) != list(result.columns)),
        ("the scaling or capping", json.dumps(prep.to_dict(), sort_keys=True)
         != json.dumps(result.preprocessing, sort_keys=True))) if differs]
    return changes


def result_id(result: segments.SegmentationResult) -> str:
    """A short id of this segmentation (widgets drawn for one result start afresh for the next)."""
    return hashlib.sha1(_result_key(result).encode()).hexdigest()[:12]


def _map_key(ds: Dataset, result: segments.SegmentationResult, method: str, params: dict) -> tuple:
    return ds.id, _result_key(result), method, json.dumps(params, sort_keys=True)


def map_for(ds: Dataset, result: segments.SegmentationResult, method: str, **params) -> segments.Embedding | None:
    """The map drawn for this segmentation and settings, in this session or stored in the workspace."""
    key = _map_key(ds, result, method, params)
    emb = st.session_state.setdefault(_MAPS, {}).get(key)
    if emb is None:
        emb = state.recall("map", key, load=lambda meta, frames: segments.Embedding.from_parts(meta, frames["xy"]))
        if emb is not None:
            st.session_state[_MAPS][key] = emb
    return emb


def draw_map(ds: Dataset, table: str, result: segments.SegmentationResult, features: pd.DataFrame, method: str,
             progress=None, **params) -> segments.Embedding:
    if result.space == "sequence":  # the map shows what was clustered: the sequence profiles
        first, rest = _split(progress, 0.5)
        data = profiles(ds, table, features, first).aligned(features["user_id"])
        emb = segments.embed(data, method, labels=result.labels, random_state=result.random_state, progress=rest,
                             **params)
    else:
        emb = segments.embed(features, method, labels=result.labels, columns=result.columns,
                             preprocessing=segments.Preprocessing.from_dict(result.preprocessing),
                             random_state=result.random_state, progress=progress, **params)
    key = _map_key(ds, result, method, params)
    st.session_state.setdefault(_MAPS, {})[key] = emb
    return state.remember("map", key, emb, keep=lambda e: (e.meta(), {"xy": e.frame()[["row", "x", "y"]]}))


def audience(result: segments.SegmentationResult) -> pd.DataFrame:
    """``user_id, segment`` (the segment's name) for the download."""
    return result.assignments[["user_id", "segment_name"]].rename(columns={"segment_name": "segment"})


def saved(ds: Dataset) -> pd.DataFrame:
    """The saved segmentations of a dataset as a table (newest first)."""
    return pd.DataFrame([{"name": s.key, "segments": s.meta["brief"]["k"], "method": s.meta["brief"]["method"],
                          "stability": s.meta["brief"]["stability"], "saved": s.created_at}
                         for s in state.workspace().results(ds.id, "segmentation")])


def save(ds: Dataset, table: str, result: segments.SegmentationResult, name: str) -> str:
    """Store the segmentation (and the maps drawn for it) under the dataset."""
    labels = pd.DataFrame({"user_id": result.assignments["user_id"].astype(str),
                           "segment": result.assignments["segment_name"].astype(str),
                           "segment_id": result.assignments["segment"].astype(int)})
    frames = {"labels": labels}
    maps = {}
    for (dataset_id, result_key, method, _params), emb in st.session_state.get(_MAPS, {}).items():
        if dataset_id == ds.id and result_key == _result_key(result):
            frames[f"map_{method}"] = emb.frame()[["row", "x", "y"]]
            maps[method] = emb.meta()
    meta = {"result": result.to_dict(), "features_table": table, "maps": maps, "brief": result.brief()}
    return state.workspace().put_result(ds.id, "segmentation", name, meta, frames)


def open_saved(ds: Dataset, key: str) -> None:
    """Make a saved segmentation this session's current one."""
    stored = state.workspace().result(ds.id, "segmentation", key)
    labels = stored.frames["labels"]
    assignments = pd.DataFrame({"user_id": labels["user_id"], "segment": labels["segment_id"],
                                "segment_name": labels["segment"]})
    result = segments.SegmentationResult.from_dict(stored.meta["result"], assignments)
    set_current(ds, stored.meta["features_table"], result)


def delete_saved(ds: Dataset, key: str) -> None:
    state.workspace().drop_result(ds.id, "segmentation", key)

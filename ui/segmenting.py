"""Session-side glue for the Segments page: the current (unsaved) segmentation, maps, saved ones.

An unsaved segmentation belongs to this browser session only. Saving writes it
into the workspace (kind ``segmentation``): the description as JSON and two
tables, ``labels`` (``user_id, segment, segment_id``) and one ``map_<method>``
per map drawn, so models and later sessions can use it.
"""

from __future__ import annotations

import json
import threading

import pandas as pd
import streamlit as st

from analytics import embedding, segmentation
from analytics.workspace import Dataset, Workspace

_CURRENT = "segmentation_current"  # (dataset id, features table, SegmentationResult)
_SWEEP = "segmentation_sweep"
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
    threading.Thread(target=embedding.warm_up, name="marketlens-umap-warmup", daemon=True).start()


def _sweep_key(ds: Dataset, table: str, columns: list[str], prep: segmentation.Preprocessing) -> tuple:
    return ds.id, table, tuple(columns), json.dumps(prep.to_dict(), sort_keys=True)


def sweep(ws: Workspace, ds: Dataset, table: str, features: pd.DataFrame, columns: list[str],
          prep: segmentation.Preprocessing) -> segmentation.KSweepResult:
    """The k sweep for these features and settings (computed once per session)."""
    result = last_sweep(ds, table, columns, prep)
    if result is None:
        result = segmentation.k_sweep(features, columns, preprocessing=prep)
        st.session_state[_SWEEP] = (_sweep_key(ds, table, columns, prep), result)
    return result


def last_sweep(ds: Dataset, table: str, columns: list[str],
               prep: segmentation.Preprocessing) -> segmentation.KSweepResult | None:
    cached = st.session_state.get(_SWEEP)
    return cached[1] if cached and cached[0] == _sweep_key(ds, table, columns, prep) else None


def current(ds: Dataset, table: str) -> segmentation.SegmentationResult | None:
    entry = st.session_state.get(_CURRENT)
    return entry[2] if entry and entry[0] == ds.id and entry[1] == table else None


def set_current(ds: Dataset, table: str, result: segmentation.SegmentationResult) -> None:
    st.session_state[_CURRENT] = (ds.id, table, result)
    st.session_state[_MAPS] = {}


def map_for(result: segmentation.SegmentationResult, method: str, **params) -> \
        embedding.Embedding | None:
    return st.session_state.setdefault(_MAPS, {}).get((id(result), method, json.dumps(params, sort_keys=True)))


def draw_map(result: segmentation.SegmentationResult, features: pd.DataFrame, method: str, progress=None,
             **params) -> embedding.Embedding:
    emb = embedding.embed(features, method, labels=result.labels, columns=result.columns,
                          preprocessing=segmentation.Preprocessing.from_dict(result.preprocessing),
                          random_state=result.random_state, progress=progress, **params)
    st.session_state.setdefault(_MAPS, {})[(id(result), method, json.dumps(params, sort_keys=True))] = emb
    return emb


def save(ws: Workspace, ds: Dataset, table: str, result: segmentation.SegmentationResult, name: str) -> str:
    """Store the segmentation (and the maps drawn for it) under the dataset."""
    labels = pd.DataFrame({"user_id": result.assignments["user_id"].astype(str),
                           "segment": result.assignments["segment_name"].astype(str),
                           "segment_id": result.assignments["segment"].astype(int)})
    frames = {"labels": labels}
    maps = {}
    for (rid, method, _params), emb in st.session_state.get(_MAPS, {}).items():
        if rid == id(result):
            frames[f"map_{method}"] = emb.frame()[["row", "x", "y"]]
            maps[method] = emb.meta()
    meta = {"result": result.to_dict(), "features_table": table, "maps": maps, "brief": result.brief()}
    return ws.put_result(ds.id, "segmentation", name, meta, frames)


def load(ws: Workspace, ds: Dataset, key: str) -> tuple[str, segmentation.SegmentationResult, dict]:
    """A saved segmentation as (features table, result, maps by method)."""
    meta, frames = ws.result(ds.id, "segmentation", key)
    labels = frames["labels"]
    assignments = pd.DataFrame({"user_id": labels["user_id"], "segment": labels["segment_id"],
                                "segment_name": labels["segment"]})
    result = segmentation.SegmentationResult.from_dict(meta["result"], assignments)
    maps = {m: embedding.Embedding.from_parts(meta["maps"][m], frames[f"map_{m}"]) for m in meta.get("maps", {})}
    return meta["features_table"], result, maps

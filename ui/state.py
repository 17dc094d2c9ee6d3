"""Session-state keys, the shared workspace, and this session's memory of computed results.

The workspace is the only thing sessions share, by design: one
:class:`~analytics.workspace.Workspace` per folder per server process. Everything
a user has chosen or has in progress (active dataset, staged upload, unsaved
results) lives in ``st.session_state`` and is never visible to another session.

Results of expensive buttons are remembered with :func:`remember` under a key
that names everything they depend on (dataset, run, model, settings), so they
stay on screen across reruns, and a result of another dataset or run is never
shown: :func:`recall` with another key finds nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from analytics import config
from analytics.errors import DatasetNotFoundError
from analytics.jsonable import json_safe
from analytics.workspace import Dataset, Workspace
from ui import auth

_DATASET_CHANGES = "_dataset_changes"
ACTIVE_DATASET = "active_dataset_id"
CONFIRM_DELETE = "confirm_delete_id"
LAST_IMPORT = "last_import_id"
_MEMORY = "remembered_results"
URL_DATASET = "dataset"  # the query parameter naming the active dataset


@st.cache_resource(show_spinner=False)
def _workspace(root: str, sandbox: bool) -> Workspace:
    return Workspace(root, sandbox=sandbox)


def workspace() -> Workspace:
    """The workspace of this server (``MARKETLENS_WORKSPACE``).

    A server shared by a team (sign-in on, or connect roots set) sandboxes its
    database: DuckDB then reads files only in the workspace and the connect roots,
    whatever SQL runs on it.
    """
    sandbox = auth.auth_configured() or bool(config.connect_roots())
    return _workspace(str(config.workspace_dir().expanduser().resolve()), sandbox)


def active_dataset() -> Dataset | None:
    """The dataset this session works on: the session's choice, the one in the URL (a reload or a shared
    link), or the newest one; None in an empty workspace. The choice is kept in the URL."""
    ws = workspace()
    for dataset_id in (st.session_state.get(ACTIVE_DATASET), st.query_params.get(URL_DATASET)):
        if dataset_id:
            try:
                ds = ws.get(dataset_id)
            except DatasetNotFoundError:
                st.session_state.pop(ACTIVE_DATASET, None)  # deleted, maybe in another tab
                continue
            set_active_dataset(ds.id)
            return ds
    datasets = ws.datasets()
    if datasets:
        set_active_dataset(datasets[0].id)
        return datasets[0]
    return None


def set_active_dataset(dataset_id: str | None, *, by_user: bool = False) -> None:
    """Make ``dataset_id`` this session's dataset; ``by_user`` when the user picked it in the sidebar."""
    previous = st.session_state.get(ACTIVE_DATASET)
    if not by_user and previous is not None and dataset_id not in (None, previous):
        st.session_state[_DATASET_CHANGES] = dataset_changes() + 1
    if dataset_id is None:
        st.session_state.pop(ACTIVE_DATASET, None)
        st.query_params.pop(URL_DATASET, None)
    else:
        st.session_state[ACTIVE_DATASET] = dataset_id
        previous = st.query_params.get(URL_DATASET)
        if previous != dataset_id:
            if previous is not None:  # the other parameters describe views of the dataset left behind
                for name in [k for k in st.query_params if k != URL_DATASET]:
                    del st.query_params[name]
            st.query_params[URL_DATASET] = dataset_id


def dataset_changes() -> int:
    """How many times the app (an import, say), not the user, changed this session's dataset."""
    return st.session_state.get(_DATASET_CHANGES, 0)


def remember(kind: str, key: tuple, value: Any, *, keep: Callable[[Any], tuple[dict, dict]] | None = None) -> Any:
    """Keep the latest result of one kind (a map, a tuning, ...) for this session, under its key.

    With ``keep`` (a result -> ``(meta, tables)`` function) it is also stored in the
    workspace under the dataset (``key[0]``), so it comes back after a reload or a restart.
    """
    st.session_state.setdefault(_MEMORY, {})[kind] = (key, value)
    if keep is not None:
        meta, frames = keep(value)
        workspace().put_result(key[0], kind, _stored_key(key), meta | {"memory_key": json_safe(list(key))}, frames)
    return value


def recall(kind: str, key: tuple, *, load: Callable[[dict, dict], Any] | None = None) -> Any | None:
    """The remembered result of this kind if it was computed for exactly this key, else None.

    With ``load`` (``(meta, tables)`` -> result) a result stored in the workspace by
    :func:`remember` is found too, after a reload or a restart.
    """
    entry = st.session_state.get(_MEMORY, {}).get(kind)
    if entry is not None and entry[0] == key:
        return entry[1]
    if load is None:
        return None
    try:
        stored = workspace().result(key[0], kind, _stored_key(key))
    except DatasetNotFoundError:
        return None
    meta = {k: v for k, v in stored.meta.items() if k != "memory_key"}  # remember()'s bookkeeping, not the result's
    value = load(meta, stored.frames)
    st.session_state.setdefault(_MEMORY, {})[kind] = (key, value)
    return value


def _stored_key(key: tuple) -> str:
    """A workspace key for a memory key (dataset id first, then everything the result depends on)."""
    return "k" + hashlib.sha1(json.dumps(json_safe(list(key)), sort_keys=True).encode()).hexdigest()[:16]


def forget(*kinds: str) -> None:
    memory = st.session_state.get(_MEMORY, {})
    for kind in kinds:
        memory.pop(kind, None)

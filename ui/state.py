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

from typing import Any

import streamlit as st

from analytics import config
from analytics.errors import DatasetNotFoundError
from analytics.workspace import Dataset, Workspace
from ui import auth

ACTIVE_DATASET = "active_dataset_id"
CONFIRM_DELETE = "confirm_delete_id"
LAST_IMPORT = "last_import_id"
_MEMORY = "remembered_results"


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
    """The dataset this session works on, or the newest one, or None in an empty workspace."""
    ws = workspace()
    dataset_id = st.session_state.get(ACTIVE_DATASET)
    if dataset_id:
        try:
            return ws.get(dataset_id)
        except DatasetNotFoundError:
            st.session_state.pop(ACTIVE_DATASET, None)  # deleted, maybe in another tab
    datasets = ws.datasets()
    if datasets:
        st.session_state[ACTIVE_DATASET] = datasets[0].id
        return datasets[0]
    return None


def set_active_dataset(dataset_id: str | None) -> None:
    if dataset_id is None:
        st.session_state.pop(ACTIVE_DATASET, None)
    else:
        st.session_state[ACTIVE_DATASET] = dataset_id


def remember(kind: str, key: tuple, value: Any) -> Any:
    """Keep the latest result of one kind (a map, a tuning, ...) for this session, under its key."""
    st.session_state.setdefault(_MEMORY, {})[kind] = (key, value)
    return value


def recall(kind: str, key: tuple) -> Any | None:
    """The remembered result of this kind if it was computed for exactly this key, else None."""
    entry = st.session_state.get(_MEMORY, {}).get(kind)
    return entry[1] if entry is not None and entry[0] == key else None


def forget(*kinds: str) -> None:
    memory = st.session_state.get(_MEMORY, {})
    for kind in kinds:
        memory.pop(kind, None)

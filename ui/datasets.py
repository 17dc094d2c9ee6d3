"""Reads of stored data for the pages: dataset listings, events, stored tables and downloads (cached)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.exports import frame_bytes
from analytics.workspace import Dataset
from ui import state


def listing() -> pd.DataFrame:
    """The datasets of the workspace as a table (newest first)."""
    return pd.DataFrame([d.summary() for d in state.workspace().datasets()]).drop(columns=["id"], errors="ignore")


def events_head(ds: Dataset, limit: int = 1000) -> pd.DataFrame:
    return state.workspace().events(ds.id, limit=limit)


@st.cache_data(show_spinner=False, max_entries=16)
def _stored_table(root: str, table: str, limit: int | None) -> pd.DataFrame:
    return state.workspace().read_table(table, limit)


def stored_table(table: str, limit: int | None = None) -> pd.DataFrame:
    """A stored result table. Cached by name: stored tables are never changed in place."""
    return _stored_table(str(state.workspace().root), table, limit)


def table_download(table: str, fmt: str) -> bytes:
    """A stored table as CSV (formula-safe) or Parquet bytes."""
    return state.workspace().table_bytes(table, fmt)


def frame_download(frame: pd.DataFrame, fmt: str = "csv") -> bytes:
    """A table on screen as CSV (formula-safe) or Parquet bytes."""
    return frame_bytes(frame, fmt)

"""The Service page's glue: the status a running scoring service writes into the workspace."""

from __future__ import annotations

from analytics.service import ServiceStatus, read_status
from analytics.workspace import Dataset
from ui import state


def service_status(ds: Dataset) -> ServiceStatus | None:
    """The dataset's service status (None when no service ever ran for it); read fresh on every run."""
    return read_status(state.workspace().root, ds.id)


def serve_command(ds: Dataset) -> str:
    return f'python -m analytics serve MODEL_FOLDER --dataset "{ds.id}"'

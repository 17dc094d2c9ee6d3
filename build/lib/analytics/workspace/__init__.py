"""The persistent workspace: datasets and everything computed from them (see :mod:`analytics.workspace.store`).

:class:`Workspace` is assembled from one part per job, each in its own module:
storage and crash safety (``store``), the dataset list (``catalogue``), bringing
logs in (``importing``), per-user feature tables (``feature_store``) and other
stored results and model files (``results``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from analytics.workspace.catalogue import Catalogue, Dataset
from analytics.workspace.feature_store import FeatureStore
from analytics.workspace.importing import Importing, Inspection, StagedFile, content_hash_file
from analytics.workspace.results import ResultStore
from analytics.workspace.store import Store, close_all


class Workspace(Importing, FeatureStore, ResultStore, Catalogue, Store):
    """Datasets and results stored in one folder.

    Parameters
    ----------
    root : path, optional
        Folder of the workspace; default :func:`analytics.config.workspace_dir`.
    """


@contextmanager
def temporary_workspace(in_memory: bool = True) -> Iterator[Workspace]:
    """A workspace that is gone when the block ends: for work that should leave nothing behind.

    Parameters
    ----------
    in_memory : bool
        Keep the database in memory (notebooks, :func:`analytics.features_from_events`);
        False puts it in the temporary folder, for logs of any size (the CLI's one-shot commands).
    """
    with tempfile.TemporaryDirectory(prefix="marketlens-") as tmp:
        ws = Workspace(tmp, in_memory=in_memory)
        try:
            yield ws
        finally:
            ws.close()


__all__ = ["Dataset", "Inspection", "StagedFile", "Workspace", "close_all", "content_hash_file", "temporary_workspace"]

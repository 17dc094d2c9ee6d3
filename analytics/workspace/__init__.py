"""The persistent workspace: datasets and everything computed from them (see :mod:`analytics.workspace.store`).

:class:`Workspace` is assembled from one part per job, each in its own module:
storage and crash safety (``store``), the dataset list (``catalogue``), bringing
logs in (``importing``), per-user feature tables (``feature_store``) and other
stored results and model files (``results``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    _sweep_orphaned_scratch()
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as tmp:
        (Path(tmp) / OWNER_FILE).write_text(str(os.getpid()))
        ws = Workspace(tmp, in_memory=in_memory)
        try:
            yield ws
        finally:
            ws.close()


SCRATCH_PREFIX, OWNER_FILE = "marketlens-", "owner.pid"


def _sweep_orphaned_scratch(min_age_s: float = 60.0) -> None:
    """Remove scratch workspaces whose process is gone (killed with SIGKILL, or the machine lost power).

    Each one names its process in ``owner.pid``; a folder is only removed when that process no longer
    exists and the folder is over a minute old (a reused process id keeps it: safe, never wrong).
    A 100M-event log's scratch copy is gigabytes that would otherwise stay in the temp folder.
    """
    cutoff = time.time() - min_age_s
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:
            pid = int((folder / OWNER_FILE).read_text())
            if folder.stat().st_mtime > cutoff:
                continue
            os.kill(pid, 0)  # raises when no such process
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):  # not ours, still being created, or another user's process
            continue


__all__ = ["Dataset", "Inspection", "StagedFile", "Workspace", "close_all", "content_hash_file", "temporary_workspace"]

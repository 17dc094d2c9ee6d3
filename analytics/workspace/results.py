"""Other stored results (segmentations, training runs, audiences, ...) and saved model folders."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from analytics.audiences import Audience
from analytics.errors import (
    DatasetNotFoundError,
    InvalidParameterError,
)
from analytics.sql import quote_ident
from analytics.workspace.store import RESULT_KIND, safe_key, transaction, utc_now


@dataclass
class StoredResult:
    """A result stored under a dataset.

    Attributes
    ----------
    kind, key : str
        What it is (``segmentation``, ``training``, ``model``, ...) and its name.
    meta : dict
        Its JSON description (parameters, metrics, names, ...).
    created_at : datetime
        When it was stored (UTC).
    frames : dict of DataFrame
        Its tables; empty in a listing (:meth:`ResultStore.results`), loaded by
        :meth:`ResultStore.result`.
    """

    kind: str
    key: str
    meta: dict
    created_at: datetime
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


class ResultStore:
    """Stored results and model folders under their dataset."""

    def put_result(self, dataset_id: str, kind: str, key: str, meta: dict,
                   frames: dict[str, pd.DataFrame] | None = None) -> str:
        """Store a result under its dataset: JSON metadata and tables, in one transaction.

        Parameters
        ----------
        kind : str
            What it is (``segmentation``, ``training``, ``model``, ...).
        key : str
            Its name within the dataset and kind; storing the same key again replaces it.
        meta : dict
            JSON-able description (parameters, metrics, names, ...).
        frames : dict of DataFrame, optional
            Tables to keep with it (per-user labels, scores, coordinates, ...).

        Returns
        -------
        str
            The key as stored (made safe for table names).
        """
        self.get(dataset_id)
        key = safe_key(key)
        if not RESULT_KIND.fullmatch(kind):
            raise InvalidParameterError(f"A result kind is lowercase letters, got {kind!r}.")
        cur = self.cursor()
        with transaction(cur):
            old = self._result_tables(cur, dataset_id, kind, key)
            tables = {}
            for name, frame in (frames or {}).items():
                table = f"r_{kind}_{dataset_id}_{key}_{safe_key(name)}"
                cur.register("_frame", frame)
                cur.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS SELECT * FROM _frame")
                cur.unregister("_frame")
                tables[name] = table
            for t in set(old) - set(tables.values()):
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")
            cur.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, NULL, NULL, ?, ?, ?)",
                        [dataset_id, kind, key, json.dumps(meta | {"frames": tables}, default=str), utc_now(),
                         json.dumps(list(tables.values()))])
        return key

    def results(self, dataset_id: str, kind: str) -> list[StoredResult]:
        """Stored results of one kind for a dataset, newest first (without their tables)."""
        rows = self.cursor().execute("SELECT key, meta, created_at FROM results WHERE dataset_id = ? AND kind = ? "
                                     "ORDER BY created_at DESC", [dataset_id, kind]).fetchall()
        return [StoredResult(kind, k, _without_tables(json.loads(m or "{}")), c) for k, m, c in rows]

    def result(self, dataset_id: str, kind: str, key: str) -> StoredResult:
        """One stored result with its tables."""
        row = self.cursor().execute("SELECT meta, created_at FROM results WHERE dataset_id = ? AND kind = ? "
                                    "AND key = ?", [dataset_id, kind, key]).fetchone()
        if row is None:
            raise DatasetNotFoundError(f"There is no stored {kind} '{key}' for this dataset (it may have been "
                                       "deleted).")
        meta = json.loads(row[0])
        cur = self.cursor()
        frames = {name: cur.execute(f"SELECT * FROM {quote_ident(t)}").df() for name, t in meta["frames"].items()}
        return StoredResult(kind, key, _without_tables(meta), row[1], frames)

    def drop_result(self, dataset_id: str, kind: str, key: str) -> None:
        cur = self.cursor()
        with transaction(cur):
            for t in self._result_tables(cur, dataset_id, kind, key):
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")
            cur.execute("DELETE FROM results WHERE dataset_id = ? AND kind = ? AND key = ?", [dataset_id, kind, key])
        if kind == "model":
            shutil.rmtree(self.root / "models" / dataset_id / key, ignore_errors=True)

    def save_audience(self, dataset_id: str, audience: Audience, name: str | None = None) -> str:
        """Store an audience (its users and the rule that picked them) under the dataset; returns its key."""
        users = audience.users.assign(user_id=audience.users["user_id"].astype(str))
        return self.put_result(dataset_id, "audience", name or audience.name,
                               audience.to_dict() | {"name": name or audience.name}, {"users": users})

    def audience(self, dataset_id: str, key: str) -> Audience:
        """A stored audience."""
        stored = self.result(dataset_id, "audience", key)
        return Audience(stored.meta.get("name", key), stored.meta.get("description", ""), stored.frames["users"],
                        stored.meta.get("rule") or {})

    def save_model_files(self, dataset_id: str, name: str, write: Callable[[Path], None], meta: dict) -> Path:
        """Store a model folder under its dataset, all or nothing.

        ``write`` fills a fresh folder; it is moved into place (one rename) and then
        registered, so a crash never leaves a half-written model listed.
        """
        key = safe_key(name)
        final = self.root / "models" / dataset_id / key
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            write(staging)
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.put_result(dataset_id, "model", key, meta | {"path": str(final)})
        return final

    def model_path(self, dataset_id: str, name: str) -> Path:
        self.result(dataset_id, "model", name)  # raises when not registered
        return self.root / "models" / dataset_id / safe_key(name)


def _without_tables(meta: dict) -> dict:
    """The meta a caller stored: without the names of the tables its frames went to (the store's bookkeeping)."""
    return {k: v for k, v in meta.items() if k != "frames"}

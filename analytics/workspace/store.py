"""The workspace's storage: one DuckDB file per folder, opened once per process, with crash-safe transactions.

A workspace is a folder (``MARKETLENS_WORKSPACE``, default ``./data``) holding

- ``workspace.duckdb``: one embedded DuckDB database with a ``datasets`` table
  (name, source, counts, mapping, cleaning report, profile), one events table
  ``ev_<id>`` per dataset, and result tables (``ft_<id>_<key>`` features, ...)
  listed in ``results``;
- ``uploads/<id>/``: each original upload exactly as it arrived;
- ``models/<id>/<name>/``: saved model folders;
- ``tmp/``: uploads being inspected, and DuckDB's spill files.

Every write that creates or removes a dataset runs in one DuckDB transaction, so
a crash leaves either the whole dataset or none of it; files of datasets that
never committed are swept away the next time the workspace opens.

One DuckDB database may be opened by one process; inside it, each operation
uses its own cursor, so Streamlit's threads can share the workspace.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from analytics import config, exports
from analytics.errors import (
    InvalidParameterError,
    WorkspaceError,
)
from analytics.sql import quote_ident

SCHEMA_VERSION = 1

_CONNECTIONS: dict[Path, duckdb.DuckDBPyConnection] = {}

_LOCK = threading.Lock()

RESULT_KIND = re.compile(r"[a-z]+")


def safe_key(key: str) -> str:
    """A result key usable in table and folder names."""
    out = re.sub(r"[^0-9a-zA-Z]+", "_", str(key)).strip("_").lower()[:40]
    if not out:
        raise InvalidParameterError("A name needs at least one letter or digit.")
    return out


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit what the block did, or roll all of it back on any error (crash safety lives here)."""
    cur.begin()
    try:
        yield cur
    except BaseException:
        rollback(cur)
        raise
    cur.commit()


def rollback(cur: duckdb.DuckDBPyConnection) -> None:
    try:
        cur.rollback()
    except duckdb.TransactionException:
        pass  # no transaction open (the failure came between the two)


def params_key(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:10]


def connect_db(path: Path, spill: Path, in_memory: bool = False,
               readable: list[Path] | None = None) -> duckdb.DuckDBPyConnection:
    """The process's one connection to the workspace database at ``path`` (in memory: a new one per path).

    Parameters
    ----------
    readable : list of Path, optional
        Sandbox the connection: DuckDB may then read and write files only in these
        folders (and its own database and spill files), whatever SQL runs on it.
        Settled when the connection is first opened; it cannot be lifted afterwards.
    """
    with _LOCK:
        con = _CONNECTIONS.get(path)
        if con is not None:
            return con
        spill.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(":memory:" if in_memory else str(path), config=engine_settings(spill))
            if readable is not None:
                folders = [str(p).rstrip("/") + "/" for p in readable]
                con.execute("SET allowed_directories = ?", [folders])
                con.execute("SET enable_external_access = false")
        except (duckdb.InvalidInputException, duckdb.ParserException) as exc:
            raise WorkspaceError(
                f"A DuckDB setting is not readable: MARKETLENS_MEMORY_LIMIT={config.memory_limit()!r} or "
                f"MARKETLENS_MAX_SPILL={config.max_spill()!r} ({exc}). Use sizes such as 4GB, 512MB or 25%.") from exc
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WorkspaceError(
                    f"The workspace at {path.parent} is open in another MarketLens process (the app or a "
                    "script). Stop that process, or point MARKETLENS_WORKSPACE at another folder.") from exc
            raise WorkspaceError(f"The workspace at {path.parent} cannot be opened: {exc}") from exc
        _CONNECTIONS[path] = con
        return con


def engine_settings(spill: Path) -> dict[str, str]:
    """DuckDB's settings for a workspace: its memory limit, and where and how much it may spill.

    Work bigger than the memory limit spills to ``spill`` (inside the workspace, so a
    big import's temporary files are where its tables go) instead of failing.
    """
    settings = {"memory_limit": config.memory_limit(), "temp_directory": str(spill)}
    if config.max_spill():
        settings["max_temp_directory_size"] = config.max_spill()
    return settings


def close(path: Path) -> None:
    """Close the connection to one workspace database, if it is open."""
    with _LOCK:
        con = _CONNECTIONS.pop(path, None)
        if con is not None:
            con.close()


def close_all() -> None:
    """Close every open workspace database (tests and the CLI call this before exiting)."""
    with _LOCK:
        for con in _CONNECTIONS.values():
            con.close()
        _CONNECTIONS.clear()


class Store:
    """Connection, schema and the sweep of what a crash left behind."""

    def __init__(self, root: str | Path | None = None, *, in_memory: bool = False, sandbox: bool = False):
        self.root = Path(root or config.workspace_dir()).expanduser().resolve()
        for sub in ("uploads", "tmp", "models"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "workspace.duckdb"
        # A server's workspace reads files only in itself and in the folders logs may be connected from.
        readable = [self.root, *config.connect_roots()] if sandbox else None
        self._con = connect_db(self.db_path, self.root / "tmp" / "spill", in_memory, readable)
        self._init_schema()
        self._sweep()

    def close(self) -> None:
        """Close this workspace's database (it reopens on the next ``Workspace(root)``)."""
        close(self.db_path)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one operation (cursors are cheap; one per thread)."""
        cur = self._con.cursor()
        cur.execute("SET TimeZone='UTC'")
        return cur

    def read_table(self, table: str, limit: int | None = None) -> pd.DataFrame:
        """A stored table (feature table, result table) as a DataFrame, all rows or the first ``limit``."""
        lim = f" LIMIT {int(limit)}" if limit else ""
        return self.cursor().execute(f"SELECT * FROM {quote_ident(table)}{lim}").df()

    def table_bytes(self, table: str, fmt: str) -> bytes:
        """A stored table as formula-safe CSV or Parquet bytes, for a download."""
        return exports.table_bytes(self.cursor(), table, fmt, tmp_dir=self.root / "tmp")

    def _init_schema(self) -> None:
        cur = self.cursor()
        cur.execute("""CREATE TABLE IF NOT EXISTS datasets (
            id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, source_file VARCHAR, source_format VARCHAR,
            content_hash VARCHAR, rows BIGINT, rows_read BIGINT, users BIGINT, ts_min TIMESTAMP, ts_max TIMESTAMP,
            created_at TIMESTAMP, mapping VARCHAR, report VARCHAR, profile VARCHAR, purchase_event VARCHAR,
            engine VARCHAR, source_uri VARCHAR, spark_master VARCHAR)""")
        # One row per stored result: feature tables (table_name), segmentations, training runs
        # and saved models (their tables listed in `tables`, their files under models/).
        cur.execute("""CREATE TABLE IF NOT EXISTS results (
            dataset_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, key VARCHAR NOT NULL, table_name VARCHAR,
            params VARCHAR, meta VARCHAR, created_at TIMESTAMP, tables VARCHAR,
            PRIMARY KEY (dataset_id, kind, key))""")
        cur.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        cur.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])

    def _sweep(self) -> None:
        """Remove what imports interrupted by a crash left: tables, uploads, tmp files."""
        cur = self.cursor()
        known = {r[0] for r in cur.execute("SELECT id FROM datasets").fetchall()}
        registered = set(self._result_tables(cur))
        for (t,) in cur.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                                "AND NOT temporary").fetchall():
            owner = t.split("_")[1] if t.count("_") >= 1 else ""
            unregistered = t.startswith(("ft_", "r_")) and t not in registered
            if t.startswith("ev_") and owner not in known or unregistered:
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")
        for d in (self.root / "uploads").iterdir():
            if d.is_dir() and d.name not in known:
                shutil.rmtree(d, ignore_errors=True)
        saved = {tuple(r) for r in cur.execute("SELECT dataset_id, key FROM results WHERE kind = 'model'").fetchall()}
        for d in (self.root / "models").glob("*/*"):
            if (d.parent.name, d.name) not in saved:  # written but never registered, or half-written
                shutil.rmtree(d, ignore_errors=True)
        self.sweep_staged()

    def sweep_staged(self, max_age_s: float | None = None) -> None:
        """Remove uploads staged longer ago than ``MARKETLENS_STAGED_HOURS`` and never imported.

        Runs when the workspace opens and before every new upload, so abandoned
        uploads do not pile up while a server runs for weeks.
        """
        cutoff = time.time() - (config.staged_max_age_seconds() if max_age_s is None else max_age_s)
        for d in (self.root / "tmp").iterdir():
            try:
                old = d.name != "spill" and d.stat().st_mtime < cutoff
            except FileNotFoundError:  # removed meanwhile by another session
                continue
            if old:
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)

    def staged_bytes(self) -> int:
        """Bytes held by uploads waiting to be imported (unpacked copies included)."""
        total = 0
        for d in (self.root / "tmp").iterdir():
            if d.name != "spill":
                total += sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) if d.is_dir() else 0
        return total

    def _new_tmp_folder(self) -> Path:
        folder = self.root / "tmp" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    @staticmethod
    def _result_tables(cur: duckdb.DuckDBPyConnection, dataset_id: str | None = None, kind: str | None = None,
                       key: str | None = None) -> list[str]:
        """Tables owned by results (all, or of one dataset / kind / key)."""
        where, args = [], []
        for col, val in (("dataset_id", dataset_id), ("kind", kind), ("key", key)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = "SELECT table_name, tables FROM results" + (" WHERE " + " AND ".join(where) if where else "")
        out = []
        for table, tables in cur.execute(sql, args).fetchall():
            out += [table] if table else []
            out += json.loads(tables) if tables else []
        return list(dict.fromkeys(out))

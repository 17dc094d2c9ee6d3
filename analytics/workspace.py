"""The persistent workspace: datasets and everything computed from them.

A workspace is a folder (``MARKETLENS_WORKSPACE``, default ``./data``) holding

- ``workspace.duckdb``: one embedded DuckDB database with a ``datasets`` table
  (name, source, counts, mapping, cleaning report, profile), one events table
  ``ev_<id>`` per dataset, and result tables (``ft_<id>_<key>`` features, ...)
  listed in ``results``;
- ``uploads/<id>/``: each original upload exactly as it arrived;
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
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import duckdb
import pandas as pd
import xxhash

from analytics import config
from analytics.engines.duckdb import compile_sql, profile_events, unbound_events
from analytics.errors import (
    DatasetNotFoundError,
    FileTooLargeError,
    InvalidParameterError,
    MarketLensError,
    WorkspaceError,
)
from analytics.features.profile import DatasetProfile, distinct_in_sample
from analytics.features.queries import window_users
from analytics.features.spec import FeatureParams, resolve_spec
from analytics.features.table import feature_table
from analytics.ingest import cleaning
from analytics.ingest.recognise import copy_stream, open_source
from analytics.ingest.relation import preview
from analytics.ingest.report import CleaningReport
from analytics.ingest.roles import ColumnMapping, MappingGuess, guess_mapping, guess_purchase_event, mapping_with
from analytics.ingest.source import CHUNK, SourceFile
from analytics.sql import quote_ident

SCHEMA_VERSION = 1
_CONNECTIONS: dict[Path, duckdb.DuckDBPyConnection] = {}
_LOCK = threading.Lock()


@dataclass
class Dataset:
    """One imported log, as listed in the workspace."""

    id: str
    name: str
    source_file: str
    source_format: str
    content_hash: str
    rows: int
    rows_read: int
    users: int
    ts_min: datetime | None
    ts_max: datetime | None
    created_at: datetime
    mapping: ColumnMapping
    report: CleaningReport
    profile: DatasetProfile
    purchase_event: str | None
    engine: str = "duckdb"  # "spark": the events stay in the data lake, only features are here
    source_uri: str | None = None  # where a connected log lives (None for uploads)
    spark_master: str | None = None  # the master a Spark dataset was computed on (and is recomputed on)

    @property
    def events_table(self) -> str:
        return f"ev_{self.id}"

    @property
    def has_events(self) -> bool:
        """The cleaned events are in the workspace (uploads and DuckDB-connected logs)."""
        return self.engine == "duckdb"

    def summary(self) -> dict:
        """A row for the dataset list."""
        return {
            "name": self.name,
            "source file": self.source_file,
            "rows": self.rows,
            "users": self.users,
            "from": self.ts_min,
            "to": self.ts_max,
            "uploaded": self.created_at,
            "id": self.id,
        }


@dataclass
class StagedFile:
    """A file waiting to be imported, with a copy of it in the workspace's tmp folder.

    A browser upload is written to ``folder`` and read from there; a file staged
    from disk is read where it is, and ``folder`` holds the copy to keep.
    """

    path: Path  # what is read
    name: str  # shown only, never used as a path
    size: int
    folder: Path  # tmp/<id>/, removed once imported or discarded
    content_hash: str

    @property
    def kept_copy(self) -> Path:
        """The copy of the file as it arrived, inside :attr:`folder`."""
        return self.folder / "upload"


@dataclass
class Inspection:
    """What the mapping screen shows before import."""

    source: SourceFile
    preview: pd.DataFrame
    guess: MappingGuess
    notes: list[str] = field(default_factory=list)


class Workspace:
    """Datasets and results stored in one folder.

    Parameters
    ----------
    root : path, optional
        Folder of the workspace; default :func:`analytics.config.workspace_dir`.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or config.workspace_dir()).expanduser().resolve()
        for sub in ("uploads", "tmp", "models"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "workspace.duckdb"
        self._con = _connect(self.db_path, self.root / "tmp" / "spill")
        self._init_schema()
        self._sweep()

    # --- connection -------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one operation (cursors are cheap; one per thread)."""
        cur = self._con.cursor()
        cur.execute("SET TimeZone='UTC'")
        return cur

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
        cutoff = time.time() - 24 * 3600
        for d in (self.root / "tmp").iterdir():
            if d.name != "spill" and d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)

    # --- datasets ---------------------------------------------------------------------------

    def datasets(self) -> list[Dataset]:
        """All datasets, newest first."""
        rows = self.cursor().execute(f"SELECT {_DATASET_COLS} FROM datasets ORDER BY created_at DESC").fetchall()
        return [_dataset(r) for r in rows]

    def get(self, dataset_id: str) -> Dataset:
        row = self.cursor().execute(f"SELECT {_DATASET_COLS} FROM datasets WHERE id = ?", [dataset_id]).fetchone()
        if row is None:
            raise DatasetNotFoundError(f"Dataset '{dataset_id}' is not in the workspace (it may have been deleted).")
        return _dataset(row)

    def find_by_content(self, content_hash: str) -> Dataset | None:
        """The dataset imported from a file with exactly these bytes, if any."""
        row = self.cursor().execute(f"SELECT {_DATASET_COLS} FROM datasets WHERE content_hash = ? "
                                    "ORDER BY created_at LIMIT 1", [content_hash]).fetchone()
        return _dataset(row) if row else None

    def rename(self, dataset_id: str, name: str) -> Dataset:
        if not str(name).strip():
            raise InvalidParameterError("A dataset name cannot be empty.")
        name = _clean_name(name)
        self.get(dataset_id)
        self.cursor().execute("UPDATE datasets SET name = ? WHERE id = ?", [name, dataset_id])
        return self.get(dataset_id)

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset, its results and its kept upload."""
        ds = self.get(dataset_id)
        cur = self.cursor()
        with _transaction(cur):
            for t in [ds.events_table, *self._result_tables(cur, dataset_id)]:
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")
            cur.execute("DELETE FROM results WHERE dataset_id = ?", [dataset_id])
            cur.execute("DELETE FROM datasets WHERE id = ?", [dataset_id])
        shutil.rmtree(self.root / "uploads" / dataset_id, ignore_errors=True)
        shutil.rmtree(self.root / "models" / dataset_id, ignore_errors=True)

    # --- import ---------------------------------------------------------------------------------

    def stage(self, stream: BinaryIO, name: str) -> StagedFile:
        """Copy an upload into tmp/ in chunks, hashing it on the way.

        The stream is read once and never held whole in memory by this function.
        """
        folder = self._new_tmp_folder()
        dst = folder / "upload"
        hasher = _HashingReader(stream)
        try:
            size = copy_stream(hasher, dst, name=name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return StagedFile(path=dst, name=_display_name(name), size=size, folder=folder,
                          content_hash=hasher.hexdigest())

    def stage_path(self, path: str | Path, name: str | None = None, copy: bool = True) -> StagedFile:
        """Stage a file from disk (CLI, benchmarks): a kernel-side copy to keep, and its hash."""
        path = Path(path)
        if not path.is_file():
            raise WorkspaceError(f"There is no file at '{path}'.")
        limits = config.Limits.from_env()
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise FileTooLargeError(f"'{path.name}' is {size / config.MB:,.0f} MB, over the "
                                    f"{limits.max_file_bytes / config.MB:,.0f} MB limit (MARKETLENS_MAX_UPLOAD_MB).")
        folder = self._new_tmp_folder()
        if copy:
            shutil.copyfile(path, folder / "upload")
        return StagedFile(path=path, name=_display_name(name or path.name), size=size, folder=folder,
                          content_hash=content_hash_file(path))

    def _new_tmp_folder(self) -> Path:
        folder = self.root / "tmp" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def inspect(self, staged: StagedFile) -> Inspection:
        """Sniff the staged file and guess its column mapping (cheap: reads a sample)."""
        src = open_source(staged.path, staged.name, temp_root=staged.folder)
        try:
            cur = self.cursor()
            sample = preview(cur, src)
            guess = guess_mapping(sample)
        except BaseException:
            src.cleanup()
            raise
        return Inspection(source=src, preview=sample, guess=guess)

    def import_staged(self, staged: StagedFile, mapping: ColumnMapping | None = None, *, name: str | None = None,
                      allow_bad_rows: bool = False, features: bool = True,
                      progress: Callable[[str], None] | None = None, inspection: Inspection | None = None,
                      keep_original: bool = True) -> Dataset:
        """Clean a staged file into a new dataset (and build its default feature table).

        Parameters
        ----------
        staged : StagedFile
        mapping : ColumnMapping, optional
            Column roles; guessed when omitted.
        name : str, optional
            Dataset name; default: the file name without extension.
        allow_bad_rows : bool
            Import even if some rows have the wrong number of fields.
        features : bool
            Also compute the default per-user feature table.
        progress : callable, optional
            Receives short step descriptions.
        inspection : Inspection, optional
            Reuse a previous :meth:`inspect` (the mapping screen has one).
        keep_original : bool
            Keep a copy of the file in the workspace (uploads); a connected log
            (:meth:`connect`) stays where it is and only its location is recorded.

        Returns
        -------
        Dataset

        Raises
        ------
        MarketLensError
            Whatever is wrong with the file or mapping; nothing is stored then.
        """
        say = progress or (lambda _m: None)
        say("Recognising the file")
        insp = inspection or self.inspect(staged)
        src = insp.source
        mapping = mapping or insp.guess.mapping
        dataset_id = uuid.uuid4().hex[:12]
        table = f"ev_{dataset_id}"
        cur = self.cursor()
        try:
            # Transaction 1 writes the converted rows under a name no listing shows yet;
            # transaction 2 cleans them and registers the dataset. A crash between the
            # two leaves an unregistered table, which the next start drops.
            say("Reading and converting rows")
            cur.begin()
            plan, report = cleaning.load(cur, src, mapping, table, sample=insp.preview,
                                         allow_bad_rows=allow_bad_rows)
            cur.commit()
            cur.begin()
            report = cleaning.finish(cur, src, plan, report, table, progress=say)
            say("Profiling events")
            profile = profile_events(cur, table, distinct_in_sample(insp.preview, mapping.attributes))
            report.users, report.ts_min, report.ts_max = profile.users, profile.ts_min, profile.ts_max
            purchase = guess_purchase_event(profile.event_counts, profile.amount_counts)
            _register(cur, Dataset(
                id=dataset_id, name=_clean_name(name or _default_name(staged.name)), source_file=staged.name,
                source_format=src.describe(), content_hash=staged.content_hash, rows=report.rows_kept,
                rows_read=report.rows_read, users=report.users, ts_min=report.ts_min, ts_max=report.ts_max,
                created_at=_now(), mapping=mapping, report=report, profile=profile, purchase_event=purchase,
                source_uri=None if keep_original else str(staged.path)))
            if keep_original:
                # Keep the original next to the data before committing; a crash in between
                # leaves an orphan folder that the next start removes.
                keep = self.root / "uploads" / dataset_id
                keep.mkdir(parents=True, exist_ok=True)
                os.replace(staged.kept_copy, keep / "original")
            cur.commit()
        except BaseException:
            _rollback(cur)
            cur.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
            shutil.rmtree(self.root / "uploads" / dataset_id, ignore_errors=True)
            raise
        finally:
            src.cleanup()
        self.discard(staged)
        if features:
            # A transaction of its own: should it fail, the dataset stays usable and
            # the Features page builds the table on demand.
            self.features_table(dataset_id, progress=say)
        return self.get(dataset_id)

    def import_file(self, path: str | Path, mapping: ColumnMapping | None = None, **kwargs) -> Dataset:
        """Stage and import a file from disk in one call (CLI, scripts, the sample seed)."""
        staged = self.stage_path(path, kwargs.pop("source_name", None), copy=kwargs.get("keep_original", True))
        try:
            return self.import_staged(staged, mapping, **kwargs)
        finally:
            self.discard(staged)

    def discard(self, staged: StagedFile) -> None:
        """Forget a staged file (removes its tmp folder)."""
        shutil.rmtree(staged.folder, ignore_errors=True)

    def original_path(self, dataset_id: str) -> Path | None:
        """Path of the upload as it arrived (for download; the name shown is ``source_file``).

        None for a connected log, which stays where it is (``source_uri``).
        """
        path = self.root / "uploads" / self.get(dataset_id).id / "original"
        return path if path.exists() else None

    def connect(self, uri: str, *, engine: str = "duckdb", master: str | None = None, changes: dict | None = None,
                name: str | None = None, progress: Callable[[str], None] | None = None,
                feature_overrides: dict | None = None) -> Dataset:
        """Use a large log where it lives, by path or URI, instead of uploading it.

        Parameters
        ----------
        uri : str
            With ``engine="duckdb"``: a local file (read in place, not copied). With
            ``engine="spark"``: a Parquet directory or CSV files, local or any
            Hadoop-compatible URI (``hdfs://``, ``s3a://``, ...).
        engine : {"duckdb", "spark"}
            Spark cleans the events and computes the per-user table on the cluster;
            only that table comes into the workspace.
        master : str, optional
            Spark master (``local[*]``, ``spark://...``, ``sc://...``); default
            ``MARKETLENS_SPARK_MASTER`` or ``local[*]``.
        changes : dict, optional
            Column-role overrides (see :func:`analytics.ingest.roles.mapping_with`).
        feature_overrides : dict, optional
            :class:`FeatureParams` fields for the first feature table (Spark computes it
            while the log is loaded).
        """
        check_connect_location(uri)
        if engine == "duckdb":
            staged = self.stage_path(uri, copy=False)
            try:
                insp = self.inspect(staged)
                mapping = mapping_with(insp.source.columns, insp.guess.mapping, **(changes or {}))
                return self.import_staged(staged, mapping, name=name, inspection=insp, progress=progress,
                                          keep_original=False)
            finally:
                self.discard(staged)
        if engine != "spark":
            raise InvalidParameterError(f"engine must be 'duckdb' or 'spark', got {engine!r}.")
        from analytics.engines import spark

        say = progress or (lambda _m: None)
        say(f"Starting Spark ({spark.spark_master(master)})")
        log = spark.load_log(spark.session(master), uri, changes=changes, progress=say)
        try:
            purchase = guess_purchase_event(log.profile.event_counts, log.profile.amount_counts)
            params = FeatureParams(**{"purchase_event": purchase, **(feature_overrides or {})})
            check_purchase_event(params.purchase_event, log.profile)
            dataset_id = uuid.uuid4().hex[:12]
            ds = Dataset(id=dataset_id, name=_clean_name(name or _default_name(uri.rstrip("/"))),
                         source_file=uri.rstrip("/").rsplit("/", 1)[-1] or uri, source_format="Spark: " + uri,
                         content_hash="", rows=log.report.rows_kept, rows_read=log.report.rows_read,
                         users=log.report.users, ts_min=log.report.ts_min, ts_max=log.report.ts_max,
                         created_at=_now(), mapping=log.mapping, report=log.report, profile=log.profile,
                         purchase_event=purchase, engine="spark", source_uri=uri,
                         spark_master=spark.spark_master(master))
            say("Computing the per-user feature table on Spark")
            cur = self.cursor()
            with _transaction(cur):
                _register(cur, ds)
                self._store_spark_features(cur, log, ds, params)
        finally:
            log.release()
        return self.get(dataset_id)

    def _store_spark_features(self, cur: duckdb.DuckDBPyConnection, log, ds: Dataset, params: FeatureParams) -> str:
        from analytics.engines import spark

        frame, spec = spark.build_features(log, params)
        # The per-user table comes back to the driver as Arrow (one row per user: small next to
        # the events), so any master works, local or remote.
        cur.register("_spark_features", spark.to_arrow(frame))
        return self._record_features(cur, ds.id, params, spec, "SELECT * FROM _spark_features ORDER BY user_id")

    # --- events and features -------------------------------------------------------------------

    def events(self, dataset_id: str, limit: int | None = 1000) -> pd.DataFrame:
        """The cleaned events (first ``limit`` rows by default) without audit columns."""
        ds = self.get(dataset_id)
        cur = self.cursor()
        cols = ", ".join(quote_ident(c) for c in _data_columns(cur, ds.events_table))
        lim = f" LIMIT {int(limit)}" if limit else ""
        return cur.execute(f"SELECT {cols} FROM {quote_ident(ds.events_table)} ORDER BY rowid{lim}").df()

    def feature_params(self, dataset_id: str, **overrides) -> FeatureParams:
        """Default feature parameters of a dataset, with ``overrides`` applied (and checked)."""
        ds = self.get(dataset_id)
        params = FeatureParams(**{"purchase_event": ds.purchase_event, **overrides})
        check_purchase_event(params.purchase_event, ds.profile)
        return params

    def features(self, dataset_id: str, params: FeatureParams | None = None,
                 progress: Callable[[str], None] | None = None) -> pd.DataFrame:
        """The per-user feature table, computed once per (dataset, parameters) and kept."""
        return self.cursor().execute(
            f"SELECT * FROM {quote_ident(self.features_table(dataset_id, params, progress))}").df()

    def features_table(self, dataset_id: str, params: FeatureParams | None = None,
                       progress: Callable[[str], None] | None = None) -> str:
        """Name of the stored feature table for these parameters, building it if needed."""
        ds = self.get(dataset_id)
        params = params or self.feature_params(dataset_id)
        params.validate()
        stored = self.stored_features_table(dataset_id, params)
        if stored:
            return stored
        cur = self.cursor()
        if progress:
            progress("Building the per-user feature table")
        with _transaction(cur):
            table = self._build_features(cur, dataset_id, ds.events_table, params, ds.profile)
        return table

    def _build_features(self, cur: duckdb.DuckDBPyConnection, dataset_id: str, events_table: str,
                        params: FeatureParams, profile: dict) -> str:
        ds = self.get(dataset_id)
        if not ds.has_events:
            with _spark_log(ds) as log:
                return self._store_spark_features(cur, log, ds, params)
        spec = resolve_spec(params, profile)
        return self._record_features(cur, dataset_id, params, spec,
                                     compile_sql(feature_table(unbound_events(cur, events_table), params, spec)))

    def _record_features(self, cur: duckdb.DuckDBPyConnection, dataset_id: str, params: FeatureParams,
                         spec, select_sql: str) -> str:
        key = _params_key(params.to_dict())
        table = f"ft_{dataset_id}_{key}"
        cur.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS {select_sql}")
        meta = {"as_of": spec.as_of.isoformat(), "event_columns": spec.event_columns,
                "text_attributes": spec.text_attributes, "number_attributes": spec.number_attributes,
                "skipped_attributes": spec.skipped_attributes}
        cur.execute("INSERT OR REPLACE INTO results VALUES (?, 'features', ?, ?, ?, ?, ?, ?)",
                    [dataset_id, key, table, json.dumps(params.to_dict()), json.dumps(meta), _now(),
                     json.dumps([table])])
        return table

    def window_users(self, dataset_id: str, start: datetime, end: datetime, event: str | None = None) -> pd.Series:
        """Users with an event (of one type, or any) in ``(start, end]``, where the dataset's events are.

        The only question about events after a cutoff that the library asks
        (:mod:`analytics.labels`); the same Ibis expression runs on DuckDB or Spark.
        """
        ds = self.get(dataset_id)
        if ds.has_events:
            cur = self.cursor()
            expr = window_users(unbound_events(cur, ds.events_table), start, end, event)
            return cur.execute(compile_sql(expr)).df()["user_id"].astype(str)
        from analytics.engines import spark

        with _spark_log(ds) as log:
            return spark.window_users(log, start, end, event)

    def stored_features_table(self, dataset_id: str, params: FeatureParams) -> str | None:
        """Name of the feature table for these parameters if it was built, else None."""
        row = self.cursor().execute(
            "SELECT table_name FROM results WHERE dataset_id = ? AND kind = 'features' AND key = ?",
            [dataset_id, _params_key(params.to_dict())]).fetchone()
        return row[0] if row else None

    def feature_meta(self, dataset_id: str, params: FeatureParams) -> dict:
        """What a stored feature table was built with (reference date, event columns, ...)."""
        self.features_table(dataset_id, params)
        row = self.cursor().execute(
            "SELECT meta FROM results WHERE dataset_id = ? AND kind = 'features' AND key = ?",
            [dataset_id, _params_key(params.to_dict())]).fetchone()
        return json.loads(row[0])

    # --- other stored results: segmentations, training runs, saved models ------------------------

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
        key = _safe_key(key)
        if not _KIND.fullmatch(kind):
            raise InvalidParameterError(f"A result kind is lowercase letters, got {kind!r}.")
        cur = self.cursor()
        with _transaction(cur):
            old = self._result_tables(cur, dataset_id, kind, key)
            tables = {}
            for name, frame in (frames or {}).items():
                table = f"r_{kind}_{dataset_id}_{key}_{_safe_key(name)}"
                cur.register("_frame", frame)
                cur.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS SELECT * FROM _frame")
                cur.unregister("_frame")
                tables[name] = table
            for t in set(old) - set(tables.values()):
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")
            cur.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, NULL, NULL, ?, ?, ?)",
                        [dataset_id, kind, key, json.dumps(meta | {"frames": tables}, default=str), _now(),
                         json.dumps(list(tables.values()))])
        return key

    def results(self, dataset_id: str, kind: str) -> list[dict]:
        """Stored results of one kind for a dataset, newest first: ``key``, ``meta``, ``created_at``."""
        rows = self.cursor().execute("SELECT key, meta, created_at FROM results WHERE dataset_id = ? AND kind = ? "
                                     "ORDER BY created_at DESC", [dataset_id, kind]).fetchall()
        return [{"key": k, "meta": json.loads(m or "{}"), "created_at": c} for k, m, c in rows]

    def result(self, dataset_id: str, kind: str, key: str) -> tuple[dict, dict[str, pd.DataFrame]]:
        """One stored result: its metadata and its tables."""
        row = self.cursor().execute("SELECT meta FROM results WHERE dataset_id = ? AND kind = ? AND key = ?",
                                    [dataset_id, kind, key]).fetchone()
        if row is None:
            raise DatasetNotFoundError(f"There is no stored {kind} '{key}' for this dataset (it may have been "
                                       "deleted).")
        meta = json.loads(row[0])
        cur = self.cursor()
        frames = {name: cur.execute(f"SELECT * FROM {quote_ident(t)}").df() for name, t in meta["frames"].items()}
        return meta, frames

    def drop_result(self, dataset_id: str, kind: str, key: str) -> None:
        cur = self.cursor()
        with _transaction(cur):
            for t in self._result_tables(cur, dataset_id, kind, key):
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")
            cur.execute("DELETE FROM results WHERE dataset_id = ? AND kind = ? AND key = ?", [dataset_id, kind, key])
        if kind == "model":
            shutil.rmtree(self.root / "models" / dataset_id / key, ignore_errors=True)

    def save_model_files(self, dataset_id: str, name: str, write: Callable[[Path], None], meta: dict) -> Path:
        """Store a model folder under its dataset, all or nothing.

        ``write`` fills a fresh folder; it is moved into place (one rename) and then
        registered, so a crash never leaves a half-written model listed.
        """
        key = _safe_key(name)
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
        return self.root / "models" / dataset_id / _safe_key(name)

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



_DATASET_COLS = ("id, name, source_file, source_format, content_hash, rows, rows_read, users, ts_min, ts_max, "
                 "created_at, mapping, report, profile, purchase_event, engine, source_uri, spark_master")


def _dataset(row: tuple) -> Dataset:
    (id_, name, source_file, source_format, sha, rows, rows_read, users, ts_min, ts_max, created,
     mapping, report, profile, purchase, engine, source_uri, master) = row
    return Dataset(id=id_, name=name, source_file=source_file, source_format=source_format, content_hash=sha,
                   rows=int(rows), rows_read=int(rows_read), users=int(users), ts_min=ts_min, ts_max=ts_max,
                   created_at=created, mapping=ColumnMapping.from_dict(json.loads(mapping)),
                   report=CleaningReport.from_dict(json.loads(report)),
                   profile=DatasetProfile.from_dict(json.loads(profile)),
                   purchase_event=purchase, engine=engine or "duckdb", source_uri=source_uri, spark_master=master)


def _register(cur: duckdb.DuckDBPyConnection, ds: Dataset) -> None:
    """Insert the dataset row (inside the caller's transaction)."""
    cur.execute(
        f"INSERT INTO datasets ({_DATASET_COLS}) VALUES ({', '.join('?' * 18)})",
        [ds.id, ds.name, ds.source_file, ds.source_format, ds.content_hash, ds.rows, ds.rows_read, ds.users,
         ds.ts_min, ds.ts_max, ds.created_at, json.dumps(ds.mapping.to_dict()),
         json.dumps(ds.report.to_dict(), default=str), json.dumps(ds.profile.to_dict()), ds.purchase_event, ds.engine,
         ds.source_uri, ds.spark_master])


def check_connect_location(uri: str) -> None:
    """Refuse a local path outside ``MARKETLENS_CONNECT_ROOTS`` (when set), for servers shared by a team.

    Remote URIs (``hdfs://``, ``s3a://``, ...) are left to the cluster's own permissions.
    """
    roots = [Path(r).resolve() for r in os.environ.get("MARKETLENS_CONNECT_ROOTS", "").split(os.pathsep) if r]
    if not roots or "://" in uri:
        return
    target = Path(uri.removeprefix("file:")).expanduser().resolve()
    if not any(target == r or r in target.parents for r in roots):
        raise InvalidParameterError(f"'{uri}' is outside the folders this server may read "
                                    f"({', '.join(map(str, roots))}); ask the administrator.")


def check_purchase_event(event: str | None, profile: DatasetProfile) -> None:
    """Refuse a purchase event the log does not contain (a typo would silently zero every RFM feature)."""
    if event is not None and event not in profile.event_counts:
        known = profile.events_by_count
        raise InvalidParameterError(f"There is no event '{event}' in the log; its events are: "
                                    f"{', '.join(known[:20])}.")


_KIND = re.compile(r"[a-z]+")


def _safe_key(key: str) -> str:
    """A result key usable in table and folder names."""
    out = re.sub(r"[^0-9a-zA-Z]+", "_", str(key)).strip("_").lower()[:40]
    if not out:
        raise InvalidParameterError("A name needs at least one letter or digit.")
    return out


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _clean_name(name: str) -> str:
    return " ".join(str(name).split())[:120] or "dataset"


@contextmanager
def _spark_log(ds: Dataset) -> Iterator:
    """A connected dataset's log, read and cleaned on Spark again (its events stay in the lake)."""
    from analytics.engines import spark

    log = spark.load_log(spark.session(ds.spark_master), ds.source_uri, changes=ds.mapping.roles() | {
        "event_name": ds.mapping.event_name, "date_order": ds.mapping.date_order})
    try:
        yield log
    finally:
        log.release()


@contextmanager
def _transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit what the block did, or roll all of it back on any error (crash safety lives here)."""
    cur.begin()
    try:
        yield cur
    except BaseException:
        _rollback(cur)
        raise
    cur.commit()


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    try:
        cur.rollback()
    except duckdb.TransactionException:
        pass  # no transaction open (the failure came between the two)


def _data_columns(cur: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in cur.execute(f"DESCRIBE {quote_ident(table)}").fetchall() if not r[0].startswith("_")]


def _params_key(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _display_name(name: str) -> str:
    """The uploaded file's name, reduced to its last path part (it is shown, never used as a path)."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:200] or "upload"


def _default_name(file_name: str) -> str:
    base = _display_name(file_name)
    for ext in (".gz", ".csv", ".tsv", ".txt", ".parquet", ".xlsx"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    return base or "dataset"


def content_hash_file(path: Path) -> str:
    """Content hash of a file (XXH3-128, read in chunks): how re-uploads are recognised.

    A non-cryptographic hash is enough to tell whether two uploads hold the same
    bytes, and it costs a tenth of SHA-256 on a 600 MB log.
    """
    digest = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _HashingReader:
    """Wraps a binary stream and hashes what is read through it."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._hash = xxhash.xxh3_128()

    def read(self, n: int = CHUNK) -> bytes:
        data = self._stream.read(n)
        self._hash.update(data)
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _connect(path: Path, spill: Path) -> duckdb.DuckDBPyConnection:
    with _LOCK:
        con = _CONNECTIONS.get(path)
        if con is not None:
            return con
        spill.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path), config={"memory_limit": config.memory_limit(),
                                                    "temp_directory": str(spill)})
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WorkspaceError(
                    f"The workspace at {path.parent} is open in another MarketLens process (the app or a "
                    "script). Stop that process, or point MARKETLENS_WORKSPACE at another folder.") from exc
            raise WorkspaceError(f"The workspace at {path.parent} cannot be opened: {exc}") from exc
        _CONNECTIONS[path] = con
        return con


def close_all() -> None:
    """Close every open workspace database (tests and the CLI call this before exiting)."""
    with _LOCK:
        for con in _CONNECTIONS.values():
            con.close()
        _CONNECTIONS.clear()


__all__ = ["Dataset", "Inspection", "MarketLensError", "StagedFile", "Workspace", "close_all"]

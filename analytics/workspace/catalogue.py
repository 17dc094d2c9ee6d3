"""The list of datasets: what each one is, and renaming or deleting it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from analytics.errors import (
    DatasetNotFoundError,
    InvalidParameterError,
)
from analytics.features.profile import DatasetProfile
from analytics.ingest.report import CleaningReport
from analytics.ingest.roles import ID_ROLES, ColumnMapping
from analytics.sql import quote_ident
from analytics.workspace.store import transaction


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

    @property
    def text_columns(self) -> list[str]:
        """Text columns of the events that name something: the identifier roles the log has (item_id,
        content_id, campaign: columns of those names), then the text attributes."""
        ids = [role for role in ID_ROLES if getattr(self.mapping, role)]
        return ids + [a for a, info in self.profile.attributes.items() if info.type == "text"]

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


DATASET_COLUMNS = ("id, name, source_file, source_format, content_hash, rows, rows_read, users, ts_min, ts_max, "
                 "created_at, mapping, report, profile, purchase_event, engine, source_uri, spark_master")


def dataset_from_row(row: tuple) -> Dataset:
    (id_, name, source_file, source_format, sha, rows, rows_read, users, ts_min, ts_max, created,
     mapping, report, profile, purchase, engine, source_uri, master) = row
    return Dataset(id=id_, name=name, source_file=source_file, source_format=source_format, content_hash=sha,
                   rows=int(rows), rows_read=int(rows_read), users=int(users), ts_min=ts_min, ts_max=ts_max,
                   created_at=created, mapping=ColumnMapping.from_dict(json.loads(mapping)),
                   report=CleaningReport.from_dict(json.loads(report)),
                   profile=DatasetProfile.from_dict(json.loads(profile)),
                   purchase_event=purchase, engine=engine or "duckdb", source_uri=source_uri, spark_master=master)


def register_dataset(cur: duckdb.DuckDBPyConnection, ds: Dataset) -> None:
    """Insert the dataset row (inside the caller's transaction)."""
    cur.execute(
        f"INSERT INTO datasets ({DATASET_COLUMNS}) VALUES ({', '.join('?' * 18)})",
        [ds.id, ds.name, ds.source_file, ds.source_format, ds.content_hash, ds.rows, ds.rows_read, ds.users,
         ds.ts_min, ds.ts_max, ds.created_at, json.dumps(ds.mapping.to_dict()),
         json.dumps(ds.report.to_dict(), default=str), json.dumps(ds.profile.to_dict()), ds.purchase_event, ds.engine,
         ds.source_uri, ds.spark_master])


def clean_name(name: str) -> str:
    return " ".join(str(name).split())[:120] or "dataset"


def data_columns(cur: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in cur.execute(f"DESCRIBE {quote_ident(table)}").fetchall() if not r[0].startswith("_")]


def display_name(name: str) -> str:
    """The uploaded file's name, reduced to its last path part (it is shown, never used as a path)."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:200] or "upload"


def default_name(file_name: str) -> str:
    base = display_name(file_name)
    for ext in (".gz", ".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".parquet", ".xlsx"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    return base or "dataset"


class Catalogue:
    """Datasets: list, look up, rename, delete, read."""

    def datasets(self) -> list[Dataset]:
        """All datasets, newest first."""
        rows = self.cursor().execute(f"SELECT {DATASET_COLUMNS} FROM datasets ORDER BY created_at DESC").fetchall()
        return [dataset_from_row(r) for r in rows]

    def get(self, dataset_id: str) -> Dataset:
        row = self.cursor().execute(f"SELECT {DATASET_COLUMNS} FROM datasets WHERE id = ?", [dataset_id]).fetchone()
        if row is None:
            raise DatasetNotFoundError(f"Dataset '{dataset_id}' is not in the workspace (it may have been deleted).")
        return dataset_from_row(row)

    def find_by_content(self, content_hash: str) -> Dataset | None:
        """The dataset imported from a file with exactly these bytes, if any."""
        row = self.cursor().execute(f"SELECT {DATASET_COLUMNS} FROM datasets WHERE content_hash = ? "
                                    "ORDER BY created_at LIMIT 1", [content_hash]).fetchone()
        return dataset_from_row(row) if row else None

    def rename(self, dataset_id: str, name: str) -> Dataset:
        if not str(name).strip():
            raise InvalidParameterError("A dataset name cannot be empty.")
        name = clean_name(name)
        self.get(dataset_id)
        self.cursor().execute("UPDATE datasets SET name = ? WHERE id = ?", [name, dataset_id])
        return self.get(dataset_id)

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset, its results and its kept upload."""
        ds = self.get(dataset_id)
        cur = self.cursor()
        with transaction(cur):
            for t in [ds.events_table, *self._result_tables(cur, dataset_id)]:
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")
            cur.execute("DELETE FROM results WHERE dataset_id = ?", [dataset_id])
            cur.execute("DELETE FROM datasets WHERE id = ?", [dataset_id])
        shutil.rmtree(self.root / "uploads" / dataset_id, ignore_errors=True)
        shutil.rmtree(self.root / "models" / dataset_id, ignore_errors=True)

    def original_path(self, dataset_id: str) -> Path | None:
        """Path of the upload as it arrived (for download; the name shown is ``source_file``).

        None for a connected log, which stays where it is (``source_uri``).
        """
        path = self.root / "uploads" / self.get(dataset_id).id / "original"
        return path if path.exists() else None

    def events(self, dataset_id: str, limit: int | None = 1000) -> pd.DataFrame:
        """The cleaned events (first ``limit`` rows by default) without audit columns."""
        ds = self.get(dataset_id)
        cur = self.cursor()
        cols = ", ".join(quote_ident(c) for c in data_columns(cur, ds.events_table))
        lim = f" LIMIT {int(limit)}" if limit else ""
        return cur.execute(f"SELECT {cols} FROM {quote_ident(ds.events_table)} ORDER BY rowid{lim}").df()

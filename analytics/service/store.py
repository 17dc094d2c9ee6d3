"""The service's own event store: one DuckDB file in the workspace, written before an event is acknowledged.

Events go into a table with the same data columns as the dataset's events table,
plus ``_key`` (an MD5 of all data columns, the primary key: an exact duplicate of a
stored event is not stored again, the batch cleaning rule) and ``_received``. Each
request's events are inserted in one transaction; the HTTP answer is sent after the
commit, so an acknowledged event survives a crash (DuckDB's write-ahead log).

The store is a separate file (``<workspace>/service/<dataset id>/events.duckdb``) so
the app can open the workspace while a service runs.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from analytics.errors import InvalidParameterError
from analytics.service.events import EventSchema
from analytics.sql import quote_ident
from analytics.workspace.store import engine_settings

TABLE = "live_events"

_SQL_TYPES = {"text": "VARCHAR", "number": "DOUBLE", "time": "TIMESTAMP"}


class EventStore:
    """Durable, de-duplicated live events (thread-safe: one writer at a time, readers on their own cursors).

    Parameters
    ----------
    path : Path
        The DuckDB file (created with its folder if needed).
    schema : EventSchema
        The dataset's columns; a store created for other columns is refused.
    """

    def __init__(self, path: Path, schema: EventSchema):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        # The workspace's memory limit and spill folder, not DuckDB's default of 80% of the machine; one
        # thread: each query is small (a batch of events or of users), so one is enough and the other
        # cores stay free for the requests.
        try:
            self.con = duckdb.connect(str(path), config=engine_settings(path.parent / "spill") | {"threads": 1})
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            raise InvalidParameterError(f"Another process holds the live event store {path} (a service already "
                                        "running for this dataset?): stop it first, or serve another "
                                        "dataset.") from None
        self._write = threading.Lock()
        self._create()

    def _create(self) -> None:
        cols = ", ".join(f"{quote_ident(c)} {_SQL_TYPES[k]}" for c, k in self.schema.columns.items())
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols}, _key VARCHAR PRIMARY KEY, "
                         "_received TIMESTAMP)")
        have = [r[0] for r in self.con.execute(f"DESCRIBE {TABLE}").fetchall() if not r[0].startswith("_")]
        if have != list(self.schema.columns):
            from analytics.errors import WorkspaceError

            raise WorkspaceError(f"The service store '{self.path}' was made for other columns ({', '.join(have)}); "
                                 "move it away to start afresh.")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    def column_types(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.con.execute(f"DESCRIBE {TABLE}").fetchall()}

    def insert(self, columns: dict[str, list], received: datetime) -> int:
        """Store the events (columns of equal length) in one transaction; returns how many were new."""
        n = len(columns["user_id"])
        if n == 0:
            return 0
        frame = pa.table({c: pa.array(columns[c], type=_ARROW[k]) for c, k in self.schema.columns.items()})
        return self._insert_frame(frame, received)

    def insert_frame(self, frame: pd.DataFrame, received: datetime) -> int:
        """Store events already in the table's columns (e.g. a dataset's history)."""
        return self._insert_frame(frame[list(self.schema.columns)], received)

    def _insert_frame(self, frame: pd.DataFrame | pa.Table, received: datetime) -> int:
        cols = [quote_ident(c) for c in self.schema.columns]
        key = f"md5(to_json(struct_pack({', '.join(f'{c} := {c}' for c in cols)})))"
        with self._write:
            cur = self.con.cursor()
            try:
                cur.register("_incoming", frame)
                cur.begin()
                try:
                    n = cur.execute(
                        f"INSERT OR IGNORE INTO {TABLE} SELECT DISTINCT ON (_key) * FROM ("
                        f"SELECT {', '.join(cols)}, {key} AS _key, ?::TIMESTAMP AS _received FROM _incoming)",
                        [received]).fetchone()[0]
                    cur.commit()
                except BaseException:
                    cur.rollback()
                    raise
            finally:
                cur.close()
        return int(n)

    def counts(self) -> dict:
        """Events and users stored, and the latest event time."""
        events, users, latest = self.cursor().execute(
            f"SELECT count(*), count(DISTINCT user_id), max(ts) FROM {TABLE}").fetchone()
        return {"events": int(events), "users": int(users), "latest_event": latest.isoformat() if latest else None}

    def last_event_times(self, users: list[str]) -> dict[str, datetime]:
        rows = self.cursor().execute(f"SELECT user_id, max(ts) FROM {TABLE} WHERE user_id IN (SELECT unnest(?)) "
                                     "GROUP BY user_id", [users]).fetchall()
        return dict(rows)

    def close(self) -> None:
        with self._write:
            try:
                self.con.execute("CHECKPOINT")
            finally:
                self.con.close()


_ARROW = {"text": pa.string(), "number": pa.float64(), "time": pa.timestamp("us")}

"""Shared helpers for the journeys tests: hand-made logs and the sample log in an in-memory DuckDB."""

from __future__ import annotations

import functools
import tempfile

import duckdb
import pandas as pd

from tests.helpers import SAMPLE_LOG

COLUMNS = ["user_id", "ts", "event", "amount", "session_id", "channel"]


def log_con(rows: list[tuple], extra: dict[str, list] | None = None) -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    """A canonical events table ``ev`` from ``(user, "YYYY-MM-DD HH:MM:SS", event[, channel])`` rows."""
    df = pd.DataFrame({
        "user_id": [r[0] for r in rows],
        "ts": pd.to_datetime([r[1] for r in rows], format="ISO8601").astype("datetime64[us]"),
        "event": [r[2] for r in rows],
        "amount": [None] * len(rows),
        "session_id": [None] * len(rows),
        "channel": [r[3] if len(r) > 3 else None for r in rows],
    })
    for name, values in (extra or {}).items():
        df[name] = values
    return frame_con(df), df


_BASE: list[duckdb.DuckDBPyConnection] = []


def frame_con(df: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """A connection whose table ``ev`` holds ``df``: a fresh in-memory database on one shared DuckDB.

    Opening a DuckDB connection costs ~0.1 s; attaching a database to a shared
    one costs ~0.01 s, which keeps the many tiny logs of these tests cheap.
    """
    if not _BASE:
        _BASE.append(duckdb.connect(config={"threads": 1}))  # tiny logs, shared machine
    base = _BASE[0]
    name = f"log{len(base.execute('FROM duckdb_databases()').fetchall())}"
    base.execute(f"ATTACH ':memory:' AS {name}")
    con = base.cursor()
    con.execute(f"USE {name}")
    con.register("_src", df)
    con.execute("CREATE TABLE ev AS SELECT * REPLACE (CAST(user_id AS VARCHAR) AS user_id, "
                "CAST(event AS VARCHAR) AS event, CAST(ts AS TIMESTAMP) AS ts, CAST(amount AS DOUBLE) AS amount, "
                "CAST(session_id AS VARCHAR) AS session_id) FROM _src")
    con.unregister("_src")
    return con


@functools.lru_cache(maxsize=1)
def sample_frame() -> pd.DataFrame:
    """The committed sample log, imported once through a workspace (the product's cleaning), as a DataFrame."""
    from analytics.workspace import Workspace, close_all

    with tempfile.TemporaryDirectory(prefix="marketlens-journeys-") as tmp:
        ws = Workspace(tmp)
        ds = ws.import_file(SAMPLE_LOG, name="Sample shop", features=False)
        df = ws.cursor().execute(f"SELECT * EXCLUDE (_flags, _raw) FROM {ds.events_table}").df()
        close_all()
    return df


def sample_con() -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    df = sample_frame()
    con = duckdb.connect()
    con.register("_src", df)
    con.execute("CREATE TABLE ev AS SELECT * FROM _src")
    con.unregister("_src")
    return con, df

"""Shared pieces of the social tests: tiny hand-made events tables and the committed social sample."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SOCIAL_LOG = ROOT / "sample_data" / "social_events.csv.gz"
SOCIAL_TRUTH = ROOT / "sample_data" / "social_truth.csv.gz"


def events_table(rows: list[tuple], columns: tuple[str, ...] = ("channel",),
                 name: str = "ev") -> tuple[duckdb.DuckDBPyConnection, str]:
    """A canonical events table in an in-memory DuckDB from ``(user, ts, event, *attributes[, amount])`` rows.

    Rows one longer than ``3 + len(columns)`` carry an amount at the end.
    """
    width = 3 + len(columns)
    df = pd.DataFrame([r if len(r) == width + 1 else (*r, None) for r in rows],
                      columns=["user_id", "ts", "event", *columns, "amount"])
    df["ts"] = pd.to_datetime(df["ts"])
    df["amount"] = df["amount"].astype(float)
    con = duckdb.connect()
    con.register("df", df)
    attrs = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in columns)
    con.execute(f"CREATE TABLE {name} AS SELECT user_id, ts, event, amount, CAST(NULL AS VARCHAR) AS session_id, "
                f"{attrs}, CAST(NULL AS UTINYINT) AS _flags FROM df")
    con.unregister("df")
    return con, name


@contextmanager
def social_sample(folder: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, str, pd.DataFrame, pd.DataFrame]]:
    """The committed social sample imported into a workspace in ``folder``: (cursor, table, events, truth)."""
    from analytics.workspace import Workspace, close_all

    ws = Workspace(folder)
    ds = ws.import_file(SOCIAL_LOG, name="Social", features=False)
    con = ws.cursor()
    events = con.execute(f"SELECT user_id, ts, event, amount, channel, campaign, content_id "
                         f"FROM {ds.events_table}").df()
    try:
        yield con, ds.events_table, events, pd.read_csv(SOCIAL_TRUTH)
    finally:
        close_all()

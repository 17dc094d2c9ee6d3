"""Exports: formulas neutralised in CSV, Parquet round trip."""

from __future__ import annotations

import io

import duckdb
import pandas as pd
import pytest

from analytics.exports import FORMULA_START, frame_bytes, neutralise, table_bytes


@pytest.mark.parametrize("start", FORMULA_START)
def test_every_formula_start_is_neutralised(start):
    df = pd.DataFrame({"user_id": [f"{start}HYPERLINK(\"http://x\")", "plain"], "n": [-5, 3]})
    out = pd.read_csv(io.BytesIO(frame_bytes(df, "csv")), keep_default_na=False)
    assert out.loc[0, "user_id"].startswith("'" + start.strip() if start.strip() else "'")
    assert out.loc[1, "user_id"] == "plain"
    assert out["n"].tolist() == [-5, 3]  # numbers are not formulas


def test_neutralise_python_twin():
    assert neutralise("=1+1") == "'=1+1" and neutralise("@x") == "'@x" and neutralise("ok") == "ok"
    assert neutralise(-3) == -3


def test_parquet_round_trip_keeps_values():
    df = pd.DataFrame({"user_id": ["=a", "b"], "x": [1.5, None]})
    back = pd.read_parquet(io.BytesIO(frame_bytes(df, "parquet")))
    assert back["user_id"].tolist() == ["=a", "b"]  # Parquet is data, not a spreadsheet


def test_stored_table_export():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT '+cmd' AS a, 1 AS b")
    assert table_bytes(con, "t", "csv").decode().splitlines() == ["a,b", "'+cmd,1"]


@pytest.mark.parametrize("type_sql", ["ENUM ('=1+1', 'ok')", "VARCHAR", "VARCHAR[]", "STRUCT(a VARCHAR)"])
def test_every_text_like_type_is_neutralised(type_sql):
    con = duckdb.connect()
    value = {"VARCHAR[]": "['=1+1']", "STRUCT(a VARCHAR)": "{'a': '=1+1'}"}.get(type_sql, "'=1+1'")
    con.execute(f"CREATE TABLE t AS SELECT CAST({value} AS {type_sql}) AS a, -2 AS n, DATE '2025-01-01' AS d")
    first = table_bytes(con, "t", "csv").decode().splitlines()[1]
    assert not first.startswith(("=", "+", "-", "@")) and first.endswith(",-2,2025-01-01")
    if type_sql in ("ENUM ('=1+1', 'ok')", "VARCHAR"):
        assert first.startswith("'=1+1")

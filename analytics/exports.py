"""Files for download: CSV that spreadsheets cannot execute, and Parquet.

A cell starting with ``= + - @``, tab, CR or LF is read as a formula by Excel
and LibreOffice (CSV injection). Text cells starting that way get a leading
apostrophe, which spreadsheets show as plain text. Numbers are left alone: a
negative number is a number, not a formula. Every export goes through DuckDB's
COPY, so the rule lives in one SQL expression and large tables never pass
through pandas.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

from analytics.sql import quote_ident

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value: object) -> object:
    """Python twin of the SQL rule, for single values shown or tested."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


# Types whose CSV text cannot start with a formula character (negative numbers are numbers).
# Every other type (VARCHAR, ENUM, lists, structs, JSON, ...) is written as text and neutralised.
_NOT_TEXT = re.compile(r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|REAL|DOUBLE|DECIMAL|BOOLEAN|DATE|"
                       r"TIME|TIMESTAMP|INTERVAL|UUID)\b")


def _safe_select(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    cols = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    starts = ", ".join("'" + c.replace("'", "''") + "'" for c in FORMULA_START)
    parts = []
    for name, typ, *_ in cols:
        q = quote_ident(name)
        if _NOT_TEXT.match(str(typ).upper()):
            parts.append(q)
        else:
            text = f"CAST({q} AS VARCHAR)"
            parts.append(f"CASE WHEN left({text}, 1) IN ({starts}) THEN '''' || {text} ELSE {text} END AS {q}")
    return f"SELECT {', '.join(parts)} FROM {relation}"


def write_table(con: duckdb.DuckDBPyConnection, relation: str, path: str | Path, fmt: str | None = None) -> Path:
    """Write a table, view or ``(SELECT ...)`` to CSV (formula-safe) or Parquet.

    Parameters
    ----------
    relation : str
        A quoted table name or a parenthesised query.
    path : path
        Output file; the format follows its suffix unless ``fmt`` is given.
    fmt : {"csv", "parquet"}, optional
    """
    path = Path(path)
    fmt = fmt or ("parquet" if path.suffix.lower() == ".parquet" else "csv")
    if fmt == "parquet":
        con.execute(f"COPY (SELECT * FROM {relation}) TO '{_sql_path(path)}' (FORMAT parquet)")
    else:
        con.execute(f"COPY ({_safe_select(con, relation)}) TO '{_sql_path(path)}' (FORMAT csv, HEADER)")
    return path


def table_bytes(con: duckdb.DuckDBPyConnection, table: str, fmt: str, tmp_dir: Path | None = None) -> bytes:
    """A stored table as CSV/Parquet bytes, for a download button (written through a file in ``tmp_dir``)."""
    with tempfile.TemporaryDirectory(prefix="marketlens-export-", dir=tmp_dir) as tmp:
        out = write_table(con, quote_ident(table), Path(tmp) / f"export.{fmt}", fmt)
        return out.read_bytes()


def frame_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """A DataFrame as CSV/Parquet bytes, with the same formula rule."""
    con = duckdb.connect()
    try:
        con.register("frame", df)
        with tempfile.TemporaryDirectory(prefix="marketlens-export-") as tmp:
            return write_table(con, "frame", Path(tmp) / f"export.{fmt}", fmt).read_bytes()
    finally:
        con.close()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")

"""A recognised file as a DuckDB relation with every column as text, and a preview of it."""

from __future__ import annotations

import csv

import duckdb
import pandas as pd

from analytics.errors import (
    EmptyFileError,
    ParseError,
)
from analytics.ingest.dialect import Dialect
from analytics.ingest.nested import json_reader
from analytics.ingest.source import SourceFile, short_error
from analytics.ingest.text import decode_sample, parse_rows, read_sample, skip_lines
from analytics.sql import quote_ident, sql_literal  # noqa: F401 - re-exported until callers move


def raw_relation(con: duckdb.DuckDBPyConnection, src: SourceFile, *, reject_bad_rows: bool = True,
                 limit: int | None = None) -> str:
    """SQL FROM-clause reading ``src`` with the sniffed options.

    CSV columns all come back as VARCHAR so that cleaning decides, and reports,
    every conversion. With ``reject_bad_rows`` rows with the wrong number of
    fields are skipped and recorded in DuckDB's ``reject_errors`` table.
    Excel frames are registered on ``con`` as a view named ``_excel_sheet``.
    """
    if src.kind in ("parquet", "json"):
        rel = json_reader(src.path, src.json_columns) if src.kind == "json" else \
            f"read_parquet({sql_literal(str(src.path))})"
        if src.fields:  # nested fields as flat columns
            fields = ", ".join(f"{sql} AS {quote_ident(name)}" for sql, name in zip(src.fields, src.columns,
                                                                                    strict=True))
            rel = f"(SELECT {fields} FROM {rel})"
        return _limited(rel, limit)
    if src.kind == "excel":
        assert src.frame is not None
        con.register("_excel_sheet", src.frame)
        return _limited("_excel_sheet", limit)
    cols = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in src.columns)
    opts = [
        f"columns={{{cols}}}",
        f"delim={sql_literal(src.delimiter or ',')}",
        f"quote={sql_literal(src.quote)}", f"escape={sql_literal(src.escape)}",
        f"skip={int(src.skip_rows)}",
        f"header={'true' if src.header else 'false'}",
        "auto_detect=false",
        # Large buffers keep the parallel reader fast even with a 32 MB line limit.
        "buffer_size=67108864", "max_line_size=33554432",
    ]
    if reject_bad_rows:
        opts += ["store_rejects=true", "rejects_limit=0"]
    else:
        opts += ["null_padding=true", "ignore_errors=true"]
    return _limited(f"read_csv({sql_literal(str(src.path))}, {', '.join(opts)})", limit)


def _limited(rel: str, limit: int | None) -> str:
    # Without the limit a preview of a Parquet file read every row of it into memory.
    return f"(SELECT * FROM {rel} LIMIT {int(limit)})" if limit else rel


def preview(con: duckdb.DuckDBPyConnection, src: SourceFile, n: int = 2000) -> pd.DataFrame:
    """The first ``n`` rows as text, for role guessing and the mapping screen.

    Text files are parsed in Python from their first megabyte (DuckDB's parallel
    reader would scan far more than a preview needs); Parquet and Excel come
    from DuckDB and the sheet.
    """
    if src.kind == "csv":
        df = _csv_head(src, n)
    else:
        try:
            df = con.execute(f"SELECT * FROM {raw_relation(con, src, reject_bad_rows=False, limit=n)}").df()
        except duckdb.Error as exc:
            raise ParseError(f"'{src.name}' could not be read as a table: {short_error(exc)}") from exc
    if df.empty:
        raise EmptyFileError(f"'{src.name}' has a header row but no data rows. Export the log again with its rows.")
    return df.astype(object).where(df.notna(), None)


def _csv_head(src: SourceFile, n: int) -> pd.DataFrame:
    raw, full = read_sample(src.path)
    text = decode_sample(raw, "utf-8-sig", full=full) if src.encoding.startswith("utf-8") else raw.decode(
        "utf-8", errors="replace")
    if not full:
        text = text[: text.rfind("\n") + 1]  # drop the partial last line
    text = skip_lines(text, src.skip_rows)
    width = len(src.columns)
    rows = []
    dialect = Dialect(src.delimiter or ",", src.quote, src.escape)
    try:
        for row in parse_rows(text, dialect):
            if not any(c.strip() for c in row):
                continue
            rows.append([(c if c != "" else None) for c in (row + [None] * width)[:width]])
            if len(rows) > n:
                break
    except csv.Error as exc:
        raise ParseError(f"'{src.name}' could not be read as a table: {exc}") from exc
    if src.header:
        rows = rows[1:]
    return pd.DataFrame(rows[:n], columns=src.columns, dtype=object)



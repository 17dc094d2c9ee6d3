"""Quoting for SQL built in Python: every name and literal that goes into a statement passes here."""

from __future__ import annotations


def sql_literal(value: str) -> str:
    """Quote a Python string as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """Quote a column name for SQL (any text, including quotes, is safe)."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_spark_ident(name: str) -> str:
    """Quote a column name for Spark (``F.col``, Spark SQL): backticks, with inner backticks doubled."""
    return "`" + str(name).replace("`", "``") + "`"

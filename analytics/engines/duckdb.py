"""Run the engine-portable Ibis expressions of :mod:`analytics.features` on DuckDB.

Expressions are built on *unbound* Ibis tables (a name and a schema) and compiled
to SQL with :func:`ibis.to_sql`; the SQL then runs on our own DuckDB connection,
straight into a table, so results never round-trip through Python. The Spark
path (:mod:`analytics.engines.spark`) compiles the very same expressions to Spark SQL.
"""

from __future__ import annotations

import duckdb
import ibis
import ibis.expr.types as ir

from analytics.features.profile import DatasetProfile, few_valued, profile_from
from analytics.features.queries import attribute_cardinality, attribute_types, attribute_values, event_profile
from analytics.sql import quote_ident

_IBIS_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "DOUBLE": "float64",
    "BIGINT": "int64",
    "INTEGER": "int32",
    "BOOLEAN": "boolean",
    "DATE": "date",
}


def unbound_events(con: duckdb.DuckDBPyConnection, table: str) -> ir.Table:
    """An Ibis table with the name and data columns (no ``_`` audit columns) of ``table``."""
    rows = con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()
    schema = {name: _IBIS_TYPES.get(str(typ).upper(), "string") for name, typ, *_ in rows
              if not name.startswith("_")}
    return ibis.table(schema, name=table)


def compile_sql(expr: ir.Expr, dialect: str = "duckdb") -> str:
    return str(ibis.to_sql(expr, dialect=dialect))


def profile_events(con: duckdb.DuckDBPyConnection, table: str, sample: dict[str, int] | None = None) -> DatasetProfile:
    """The profile of a stored events table.

    Parameters
    ----------
    sample : dict, optional
        Distinct values per attribute seen in the import preview, used to tell
        categories (channel) from identifiers (product id); counted here when absent.
    """
    events = unbound_events(con, table)
    by_event = con.execute(compile_sql(event_profile(events))).df()
    users = con.execute(compile_sql(events.user_id.nunique().name("users"))).fetchone()[0]
    attrs = attribute_types(events)
    if sample is None:
        sample = con.execute(compile_sql(attribute_cardinality(events, list(attrs)))).df().iloc[0].to_dict()
    values = {a: [r[0] for r in con.execute(compile_sql(attribute_values(events, a))).fetchall()]
              for a in few_valued(attrs, sample)}
    return profile_from(by_event, int(users), attrs, sample, values)

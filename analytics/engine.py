"""Run the engine-portable Ibis expressions of :mod:`analytics.features` on DuckDB.

Expressions are built on *unbound* Ibis tables (a name and a schema) and compiled
to SQL with :func:`ibis.to_sql`; the SQL then runs on our own DuckDB connection,
straight into a table, so results never round-trip through Python. The Spark
path (:mod:`analytics.spark`) compiles the very same expressions to Spark SQL.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import ibis
import ibis.expr.types as ir

from analytics.errors import NoDataError
from analytics.features import (
    FeatureParams,
    FeatureSpec,
    attribute_cardinality,
    attribute_types,
    event_column_names,
    event_profile,
    profile_from,
)
from analytics.sql import quote_ident

# Text attributes with more distinct values than this are identifiers or free
# text (URLs, product ids): their "most frequent value" means little and costs a lot.
MAX_MODE_CARDINALITY = 5_000
# Each summarised text attribute costs one grouped pass over the events (and a join), so a
# very wide file gets its first ones; the rest are listed as skipped.
MAX_TEXT_ATTRIBUTES = 12
MAX_NUMBER_ATTRIBUTES = 50

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


def resolve_spec(params: FeatureParams, profile: dict) -> FeatureSpec:
    """Fill in what the feature expression needs to know about the data (any engine).

    Parameters
    ----------
    params : FeatureParams
    profile : dict
        The dataset profile (see :func:`analytics.features.profile_from`).
    """
    if not profile["event_counts"]:
        raise NoDataError("The dataset has no events.")
    ts_max = datetime.fromisoformat(profile["ts_max"])
    as_of = params.as_of or ts_max
    if params.as_of is not None:
        ts_min = datetime.fromisoformat(profile["ts_min"])
        if as_of.replace(tzinfo=None) < ts_min:
            raise NoDataError(f"The reference date {as_of:%Y-%m-%d} is before the first event "
                              f"({ts_min:%Y-%m-%d}); pick a later date.")
    top = [e for e, _ in sorted(profile["event_counts"].items(), key=lambda kv: (-kv[1], kv[0]))]
    top = top[: params.top_events]
    attrs = profile["attributes"]
    text_attrs = [a for a, info in attrs.items() if info["type"] == "text" and info["distinct"] <= MAX_MODE_CARDINALITY]
    number_attrs = [a for a, info in attrs.items() if info["type"] == "number"]
    text_attrs, number_attrs = text_attrs[:MAX_TEXT_ATTRIBUTES], number_attrs[:MAX_NUMBER_ATTRIBUTES]
    return FeatureSpec(as_of=as_of, event_columns=event_column_names(top), text_attributes=text_attrs,
                       number_attributes=number_attrs, has_sessions=profile["has_sessions"],
                       skipped_attributes=[a for a in attrs if a not in text_attrs + number_attrs])


def profile_events(con: duckdb.DuckDBPyConnection, table: str, sample: dict[str, int] | None = None) -> dict:
    """The profile of a stored events table (see :func:`analytics.features.profile_from`).

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
    return profile_from(by_event, int(users), attrs, sample)

"""Checks on a stored events table shared by attribution and the social analyses."""

from __future__ import annotations

import duckdb

from analytics.errors import DatasetNotFoundError, MappingError, NoDataError
from analytics.sql import quote_ident

# Canonical columns that are never a touch or a content key.
CORE_COLUMNS = ("user_id", "ts", "event", "amount", "session_id")


def data_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> SQL type of an events table, audit columns (``_flags``, ``_raw``) left out.

    Raises
    ------
    DatasetNotFoundError
        When the table does not exist.
    """
    try:
        rows = con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()
    except duckdb.CatalogException:
        raise DatasetNotFoundError(f"There is no events table '{table}' in the workspace; import the log "
                                   "again or pick another dataset.") from None
    return {r[0]: r[1] for r in rows if not r[0].startswith("_")}


def event_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    """Rows per event name (one cheap scan)."""
    rows = con.execute(f"SELECT event, count(*) FROM {quote_ident(table)} GROUP BY event").fetchall()
    return {str(e): int(n) for e, n in rows if e is not None}


def require_attribute(columns: dict[str, str], name: str, what: str) -> None:
    """Raise a :class:`MappingError` naming the usable columns when ``name`` is not an attribute column."""
    attrs = [c for c in columns if c not in CORE_COLUMNS]
    if name in attrs:
        return
    usable = ", ".join(f"'{c}'" for c in attrs) or "none (the log has only user, time, event and amount)"
    if name in CORE_COLUMNS:
        raise MappingError(f"'{name}' is a core column and cannot be the {what}; attribute columns are: {usable}.")
    raise MappingError(f"The log has no column '{name}' for the {what}. Attribute columns are: {usable}. "
                       "Pick one of them, or map the column when importing the log.")


def require_events(counts: dict[str, int], names: list[str], what: str) -> None:
    """Raise a :class:`NoDataError` when one of ``names`` is not an event of the log."""
    missing = [n for n in names if counts.get(n, 0) == 0]
    if missing:
        top = ", ".join(f"'{e}'" for e in sorted(counts, key=counts.get, reverse=True)[:12]) or "none"
        raise NoDataError(f"There are no '{missing[0]}' events in this log, so it cannot be the {what}. "
                          f"Its most frequent events are: {top}.")

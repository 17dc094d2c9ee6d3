"""What a log says about its products: which column names them, which events carry one, what each product is.

Until the column mapping has an item role, the product id is an attribute column
of the events table (``item_id`` in the sample). These helpers find it, count the
events that carry a product (to propose event weights for them), and gather the
attributes that do not vary within a product (category, name, price) to show
recommendations with names.
"""

from __future__ import annotations

import re

import duckdb
import pandas as pd

from analytics.errors import MappingError
from analytics.recommend.interactions import DEFAULT_WEIGHTS, _columns, _item_expression
from analytics.sql import quote_ident

DEFAULT_ITEM_COLUMN = "item_id"
# Column names that read as a product id (item_id, SKU, productId, content id, article number).
_PRODUCT_NAME = re.compile(r"(.*[ _.-])?(item|product|sku|article|content|offer|variant|listing|asin|ean|gtin)"
                           r"([ _.-]?(id|no|nr|number|code|ref|key))?", re.I)
_CANONICAL = ("user_id", "ts", "event", "amount", "session_id")
# A product attribute has one value for at least this share of the products that have any.
ONE_VALUE_SHARE = 0.95
MAX_ATTRIBUTE_COLUMNS = 8


def item_column_choices(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Columns of an events table that could hold the product id, the likeliest first.

    ``item_id`` first, then columns named like a product id (``sku``, ``productId``),
    then every other attribute column (text before numbers). Canonical and audit
    columns never appear.
    """
    columns = _columns(con, table)
    attrs = [c for c in columns if c not in _CANONICAL and not c.startswith("_")]
    named = [c for c in attrs if c == DEFAULT_ITEM_COLUMN or _PRODUCT_NAME.fullmatch(c.strip())]
    text = [c for c in attrs if c not in named and "VARCHAR" in columns[c].upper()]
    rest = [c for c in attrs if c not in named and c not in text]
    return sorted(named, key=lambda c: c != DEFAULT_ITEM_COLUMN) + text + rest


def guess_item_column(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """``item_id`` when the events table has it, else a column named like a product id, else None."""
    choices = item_column_choices(con, table)
    if choices and (choices[0] == DEFAULT_ITEM_COLUMN or _PRODUCT_NAME.fullmatch(choices[0].strip())):
        return choices[0]
    return None


def item_events(con: duckdb.DuckDBPyConnection, table: str, item_col: str) -> pd.DataFrame:
    """Per event name: ``event, events, with_item`` (events that name a product), most frequent first."""
    columns = _columns(con, table)
    if item_col not in columns or item_col.startswith("_") or item_col in _CANONICAL:
        raise MappingError(f"There is no column '{item_col}' in this log to use as the product id.")
    q = quote_ident(item_col)
    return con.execute(f"""
        SELECT event, COUNT(*)::BIGINT AS events,
               COUNT(NULLIF(TRIM(CAST({q} AS VARCHAR)), ''))::BIGINT AS with_item
        FROM {quote_ident(table)} GROUP BY event ORDER BY events DESC, event""").df()


def suggested_weights(events: pd.DataFrame, purchase_event: str | None = None) -> dict[str, float]:
    """Weights for the events that carry a product: the defaults where the name is known, else 5 for the
    purchase event and 1 for the others (events without products are left out)."""
    out = {}
    for event, with_item in zip(events["event"], events["with_item"]):
        if with_item > 0:
            out[str(event)] = DEFAULT_WEIGHTS.get(str(event), 5.0 if event == purchase_event else 1.0)
    return out


def item_attributes(con: duckdb.DuckDBPyConnection, table: str, item_col: str) -> pd.DataFrame | None:
    """One row per product: ``item_id`` and the attributes with one value per product (category, name, price).

    An attribute counts when at least 95% of the products that have it have a
    single value of it (the most frequent value is kept for the others). None
    when no attribute describes the products (channel, country vary per event).
    """
    columns = _columns(con, table)
    item_expr = _item_expression(con, table, item_col, columns)
    candidates = [c for c in columns
                  if c not in (*_CANONICAL, item_col, "item_id") and not c.startswith("_")]
    if not candidates:
        return None
    t = quote_ident(table)
    per_item = ", ".join(f"COUNT(DISTINCT {quote_ident(c)}) AS d{j}, COUNT({quote_ident(c)}) AS n{j}"
                         for j, c in enumerate(candidates))
    shares = ", ".join(f"AVG(CASE WHEN n{j} > 0 THEN (d{j} <= 1)::INT END), COUNT(*) FILTER (WHERE n{j} > 0)"
                       for j in range(len(candidates)))
    row = con.execute(f"""
        WITH per AS (SELECT {item_expr} AS i, {per_item} FROM {t} WHERE {item_expr} IS NOT NULL GROUP BY 1)
        SELECT COUNT(*), {shares} FROM per""").fetchone()
    n_items = row[0]
    keep = [c for j, c in enumerate(candidates)
            if row[1 + 2 * j] is not None and row[1 + 2 * j] >= ONE_VALUE_SHARE and row[2 + 2 * j] >= 0.5 * n_items]
    keep = keep[:MAX_ATTRIBUTE_COLUMNS]
    if not keep:
        return None
    picks = ", ".join(f"mode({quote_ident(c)}) AS {quote_ident(c)}" for c in keep)
    return con.execute(f"""SELECT {item_expr} AS item_id, {picks} FROM {t} WHERE {item_expr} IS NOT NULL
                           GROUP BY 1 ORDER BY 1""").df()

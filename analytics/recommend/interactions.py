"""Who interacted with which product, and how strongly: the input of every recommender.

The events table is reduced in DuckDB to one row per (user, product, day) with
the summed weight of the day's events (a purchase counts more than a view), and
indexed: users by id, products from the most to the least frequent (so "the N
most frequent products" is ``range(N)``). Keeping the day lets the evaluation
split by time exactly and order each user's products by when they first came.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.errors import InvalidParameterError, MappingError, NoDataError
from analytics.progress import Progress
from analytics.sql import quote_ident, sql_literal

# A purchase says more than a view; editable per call (events not listed are ignored).
DEFAULT_WEIGHTS: dict[str, float] = {"view_item": 1.0, "add_to_cart": 3.0, "begin_checkout": 4.0, "purchase": 5.0}
# Above this many products only the most frequent are kept (memory of item-item and factor models).
MAX_ITEMS = 200_000
# An item column whose values are mostly numbers with decimals is a price, not a product id.
PRICE_DECIMAL_SHARE = 0.3
# A column of at least MIN_ITEMS_FOR_ID_CHECK values where the values more than one user had make less
# than MIN_SHARED_PAIRS of the user-product pairs is an order, event or session id: products nobody
# shares teach a recommender nothing. (A real long tail still has a shared head holding a good share of
# the pairs: 30% in the test's catalogue of a million products, 2,000 of them shared.)
MIN_SHARED_PAIRS = 0.02
MIN_ITEMS_FOR_ID_CHECK = 1_000



@dataclass(frozen=True)
class Interactions:
    """Users x products, one row per (user, product, day).

    Attributes
    ----------
    user_ids, item_ids : numpy.ndarray
        Labels (text) of the user rows and product columns; products are ordered
        from the most to the least frequent (distinct users).
    user, item : numpy.ndarray
        Row and column index of each (user, product, day) record (int32).
    weight : numpy.ndarray
        Summed event weight of the record (float32).
    day : numpy.ndarray
        The day (``datetime64[D]``) and ``ts`` the first time (``datetime64[s]``) of the record.
    weights : dict
        The event weights used.
    item_col : str
        The events column the products came from.
    notes : tuple of str
        What was left out and why, in words.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user: np.ndarray
    item: np.ndarray
    weight: np.ndarray
    day: np.ndarray
    ts: np.ndarray
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    item_col: str = "item_id"
    notes: tuple[str, ...] = ()

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_records(self) -> int:
        return len(self.user)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Users x products, summed weights (float32, CSR, duplicates summed)."""
        m = sp.csr_matrix((self.weight, (self.user, self.item)), shape=(self.n_users, self.n_items), dtype=np.float32)
        m.sum_duplicates()
        return m

    @cached_property
    def pairs(self) -> pd.DataFrame:
        """One row per (user, product): ``user, item, weight, first_ts, last_ts`` (indices, not labels)."""
        df = pd.DataFrame({"user": self.user, "item": self.item, "weight": self.weight, "ts": self.ts})
        g = df.groupby(["user", "item"], sort=True)
        out = g.agg(weight=("weight", "sum"), first_ts=("ts", "min"), last_ts=("ts", "max")).reset_index()
        return out

    def subset(self, keep: np.ndarray) -> Interactions:
        """The same users and products (same index), only the records where ``keep`` is true."""
        keep = np.asarray(keep, dtype=bool)
        return Interactions(self.user_ids, self.item_ids, self.user[keep], self.item[keep], self.weight[keep],
                            self.day[keep], self.ts[keep], dict(self.weights), self.item_col, self.notes)

    def fingerprint(self) -> str:
        """SHA-256 of the records and labels: the same data gives the same text."""
        h = hashlib.sha256()
        for a in (self.user, self.item, self.weight, self.day.astype(np.int64)):
            h.update(np.ascontiguousarray(a).tobytes())
        for labels in (self.user_ids, self.item_ids):
            h.update("\x1f".join(map(str, labels)).encode())
        return h.hexdigest()[:16]

    def summary(self) -> dict:
        """Counts for a screen or ``--json``: users, products, records, pairs, density, date range."""
        pairs = int(self.matrix.nnz)
        per_user = np.diff(self.matrix.indptr)
        return {"item_column": self.item_col, "users": self.n_users, "items": self.n_items,
                "records": self.n_records, "user_item_pairs": pairs,
                "density": pairs / max(1, self.n_users * self.n_items),
                "users_with_one_item": int((per_user == 1).sum()),
                "first_day": str(self.day.min()) if self.n_records else None,
                "last_day": str(self.day.max()) if self.n_records else None,
                "weights": dict(self.weights), "notes": list(self.notes)}


def build_interactions(con: duckdb.DuckDBPyConnection, table: str, item_col: str | None = "item_id", *,
                       weights: Mapping[str, float] | None = None, max_items: int = MAX_ITEMS,
                       progress: Progress | None = None) -> Interactions:
    """Reduce an events table to weighted user x product interactions.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        Name of the canonical events table (``user_id, ts, event`` and the item column).
    item_col : str
        The column holding the product id (SKU, content id). Numbers with
        decimals are refused (that is a price); whole numbers are fine.
    weights : mapping of str to float, optional
        Weight of each event type; events not listed (or with weight 0) are
        ignored. Default :data:`DEFAULT_WEIGHTS`.
    max_items : int
        Keep at most this many products, the most frequent (a note says how
        much of the data the rest held).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    Interactions

    Raises
    ------
    MappingError
        No item column, or a column that is not a product id (a price; an order
        or event id with a new value in almost every interaction).
    NoDataError
        No weighted event carries a product, or only one product is left.
    """
    weights = _check_weights(DEFAULT_WEIGHTS if weights is None else weights)
    if not isinstance(max_items, (int, np.integer)) or isinstance(max_items, bool) or max_items < 2:
        raise InvalidParameterError(f"max_items must be a whole number of at least 2, got {max_items!r}.")
    columns = _columns(con, table)
    item_expr = _item_expression(con, table, item_col, columns)
    if progress:
        progress(0.1, "Collecting who interacted with which product")
    suffix = uuid.uuid4().hex[:12]
    t_rec, t_items, t_users = (f"recommend_{kind}_{suffix}" for kind in ("records", "items", "users"))
    try:
        events_with_items = _weighted_records(con, table, item_expr, weights, t_rec)
        counts = con.execute(f"SELECT COUNT(*), COUNT(DISTINCT i), COUNT(DISTINCT u), "
                             f"(SELECT COUNT(*) FROM (SELECT DISTINCT u, i FROM {t_rec})) FROM {t_rec}").fetchone()
        if counts[0] == 0:
            raise NoDataError(_no_records_message(con, table, item_expr, item_col, weights, events_with_items))
        if counts[1] >= MIN_ITEMS_FOR_ID_CHECK:
            shared = con.execute(f"""
                WITH per AS (SELECT i, COUNT(*) AS n FROM (SELECT DISTINCT u, i FROM {t_rec}) GROUP BY i)
                SELECT COALESCE(SUM(n) FILTER (WHERE n >= 2), 0) / SUM(n) FROM per""").fetchone()[0]
            if float(shared) < MIN_SHARED_PAIRS:
                raise MappingError(
                    f"The column '{item_col}' has {counts[1]:,} different values, and values that more than one "
                    f"user had make only {float(shared):.1%} of the {counts[3]:,} user-product pairs: almost every "
                    "interaction is with a product nobody else had, so there is nothing to learn from. It looks like "
                    "an order, event or session id rather than a product id. Choose the column that names the "
                    "product (SKU, product id).")
        if counts[1] < 2:
            only = con.execute(f"SELECT any_value(i) FROM {t_rec}").fetchone()[0]
            raise NoDataError(f"Only one product ({only!r} in column '{item_col}') appears in the weighted events; "
                              "recommendations need at least two products to choose from. Check that the item column "
                              "is the product id, or use a log with more products.")
        notes = []
        if counts[1] > max_items:
            kept_share = con.execute(
                f"WITH f AS (SELECT i, COUNT(DISTINCT u) n FROM {t_rec} GROUP BY i ORDER BY n DESC, i LIMIT ?) "
                f"SELECT SUM(f.n) / (SELECT COUNT(*) FROM (SELECT DISTINCT u, i FROM {t_rec})) FROM f",
                [int(max_items)]).fetchone()[0]
            notes.append(f"The catalogue has {counts[1]:,} products; the {max_items:,} most frequent are used "
                         f"({float(kept_share):.0%} of user-product pairs). Rarer products are never recommended.")
        if progress:
            progress(0.5, f"Indexing {counts[2]:,} users and {min(counts[1], max_items):,} products")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {t_items} AS
            SELECT i, (ROW_NUMBER() OVER (ORDER BY COUNT(DISTINCT u) DESC, i) - 1)::INTEGER AS ix
            FROM {t_rec} GROUP BY i ORDER BY ix LIMIT ?""", [int(max_items)])
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {t_users} AS
            SELECT u, (ROW_NUMBER() OVER (ORDER BY u) - 1)::INTEGER AS ux
            FROM (SELECT DISTINCT r.u FROM {t_rec} r SEMI JOIN {t_items} USING (i)) ORDER BY ux""")
        rec = con.execute(f"""
            SELECT us.ux, it.ix, r.w::FLOAT AS w, r.d, r.t
            FROM {t_rec} r JOIN {t_users} us USING (u) JOIN {t_items} it USING (i)
            ORDER BY us.ux, r.d, it.ix""").fetchnumpy()
        user_ids = con.execute(f"SELECT u FROM {t_users} ORDER BY ux").fetchnumpy()["u"]
        item_ids = con.execute(f"SELECT i FROM {t_items} ORDER BY ix").fetchnumpy()["i"]
    finally:
        for t in (t_rec, t_items, t_users):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    single = _users_with_one_item(rec["ux"], rec["ix"], len(user_ids))
    if single:
        notes.append(f"{single:,} of {len(user_ids):,} users have a single product: the evaluation cannot test "
                     "them, and their recommendations rest on that one product (products bought with it, for the "
                     "models that learn from co-purchases; the most popular ones for Popularity).")
    if progress:
        progress(1.0, "Interactions ready")
    return Interactions(
        user_ids=np.asarray(user_ids, dtype=object), item_ids=np.asarray(item_ids, dtype=object),
        user=np.asarray(rec["ux"], dtype=np.int32), item=np.asarray(rec["ix"], dtype=np.int32),
        weight=np.asarray(rec["w"], dtype=np.float32), day=np.asarray(rec["d"]).astype("datetime64[D]"),
        ts=np.asarray(rec["t"]).astype("datetime64[s]"), weights=dict(weights), item_col=str(item_col),
        notes=tuple(notes))


def from_frame(df: pd.DataFrame, item_col: str = "item_id", **kwargs) -> Interactions:
    """:func:`build_interactions` on an events DataFrame (``user_id, ts, event, <item_col>``): notebooks, tests."""
    con = duckdb.connect()
    try:
        con.register("recommend_frame", df)
        con.execute("CREATE TEMP TABLE recommend_events AS SELECT * FROM recommend_frame")
        return build_interactions(con, "recommend_events", item_col, **kwargs)
    finally:
        con.close()


def _check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(weights, Mapping) or not weights:
        raise InvalidParameterError("weights must map event names to numbers, e.g. {'view_item': 1, 'purchase': 5}.")
    out = {}
    for name, w in weights.items():
        try:
            value = float(w)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"The weight of event '{name}' must be a number, got {w!r}.") from None
        if not np.isfinite(value) or value < 0 or value > 1000:
            raise InvalidParameterError(f"The weight of event '{name}' must be between 0 and 1000, got {w!r}.")
        if value > 0:
            out[str(name)] = value
    if not out:
        raise InvalidParameterError("Every event weight is 0: give at least one event a positive weight.")
    return out


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()
    cols = {name: str(typ) for name, typ, *_ in rows}
    missing = [c for c in ("user_id", "ts", "event") if c not in cols]
    if missing:
        raise MappingError(f"The events table '{table}' lacks {', '.join(missing)}: import the log first.")
    return cols


def _item_expression(con: duckdb.DuckDBPyConnection, table: str, item_col: str | None, columns: dict[str, str]) -> str:
    """SQL text of the product id as text, after checking the column can be one."""
    data_cols = [c for c in columns if not c.startswith("_") and c != item_col
                 and c not in ("user_id", "ts", "event", "amount", "session_id")]
    data_cols.sort(key=lambda c: c != "item_id")  # the canonical name first
    hint = (f" Columns that could hold it: {', '.join(repr(c) for c in data_cols[:10])}." if data_cols
            else " This log has no other columns: it needs a column naming the product of each event.")
    if item_col is None or str(item_col).strip() == "":
        raise MappingError("Recommendations need an item column: the product (SKU, product or content id) each "
                           "event is about." + hint)
    if item_col not in columns or str(item_col).startswith("_"):
        raise MappingError(f"There is no column '{item_col}' in this log to use as the product id." + hint)
    if item_col in ("user_id", "ts", "event", "session_id"):
        raise MappingError(f"'{item_col}' is the {item_col.replace('_', ' ')} column; the item column must name the "
                           "product of each event." + hint)
    q = quote_ident(item_col)
    typ = columns[item_col].upper()
    numeric = any(t in typ for t in ("DOUBLE", "FLOAT", "DECIMAL", "REAL"))
    if any(t in typ for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "VARCHAR")):
        value = q if numeric else f"TRY_CAST({q} AS DOUBLE)"
        share, n_num, n_all, examples = con.execute(f"""
            WITH v AS (SELECT DISTINCT {q} AS raw, {value} AS x FROM {quote_ident(table)} WHERE {q} IS NOT NULL
                       LIMIT 20000)
            SELECT AVG(CASE WHEN x IS NOT NULL AND x <> round(x) THEN 1.0 ELSE 0.0 END), COUNT(x), COUNT(*),
                   list(raw::VARCHAR ORDER BY raw) FILTER (WHERE x IS NOT NULL AND x <> round(x))[1:4]
            FROM v""").fetchone()
        if n_all and n_num >= 0.9 * n_all and (share or 0) >= PRICE_DECIMAL_SHARE:
            raise MappingError(
                f"The column '{item_col}' holds numbers with decimals ({', '.join(map(str, examples or []))}, ...): "
                "it looks like a price or an amount, not a product id. Recommendations need the column that names "
                "the product (SKU, product id)." + hint)
    if numeric:
        # Whole numbers stored as DOUBLE: 42.0 -> '42', the id as the shop wrote it.
        return f"CAST(CAST({q} AS BIGINT) AS VARCHAR)"
    return f"NULLIF(TRIM(CAST({q} AS VARCHAR)), '')"


def _weighted_records(con: duckdb.DuckDBPyConnection, table: str, item_expr: str, weights: dict[str, float],
                      out: str) -> int:
    """Create temp table ``out(u, i, d, t, w)``; return how many events have a product at all."""
    cases = " ".join(f"WHEN {sql_literal(name)} THEN {float(w)!r}" for name, w in weights.items())
    names = ", ".join(sql_literal(n) for n in weights)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT user_id AS u, i, CAST(ts AS DATE) AS d, MIN(ts) AS t, SUM(CASE event {cases} END) AS w
        FROM (SELECT user_id, ts, event, {item_expr} AS i FROM {quote_ident(table)}
              WHERE event IN ({names}) AND user_id IS NOT NULL AND ts IS NOT NULL)
        WHERE i IS NOT NULL
        GROUP BY u, i, d""")
    return int(con.execute(f"SELECT COUNT({item_expr}) FROM {quote_ident(table)}").fetchone()[0])


def _no_records_message(con: duckdb.DuckDBPyConnection, table: str, item_expr: str, item_col: str,
                        weights: dict[str, float], events_with_items: int) -> str:
    if events_with_items == 0:
        return (f"The column '{item_col}' is empty in every event: there are no products to recommend. Choose the "
                "column that names the product of each event.")
    rows = con.execute(f"""SELECT event, COUNT(*) n FROM {quote_ident(table)} WHERE {item_expr} IS NOT NULL
                           GROUP BY event ORDER BY n DESC LIMIT 8""").fetchall()
    found = ", ".join(f"'{e}' ({n:,})" for e, n in rows)
    return (f"None of the weighted events ({', '.join(weights)}) has a product in '{item_col}'. The events that do "
            f"are: {found}. Give those events weights (for example a purchase 5, a view 1).")


def _users_with_one_item(user: np.ndarray, item: np.ndarray, n_users: int) -> int:
    if not len(user):
        return 0
    pairs = np.unique(user.astype(np.int64) * (int(item.max()) + 1) + item)
    per_user = np.bincount(pairs // (int(item.max()) + 1), minlength=n_users)
    return int((per_user == 1).sum())


def as_date(value: str | date | datetime | np.datetime64 | pd.Timestamp) -> np.datetime64:
    """A split date given as text, date or timestamp, as ``datetime64[D]``."""
    try:
        return np.datetime64(pd.Timestamp(value).date(), "D")
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"'{value}' is not a date; write it like 2025-05-01.") from exc

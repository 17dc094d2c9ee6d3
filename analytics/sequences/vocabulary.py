"""The token vocabulary of a log: which event types and products get their own id, saved with a model.

The :data:`MAX_EVENT_TYPES` most frequent event types (before the cutoff) get ids from
:data:`FIRST_ID` on, every rarer type shares :data:`OTHER`; :data:`PAD` (0) is padding.
Products (``item_id`` or a column named like one) the same way, up to :data:`MAX_ITEMS`.
It is built from events before the cutoff only, without labels, so building it on all
users of a training set leaks nothing from any test fold; saved with a model, it maps
names to the same ids when the model scores (:mod:`analytics.sequences.tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np

from analytics.checks import check_int, to_naive_utc
from analytics.errors import InvalidParameterError, ModelCompatibilityError
from analytics.sql import quote_ident

PAD = 0
"""Token id of padding (and, for items, of an event without a product)."""
OTHER = 1
"""Token id shared by every event type (or product) outside the vocabulary."""
FIRST_ID = 2
"""The most frequent event type (or product) has this id, the next one ``FIRST_ID + 1``, ..."""

MAX_LEN = 200
MAX_EVENT_TYPES = 500
MAX_ITEMS = 5_000
MAX_LEN_LIMIT = 2_000  # a longer window would make one mini-batch take GBs


@dataclass(frozen=True)
class Vocabulary:
    """Token ids of event types and products, saved with a model.

    Attributes
    ----------
    events : tuple of str
        Event types that have a token, most frequent first: ``events[i]`` has id ``FIRST_ID + i``.
    items : tuple of str
        Products that have a token, the same way (empty when the log has no product column).
    item_column : str or None
        The events-table column the products came from.
    max_len : int
        Most recent events kept per user.
    """

    events: tuple[str, ...]
    items: tuple[str, ...] = ()
    item_column: str | None = None
    max_len: int = MAX_LEN

    @property
    def n_event_tokens(self) -> int:
        """Size of an event embedding table (padding and "other" included)."""
        return FIRST_ID + len(self.events)

    @property
    def n_item_tokens(self) -> int:
        """Size of an item embedding table (0 when the log has no products)."""
        return FIRST_ID + len(self.items) if self.item_column else 0

    def event_ids(self, names) -> np.ndarray:
        """Token ids of event names (unknown names: :data:`OTHER`)."""
        index = {name: FIRST_ID + i for i, name in enumerate(self.events)}
        return np.array([index.get(str(n), OTHER) for n in names], dtype=np.int32)

    def to_dict(self) -> dict:
        return {"events": list(self.events), "items": list(self.items), "item_column": self.item_column,
                "max_len": int(self.max_len)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocabulary:
        """The inverse of :meth:`to_dict`, checked (a saved model's metadata is untrusted input).

        Raises
        ------
        ModelCompatibilityError
            Not a vocabulary written by :meth:`to_dict`.
        """
        try:
            events, items = d["events"], d.get("items") or []
            if not all(isinstance(v, str) for v in [*events, *items]):
                raise TypeError("names must be text")
            item_column = d.get("item_column")
            if item_column is not None and not isinstance(item_column, str):
                raise TypeError("item_column must be text")
            max_len = int(d.get("max_len", MAX_LEN))
            if not 1 <= max_len <= MAX_LEN_LIMIT:
                raise ValueError(f"max_len {max_len}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelCompatibilityError(f"The model's token vocabulary is not readable ({exc}); it was not saved "
                                          "by MarketLens or has been altered. Train the model again.") from exc
        return cls(events=tuple(events), items=tuple(items), item_column=item_column, max_len=max_len)


def build_vocabulary(con: duckdb.DuckDBPyConnection, table: str, cutoff: datetime | None = None, *,
                     max_event_types: int = MAX_EVENT_TYPES, max_items: int = MAX_ITEMS,
                     item_column: str | None = "auto", max_len: int = MAX_LEN) -> Vocabulary:
    """The token vocabulary of an events table: the most frequent event types (and products) up to ``cutoff``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        A canonical events table (``user_id, ts, event`` ...).
    cutoff : datetime, optional
        Count only events at or before it (default: all).
    max_event_types, max_items : int
        Caps of the vocabulary; rarer names share :data:`OTHER`.
    item_column : str or None
        Column naming the product; ``"auto"`` guesses it (None when the log has none);
        None: no item tokens.
    max_len : int
        Most recent events per user that sequences will keep.

    Returns
    -------
    Vocabulary

    Raises
    ------
    InvalidParameterError
        A cap or ``max_len`` out of range, or an ``item_column`` the table lacks.
    """
    check_int("max_event_types", max_event_types, 1, 100_000)
    check_int("max_items", max_items, 1, 30_000)
    check_int("max_len", max_len, 1, MAX_LEN_LIMIT)
    columns = event_columns(con, table)
    if item_column == "auto":
        from analytics.recommend.catalogue import guess_item_column

        item_column = guess_item_column(con, table)
    if item_column is not None and item_column not in columns:
        raise InvalidParameterError(f"The log has no column '{item_column}' to use as the product; it has "
                                    f"{', '.join(sorted(columns))}.")
    where, params = _up_to(cutoff)
    t = quote_ident(table)
    events = con.execute(f"SELECT event FROM {t} {where} GROUP BY event ORDER BY COUNT(*) DESC, event LIMIT ?",
                         [*params, int(max_event_types)]).fetchnumpy()["event"]
    items: list[str] = []
    if item_column is not None:
        item = f"NULLIF(TRIM(CAST({quote_ident(item_column)} AS VARCHAR)), '')"
        cond = f"{where} {'AND' if where else 'WHERE'} {item} IS NOT NULL"
        items = list(con.execute(f"SELECT {item} AS i FROM {t} {cond} GROUP BY i ORDER BY COUNT(*) DESC, i LIMIT ?",
                                 [*params, int(max_items)]).fetchnumpy()["i"])
    return Vocabulary(events=tuple(str(e) for e in events), items=tuple(str(i) for i in items),
                      item_column=item_column, max_len=int(max_len))


def _up_to(cutoff: datetime | None) -> tuple[str, list]:
    if cutoff is None:
        return "", []
    return "WHERE ts <= ?", [to_naive_utc(cutoff)]


def event_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The data columns of an events table (not the ones starting with an underscore)."""
    return [r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall() if not r[0].startswith("_")]

"""Each user's most recent events up to a cutoff, as token ids and continuous inputs: :class:`Sequences`.

What one event becomes
----------------------
- an **event token**: the id of its event type in the :class:`Vocabulary`. The
  :data:`MAX_EVENT_TYPES` most frequent types (before the cutoff) get ids from
  :data:`FIRST_ID` on, every rarer type shares :data:`OTHER`; :data:`PAD` (0)
  is padding. A log with 100k event types still gives 500 tokens.
- an **item token** when the log names a product (``item_id`` or a column
  named like one, see :func:`analytics.recommend.catalogue.guess_item_column`):
  the :data:`MAX_ITEMS` most frequent products get ids, rarer ones share
  :data:`OTHER`, events without a product get :data:`PAD`.
- **continuous inputs** (:data:`NUMERIC_INPUTS`, :meth:`Sequences.batch`):
  ``log1p`` of the seconds since the user's previous event (and a flag for the
  first event ever), the signed log amount (and a flag for "has an amount"),
  hour of day and weekday as sine/cosine (UTC), and ``log1p`` of the seconds
  from the event to the cutoff (recency: where the sequence sits in time).

Windowing is done in DuckDB (``row_number() OVER (PARTITION BY user_id ORDER BY
ts DESC ...)``), so a 10M-event log never passes through Python row by row, and
only the :data:`MAX_LEN` most recent events per user leave the database. Events
in the same second are ordered by event name, then by row order in the table,
so a log without order within a second always gives the same sequences.

Storage is ragged: one flat array per input over all kept events, in user order
then time order, with ``offsets``; :meth:`Sequences.batch` pads one mini-batch
to its own longest sequence. A user without events before the cutoff has length
0 (the encoder gives such users a learned "empty" embedding).

The vocabulary is built from events before the cutoff only, without labels, so
building it on all users of a training set leaks nothing from any test fold;
it is saved with a model so that scoring maps names to the same ids.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from analytics.checks import to_naive_utc
from analytics.errors import InvalidParameterError, ModelCompatibilityError, NoDataError
from analytics.sequences.vocabulary import (
    FIRST_ID,
    MAX_LEN,
    OTHER,
    PAD,
    Vocabulary,
    build_vocabulary,
    event_columns,
)
from analytics.sql import quote_ident

NUMERIC_INPUTS: tuple[str, ...] = ("log_gap", "first_event", "log_amount", "has_amount", "hour_sin", "hour_cos",
                                   "weekday_sin", "weekday_cos", "log_age")
"""The continuous inputs of each event, in the order of the last axis of :meth:`Sequences.batch`'s ``numeric``."""

# log1p(seconds) is 0..~20 (a year is 17.3); amounts log1p'ed are 0..~15: divided so they sit near [-2, 2].
_LOG_SECONDS_SCALE = 10.0
_LOG_AMOUNT_SCALE = 5.0


@dataclass
class Batch:
    """One padded mini-batch as numpy arrays (``b`` users, ``t`` = the longest sequence among them, at least 1).

    Attributes
    ----------
    events : ndarray of int64, shape (b, t)
    items : ndarray of int64, shape (b, t), or None when the vocabulary has no items
    numeric : ndarray of float32, shape (b, t, len(NUMERIC_INPUTS))
    lengths : ndarray of int64, shape (b,)
        Valid positions of each row: ``0..length-1``, oldest event first; 0 for a user without events.
    """

    events: np.ndarray
    items: np.ndarray | None
    numeric: np.ndarray
    lengths: np.ndarray


@dataclass
class Sequences:
    """The most recent events of each user up to a cutoff, ragged (see the module docstring).

    Attributes
    ----------
    user_ids : ndarray of str
        One per sequence, in the order asked for.
    lengths : ndarray of int64
        Events kept per user (``<= vocab.max_len``; 0 without events before the cutoff).
    offsets : ndarray of int64
        Where each user's events start in the flat arrays (``len(user_ids) + 1`` values).
    event_tokens, item_tokens : ndarray of int32
        Flat over all kept events, oldest first within a user (``item_tokens`` None without items).
    gap_s : ndarray of float32
        Seconds since the user's previous event (NaN for their first event ever).
    amount : ndarray of float32
        NaN when the event has no amount.
    hour : ndarray of float32
        Hour of day with minutes as a fraction (UTC).
    weekday : ndarray of int8
        0 = Monday.
    age_s : ndarray of float32
        Seconds from the event to the cutoff.
    vocab : Vocabulary
    cutoff : datetime
        Events up to and including this instant were used (naive UTC).
    truncated : ndarray of bool
        Users who had more than ``vocab.max_len`` events before the cutoff (their oldest ones were left out).
    """

    user_ids: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray
    event_tokens: np.ndarray
    item_tokens: np.ndarray | None
    gap_s: np.ndarray
    amount: np.ndarray
    hour: np.ndarray
    weekday: np.ndarray
    age_s: np.ndarray
    vocab: Vocabulary
    cutoff: datetime
    truncated: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def truncated_users(self) -> int:
        return 0 if self.truncated is None else int(self.truncated.sum())

    @property
    def n_events(self) -> int:
        return int(self.offsets[-1])

    def subset(self, rows: np.ndarray) -> Sequences:
        """The sequences of some users (positions), as a new compact :class:`Sequences`."""
        rows = np.asarray(rows, dtype=np.int64)
        flat = _flat_positions(self.offsets, self.lengths, rows)
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        pick = lambda a: None if a is None else a[flat]  # noqa: E731
        return Sequences(user_ids=self.user_ids[rows], lengths=lengths, offsets=offsets,
                         event_tokens=pick(self.event_tokens), item_tokens=pick(self.item_tokens),
                         gap_s=pick(self.gap_s), amount=pick(self.amount), hour=pick(self.hour),
                         weekday=pick(self.weekday), age_s=pick(self.age_s), vocab=self.vocab, cutoff=self.cutoff,
                         truncated=None if self.truncated is None else self.truncated[rows],
                         notes=list(self.notes))

    def batch(self, rows: np.ndarray) -> Batch:
        """Some users' sequences, padded to the longest of them: the input of the encoder.

        Parameters
        ----------
        rows : ndarray of int
            Positions of the users (any order; the batch keeps it).

        Returns
        -------
        Batch
        """
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        t = max(1, int(lengths.max())) if len(rows) else 1
        b = len(rows)
        # Position (r, j) of the batch holds flat event offsets[row] + j for j < length.
        mask = np.arange(t)[None, :] < lengths[:, None]
        flat = (self.offsets[rows][:, None] + np.arange(t)[None, :])[mask]
        events = np.zeros((b, t), dtype=np.int64)
        events[mask] = self.event_tokens[flat]
        items = None
        if self.item_tokens is not None:
            items = np.zeros((b, t), dtype=np.int64)
            items[mask] = self.item_tokens[flat]
        numeric = np.zeros((b, t, len(NUMERIC_INPUTS)), dtype=np.float32)
        numeric[mask] = _numeric_inputs(self.gap_s[flat], self.amount[flat], self.hour[flat], self.weekday[flat],
                                        self.age_s[flat])
        return Batch(events=events, items=items, numeric=numeric, lengths=lengths)

    def summary(self) -> dict:
        """Counts for a note or ``--json``."""
        return {"users": len(self), "events": self.n_events, "users_without_events": int((self.lengths == 0).sum()),
                "truncated_users": self.truncated_users, "max_len": self.vocab.max_len,
                "event_tokens": len(self.vocab.events), "item_tokens": len(self.vocab.items),
                "item_column": self.vocab.item_column}


def _numeric_inputs(gap_s, amount, hour, weekday, age_s) -> np.ndarray:
    first = np.isnan(gap_s)
    has_amount = np.isfinite(amount)
    amt = np.where(has_amount, amount, 0.0)
    hour_angle = 2 * np.pi * hour.astype(np.float64) / 24.0
    day_angle = 2 * np.pi * weekday.astype(np.float64) / 7.0
    cols = [np.log1p(np.clip(np.where(first, 0.0, gap_s), 0, None)) / _LOG_SECONDS_SCALE, first,
            np.sign(amt) * np.log1p(np.abs(amt)) / _LOG_AMOUNT_SCALE, has_amount,
            np.sin(hour_angle), np.cos(hour_angle), np.sin(day_angle), np.cos(day_angle),
            np.log1p(np.clip(age_s, 0, None)) / _LOG_SECONDS_SCALE]
    return np.stack(cols, axis=-1).astype(np.float32)


def _flat_positions(offsets: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> np.ndarray:
    lens = lengths[rows]
    if lens.sum() == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(offsets[rows] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return starts + np.arange(int(lens.sum()))


# --- building ------------------------------------------------------------------------------------------------


def build_sequences(con: duckdb.DuckDBPyConnection, table: str, user_ids, cutoff: datetime | None = None, *,
                    vocab: Vocabulary | None = None, max_len: int = MAX_LEN) -> Sequences:
    """The most recent events (up to ``vocab.max_len``) of each user at or before ``cutoff``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        A canonical events table.
    user_ids : array-like of str
        Whose sequences, in this order (users without events get length 0).
    cutoff : datetime, optional
        Default: the table's last event.
    vocab : Vocabulary, optional
        The ids to use (a saved model's); default :func:`build_vocabulary` of the
        table up to ``cutoff`` with ``max_len``.
    max_len : int
        Used only when ``vocab`` is None.

    Returns
    -------
    Sequences

    Raises
    ------
    ModelCompatibilityError
        ``vocab`` uses a product column that the table lacks.
    NoDataError
        The table has no events at all.
    """
    users = pd.Series(np.asarray(user_ids, dtype=object)).astype(str)
    if users.duplicated().any():
        raise InvalidParameterError(f"A user appears twice in the list to build sequences for "
                                    f"('{users[users.duplicated()].iloc[0]}').")
    t = quote_ident(table)
    if cutoff is None:
        cutoff = con.execute(f"SELECT MAX(ts) FROM {t}").fetchone()[0]
        if cutoff is None:
            raise NoDataError("The log has no events to build sequences from.")
    cutoff = to_naive_utc(cutoff)
    if vocab is None:
        vocab = build_vocabulary(con, table, cutoff, max_len=max_len)
    columns = event_columns(con, table)
    if vocab.item_column is not None and vocab.item_column not in columns:
        raise ModelCompatibilityError(f"The model reads products from the column '{vocab.item_column}', which this "
                                      "log lacks. Score a log with the same columns, or train a model on this one.")
    suffix = uuid.uuid4().hex[:12]
    names = {k: f"seq_{k}_{suffix}" for k in ("users", "ev", "it")}
    con.register(names["users"], pd.DataFrame({"user_id": users.to_numpy(dtype=object),
                                               "pos": np.arange(len(users), dtype=np.int64)}))
    con.register(names["ev"], pd.DataFrame({"name": np.asarray(vocab.events, dtype=object),
                                            "id": np.arange(FIRST_ID, FIRST_ID + len(vocab.events), dtype=np.int32)}))
    has_items = vocab.item_column is not None
    if has_items:
        con.register(names["it"], pd.DataFrame({"name": np.asarray(vocab.items, dtype=object),
                                                "id": np.arange(FIRST_ID, FIRST_ID + len(vocab.items),
                                                                dtype=np.int32)}))
    item_expr = (f"NULLIF(TRIM(CAST(e.{quote_ident(vocab.item_column)} AS VARCHAR)), '')" if has_items
                 else "CAST(NULL AS VARCHAR)")
    item_tok = (f"CASE WHEN x.item IS NULL THEN {PAD} ELSE COALESCE(vi.id, {OTHER}) END" if has_items
                else str(PAD))
    item_join = f"LEFT JOIN {names['it']} vi ON vi.name = x.item" if has_items else ""
    try:
        # rowid breaks ties within a second (after the event name): the order rows had in the table.
        data = con.execute(f"""
            WITH ev AS (
                SELECT e.user_id, e.ts, e.event, e.amount, {item_expr} AS item, e.rowid AS r
                FROM {t} e SEMI JOIN {names['users']} u ON u.user_id = e.user_id
                WHERE e.ts <= ?),
            ranked AS (
                SELECT *, row_number() OVER newest_first AS rn, lead(ts) OVER newest_first AS prev_ts
                FROM ev
                -- one sort: newest first, so the next row is the previous event in time
                WINDOW newest_first AS (PARTITION BY user_id ORDER BY ts DESC, event DESC, r DESC))
            SELECT u.pos, COALESCE(ve.id, {OTHER})::INTEGER AS ev_tok, ({item_tok})::INTEGER AS it_tok,
                   ((epoch_us(x.ts) - epoch_us(x.prev_ts)) / 1e6)::FLOAT AS gap_s,
                   CASE WHEN isfinite(x.amount) THEN greatest(least(x.amount, 3e38), -3e38) END::FLOAT AS amount,
                   (hour(x.ts) + minute(x.ts) / 60.0)::FLOAT AS hour, (isodow(x.ts) - 1)::TINYINT AS weekday,
                   ((epoch_us(?::TIMESTAMP) - epoch_us(x.ts)) / 1e6)::FLOAT AS age_s, x.rn
            FROM ranked x JOIN {names['users']} u ON u.user_id = x.user_id
            LEFT JOIN {names['ev']} ve ON ve.name = x.event
            {item_join}
            WHERE x.rn <= ?
            ORDER BY u.pos, x.rn DESC""", [cutoff, cutoff, int(vocab.max_len) + 1]).fetchnumpy()
    finally:
        for name in names.values():
            try:
                con.unregister(name)
            except duckdb.Error:
                pass
    # One extra event per user was fetched to tell "exactly max_len" from "more than max_len": drop it.
    rn = np.asarray(data["rn"], dtype=np.int64)
    keep = rn <= vocab.max_len
    pos = np.asarray(data["pos"], dtype=np.int64)
    truncated = np.zeros(len(users), dtype=bool)
    truncated[pos[~keep]] = True
    pos = pos[keep]
    lengths = np.bincount(pos, minlength=len(users)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def col(name: str, dtype) -> np.ndarray:
        values = data[name]
        if isinstance(values, np.ma.MaskedArray):
            values = values.filled(np.nan)
        return np.asarray(values, dtype=dtype)[keep]

    seqs = Sequences(user_ids=users.to_numpy(dtype=object), lengths=lengths, offsets=offsets,
                     event_tokens=col("ev_tok", np.int32), item_tokens=col("it_tok", np.int32) if has_items else None,
                     gap_s=col("gap_s", np.float32), amount=col("amount", np.float32), hour=col("hour", np.float32),
                     weekday=col("weekday", np.int8), age_s=col("age_s", np.float32), vocab=vocab, cutoff=cutoff,
                     truncated=truncated)
    if seqs.truncated_users:
        seqs.notes.append(f"{seqs.truncated_users:,} users had more than {vocab.max_len} events before the cutoff; "
                          f"their {vocab.max_len} most recent ones were used.")
    return seqs


def dataset_sequences(ws, dataset_id: str, user_ids, cutoff: datetime | None = None, *,
                      vocab: Vocabulary | None = None, max_len: int = MAX_LEN) -> Sequences:
    """:func:`build_sequences` on a workspace dataset's events table.

    Raises
    ------
    InvalidParameterError
        The dataset's events live in a data lake (Spark), not in the workspace.
    """
    ds = ws.get(dataset_id)
    if not ds.has_events:
        raise InvalidParameterError(f"The events of '{ds.name}' stay in the data lake (Spark); sequence models need "
                                    "the events in the workspace. Import the log instead of connecting it.")
    return build_sequences(ws.cursor(), ds.events_table, user_ids, cutoff, vocab=vocab, max_len=max_len)


def sequences_from_frame(events: pd.DataFrame, user_ids=None, cutoff: datetime | None = None, *,
                         vocab: Vocabulary | None = None, max_len: int = MAX_LEN,
                         item_column: str | None = "auto") -> Sequences:
    """:func:`build_sequences` on an events DataFrame (``user_id, ts, event`` [, ``amount``, item]): notebooks, tests.

    ``user_ids`` defaults to every user of the frame, sorted; row order is the tie-break within a second.
    """
    missing = [c for c in ("user_id", "ts", "event") if c not in events.columns]
    if missing:
        raise InvalidParameterError(f"The events need the columns {', '.join(missing)}.")
    frame = events.copy()
    if "amount" not in frame.columns:
        frame["amount"] = np.nan
    frame["user_id"] = frame["user_id"].astype(str)
    frame["event"] = frame["event"].astype(str)
    ts = frame["ts"]
    frame["ts"] = pd.to_datetime(ts, utc=True, format=None if pd.api.types.is_datetime64_any_dtype(ts) else "ISO8601")
    frame["ts"] = frame["ts"].dt.tz_localize(None)
    frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce").astype(float)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        con.register("frame_in", frame)
        con.execute("CREATE TABLE events AS SELECT * FROM frame_in")
        con.unregister("frame_in")
        if user_ids is None:
            user_ids = np.sort(frame["user_id"].unique())
        if vocab is None:
            when = to_naive_utc(cutoff) if cutoff is not None else None
            vocab = build_vocabulary(con, "events", when, item_column=item_column, max_len=max_len)
        return build_sequences(con, "events", user_ids, cutoff, vocab=vocab)
    finally:
        con.close()

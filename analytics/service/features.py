"""Per-user features of live events: the feature table's own query, restricted to the users asked for.

The SQL is :func:`analytics.features.table.feature_table` compiled once (compiling takes
most of a second) over a stand-in table name, and run with that name bound to the
store's events of the wanted users only (a CTE), so the features are the batch features
by construction, not a second implementation.

Compiled with a reference date far ahead (:data:`ANCHOR`), the query covers every
stored event of a user; the result is kept until the user's next event. Features are
then needed as of some time ``T`` (now, by default). Only three depend on ``T``, all of
the form ``(T - t) / 1 day`` (recency, tenure, days since the last purchase), so a kept
row is moved to ``T`` by subtracting ``(ANCHOR - T) / 1 day``: equal to the batch value
to about 1e-11 days. That is valid while every event of the user is at or before ``T``;
a reference date before a user's last event is computed exactly with a query compiled
for that date (slow: about a second).

Planning the query costs DuckDB ~0.1 s whatever the number of users, so users with new
events are recomputed together by one background thread, in batches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

import ibis
import numpy as np
import pandas as pd

from analytics.engines.duckdb import compile_sql
from analytics.features.spec import DAY_SECONDS, FeatureParams, resolve_spec
from analytics.features.table import feature_table
from analytics.service.store import TABLE, EventStore
from analytics.sql import quote_ident

log = logging.getLogger("marketlens.service")

ANCHOR = datetime(2100, 1, 1)

# Feature -> True when it is (reference date - something) / 1 day.
TIME_FEATURES = ("recency_days", "tenure_days", "days_since_last_purchase")

STAND_IN = "__marketlens_live_events__"

# Users recomputed in one query (its planning costs ~0.1 s whatever the number).
BATCH = 2000

# Users nobody waits for are recomputed at most this often.
IDLE_SECONDS = 0.5

# Users asked for who have no events are remembered (so asking again costs no query) up to this many;
# then forgotten all at once: a flood of random ids must not grow memory without limit.
MAX_ABSENT = 100_000

_IBIS = {"text": "string", "number": "float64", "time": "timestamp"}


class WouldWait(Exception):
    """An answer asked for without waiting needs features that are not kept yet (or an exact query)."""


class LiveFeatures:
    """Features of the store's users, kept per user until their next event.

    Parameters
    ----------
    store : EventStore
    params : FeatureParams
        The model's feature settings (``as_of`` is ignored).
    profile : DatasetProfile
        Of the dataset the model was trained on: top events and attributes come from it.
    """

    def __init__(self, store: EventStore, params: FeatureParams, profile):
        self.store = store
        self.params = replace(params, as_of=None)
        self.profile = profile
        self.events = ibis.table({c: _IBIS[k] for c, k in store.schema.columns.items()}, name=STAND_IN)
        self.sql = self._compile(ANCHOR)
        anchored = replace(self.params, as_of=ANCHOR)
        self._columns = list(feature_table(self.events, anchored, self._spec(anchored)).columns)
        self._anchor_s = ANCHOR.replace(tzinfo=UTC).timestamp()
        self._cache: dict[str, dict] = {}
        self._absent: set[str] = set()  # users asked for who have no stored event (see MAX_ABSENT)
        self._retry: list[dict[str, int]] = []  # halves of a batch whose query failed (see _refresh_loop)
        self._dirty: dict[str, int] = {}  # user -> generation of their latest event
        self._generation = 0
        self._wanted: set[str] = set()  # users a request waits for: refreshed first
        self._last_background = 0.0
        self._lock = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._refresh_loop, name="live-features", daemon=True)
        self.refreshes = 0
        # Users already stored (a restart, or --history) are loaded in the background from the start.
        stored = [r[0] for r in store.cursor().execute(f"SELECT DISTINCT user_id FROM {TABLE}").fetchall()]
        self._dirty = dict.fromkeys(stored, 0)
        self._thread.start()

    def _compile(self, as_of: datetime) -> str:
        params = replace(self.params, as_of=as_of)
        return compile_sql(feature_table(self.events, params, self._spec(params)))

    def _spec(self, params: FeatureParams):
        # Live events may carry attribute values the training log never had (a new channel): the
        # profile's value list would not count them, so each most frequent value gets its grouped
        # query, which finds any value, as the batch table does on its own log.
        return replace(resolve_spec(params, self.profile), attribute_values={})

    @property
    def columns(self) -> list[str]:
        return self._columns

    def changed(self, users: Iterable[str]) -> None:
        """Users with new stored events: their kept features are stale (recomputed in the background)."""
        with self._lock:
            self._generation += 1
            for u in users:
                self._dirty[u] = self._generation
            self._lock.notify_all()

    def kept(self, users: list[str], as_of: datetime, *, fresh: bool = True, wait: bool = True,
             timeout: float = 30.0) -> tuple[list[dict], list[str], set[str]]:
        """The kept (anchored) rows of ``users`` valid at ``as_of``, the users needing an exact query, and the stale.

        Parameters
        ----------
        fresh : bool
            Wait until the users' newest stored events are in their features (read-your-writes).
            False answers at once from the kept rows of users who have one (their newest events
            are applied by the background refresh, usually within a second); users never seen
            are always waited for.
        wait : bool
            False raises :class:`WouldWait` instead of waiting (nothing is changed then).

        Returns
        -------
        (rows, late, stale)
            Kept rows (move them with :meth:`frame`) of users whose events are all at or before
            ``as_of``; users with events after ``as_of`` (see :meth:`exact`); users whose row
            does not have their newest events yet (``fresh=False``).
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            # Without fresh, a kept row answers at once; a user without one (never seen, or known to have
            # had no events until new ones arrived) is always waited for: a 404 right after their events
            # were acknowledged would be wrong.
            wait_for = [u for u in users if (u not in self._cache and (u not in self._absent or u in self._dirty))
                        or (fresh and u in self._dirty)]
            if wait_for and not wait:
                raise WouldWait(f"{len(wait_for)} users' features are not ready")
            for u in wait_for:
                if u not in self._dirty:  # never seen since the start: load them like a refresh
                    self._generation += 1
                    self._dirty[u] = self._generation
            if wait_for:
                self._wanted.update(wait_for)
                self._lock.notify_all()
            try:
                while any(u in self._dirty for u in wait_for):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError("features are taking too long")
                    self._lock.wait(left)
            finally:
                self._wanted.difference_update(wait_for)
            stale = {u for u in users if u in self._dirty}
            kept = [self._cache[u] for u in users if u in self._cache]
        late = [r["user_id"] for r in kept if r["_last_ts"] > as_of]
        return [r for r in kept if r["_last_ts"] <= as_of], late, stale

    def moved(self, rows: list[dict], as_of: list[datetime]) -> list[dict]:
        """Kept rows, each moved to its own reference date (``as_of[i]`` for ``rows[i]``): new dicts."""
        times = [c for c in TIME_FEATURES if c in self.columns]
        out = []
        for row, when in zip(rows, as_of, strict=True):
            shift = (self._anchor_s - when.replace(tzinfo=UTC).timestamp()) / DAY_SECONDS
            moved = {c: row[c] for c in self.columns}
            for c in times:
                v = moved[c]
                moved[c] = np.nan if v is None else float(v) - shift
            out.append(moved)
        return out

    def frame(self, rows: list[dict], as_of: list[datetime]) -> pd.DataFrame:
        """Kept rows as a feature table, each moved to its own reference date (see :meth:`moved`)."""
        return pd.DataFrame(self.moved(rows, as_of), columns=self.columns)

    def exact(self, users: list[str], as_of: datetime) -> pd.DataFrame:
        """Features of ``users`` as of ``as_of`` from a query compiled for that date (slow: about a second)."""
        return self._query(users, self._compile(as_of))

    def rows(self, users: list[str], as_of: datetime, *, fresh: bool = True) -> tuple[pd.DataFrame, set[str]]:
        """Feature rows of ``users`` (those with events at or before ``as_of``) as of ``as_of``, and the stale."""
        kept, late, stale = self.kept(users, as_of, fresh=fresh)
        frame = self.frame(kept, [as_of] * len(kept))
        if late:  # a date before some of their events: computed exactly for that date
            exact = self.exact(late, as_of)
            frame = exact if frame.empty else pd.concat([frame, exact], ignore_index=True)
        return frame.sort_values("user_id", kind="stable").reset_index(drop=True), stale

    def _cache_columns(self) -> list[str]:
        return [*self.columns, "_last_ts"]

    def _query(self, users: list[str], sql: str) -> pd.DataFrame:
        cur = self.store.cursor()
        try:
            return cur.execute(
                f"WITH {quote_ident(STAND_IN)} AS (SELECT * FROM {TABLE} WHERE user_id IN (SELECT unnest(?))) "
                f"SELECT * FROM ({sql})", [users]).df()
        finally:
            cur.close()

    @property
    def pending(self) -> int:
        """Users whose newest events are not in their kept features yet."""
        with self._lock:
            return len(self._dirty)

    def _next_batch(self) -> dict[str, int] | None:
        """Users waited for first; without any, a background batch at most every :data:`IDLE_SECONDS`
        (so that heavy ingestion is not slowed down by recomputing features nobody asked for yet)."""
        with self._lock:
            while not self._stop:
                wanted = [u for u in self._wanted if u in self._dirty][:BATCH]
                if wanted:
                    rest = BATCH - len(wanted)
                    others = [u for u in self._dirty if u not in self._wanted][:rest // 4]
                    return {u: self._dirty[u] for u in [*wanted, *others]}
                if self._dirty and time.monotonic() - self._last_background >= IDLE_SECONDS:
                    self._last_background = time.monotonic()
                    return dict(list(self._dirty.items())[:BATCH])
                self._lock.wait(IDLE_SECONDS if self._dirty else None)
            return None

    def _refresh_loop(self) -> None:
        while (batch := self._retry.pop() if self._retry else self._next_batch()) is not None:
            rows, failure = {}, None
            try:
                rows = self._computed(list(batch))
            except Exception:  # noqa: BLE001 - a passing problem (the machine busy, memory short): once more
                time.sleep(0.5)
                try:
                    rows = self._computed(list(batch))
                except Exception as exc:  # noqa: BLE001 - keep serving: find the user who breaks the query
                    failure = exc
            if failure is not None:
                if len(batch) > 1:  # retried in halves, so one bad user cannot stall every other for good
                    items = list(batch.items())
                    self._retry += [dict(items[len(items) // 2:]), dict(items[:len(items) // 2])]
                    continue
                # That user alone: answered as without events instead of retried forever.
                log.warning("features of user %r could not be computed: %s", next(iter(batch))[:100], failure)
            with self._lock:
                for u, gen in batch.items():
                    if self._dirty.get(u) == gen:
                        del self._dirty[u]
                        if u in rows:
                            self._cache[u] = rows[u]
                            self._absent.discard(u)
                        else:
                            self._cache.pop(u, None)
                            if len(self._absent) >= MAX_ABSENT:
                                self._absent.clear()
                            self._absent.add(u)
                self.refreshes += 1
                self._lock.notify_all()

    def _computed(self, users: list[str]) -> dict[str, dict]:
        """Kept rows of ``users`` (those with events): the anchored features and the time of the last event."""
        frame = self._query(users, self.sql)
        last = self.store.last_event_times(users)
        rows = {r["user_id"]: r for r in frame.to_dict("records")}
        for u, r in rows.items():
            r["_last_ts"] = pd.Timestamp(last[u]).to_pydatetime() if u in last else ANCHOR
        return rows

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        self._thread.join(timeout=5)

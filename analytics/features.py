"""Per-user features, written once as Ibis expressions and compiled for each engine.

:func:`feature_table` takes an (unbound) Ibis table of canonical events and
returns an Ibis expression with one row per user. Nothing here executes
anything: :mod:`analytics.engine` compiles the expression to the SQL dialect of
DuckDB (the default) or Spark and runs it there, so the feature logic exists
exactly once.

Sessions are taken from ``session_id`` when the log has one; otherwise a new
session starts after ``session_gap_minutes`` without events. Deriving them needs
one ordered pass over the events (``lag`` over user and time); everything after
it works on the much smaller set of session starts, day starts and purchases.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

from analytics.errors import InvalidParameterError

DAY_SECONDS = 86_400.0

# Column -> what it means, for the UI's column help and the README.
FEATURE_DOCS: dict[str, str] = {
    "recency_days": "Days from the user's last event to the reference date",
    "frequency": "Number of purchase events",
    "monetary": "Sum of amount over purchase events",
    "n_events": "Number of events of any type",
    "n_sessions": "Number of sessions (given, or a new one after 30 min without events)",
    "active_days": "Number of distinct calendar days (UTC) with at least one event",
    "tenure_days": "Days from the user's first event to the reference date",
    "avg_order_value": "Monetary / frequency (empty without purchases)",
    "session_conversion_rate": "Share of the user's sessions that contain a purchase",
    "mean_days_between_purchases": "Average days between consecutive purchases (empty below 2)",
    "days_since_last_purchase": "Days from the last purchase to the reference date (empty without purchases)",
    "n_other_events": "Events of types outside the top N",
}


@dataclass(frozen=True)
class FeatureParams:
    """What the feature table depends on (besides the data).

    Attributes
    ----------
    purchase_event : str or None
        The event that counts as a purchase (None: nobody ever purchases).
    as_of : datetime or None
        Reference date: only events at or before it are used, and recency and
        tenure are measured to it. None means the dataset's last event.
    top_events : int
        One count column for each of this many most frequent event types; the
        rest are summed in ``n_other_events``.
    session_gap_minutes : int
        Inactivity that starts a new session when the log has no session id.
    """

    purchase_event: str | None
    as_of: datetime | None = None
    top_events: int = 10
    session_gap_minutes: int = 30

    def validate(self) -> None:
        if not 0 <= self.top_events <= 50:
            raise InvalidParameterError(f"top_events must be between 0 and 50, got {self.top_events}.")
        if not 1 <= self.session_gap_minutes <= 24 * 60:
            raise InvalidParameterError(
                f"session_gap_minutes must be between 1 and 1440, got {self.session_gap_minutes}.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat() if self.as_of else None
        return d


@dataclass
class FeatureSpec:
    """What the data contributes to the expression: resolved before building it.

    Attributes
    ----------
    as_of : datetime
        The concrete reference date.
    event_columns : dict
        Count column name -> event name (top events, most frequent first).
    text_attributes, number_attributes : list of str
        Attribute columns summarised as most frequent value / mean.
    skipped_attributes : list of str
        Attribute columns not summarised (identifiers, or beyond the caps for very wide files).
    has_sessions : bool
        The log carries session ids.
    """

    as_of: datetime
    event_columns: dict[str, str] = field(default_factory=dict)
    text_attributes: list[str] = field(default_factory=list)
    number_attributes: list[str] = field(default_factory=list)
    has_sessions: bool = False
    skipped_attributes: list[str] = field(default_factory=list)


def event_column_names(events: list[str]) -> dict[str, str]:
    """Readable, unique column names ``n_<event>`` for event names (any text)."""
    out: dict[str, str] = {}
    for name in events:
        slug = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()[:40] or "event"
        col, k = f"n_{slug}", 2
        while col in out or col in FEATURE_DOCS:
            col, k = f"n_{slug}_{k}", k + 1
        out[col] = name
    return out


def attribute_column(prefix: str, name: str, taken: set[str]) -> str:
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()[:40] or "attr"
    col, k = f"{prefix}_{slug}", 2
    while col in taken:
        col, k = f"{prefix}_{slug}_{k}", k + 1
    taken.add(col)
    return col


def feature_table(events: ir.Table, params: FeatureParams, spec: FeatureSpec) -> ir.Table:
    """One row per user with recency, frequency, monetary, sessions and more.

    Parameters
    ----------
    events : ibis Table
        Canonical events (``user_id, ts, event, amount, session_id`` + attributes).
    params : FeatureParams
    spec : FeatureSpec
        Data-dependent choices, see :func:`analytics.engine.resolve_spec`.

    Returns
    -------
    ibis Table
        Columns in this order: ``user_id``, the core features of
        :data:`FEATURE_DOCS`, ``n_<event>`` counts, ``n_other_events``,
        ``top_<attribute>`` and ``avg_<attribute>``; sorted by user.
    """
    params.validate()
    as_of_s = spec.as_of.timestamp() if spec.as_of.tzinfo else _naive_utc_epoch(spec.as_of)
    ev = events.filter(events.ts <= ibis.literal(spec.as_of.replace(tzinfo=None)))
    is_p = (ev.event == params.purchase_event) if params.purchase_event is not None else ibis.literal(False)
    ev = ev.mutate(_is_p=is_p, _t=ev.ts.epoch_seconds().cast("float64"))

    counts = {col: (ev.event == name).cast("int64").sum() for col, name in spec.event_columns.items()}
    base = ev.group_by("user_id").aggregate(
        n_events=ev.count(),
        _first=ev._t.min(),
        _last=ev._t.max(),
        frequency=ev._is_p.cast("int64").sum(),
        _monetary=ev.amount.sum(where=ev._is_p),
        _first_p=ev._t.min(where=ev._is_p),
        _last_p=ev._t.max(where=ev._is_p),
        **counts,
    )
    sessions = _sessions(ev, params, spec)
    out = base.join(sessions, "user_id")
    monetary = out._monetary.fill_null(0.0)
    other = out.n_events - sum((out[c] for c in spec.event_columns), ibis.literal(0))
    out = out.mutate(
        recency_days=(as_of_s - out._last) / DAY_SECONDS,
        frequency=out.frequency,
        monetary=monetary,
        tenure_days=(as_of_s - out._first) / DAY_SECONDS,
        avg_order_value=ibis.ifelse(out.frequency > 0, monetary / out.frequency.cast("float64"), ibis.null()),
        session_conversion_rate=out._converting.cast("float64") / out.n_sessions.cast("float64"),
        mean_days_between_purchases=ibis.ifelse(
            out.frequency > 1,
            (out._last_p - out._first_p) / DAY_SECONDS / (out.frequency - 1).cast("float64"),
            ibis.null()),
        days_since_last_purchase=(as_of_s - out._last_p) / DAY_SECONDS,
        n_other_events=other,
    )
    core = ["recency_days", "frequency", "monetary", "n_events", "n_sessions", "active_days", "tenure_days",
            "avg_order_value", "session_conversion_rate", "mean_days_between_purchases",
            "days_since_last_purchase"]
    columns = ["user_id", *core, *spec.event_columns, "n_other_events"]
    out = out.select(*columns)

    taken = set(columns)
    for attr in spec.text_attributes:
        out = out.left_join(_most_frequent(ev, attr, attribute_column("top", attr, taken)), "user_id")
        out = out.drop(*[c for c in out.columns if c.endswith("_right")])
    if spec.number_attributes:
        means = ev.group_by("user_id").aggregate(
            **{attribute_column("avg", a, taken): ev[a].mean() for a in spec.number_attributes})
        out = out.left_join(means, "user_id")
        out = out.drop(*[c for c in out.columns if c.endswith("_right")])
    return out.order_by("user_id")


def _sessions(ev: ir.Table, params: FeatureParams, spec: FeatureSpec) -> ir.Table:
    """Per user: n_sessions, active_days and _converting (sessions with a purchase)."""
    if spec.has_sessions:
        with_id = ev.filter(ev.session_id.notnull())
        per_session = with_id.group_by(["user_id", "session_id"]).aggregate(_buys=with_id._is_p.any())
        sess = per_session.group_by("user_id").aggregate(
            n_sessions=per_session.count(), _converting=per_session._buys.cast("int64").sum())
        days = ev.group_by("user_id").aggregate(active_days=ev.ts.date().nunique())
        out = days.left_join(sess, "user_id")
        out = out.drop(*[c for c in out.columns if c.endswith("_right")])
        # Users whose events all lack a session id count as one session.
        return out.mutate(n_sessions=out.n_sessions.fill_null(1), _converting=out._converting.fill_null(0))

    gap = params.session_gap_minutes * 60.0
    narrow = ev.select("user_id", "_t", "_is_p")
    w = ibis.window(group_by=narrow.user_id, order_by=narrow._t)
    prev = narrow._t.lag().over(w)
    marked = narrow.mutate(
        _new_session=prev.isnull() | (narrow._t - prev > gap),
        _new_day=prev.isnull() | ((narrow._t / DAY_SECONDS).floor() != (prev / DAY_SECONDS).floor()),
    )
    # Only session starts, day starts and purchases matter from here on: a small table.
    marks = marked.filter(marked._new_session | marked._new_day | marked._is_p)
    w2 = ibis.window(group_by=marks.user_id, order_by=[marks._t, marks._new_session.desc()])
    numbered = marks.mutate(_session_no=marks._new_session.cast("int64").cumsum().over(w2))
    return numbered.group_by("user_id").aggregate(
        n_sessions=numbered._new_session.cast("int64").sum(),
        active_days=numbered._new_day.cast("int64").sum(),
        _converting=numbered._session_no.nunique(where=numbered._is_p),
    )


def _most_frequent(ev: ir.Table, attr: str, out_name: str) -> ir.Table:
    """Most frequent non-empty value of ``attr`` per user; ties go to the smallest value."""
    present = ev.filter(ev[attr].notnull())
    counts = present.group_by(["user_id", attr]).aggregate(_n=present.count())
    w = ibis.window(group_by=counts.user_id, order_by=[counts._n.desc(), counts[attr]])
    ranked = counts.mutate(_rank=ibis.row_number().over(w))
    top = ranked.filter(ranked._rank == 0)
    return top.select("user_id", **{out_name: top[attr]})


def _naive_utc_epoch(ts: datetime) -> float:

    return ts.replace(tzinfo=UTC).timestamp()


CANONICAL = ("user_id", "ts", "event", "amount", "session_id")


def event_profile(events: ir.Table) -> ir.Table:
    """Per event name: rows, rows with an amount, first and last time, rows with a session id."""
    return events.group_by("event").aggregate(
        n=events.count(), n_amount=events.amount.count(), ts_min=events.ts.min(), ts_max=events.ts.max(),
        n_session=events.session_id.count())


def attribute_types(events: ir.Table) -> dict[str, str]:
    """Attribute columns of a canonical events table and whether each is "number" or "text"."""
    return {name: "number" if dtype.is_numeric() else "text" for name, dtype in events.schema().items()
            if name not in CANONICAL and not name.startswith("_")}


def attribute_cardinality(events: ir.Table, attributes: list[str]) -> ir.Table:
    """One row: approximate distinct values of each attribute."""
    if not attributes:
        return events.aggregate(_none=events.count())
    return events.aggregate(**{a: events[a].approx_nunique() for a in attributes})


def window_users(events: ir.Table, start: datetime, end: datetime, event: str | None = None) -> ir.Table:
    """Users with an event (of one type, or any) in ``(start, end]``: the labels of a target, on any engine."""
    inside = events.filter((events.ts > ibis.literal(start.replace(tzinfo=None)))
                           & (events.ts <= ibis.literal(end.replace(tzinfo=None))) & events.user_id.notnull())
    if event is not None:
        inside = inside.filter(inside.event == event)
    return inside.select("user_id").distinct()


def distinct_in_sample(sample: pd.DataFrame, attributes: list[str]) -> dict[str, int]:
    """Distinct values per attribute in a preview; identifiers count as "very many".

    Many values that are mostly different (product ids, URLs) mark an identifier,
    whatever the file size, so its "most frequent value" is not computed.
    """
    out = {}
    for col in attributes:
        if col in sample.columns:
            values = sample[col].dropna()
            distinct = int(values.nunique())
            out[col] = 10**9 if distinct > 100 and distinct >= 0.5 * len(values) else distinct
    return out


def profile_from(by_event: pd.DataFrame, users: int, attributes: dict[str, str], distinct: dict) -> dict:
    """The dataset profile stored with a dataset: the same shape whatever engine computed it.

    Keys: ``event_counts`` and ``amount_counts`` (per event name), ``attributes``
    (name -> type and distinct values), ``ts_min``/``ts_max`` (ISO text),
    ``has_sessions`` and ``users``.
    """
    mins = [pd.Timestamp(v) for v in by_event["ts_min"] if pd.notna(v)]
    maxs = [pd.Timestamp(v) for v in by_event["ts_max"] if pd.notna(v)]
    return {
        "event_counts": {str(e): int(n) for e, n in zip(by_event["event"], by_event["n"])},
        "amount_counts": {str(e): int(n) for e, n in zip(by_event["event"], by_event["n_amount"])},
        "attributes": {a: {"type": kind, "distinct": int(distinct.get(a) or 0)} for a, kind in attributes.items()},
        "ts_min": min(mins).isoformat() if mins else None,
        "ts_max": max(maxs).isoformat() if maxs else None,
        "has_sessions": bool((by_event["n_session"] > 0).any()),
        "users": int(users),
    }


def feature_summary(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary statistics of a feature table: one frame for numbers, one for text columns.

    Numbers get count, empty share, mean, spread and quartiles; text columns
    (most frequent channel, ...) get the number of distinct values and the top one.
    ``user_id`` is skipped.
    """
    numbers, texts = [], []
    for col in df.columns:
        if col == "user_id":
            continue
        s = df[col]
        base = {"feature": col, "users with a value": int(s.notna().sum()),
                "empty %": round(100 * float(s.isna().mean()), 1) if len(s) else 0.0}
        if pd.api.types.is_numeric_dtype(s):
            d = pd.to_numeric(s, errors="coerce").describe()
            numbers.append(base | {"mean": d.get("mean"), "std": d.get("std"), "min": d.get("min"),
                                   "25%": d.get("25%"), "median": d.get("50%"), "75%": d.get("75%"),
                                   "max": d.get("max")})
        else:
            counts = s.value_counts()
            top = counts.index[0] if len(counts) else None
            share = round(100 * counts.iloc[0] / max(1, int(s.notna().sum())), 1) if len(counts) else None
            texts.append(base | {"distinct values": int(len(counts)), "most common": top, "its share %": share})
    return pd.DataFrame(numbers), pd.DataFrame(texts)

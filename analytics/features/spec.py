"""What a feature table is built with: the user's parameters and what the data adds to them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime

from analytics.errors import InvalidParameterError, NoDataError
from analytics.features.profile import DatasetProfile

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
    engagement : bool
        Add the social engagement features (engagement rate, shares of each kind,
        net follows, ...; see :mod:`analytics.social.features`). The workspace turns
        it on by default for logs with social events.
    """

    purchase_event: str | None
    as_of: datetime | None = None
    top_events: int = 10
    session_gap_minutes: int = 30
    engagement: bool = False

    def validate(self) -> None:
        if not 0 <= self.top_events <= 50:
            raise InvalidParameterError(f"top_events must be between 0 and 50, got {self.top_events}.")
        if not 1 <= self.session_gap_minutes <= 24 * 60:
            raise InvalidParameterError(
                f"session_gap_minutes must be between 1 and 1440, got {self.session_gap_minutes}.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat() if self.as_of else None
        if not self.engagement:
            # Left out when off, so the tables built before engagement features existed keep their key.
            del d["engagement"]
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
    has_amounts : bool
        The purchase event carries amounts; without any, money features are empty, not 0.
    attribute_values : dict
        Text attribute -> all its values (sorted), for those of ``text_attributes`` with few
        (:data:`analytics.features.profile.FEW_VALUES`): their most frequent value is counted in the
        per-user pass instead of a grouped pass of its own.
    """

    as_of: datetime
    event_columns: dict[str, str] = field(default_factory=dict)
    text_attributes: list[str] = field(default_factory=list)
    number_attributes: list[str] = field(default_factory=list)
    has_sessions: bool = False
    skipped_attributes: list[str] = field(default_factory=list)
    has_amounts: bool = True
    attribute_values: dict[str, tuple[str, ...]] = field(default_factory=dict)


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


# Text attributes with more distinct values than this are identifiers or free
# text (URLs, product ids): their "most frequent value" means little and costs a lot.
MAX_MODE_CARDINALITY = 5_000


# Each summarised text attribute costs one grouped pass over the events (and a join), so a
# very wide file gets its first ones; the rest are listed as skipped.
MAX_TEXT_ATTRIBUTES = 12

MAX_NUMBER_ATTRIBUTES = 50


def resolve_spec(params: FeatureParams, profile: DatasetProfile) -> FeatureSpec:
    """Fill in what the feature expression needs to know about the data (any engine).

    Parameters
    ----------
    params : FeatureParams
    profile : DatasetProfile
    """
    if not profile.event_counts:
        raise NoDataError("The dataset has no events.")
    ts_max = datetime.fromisoformat(profile.ts_max)
    as_of = params.as_of or ts_max
    if params.as_of is not None:
        ts_min = datetime.fromisoformat(profile.ts_min)
        if as_of.replace(tzinfo=None) < ts_min:
            raise NoDataError(f"The reference date {as_of:%Y-%m-%d} is before the first event "
                              f"({ts_min:%Y-%m-%d}); pick a later date.")
    top = profile.events_by_count
    top = top[: params.top_events]
    attrs = profile.attributes
    text_attrs = [a for a, info in attrs.items()
                  if info.type == "text" and info.distinct <= MAX_MODE_CARDINALITY and not info.empty]
    number_attrs = [a for a, info in attrs.items() if info.type == "number"]
    text_attrs, number_attrs = text_attrs[:MAX_TEXT_ATTRIBUTES], number_attrs[:MAX_NUMBER_ATTRIBUTES]
    return FeatureSpec(as_of=as_of, event_columns=event_column_names(top), text_attributes=text_attrs,
                       number_attributes=number_attrs, has_sessions=profile.has_sessions,
                       skipped_attributes=[a for a in attrs if a not in text_attrs + number_attrs],
                       # Spend is the purchase event's amounts: when it has none, spend is unknown, not 0.
                       has_amounts=bool(params.purchase_event and profile.amount_counts.get(params.purchase_event)),
                       attribute_values={a: attrs[a].values for a in text_attrs if attrs[a].values})

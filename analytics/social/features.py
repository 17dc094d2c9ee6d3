"""Engagement features in the per-user feature table, so Segments and Models can use them.

The feature store (:mod:`analytics.workspace.feature_store`) builds the feature
table with ``FeatureParams(engagement=True)`` as the feature SQL joined with the
engagement SQL on ``user_id``, both cut at the same reference date (a model's
features never see events after its cutoff). Which columns join:

- ``n_impressions``, ``n_engagements``, ``engagement_rate``, ``share_<kind>s``,
  ``net_follows``, ``social_days_active``, ``first_touch_channel``,
  ``last_touch_channel``, ``posts_seen``, ``posts_engaged`` (those that apply);
- not the per-kind counts (``n_clicks``, ``n_likes``, ``n_follows``, ...): the
  feature table's ``n_<event>`` columns count the same events under the log's
  own names, and the shares carry the mix.

A name the feature table already has (an event called ``impressions`` gives it
an ``n_impressions`` column) gets the prefix ``social_``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from analytics.errors import InvalidParameterError
from analytics.social.engagement import ENGAGEMENT_DOCS, PLURAL, engagement_query
from analytics.social.kinds import ENGAGEMENT_KINDS, ResolvedKinds, guess_social_columns, social_events
from analytics.sql import quote_ident

STORE_COLUMNS: tuple[str, ...] = (
    "n_impressions", "n_engagements", "engagement_rate", *(f"share_{PLURAL[k]}" for k in ENGAGEMENT_KINDS),
    "net_follows", "social_days_active", "first_touch_channel", "last_touch_channel", "posts_seen", "posts_engaged",
)


@dataclass
class EngagementJoin:
    """The feature SQL with the engagement features joined, and what was joined.

    Attributes
    ----------
    sql : str
        ``SELECT`` of the whole per-user table, ordered by ``user_id``.
    columns : dict
        Column of the feature table -> its meaning (for help texts and metadata).
    kinds : dict
        Kind -> the log's event names read as that kind.
    channel, content : str or None
        The columns used for first/last touch channel and for posts.
    """

    sql: str
    columns: dict[str, str]
    kinds: dict[str, list[str]]
    channel: str | None
    content: str | None
    notes: list[str] = field(default_factory=list)


def with_engagement(feature_sql: str, table: str, event_counts: Mapping[str, int], attributes: Collection[str],
                    as_of: datetime, taken: Collection[str]) -> EngagementJoin:
    """Join the engagement features (as of ``as_of``) onto a per-user feature ``SELECT``.

    Parameters
    ----------
    feature_sql : str
        The feature table's ``SELECT`` (one row per user, ``user_id`` first).
    table : str
        The canonical events table both read.
    event_counts : mapping
        Rows per event name (the dataset profile): which events are social.
    attributes : collection of str
        Attribute columns of the log: ``channel`` and the post column (guessed) when present.
    as_of : datetime
        The feature table's reference date; later events are left out.
    taken : collection of str
        Column names the feature table has (clashing engagement names get ``social_``).

    Raises
    ------
    InvalidParameterError
        The log has no social events (so nothing to add).
    """
    mapping = social_events(event_counts)
    if not mapping:
        raise InvalidParameterError(
            "This log has no social events (clicks, likes, comments, shares, follows), so there are no engagement "
            "features to add; build the feature table without them.")
    kinds = ResolvedKinds(mapping, ENGAGEMENT_KINDS, dict(event_counts))
    channel = "channel" if "channel" in attributes else None
    content = guess_social_columns(attributes)["content"]
    wanted = [c for c in STORE_COLUMNS if _applies(c, kinds, channel, content)]
    taken = set(taken)
    names = {}
    for col in wanted:
        name = col if col not in taken else f"social_{col}"
        taken.add(name)
        names[col] = name
    picked = ", ".join(f"e.{quote_ident(c)} AS {quote_ident(n)}" for c, n in names.items())
    sql = (f"SELECT f.*, {picked} FROM ({feature_sql}) AS f "
           f"LEFT JOIN ({engagement_query(table, kinds, channel, content, as_of)}) AS e ON f.user_id = e.user_id "
           "ORDER BY f.user_id")
    notes = []
    if not kinds.has("impression"):
        notes.append("No impression events: engagement_rate is empty.")
    return EngagementJoin(sql, {n: ENGAGEMENT_DOCS[c] for c, n in names.items()}, kinds.describe(), channel, content,
                          notes)


def _applies(column: str, kinds: ResolvedKinds, channel: str | None, content: str | None) -> bool:
    if column.startswith("share_"):
        return any(kinds.has(k) and column == f"share_{PLURAL[k]}" for k in ENGAGEMENT_KINDS)
    if column.endswith("_touch_channel"):
        return channel is not None
    if column.startswith("posts_"):
        return content is not None
    return True

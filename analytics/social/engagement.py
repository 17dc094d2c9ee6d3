"""Per-user engagement features of a social log, in one SQL pass over the events table.

Columns (kinds the log does not have get no count or share column):

| column | meaning |
| --- | --- |
| ``n_impressions`` | times the user was shown a post |
| ``n_engagements`` | clicks + likes + comments + shares + saves (the engagement kinds) |
| ``engagement_rate`` | engagements per impression (empty without impressions; can exceed 1) |
| ``n_clicks`` ... ``n_saves`` | count per engagement kind |
| ``share_clicks`` ... ``share_saves`` | share of the user's engagements of each kind (empty without engagements) |
| ``n_follows``, ``n_unfollows``, ``net_follows`` | follows, unfollows, follows minus unfollows |
| ``social_days_active`` | distinct days (UTC) with any social event |
| ``first_touch_channel``, ``last_touch_channel`` | channel of the user's first and last social event |
| ``posts_seen``, ``posts_engaged`` | distinct posts shown / engaged with (when a content column is given) |

Every user of the log gets a row (zeros and empties for those without social
events), so the table joins the main feature table on ``user_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pandas as pd

from analytics.attribution.table import data_columns, require_attribute
from analytics.jsonable import json_safe
from analytics.social.kinds import EventKinds, ResolvedKinds, resolve_kinds
from analytics.sql import quote_ident, sql_literal

AUTO = "auto"
PLURAL = {"click": "clicks", "like": "likes", "comment": "comments", "share": "shares", "save": "saves"}

ENGAGEMENT_DOCS: dict[str, str] = {
    "n_impressions": "Times the user was shown a post (impression events)",
    "n_engagements": "Engagement events: clicks, likes, comments, shares and saves",
    "engagement_rate": "Engagements per impression (empty without impressions; can exceed 1)",
    "n_follows": "Follow events",
    "n_unfollows": "Unfollow events",
    "net_follows": "Follows minus unfollows",
    "social_days_active": "Distinct calendar days (UTC) with any social event",
    "first_touch_channel": "Channel of the user's first social event",
    "last_touch_channel": "Channel of the user's last social event",
    "posts_seen": "Distinct posts the user was shown or engaged with",
    "posts_engaged": "Distinct posts the user engaged with",
}
for _k, _p in PLURAL.items():
    ENGAGEMENT_DOCS[f"n_{_p}"] = f"{_k.capitalize()} events"
    ENGAGEMENT_DOCS[f"share_{_p}"] = f"Share of the user's engagements that are {_p}"


@dataclass
class EngagementFeatures:
    """One row per user with engagement features, and how events were read.

    Attributes
    ----------
    table : DataFrame
        ``user_id`` then the columns in :data:`ENGAGEMENT_DOCS` that apply.
    kinds : dict
        Kind -> the log's event names read as that kind.
    channel, content : str or None
        Columns used for first/last touch channel and for posts.
    notes : list of str
    """

    table: pd.DataFrame
    kinds: dict[str, list[str]]
    channel: str | None
    content: str | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Summary for --json output (the table itself is written to a file)."""
        t = self.table
        social = int((t["n_impressions"] + t["n_engagements"] + t["n_follows"] + t["n_unfollows"] > 0).sum())
        return json_safe({
            "users": len(t), "users_with_social_events": social, "columns": list(t.columns[1:]),
            "kinds": self.kinds, "channel": self.channel, "content": self.content,
            "median_engagement_rate": t["engagement_rate"].median(), "notes": self.notes,
        })


def engagement_features(con: duckdb.DuckDBPyConnection, table: str, *, kinds: EventKinds | None = None,
                        channel: str | None = AUTO, content: str | None = None,
                        as_of: datetime | None = None) -> EngagementFeatures:
    """Per-user engagement features of a stored social log.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        A canonical events table.
    kinds : EventKinds, optional
        Which event names are impressions, clicks, ...; default: common names.
    channel : str or None
        Column for first/last touch channel; ``"auto"`` uses ``channel`` when the
        log has it; None leaves those columns out.
    content : str, optional
        Column of the post id, for ``posts_seen`` and ``posts_engaged``.
    as_of : datetime, optional
        Only events at or before it count (naive UTC); default every event.

    Returns
    -------
    EngagementFeatures

    Raises
    ------
    NoDataError
        No event of the log reads as a social event (the message lists its events).
    MappingError
        ``channel`` or ``content`` names a column the log does not have.
    """
    columns = data_columns(con, table)
    notes: list[str] = []
    if channel == AUTO:
        channel = "channel" if "channel" in columns else None
        if channel is None:
            notes.append("The log has no 'channel' column: first and last touch channel are left out.")
    elif channel is not None:
        require_attribute(columns, channel, "channel column")
    if content is not None:
        require_attribute(columns, content, "content (post) column")
    resolved = resolve_kinds(con, table, kinds)
    if not resolved.has("impression"):
        notes.append("No impression events were recognised, so the engagement rate (engagements per impression) "
                     "is empty; counts and shares are still given.")
    df = con.execute(engagement_query(table, resolved, channel, content, as_of)).df()
    for c in df.columns:
        if c.startswith("n_") or c in ("net_follows", "social_days_active", "posts_seen", "posts_engaged"):
            df[c] = df[c].fillna(0).astype("int64")
    return EngagementFeatures(df, resolved.describe(), channel, content, notes)


def engagement_query(table: str, kinds: ResolvedKinds, channel: str | None, content: str | None,
                     as_of: datetime | None = None) -> str:
    """The SQL of the per-user table (for ``CREATE TABLE ... AS`` in the workspace).

    With ``as_of`` only events at or before it count; users whose events are all
    later get no row.
    """
    t = quote_ident(table)
    engaged = [k for k in kinds.engagements if kinds.has(k)]
    eng_list = ", ".join(sql_literal(k) for k in engaged) or "NULL"
    parts = [
        "count(*) FILTER (WHERE kind = 'impression') AS n_impressions",
        f"count(*) FILTER (WHERE kind IN ({eng_list})) AS n_engagements",
        f"CAST(count(*) FILTER (WHERE kind IN ({eng_list})) AS DOUBLE) "
        "/ nullif(count(*) FILTER (WHERE kind = 'impression'), 0) AS engagement_rate",
    ]
    for k in engaged:
        parts.append(f"count(*) FILTER (WHERE kind = {sql_literal(k)}) AS {quote_ident('n_' + PLURAL[k])}")
    for k in engaged:
        name = quote_ident("share_" + PLURAL[k])
        parts.append(f"CAST(count(*) FILTER (WHERE kind = {sql_literal(k)}) AS DOUBLE) "
                     f"/ nullif(count(*) FILTER (WHERE kind IN ({eng_list})), 0) AS {name}")
    parts += [
        "count(*) FILTER (WHERE kind = 'follow') AS n_follows",
        "count(*) FILTER (WHERE kind = 'unfollow') AS n_unfollows",
        "count(*) FILTER (WHERE kind = 'follow') - count(*) FILTER (WHERE kind = 'unfollow') AS net_follows",
        "count(DISTINCT CAST(ts AS DATE)) FILTER (WHERE kind IS NOT NULL) AS social_days_active",
    ]
    extra = ""
    if channel is not None:
        extra += f", CAST({quote_ident(channel)} AS VARCHAR) AS ch"
        # Ties at the same second are broken by channel name, so the result does not depend on row order.
        parts += ["arg_min(ch, (ts, ch)) FILTER (WHERE kind IS NOT NULL AND ch IS NOT NULL) AS first_touch_channel",
                  "arg_max(ch, (ts, ch)) FILTER (WHERE kind IS NOT NULL AND ch IS NOT NULL) AS last_touch_channel"]
    if content is not None:
        extra += f", CAST({quote_ident(content)} AS VARCHAR) AS post"
        parts += ["count(DISTINCT post) FILTER (WHERE kind IS NOT NULL) AS posts_seen",
                  f"count(DISTINCT post) FILTER (WHERE kind IN ({eng_list})) AS posts_engaged"]
    select = ",\n               ".join(parts)
    until = "" if as_of is None else f" WHERE ts <= {_timestamp(as_of)}"
    return f"""
        WITH k AS (SELECT user_id, ts, {kinds.case_sql()} AS kind{extra} FROM {t}{until})
        SELECT user_id,
               {select}
        FROM k GROUP BY user_id ORDER BY user_id
    """


def _timestamp(moment: datetime) -> str:
    """A naive-UTC ``TIMESTAMP`` literal (an aware time is converted to UTC first)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return f"TIMESTAMP {sql_literal(moment.isoformat(sep=' '))}"

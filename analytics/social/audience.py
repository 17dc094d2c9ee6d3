"""Audiences from social behaviour: "users who engaged with X", as the shared :class:`~analytics.audiences.Audience`.

The workspace stores it like any other audience
(:meth:`analytics.workspace.Workspace.save_audience`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from analytics.attribution.table import data_columns, require_attribute
from analytics.audiences import Audience
from analytics.errors import InvalidParameterError, NoDataError
from analytics.social.kinds import ENGAGEMENT_KINDS, KINDS, EventKinds, resolve_kinds
from analytics.sql import quote_ident, sql_literal


def engaged_audience(con: duckdb.DuckDBPyConnection, table: str, column: str, values: Sequence[str], *,
                     kinds: Sequence[str] = ENGAGEMENT_KINDS, event_kinds: EventKinds | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     min_engagements: int = 1) -> Audience:
    """The users who engaged with given posts, campaigns or channels.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        A canonical events table.
    column : str
        Where ``values`` are looked up: ``content_id``, ``campaign``, ``channel``, ...
    values : sequence of str
        The posts (campaigns, ...) engaged with; any of them counts.
    kinds : sequence of str
        Which kinds count as engaging (default: click, like, comment, share, save;
        add ``impression`` for "users who saw X").
    event_kinds : EventKinds, optional
        How event names map to kinds.
    since, until : datetime, optional
        Only engagements in this time range (UTC, inclusive).
    min_engagements : int
        At least this many such events per user (1 to 10,000).

    Returns
    -------
    Audience
        ``users``: ``user_id, engagements, first_engaged, last_engaged``, most
        engaged first; ``rule``: the parameters above (JSON-safe);
        ``description``: the rule in one sentence.

    Raises
    ------
    NoDataError
        None of the values occurs in the column, or no user qualifies.
    """
    values = [str(v) for v in values]
    if not values:
        raise InvalidParameterError(f"Pick at least one {column} value whose engaged users form the audience.")
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise InvalidParameterError(f"Unknown kind {bad[0] if bad else '(none)'!r}; pick from {', '.join(KINDS)}.")
    if isinstance(min_engagements, bool) or not isinstance(min_engagements, int) or not 1 <= min_engagements <= 10_000:
        raise InvalidParameterError(
            f"min_engagements must be a whole number from 1 to 10,000, got {min_engagements!r}.")
    if since is not None and until is not None and since > until:
        raise InvalidParameterError(f"The time range is empty: since {since} is after until {until}.")
    columns = data_columns(con, table)
    require_attribute(columns, column, "column to pick from")
    resolved = resolve_kinds(con, table, event_kinds)
    events = resolved.events_of(*kinds)
    if not events:
        raise NoDataError(f"The log has no {' / '.join(kinds)} events, so nobody engaged that way. "
                          f"Its social events are: {resolved.describe()}.")
    col = f"CAST({quote_ident(column)} AS VARCHAR)"
    val_list = ", ".join(sql_literal(v) for v in values)
    found = con.execute(f"SELECT count(*) FROM {quote_ident(table)} WHERE {col} IN ({val_list})").fetchone()[0]
    if not found:
        shown = ", ".join(f"'{v}'" for v in values[:5])
        raise NoDataError(f"No row has {column} {shown}; check the spelling or pick from the content table.")
    df = con.execute(f"""
        SELECT user_id, count(*) AS engagements, min(ts) AS first_engaged, max(ts) AS last_engaged
        FROM {quote_ident(table)}
        WHERE {col} IN ({val_list}) AND event IN ({', '.join(sql_literal(e) for e in events)})
          AND ($since IS NULL OR ts >= $since) AND ($until IS NULL OR ts <= $until)
        GROUP BY user_id HAVING count(*) >= $min
        ORDER BY engagements DESC, user_id
    """, {"since": since, "until": until, "min": min_engagements}).df()
    df["engagements"] = df["engagements"].astype("int64")
    shown = values[0] if len(values) == 1 else f"{values[0]} +{len(values) - 1}"
    name = f"Engaged with {column} {shown}"
    rule = {"source": "social", "column": column, "values": values, "kinds": list(kinds),
            "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
            "min_engagements": min_engagements}
    return Audience(name, _describe(column, values, kinds, since, until, min_engagements), df, rule)


_PAST = {"impression": "were shown", "click": "clicked", "like": "liked", "comment": "commented on",
         "share": "shared", "save": "saved", "follow": "followed", "unfollow": "unfollowed"}


def _describe(column: str, values: list[str], kinds: Sequence[str], since: datetime | None,
              until: datetime | None, min_engagements: int) -> str:
    """``Users who clicked or liked content_id p1 or p2 at least twice (from 2025-03-01).``"""
    verbs = [_PAST[k] for k in kinds]
    how = verbs[0] if len(verbs) == 1 else ", ".join(verbs[:-1]) + " or " + verbs[-1]
    what = " or ".join(values[:5]) + (f" (+{len(values) - 5} more)" if len(values) > 5 else "")
    times = "" if min_engagements == 1 else " at least twice" if min_engagements == 2 else \
        f" at least {min_engagements} times"
    span = []
    if since is not None:
        span.append(f"from {since:%Y-%m-%d %H:%M}")
    if until is not None:
        span.append(f"until {until:%Y-%m-%d %H:%M}")
    return f"Users who {how} {column} {what}{times}" + (f" ({' '.join(span)})" if span else "") + "."


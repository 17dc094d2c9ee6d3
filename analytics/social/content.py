"""Content and campaign performance: reach, engagement and conversions after exposure, with intervals.

One row per post (or campaign, channel, ...):

- ``reach``: distinct users with any social event on it (shown, engaged, followed);
- ``impressions``, ``engagements``, ``clicks``, ``engaged_users``;
- ``engagement_rate``: engagements per impression, with an exact Poisson interval
  (a rate: it may exceed 1); ``engaged_user_rate``: engaged users / reach, with
  a Wilson interval (used to rank when the log has no impressions);
- ``conversions``: reached users who converted within ``window_days`` after
  an exposure to it (any of them); ``conversion_rate`` = conversions / reach,
  with a Wilson interval;
- ``few_users``: reach below ``min_users``; treat the rates as rough.

Rankings use the *lower* end of the interval, so a post liked by 2 of 2 people
does not top one liked by 400 of 1,000 (Evan Miller, "How not to sort by average
rating"). Conversions after exposure are an association, not the post's effect:
a post shown to people who buy anyway converts well without causing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from analytics.attribution.table import data_columns, require_attribute, require_events
from analytics.errors import InvalidParameterError
from analytics.jsonable import json_safe
from analytics.social.intervals import poisson_rate_interval, wilson_interval
from analytics.social.kinds import EventKinds, ResolvedKinds, resolve_kinds
from analytics.sql import quote_ident, sql_literal

DAY = 86_400
RANKINGS = ("engagement", "conversion")


@dataclass
class ContentPerformance:
    """Performance per post / campaign; see the module docstring for the columns.

    Attributes
    ----------
    by : str
    conversion : str or None
    window_days, confidence : float
    min_users : int
    table : DataFrame
        One row per value of ``by``, with ``rank_engagement`` and
        ``rank_conversion`` (1 = best by the interval's lower end).
    engagement_basis : {"impressions", "reach"}
        What the engagement ranking divides by (reach when the log has no impressions).
    notes : list of str
    """

    by: str
    conversion: str | None
    window_days: float
    confidence: float
    min_users: int
    table: pd.DataFrame
    engagement_basis: str
    notes: list[str] = field(default_factory=list)

    def ranked(self, by: str = "engagement", top: int | None = None) -> pd.DataFrame:
        """Rows best first by ``engagement`` or ``conversion`` (the interval's lower end)."""
        if by not in RANKINGS:
            raise InvalidParameterError(f"Rank by one of {', '.join(RANKINGS)}, got {by!r}.")
        if by == "conversion" and self.conversion is None:
            raise InvalidParameterError("No conversion event was given, so there is no conversion ranking.")
        out = self.table.sort_values(f"rank_{by}", kind="stable")
        return out.head(top) if top else out

    def to_dict(self, top: int = 20) -> dict:
        return json_safe({
            "by": self.by, "conversion": self.conversion, "window_days": self.window_days,
            "confidence": self.confidence, "min_users": self.min_users, "rows": len(self.table),
            "engagement_basis": self.engagement_basis,
            "top_by_engagement": self.ranked("engagement", top).to_dict("records"),
            "top_by_conversion": self.ranked("conversion", top).to_dict("records") if self.conversion else None,
            "notes": self.notes,
        })


def content_performance(con: duckdb.DuckDBPyConnection, table: str, by: str = "content_id", *,
                        conversion: str | None = "purchase", window_days: float = 7.0,
                        kinds: EventKinds | None = None, confidence: float = 0.95,
                        min_users: int = 30) -> ContentPerformance:
    """Reach, engagement and conversions after exposure per post, campaign or channel.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        A canonical events table.
    by : str
        The column to group by: the post id (``content_id``), ``campaign``, ``channel``, ...
    conversion : str or None
        The conversion event; None leaves the conversion columns out.
    window_days : float
        A reached user counts as converted when a conversion follows one of
        their exposures within this many days (0 < days <= 365).
    kinds : EventKinds, optional
        Which event names are impressions, clicks, ...
    confidence : float
        Level of the intervals (0.5 to 0.999).
    min_users : int
        Rows with a smaller reach are flagged ``few_users`` (1 to 1,000,000).

    Returns
    -------
    ContentPerformance

    Raises
    ------
    MappingError, NoDataError, InvalidParameterError
        Unknown column; no social events or no such conversion event; a parameter out of range.
    """
    _check(window_days, confidence, min_users)
    columns = data_columns(con, table)
    require_attribute(columns, by, "content or campaign column")
    resolved = resolve_kinds(con, table, kinds)
    if conversion is not None:
        require_events(resolved.event_counts, [conversion], "conversion event")
    notes = []
    basis = "impressions" if resolved.has("impression") else "reach"
    if basis == "reach":
        notes.append("No impression events were recognised: the engagement rate per impression is empty and the "
                     "engagement ranking uses engaged users / reach instead.")
    params = {"window": int(round(window_days * DAY))} if conversion is not None else None
    df = con.execute(_query(table, by, resolved, conversion), params).df()
    df = _with_intervals(df, confidence, min_users, conversion is not None, basis)
    df = df.rename(columns={"key": by})
    if len(df) and df["few_users"].all():
        notes.append(f"Every {by} reached fewer than {min_users} users: the rates are rough, read the intervals.")
    return ContentPerformance(by, conversion, float(window_days), float(confidence), int(min_users), df, basis, notes)


def _check(window_days: float, confidence: float, min_users: int) -> None:
    if isinstance(window_days, bool) or not isinstance(window_days, (int, float)) or not 0 < window_days <= 365:
        raise InvalidParameterError(f"window_days must be above 0 and at most 365, got {window_days!r}.")
    if isinstance(confidence, bool) or not isinstance(confidence, float) or not 0.5 <= confidence <= 0.999:
        raise InvalidParameterError(f"confidence must be between 0.5 and 0.999, got {confidence!r}.")
    if isinstance(min_users, bool) or not isinstance(min_users, (int, np.integer)) or not 1 <= min_users <= 1_000_000:
        raise InvalidParameterError(f"min_users must be a whole number from 1 to 1,000,000, got {min_users!r}.")


def exposure_sql(table: str, key_sql: str, kinds: ResolvedKinds) -> str:
    """Rows ``key, user_id, ts, kind`` of the social events that have a key (a CTE body)."""
    return (f"SELECT {key_sql} AS key, user_id, ts, {kinds.case_sql()} AS kind FROM {quote_ident(table)} "
            f"WHERE {key_sql} IS NOT NULL AND event IN ({', '.join(sql_literal(e) for e in kinds.mapping)})")


def converted_sql(table: str, conversion: str | None) -> tuple[str, str]:
    """A CTE of conversions, and the aggregate that says whether a (key, user) converted soon after an exposure.

    Used with ``e ASOF LEFT JOIN conv c ON e.user_id = c.user_id AND c.ts > e.ts``:
    each exposure meets the user's next conversion; the user converted when one
    of them is at most ``$window`` seconds after its exposure.
    """
    if conversion is None:
        return "", "false"
    cte = f", conv AS (SELECT user_id, ts FROM {quote_ident(table)} WHERE event = {sql_literal(conversion)})"
    return cte, "coalesce(bool_or(c.ts <= e.ts + to_seconds($window)), false)"


def _query(table: str, by: str, kinds: ResolvedKinds, conversion: str | None) -> str:
    engaged = ", ".join(sql_literal(k) for k in kinds.engagements if kinds.has(k)) or "NULL"
    key = f"CAST({quote_ident(by)} AS VARCHAR)"
    conv_cte, converted = converted_sql(table, conversion)
    return f"""
        WITH e AS ({exposure_sql(table, key, kinds)}){conv_cte},
        per_user AS (
            SELECT key, e.user_id, min(e.ts) AS first_ts,
                   count(*) FILTER (WHERE kind = 'impression') AS impressions,
                   count(*) FILTER (WHERE kind IN ({engaged})) AS engagements,
                   count(*) FILTER (WHERE kind = 'click') AS clicks,
                   {converted} AS converted
            FROM e{" ASOF LEFT JOIN conv c ON e.user_id = c.user_id AND c.ts > e.ts" if conversion else ""}
            GROUP BY key, e.user_id
        )
        SELECT key, count(*) AS reach, sum(impressions) AS impressions, sum(engagements) AS engagements,
               sum(clicks) AS clicks, count(*) FILTER (WHERE engagements > 0) AS engaged_users,
               count(*) FILTER (WHERE converted) AS conversions, min(first_ts) AS first_exposure
        FROM per_user GROUP BY key
    """


def _with_intervals(df: pd.DataFrame, confidence: float, min_users: int, with_conversion: bool,
                    basis: str) -> pd.DataFrame:
    for c in ("reach", "impressions", "engagements", "clicks", "engaged_users", "conversions"):
        df[c] = df[c].fillna(0).astype("int64")
    imp = df["impressions"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["engagement_rate"] = np.where(imp > 0, df["engagements"] / imp, np.nan)
        df["engagement_rate_low"], df["engagement_rate_high"] = poisson_rate_interval(
            df["engagements"].to_numpy(), imp, confidence)
        df["engaged_user_rate"] = df["engaged_users"] / df["reach"]
    df["engaged_user_rate_low"], df["engaged_user_rate_high"] = wilson_interval(
        df["engaged_users"].to_numpy(), df["reach"].to_numpy(), confidence)
    if with_conversion:
        df["conversion_rate"] = df["conversions"] / df["reach"]
        df["conversion_rate_low"], df["conversion_rate_high"] = wilson_interval(
            df["conversions"].to_numpy(), df["reach"].to_numpy(), confidence)
    else:
        df = df.drop(columns=["conversions"])
    df["few_users"] = df["reach"] < min_users
    eng = "engagement_rate_low" if basis == "impressions" else "engaged_user_rate_low"
    df = df.sort_values([eng, "reach", "key"], ascending=[False, False, True], na_position="last")
    df["rank_engagement"] = np.arange(1, len(df) + 1)
    if with_conversion:
        order = df.sort_values(["conversion_rate_low", "conversions", "key"], ascending=[False, False, True])
        df.loc[order.index, "rank_conversion"] = np.arange(1, len(df) + 1)
        df["rank_conversion"] = df["rank_conversion"].astype("int64")
    return df.reset_index(drop=True)


@dataclass
class EngagementConversion:
    """Per value of ``by`` (a channel, say) and kind of event: how often the people who did it converted soon after.

    ``table`` columns: ``by``, ``kind``, ``users`` (who did it), ``converted``
    (who converted within the window after one such event),
    ``conversion_rate`` with a Wilson interval, ``few_users``.
    """

    by: str
    conversion: str
    window_days: float
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return json_safe({"by": self.by, "conversion": self.conversion, "window_days": self.window_days,
                          "rows": self.table.to_dict("records"), "notes": self.notes})


def engagement_conversion(con: duckdb.DuckDBPyConnection, table: str, by: str = "channel", *,
                          conversion: str = "purchase", window_days: float = 7.0, kinds: EventKinds | None = None,
                          confidence: float = 0.95, min_users: int = 30) -> EngagementConversion:
    """Which kinds of engagement, on which channel, are followed by conversions.

    For each value of ``by`` and each social kind (impression, click, like, ...):
    of the users who did it, the share who converted within ``window_days``
    after one of those events. Clicks that convert and likes that do
    not show up side by side. An association, not an effect (see the module docstring).

    Parameters are as for :func:`content_performance`; ``conversion`` is required.

    Returns
    -------
    EngagementConversion
    """
    _check(window_days, confidence, min_users)
    columns = data_columns(con, table)
    require_attribute(columns, by, "grouping column")
    resolved = resolve_kinds(con, table, kinds)
    require_events(resolved.event_counts, [conversion], "conversion event")
    key = f"CAST({quote_ident(by)} AS VARCHAR)"
    conv_cte, converted = converted_sql(table, conversion)
    df = con.execute(f"""
        WITH e AS ({exposure_sql(table, key, resolved)}){conv_cte},
        per_user AS (
            SELECT key, kind, e.user_id, {converted} AS converted
            FROM e ASOF LEFT JOIN conv c ON e.user_id = c.user_id AND c.ts > e.ts
            GROUP BY key, kind, e.user_id
        )
        SELECT key, kind, count(*) AS users, count(*) FILTER (WHERE converted) AS converted
        FROM per_user GROUP BY key, kind ORDER BY key, kind
    """, {"window": int(round(window_days * DAY))}).df()
    df["users"] = df["users"].astype("int64")
    df["converted"] = df["converted"].astype("int64")
    df["conversion_rate"] = df["converted"] / df["users"]
    df["conversion_rate_low"], df["conversion_rate_high"] = wilson_interval(
        df["converted"].to_numpy(), df["users"].to_numpy(), confidence)
    df["few_users"] = df["users"] < min_users
    df = df.rename(columns={"key": by})
    return EngagementConversion(by, conversion, float(window_days), df)

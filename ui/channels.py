"""Session-side glue for the Channels page: what the log offers, attribution, content, engagement, audiences.

Attribution, content tables and engagement views are stored in the workspace
per (dataset, settings) (:mod:`analytics.attribution.stored`,
:mod:`analytics.social.stored`), so the page finds them again after a reload or a
restart without recomputing. An audience being looked at lives in this session
(:func:`ui.state.remember`) until it is saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time

import pandas as pd

from analytics import attribution, social
from analytics.audiences import Audience
from analytics.exports import frame_bytes
from analytics.workspace import Dataset
from ui import state

AUDIENCE_KINDS = ("click", "like", "comment", "share", "save", "impression", "follow", "unfollow")


@dataclass
class ChannelContext:
    """What a dataset offers the Channels page, read from its profile (no query).

    Attributes
    ----------
    events : list of str
        Event names, most frequent first.
    conversion : str or None
        The conversion event to start with (None: nothing looks like one).
    touch_columns : list of str
        Text columns that can name a touch (channel first).
    social : dict
        Kind -> the log's event names of that kind (empty: not a social log).
    content, campaign : str or None
        The post and campaign columns (canonical names, or guessed).
    group_columns : list of str
        What content performance can group by: posts, campaigns, channels, other text attributes.
    """

    events: list[str]
    conversion: str | None
    touch_columns: list[str]
    social: dict[str, list[str]]
    content: str | None
    campaign: str | None
    group_columns: list[str]

    @property
    def default_touch(self) -> str | None:
        return self.touch_columns[0] if self.touch_columns else None

    def describe_group(self, column: str) -> str:
        role = {self.content: "posts", self.campaign: "campaigns", "channel": "channels"}.get(column)
        return f"{column} ({role})" if role else column


def context(ds: Dataset) -> ChannelContext:
    """What the dataset offers: conversion events, touch columns, social events, post and campaign columns."""
    events = ds.profile.events_by_count
    texts = ds.text_columns
    touch = sorted(texts, key=lambda c: (c != "channel", texts.index(c)))
    cols = social.social_columns(ds)
    kinds: dict[str, list[str]] = {}
    for event, kind in sorted(social.social_events(ds.profile.event_counts).items()):
        kinds.setdefault(kind, []).append(event)
    first = [c for c in (cols["content"], cols["campaign"], "channel") if c in texts]
    group = list(dict.fromkeys(first + touch))
    return ChannelContext(events, attribution.guess_conversion(ds), touch, kinds, cols["content"], cols["campaign"],
                          group)


def social_needs(ctx: ChannelContext) -> str:
    """What content performance and engagement need, said for a log that does not have it (plain text)."""
    shown = ", ".join(f"'{e}'" for e in ctx.events[:12]) or "none"
    return ("This part needs social events: impressions, clicks, likes, comments, shares, saves or follows (common "
            "names in any case or plural are recognised, such as views, link_click, reaction, retweet, subscribe). "
            f"This log's events are {shown}, and none reads as an engagement. Attribution (first tab) works on any log "
            "with a channel or campaign column. For a social log, keep a column naming the post (content_id, "
            "post_id, ...) and one naming the campaign when you import it.")


# --- attribution -------------------------------------------------------------------------------------------


def attribution_settings(conversion: str, by: str, lookback_days: float, half_life_days: float,
                         touch_events: list[str], max_touches: int,
                         keep_repeats: bool) -> attribution.AttributionSettings:
    """Settings from the page's widgets; no touch events picked means every event but the conversion."""
    return attribution.AttributionSettings(
        conversion=conversion, by=by, lookback_days=float(lookback_days), half_life_days=float(half_life_days),
        touch_events=tuple(touch_events) if touch_events else None, max_touches=int(max_touches),
        collapse_repeats=not keep_repeats)


def stored_attribution(ds: Dataset, settings: attribution.AttributionSettings) -> attribution.AttributionResult | None:
    return attribution.stored_attribution(state.workspace(), ds.id, settings)


def attribute(ds: Dataset, settings: attribution.AttributionSettings, progress) -> attribution.AttributionResult:
    """Compute (or find) and store the attribution for these settings."""
    return attribution.attribute_dataset(state.workspace(), ds.id, settings, progress=progress)


def credit_display(result: attribution.AttributionResult, share: bool) -> pd.DataFrame:
    """Credit per touch value under each model, as shares in percent or conversions credited (for the screen)."""
    table = result.credit_table()
    out = pd.DataFrame({result.by: table[result.by].astype(str)})
    for m in attribution.MODELS:
        out[attribution.MODEL_LABELS[m]] = table[f"{m}_share"] * 100 if share else table[m]
    out["Removal effect"] = table["removal_effect"] * 100
    return out


def paths_display(result: attribution.AttributionResult) -> pd.DataFrame:
    """The top paths, conversion rate in percent (for the screen)."""
    out = result.path_text(" → ")[["path", "touches", "journeys", "conversions", "conversion_rate"]]
    out.columns = ["Path", "Touches", "Journeys", "Conversions", "Conversion rate"]
    out["Conversion rate"] = out["Conversion rate"] * 100
    return out


def credit_csv(result: attribution.AttributionResult) -> bytes:
    return frame_bytes(result.credit_table(), "csv")


def paths_csv(result: attribution.AttributionResult) -> bytes:
    return frame_bytes(result.path_text(" > "), "csv")


# --- content performance -----------------------------------------------------------------------------------


def content_settings(by: str, conversion: str | None, window_days: float, min_users: int,
                     confidence: float) -> social.ContentSettings:
    return social.ContentSettings(by=by, conversion=conversion, window_days=float(window_days),
                                  confidence=float(confidence), min_users=int(min_users))


def stored_content(ds: Dataset, settings: social.ContentSettings) -> social.ContentPerformance | None:
    return social.content_dataset(state.workspace(), ds.id, settings, lookup=True)


def content(ds: Dataset, settings: social.ContentSettings, progress) -> social.ContentPerformance:
    return social.content_dataset(state.workspace(), ds.id, settings, progress=progress)


def content_display(perf: social.ContentPerformance, ranking: str) -> pd.DataFrame:
    """The content table best first by ``engagement`` or ``conversion``, the ranking's own columns first."""
    t = perf.ranked(ranking)
    level = f"{perf.confidence:.0%}"
    if perf.engagement_basis == "impressions":
        eng = {"Engagement rate": t["engagement_rate"],
               f"{level} interval": _interval(t["engagement_rate_low"], t["engagement_rate_high"], "{:.3f}")}
    else:
        eng = {"Engaged users %": t["engaged_user_rate"] * 100,
               f"{level} interval": _interval(t["engaged_user_rate_low"] * 100, t["engaged_user_rate_high"] * 100,
                                              "{:.1f}%")}
    conv = {}
    if perf.conversion is not None:
        conv = {"Conversions": t["conversions"], "Conversion rate %": t["conversion_rate"] * 100,
                f"{level} interval ": _interval(t["conversion_rate_low"] * 100, t["conversion_rate_high"] * 100,
                                                "{:.1f}%")}
    counts = {"Impressions": t["impressions"], "Engagements": t["engagements"], "Clicks": t["clicks"]}
    first, second = (eng, conv) if ranking == "engagement" else (conv, eng)
    out = pd.DataFrame({"Rank": t[f"rank_{ranking}"], perf.by: t[perf.by].astype(str), "Reach": t["reach"],
                        "Few users": t["few_users"], **first, **second, **counts})
    return out.reset_index(drop=True)


def _interval(low: pd.Series, high: pd.Series, fmt: str) -> pd.Series:
    return pd.Series([f"{fmt.format(a)} to {fmt.format(b)}" if pd.notna(a) and pd.notna(b) else ""
                      for a, b in zip(low, high)], index=low.index)


def content_csv(perf: social.ContentPerformance, ranking: str) -> bytes:
    return frame_bytes(perf.ranked(ranking), "csv")


# --- engagement ---------------------------------------------------------------------------------------------


def engagement_settings(ctx: ChannelContext, by: str, conversion: str | None,
                        window_days: float) -> social.EngagementSettings:
    return social.EngagementSettings(by=by, conversion=conversion, window_days=float(window_days),
                                     content=ctx.content)


def stored_engagement(ds: Dataset, settings: social.EngagementSettings) -> social.EngagementView | None:
    return social.engagement_dataset(state.workspace(), ds.id, settings, lookup=True)


def engagement(ds: Dataset, settings: social.EngagementSettings, progress) -> social.EngagementView:
    return social.engagement_dataset(state.workspace(), ds.id, settings, progress=progress)


def conversion_display(view: social.EngagementView) -> pd.DataFrame:
    """Conversion after each kind of event per channel, rate in percent with its interval (for the screen)."""
    t = view.conversion.table
    return pd.DataFrame({view.conversion.by: t[view.conversion.by].astype(str), "Kind": t["kind"],
                         "Users": t["users"], "Converted": t["converted"],
                         "Conversion rate %": t["conversion_rate"] * 100,
                         "95% interval": _interval(t["conversion_rate_low"] * 100, t["conversion_rate_high"] * 100,
                                                   "{:.1f}%"),
                         "Few users": t["few_users"]})


def kinds_text(kinds: dict[str, list[str]]) -> str:
    """``click, like (reaction, heart)``: each kind, with the log's names when they differ from it."""
    return ", ".join(k if names == [k] else f"{k} ({', '.join(names)})" for k, names in kinds.items())


def table_csv(frame: pd.DataFrame) -> bytes:
    """Any table on screen as formula-safe CSV."""
    return frame_bytes(frame, "csv")


# --- audiences ----------------------------------------------------------------------------------------------


def _audience_key(ds: Dataset, column: str, values: list[str], kinds: list[str], since: date | None,
                  until: date | None, min_engagements: int) -> tuple:
    since, until = _span(ds, since, until)
    return ds.id, json.dumps([column, sorted(values), sorted(kinds), str(since), str(until), min_engagements])


def _span(ds: Dataset, since: date | None, until: date | None) -> tuple[date | None, date | None]:
    """The picked dates, None for an end left at the dataset's first or last day (no limit there)."""
    return (None if since is None or since <= ds.ts_min.date() else since,
            None if until is None or until >= ds.ts_max.date() else until)


def build_audience(ds: Dataset, column: str, values: list[str], kinds: list[str], since: date | None,
                   until: date | None, min_engagements: int) -> Audience:
    """Users who engaged with the picked posts (campaigns, ...), remembered for this session."""
    key = _audience_key(ds, column, values, kinds, since, until, min_engagements)
    since, until = _span(ds, since, until)
    aud = social.audience_dataset(
        state.workspace(), ds.id, column, values, kinds=kinds,
        since=datetime.combine(since, time.min) if since else None,
        until=datetime.combine(until, time.max).replace(microsecond=0) if until else None,
        min_engagements=int(min_engagements))
    return state.remember("social_audience", key, aud)


def last_audience(ds: Dataset, column: str, values: list[str], kinds: list[str], since: date | None,
                  until: date | None, min_engagements: int) -> Audience | None:
    return state.recall("social_audience", _audience_key(ds, column, values, kinds, since, until, min_engagements))


def save_audience(ds: Dataset, audience: Audience, name: str) -> str:
    return state.workspace().save_audience(ds.id, audience, name)


def saved_audiences(ds: Dataset) -> pd.DataFrame:
    """The audiences saved for this dataset (any page's), newest first."""
    return pd.DataFrame([{"name": s.key, "users": s.meta.get("users"), "how they were picked":
                          s.meta.get("description", ""), "saved": s.created_at}
                         for s in state.workspace().results(ds.id, "audience")])


def audience_csv(audience: Audience) -> bytes:
    return frame_bytes(audience.users, "csv")

"""Which event names are impressions, clicks, likes, ... in a social log, and which columns hold posts and campaigns.

Social exports name the same things differently (``Impressions``, ``post_view``,
``reaction``, ``retweet``, ``link_click``). :class:`EventKinds` maps each event
name of a log to one kind (or to none: site events such as ``purchase``) from
lists of common names, and lets the user add or override names. The mapping is
decided in Python on the log's distinct event names (a handful), then applied in
SQL as a ``CASE`` expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import duckdb

from analytics.attribution.table import event_counts
from analytics.errors import InvalidParameterError, NoDataError
from analytics.sql import quote_ident, sql_literal

KINDS = ("impression", "click", "like", "comment", "share", "save", "follow", "unfollow")
ENGAGEMENT_KINDS = ("click", "like", "comment", "share", "save")

# Normalised names (lower case, words joined by "_", a plural "s" dropped) per kind.
DEFAULT_NAMES: dict[str, tuple[str, ...]] = {
    "impression": ("impression", "view", "post_view", "ad_view", "ad_impression", "reach", "seen", "video_view",
                   "story_view", "reel_view", "exposure", "served", "display", "post_impression", "page_impression"),
    "click": ("click", "link_click", "outbound_click", "cta_click", "ad_click", "url_click", "tap", "swipe_up",
              "click_through", "clickthrough", "post_click", "profile_visit"),
    "like": ("like", "reaction", "react", "heart", "favorite", "favourite", "love", "upvote", "thumbs_up",
             "post_like", "post_reaction"),
    "comment": ("comment", "reply", "post_comment", "comment_reply"),
    "share": ("share", "retweet", "repost", "reshare", "forward", "post_share", "quote", "quote_tweet", "send"),
    "save": ("save", "bookmark", "pin", "post_save"),
    "follow": ("follow", "subscribe", "page_like", "page_follow", "new_follower", "follower_gained"),
    "unfollow": ("unfollow", "unsubscribe", "page_unlike", "page_unfollow", "follower_lost"),
}

_CONTENT_NAMES = re.compile(r"(content|post|creative|ad|media|tweet|video|reel|story|asset)[ _-]?(id|key|name|code)?"
                            r"|(content|post|creative|media)s?", re.I)
_CAMPAIGN_NAMES = re.compile(r"(utm[ _-]?)?campaign([ _-]?(id|name|key|code))?|campagne|kampagne|campana|campaña",
                             re.I)


def normalise(name: object) -> str:
    """``"Link Clicks"`` -> ``"link_click"``: lower case, words joined by ``_``, a plural ``s`` dropped."""
    text = re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")
    if len(text) > 3 and text.endswith("s") and not text.endswith("ss"):
        text = text[:-1]
    return text


@dataclass(frozen=True)
class EventKinds:
    """How a log's event names map to social kinds.

    Parameters
    ----------
    names : mapping of str to tuple of str
        Per kind, the (normalised) names recognised; default :data:`DEFAULT_NAMES`.
    explicit : mapping of str to str or None
        Exact event names of the log and their kind; ``None`` (or ``""``) marks
        an event as not social. Wins over ``names``.
    engagements : tuple of str
        The kinds that count as engagements (numerator of the engagement rate).
    """

    names: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_NAMES))
    explicit: Mapping[str, str | None] = field(default_factory=dict)
    engagements: tuple[str, ...] = ENGAGEMENT_KINDS

    def __post_init__(self) -> None:
        for kind in list(self.names) + [k for k in self.explicit.values() if k] + list(self.engagements):
            if kind not in KINDS:
                raise InvalidParameterError(f"Unknown kind of social event '{kind}'; the kinds are {', '.join(KINDS)}.")

    def with_events(self, **events: str | Iterable[str]) -> EventKinds:
        """A copy where the given exact event names have a kind: ``kinds.with_events(click=["tap_link"])``."""
        explicit = dict(self.explicit)
        for kind, values in events.items():
            for v in [values] if isinstance(values, str) else values:
                explicit[v] = kind
        return EventKinds(self.names, explicit, self.engagements)

    def kind_of(self, event: str) -> str | None:
        """The kind of one event name, or None when it is not a social event."""
        if event in self.explicit:
            return self.explicit[event] or None
        key = normalise(event)
        for kind, names in self.names.items():
            if key in names:
                return kind
        return None

    def resolve(self, events: Iterable[str]) -> dict[str, str]:
        """Event name -> kind for the names that are social events."""
        out = {}
        for e in events:
            if e is None:
                continue
            kind = self.kind_of(str(e))
            if kind:
                out[str(e)] = kind
        return out


@dataclass(frozen=True)
class ResolvedKinds:
    """The kinds found in one log: event name -> kind, and the SQL that tags rows with it."""

    mapping: dict[str, str]
    engagements: tuple[str, ...]
    event_counts: dict[str, int]

    def events_of(self, *kinds: str) -> list[str]:
        """The log's event names of the given kinds."""
        return sorted(e for e, k in self.mapping.items() if k in kinds)

    def has(self, kind: str) -> bool:
        return any(k == kind for k in self.mapping.values())

    def case_sql(self, column: str = "event") -> str:
        """``CASE event WHEN 'likes' THEN 'like' ... END`` (NULL for non-social events)."""
        if not self.mapping:
            return "CAST(NULL AS VARCHAR)"
        whens = " ".join(f"WHEN {sql_literal(e)} THEN {sql_literal(k)}" for e, k in sorted(self.mapping.items()))
        return f"CASE {quote_ident(column)} {whens} END"

    def describe(self) -> dict[str, list[str]]:
        """Kind -> event names, for notes and --json output."""
        out: dict[str, list[str]] = {}
        for e, k in sorted(self.mapping.items()):
            out.setdefault(k, []).append(e)
        return out


def resolve_kinds(con: duckdb.DuckDBPyConnection, table: str, kinds: EventKinds | None = None,
                  counts: dict[str, int] | None = None) -> ResolvedKinds:
    """Find the social events of a stored log.

    Raises
    ------
    NoDataError
        When no event name reads as a social event; the message lists the
        log's events and how to name their kinds.
    """
    kinds = kinds or EventKinds()
    counts = counts if counts is not None else event_counts(con, table)
    mapping = kinds.resolve(counts)
    if not mapping:
        top = ", ".join(f"'{e}'" for e in sorted(counts, key=counts.get, reverse=True)[:12]) or "none"
        raise NoDataError(
            "No social events (impressions, clicks, likes, comments, shares, follows) were recognised in this log. "
            f"Its events are: {top}. Say which event is which kind (for example impression=views, like=reactions).")
    return ResolvedKinds(mapping, tuple(kinds.engagements), counts)


def social_events(event_counts: Mapping[str, int] | Iterable[str], kinds: EventKinds | None = None) -> dict[str, str]:
    """Event name -> kind when the log is a social log, else an empty dict (no SQL: from the event names).

    A log is social when at least one event reads as an engagement or a
    follow: impressions alone do not make one (a shop log's ``view`` events
    read as impressions).
    """
    mapping = (kinds or EventKinds()).resolve(event_counts)
    return mapping if any(k != "impression" for k in mapping.values()) else {}


def guess_social_columns(columns: Iterable[str]) -> dict[str, str | None]:
    """Guess the content (post) and campaign columns from their names.

    Returns
    -------
    dict
        ``{"content": name or None, "campaign": name or None}``; the user may
        override either. Names such as ``content_id``, ``post_id``,
        ``creative_id``, ``ad_id``, ``tweet_id`` read as content; ``campaign``,
        ``campaign_name``, ``utm_campaign`` as campaign.
    """
    cols = [str(c) for c in columns if not str(c).startswith("_")]
    content = next((c for c in cols if _CONTENT_NAMES.fullmatch(c.strip())), None)
    campaign = next((c for c in cols if _CAMPAIGN_NAMES.fullmatch(c.strip())), None)
    return {"content": content, "campaign": campaign}

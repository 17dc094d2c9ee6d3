"""Social channels: engagement features, content and campaign performance, audiences of engaged users.

Event names are read as kinds (impression, click, like, comment, share, save,
follow, unfollow) by :class:`EventKinds`, from common names or the user's own.
Credit for conversions per channel or campaign lives in :mod:`analytics.attribution`
(it works on any log with a touch column, not only social ones).

Public entry points
-------------------
engagement_features(con, table, ...) -> EngagementFeatures      one row per user
content_performance(con, table, by, ...) -> ContentPerformance  one row per post / campaign
engagement_conversion(con, table, by, ...) -> EngagementConversion  conversion after each kind, per channel
engaged_audience(con, table, column, values, ...) -> Audience    users who engaged with X
    (the shared :class:`analytics.audiences.Audience`, stored with ``Workspace.save_audience``)
guess_social_columns(columns) -> {"content": ..., "campaign": ...}
"""

from analytics.audiences import Audience
from analytics.social.audience import engaged_audience
from analytics.social.content import (
    ContentPerformance,
    EngagementConversion,
    content_performance,
    engagement_conversion,
)
from analytics.social.engagement import ENGAGEMENT_DOCS, EngagementFeatures, engagement_features, engagement_query
from analytics.social.kinds import (
    DEFAULT_NAMES,
    ENGAGEMENT_KINDS,
    KINDS,
    EventKinds,
    ResolvedKinds,
    guess_social_columns,
    resolve_kinds,
)

__all__ = [
    "DEFAULT_NAMES",
    "ENGAGEMENT_DOCS",
    "ENGAGEMENT_KINDS",
    "KINDS",
    "Audience",
    "ContentPerformance",
    "EngagementConversion",
    "EngagementFeatures",
    "EventKinds",
    "ResolvedKinds",
    "content_performance",
    "engaged_audience",
    "engagement_conversion",
    "engagement_features",
    "engagement_query",
    "guess_social_columns",
    "resolve_kinds",
]

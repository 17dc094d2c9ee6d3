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

For a dataset in the workspace (computed once per (dataset, settings) and stored):
content_dataset(ws, dataset_id, ContentSettings(...)) -> ContentPerformance
engagement_dataset(ws, dataset_id, EngagementSettings(...)) -> EngagementView
audience_dataset(ws, dataset_id, column, values, ...) -> Audience
social_columns(dataset) -> {"content": ..., "campaign": ...}
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
    social_events,
)
from analytics.social.stored import (
    ContentSettings,
    EngagementSettings,
    EngagementView,
    audience_dataset,
    content_dataset,
    engagement_dataset,
    social_columns,
)

__all__ = [
    "audience_dataset",
    "content_dataset",
    "engagement_dataset",
    "social_columns",
    "social_events",
    "DEFAULT_NAMES",
    "ENGAGEMENT_DOCS",
    "ENGAGEMENT_KINDS",
    "KINDS",
    "Audience",
    "ContentPerformance",
    "ContentSettings",
    "EngagementConversion",
    "EngagementFeatures",
    "EngagementSettings",
    "EngagementView",
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

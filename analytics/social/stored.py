"""Social analyses of a dataset in the workspace: computed once per (dataset, settings), stored, found again.

The Channels page goes through these: :func:`content_dataset` (posts or
campaigns ranked, kind ``content``), :func:`engagement_dataset` (per-user
engagement features and conversion after each kind of event, kind
``engagement``) and :func:`audience_dataset` ("users who engaged with X", saved
with :meth:`analytics.workspace.Workspace.save_audience`). The ``lookup=True``
form of the first two only looks for a stored result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.attribution.stored import require_events_in_workspace
from analytics.audiences import Audience
from analytics.errors import DatasetNotFoundError
from analytics.jsonable import json_safe
from analytics.progress import Progress, no_progress
from analytics.social.audience import engaged_audience
from analytics.social.content import (
    ContentPerformance,
    EngagementConversion,
    content_performance,
    engagement_conversion,
)
from analytics.social.engagement import EngagementFeatures, engagement_features
from analytics.social.kinds import ENGAGEMENT_KINDS, guess_social_columns

if TYPE_CHECKING:
    from analytics.workspace import Dataset, Workspace

CANONICAL = {"content": "content_id", "campaign": "campaign"}


def social_columns(ds: Dataset) -> dict[str, str | None]:
    """The post and campaign columns of a dataset: ``{"content": ..., "campaign": ...}``.

    The canonical ``content_id`` and ``campaign`` when the events table has them
    (a mapping with content and campaign roles names them so), else guessed from
    the names of its other text columns (:func:`analytics.social.guess_social_columns`).
    """
    columns = ds.text_columns
    guessed = guess_social_columns(columns)
    return {role: name if name in columns else guessed[role] for role, name in CANONICAL.items()}


@dataclass(frozen=True)
class ContentSettings:
    """What a content table depends on (see :func:`analytics.social.content_performance`)."""

    by: str = "content_id"
    conversion: str | None = "purchase"
    window_days: float = 7.0
    confidence: float = 0.95
    min_users: int = 30

    def to_dict(self) -> dict:
        return asdict(self) | {"window_days": float(self.window_days), "confidence": float(self.confidence)}

    def key(self) -> str:
        return _key("c", self.to_dict())


@dataclass(frozen=True)
class EngagementSettings:
    """What the engagement view depends on: the per-user features and conversion after each kind per ``by``.

    ``conversion`` None leaves the conversion view out (a log without conversions).
    """

    by: str = "channel"
    conversion: str | None = "purchase"
    window_days: float = 7.0
    content: str | None = None
    confidence: float = 0.95
    min_users: int = 30

    def to_dict(self) -> dict:
        return asdict(self) | {"window_days": float(self.window_days), "confidence": float(self.confidence)}

    def key(self) -> str:
        return _key("e", self.to_dict())


@dataclass
class EngagementView:
    """Per-user engagement features, and (with a conversion event) conversion after each kind per channel."""

    features: EngagementFeatures
    conversion: EngagementConversion | None


def content_dataset(ws: Workspace, dataset_id: str, settings: ContentSettings, *, lookup: bool = False,
                    progress: Progress | None = None) -> ContentPerformance | None:
    """Posts (campaigns, ...) of a stored dataset ranked by engagement and by conversions after exposure.

    Returns the stored table for these settings, or computes and stores it
    (with ``lookup=True``: None instead of computing).

    Raises
    ------
    MappingError, NoDataError, InvalidParameterError
        As :func:`analytics.social.content_performance`.
    """
    found = _stored(ws, dataset_id, "content", settings.key())
    if found is not None:
        return _from_store(ContentPerformance, found.meta, found.frames)
    if lookup:
        return None
    ds = ws.get(dataset_id)
    require_events_in_workspace(ds, "Content performance")
    (progress or no_progress)(0.1, f"Reach, engagement and conversions per {settings.by}")
    s = settings
    perf = content_performance(ws.cursor(), ds.events_table, s.by, conversion=s.conversion,
                               window_days=s.window_days, confidence=s.confidence, min_users=s.min_users)
    meta, frames = _to_store(perf)
    ws.put_result(dataset_id, "content", settings.key(), meta | {"settings": settings.to_dict()}, frames)
    return perf


def engagement_dataset(ws: Workspace, dataset_id: str, settings: EngagementSettings, *, lookup: bool = False,
                       progress: Progress | None = None) -> EngagementView | None:
    """Per-user engagement features and conversion after each kind of event, for a stored dataset.

    Returns the stored view for these settings, or computes and stores it
    (with ``lookup=True``: None instead of computing).

    Raises
    ------
    MappingError, NoDataError, InvalidParameterError
        As :func:`analytics.social.engagement_features` and
        :func:`analytics.social.engagement_conversion`.
    """
    found = _stored(ws, dataset_id, "engagement", settings.key())
    if found is not None:
        features = _from_store(EngagementFeatures, found.meta["features"], {"table": found.frames["features"]})
        conv = None
        if "conversion" in found.frames:
            conv = _from_store(EngagementConversion, found.meta["conversion"], {"table": found.frames["conversion"]})
        return EngagementView(features, conv)
    if lookup:
        return None
    ds = ws.get(dataset_id)
    require_events_in_workspace(ds, "Engagement")
    say = progress or no_progress
    s = settings
    cur = ws.cursor()
    say(0.1, "Engagement features per user")
    features = engagement_features(cur, ds.events_table, channel=s.by, content=s.content)
    conv = None
    if s.conversion is not None:
        say(0.6, f"Conversion after each kind of event, per {s.by}")
        conv = engagement_conversion(cur, ds.events_table, s.by, conversion=s.conversion, window_days=s.window_days,
                                     confidence=s.confidence, min_users=s.min_users)
    f_meta, f_frames = _to_store(features)
    meta = {"settings": settings.to_dict(), "features": f_meta}
    frames = {"features": f_frames["table"]}
    if conv is not None:
        c_meta, c_frames = _to_store(conv)
        meta["conversion"] = c_meta
        frames["conversion"] = c_frames["table"]
    ws.put_result(dataset_id, "engagement", settings.key(), meta, frames)
    return EngagementView(features, conv)


def audience_dataset(ws: Workspace, dataset_id: str, column: str, values: Sequence[str], *,
                     kinds: Sequence[str] = ENGAGEMENT_KINDS, since: datetime | None = None,
                     until: datetime | None = None, min_engagements: int = 1) -> Audience:
    """The users of a stored dataset who engaged with given posts, campaigns or channels.

    See :func:`analytics.social.engaged_audience`; store the result with
    :meth:`analytics.workspace.Workspace.save_audience`.
    """
    ds = ws.get(dataset_id)
    require_events_in_workspace(ds, "An audience of engaged users")
    return engaged_audience(ws.cursor(), ds.events_table, column, values, kinds=kinds, since=since, until=until,
                            min_engagements=min_engagements)


def _key(prefix: str, settings: dict) -> str:
    return prefix + hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _stored(ws: Workspace, dataset_id: str, kind: str, key: str):
    if not any(r.key == key for r in ws.results(dataset_id, kind)):
        return None
    try:
        return ws.result(dataset_id, kind, key)
    except DatasetNotFoundError:  # deleted in between (another tab)
        return None


def _to_store(result: Any) -> tuple[dict, dict[str, pd.DataFrame]]:
    """A result dataclass as JSON metadata (its other fields) and tables (its DataFrame fields)."""
    values = {f.name: getattr(result, f.name) for f in fields(result)}
    frames = {k: v for k, v in values.items() if isinstance(v, pd.DataFrame)}
    return json_safe({k: v for k, v in values.items() if k not in frames}), frames


def _from_store(cls: type, meta: dict, frames: dict[str, pd.DataFrame]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in meta.items() if k in names}, **frames)

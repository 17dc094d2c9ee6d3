"""Journey views of a workspace dataset: computed once per (dataset, settings), stored, and found again.

The page, the CLI (``--dataset``) and a notebook go through here, so they see the
same numbers. Each result is stored as a workspace result of kind ``journey``
under a key derived from the view's settings (and, for a breakdown by a saved
segmentation or audience, from when that was saved, so re-saving it never shows
an outdated breakdown); the newest :data:`KEEP` per view and dataset are kept.
Audiences picked from a funnel step or a cohort cell are stored with
:meth:`analytics.workspace.Workspace.save_audience`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from analytics.audiences import Audience, membership
from analytics.errors import DatasetNotFoundError, InvalidParameterError
from analytics.journeys.audiences import cohort_users, funnel_dropoff_users
from analytics.journeys.funnel import FunnelResult, funnel
from analytics.journeys.lifecycle import LifecycleResult, lifecycle
from analytics.journeys.paths import PathsResult, paths
from analytics.journeys.retention import RetentionResult, retention
from analytics.journeys.settings import (
    SETTINGS,
    Breakdown,
    FunnelSettings,
    LifecycleSettings,
    PathsSettings,
    RetentionSettings,
    ViewSettings,
)
from analytics.progress import Progress
from analytics.sql import quote_ident
from analytics.workspace import Dataset, Workspace
from analytics.workspace.store import params_key

KIND = "journey"
KEEP = 20
RESULTS = {"funnel": FunnelResult, "retention": RetentionResult, "paths": PathsResult, "lifecycle": LifecycleResult}
JourneyResult = FunnelResult | RetentionResult | PathsResult | LifecycleResult


@dataclass(frozen=True)
class StoredView:
    """A computed view: its settings, its result, and where and when it was stored (``key`` None: not stored)."""

    settings: ViewSettings
    result: JourneyResult
    key: str | None
    created_at: datetime | None


def events_dataset(ws: Workspace, dataset_id: str) -> Dataset:
    """The dataset, refused with a message when its events are not in the workspace (a Spark-connected log)."""
    ds = ws.get(dataset_id)
    if not ds.has_events:
        raise InvalidParameterError(
            f"The events of '{ds.name}' live in the data lake (Spark), and journeys are computed on events in the "
            "workspace. Import the log (or a sample of it) to see funnels, retention and paths.")
    return ds


def breakdowns(ws: Workspace, dataset_id: str) -> list[Breakdown]:
    """Every breakdown the dataset offers: its attributes, then saved segmentations, then saved audiences."""
    ds = ws.get(dataset_id)
    out = [Breakdown("attribute", a) for a in ds.profile.attributes]
    out += [Breakdown("segmentation", s.key) for s in ws.results(dataset_id, "segmentation")]
    out += [Breakdown("audience", s.key) for s in ws.results(dataset_id, "audience")]
    return out


def storage_key(ws: Workspace, dataset_id: str, settings: ViewSettings) -> str:
    """The key a view's result is stored under: the view and a hash of its settings (and breakdown version)."""
    version = _source_version(ws, dataset_id, settings)
    return f"{settings.view}_{params_key({'settings': settings.to_dict(), 'source': version})}"


def find(ws: Workspace, dataset_id: str, settings: ViewSettings) -> StoredView | None:
    """The stored result of a view for these settings, or None when it was never computed."""
    try:
        key = storage_key(ws, dataset_id, settings)
        stored = ws.result(dataset_id, KIND, key)
    except DatasetNotFoundError:
        return None  # never computed, or the segmentation or audience of the breakdown is gone
    document = json.loads(stored.frames["result"]["json"].iloc[0])
    return StoredView(settings, RESULTS[settings.view].from_dict(document), key, stored.created_at)


def latest_settings(ws: Workspace, dataset_id: str, view: str) -> ViewSettings | None:
    """The settings of the newest stored result of a view (to show it again after a reload)."""
    for r in ws.results(dataset_id, KIND):
        if r.meta.get("view") == view:
            return SETTINGS[view].from_dict(r.meta["settings"])
    return None


def compute(ws: Workspace, dataset_id: str, settings: ViewSettings, progress: Progress | None = None, *,
            store: bool = True) -> StoredView:
    """The view's result: the stored one for these settings, or computed now (and stored unless ``store=False``).

    Raises
    ------
    InvalidParameterError, NoDataError, DatasetNotFoundError
        With the library's message (steps that never occur, a window of 0, ...).
    """
    if store:
        found = find(ws, dataset_id, settings)
        if found is not None:
            if progress is not None:
                progress(1.0, "Found the stored result")
            return found
    ds = events_dataset(ws, dataset_id)
    con, table = ws.cursor(), ds.events_table
    if isinstance(settings, FunnelSettings):
        result = funnel(con, table, list(settings.steps), settings.window_days, exclude=settings.exclude,
                        any_order=settings.any_order, top=settings.top, progress=progress,
                        **_breakdown_args(ws, ds, settings.breakdown))
    elif isinstance(settings, RetentionSettings):
        result = retention(con, table, settings.period, cohort_event=settings.cohort_event,
                           return_event=settings.return_event, top=settings.top, progress=progress,
                           **_breakdown_args(ws, ds, settings.breakdown))
    elif isinstance(settings, PathsSettings):
        result = paths(con, table, settings.event, settings.steps, direction=settings.direction, top=settings.top,
                       collapse_repeats=settings.collapse_repeats, progress=progress)
    elif isinstance(settings, LifecycleSettings):
        result = lifecycle(con, table, settings.period, event=settings.event, progress=progress)
    else:
        raise InvalidParameterError(f"Unknown journey view settings: {type(settings).__name__}.")
    if not store:
        return StoredView(settings, result, None, None)
    # The result document goes in a one-row table, so listing stored views stays light.
    document = pd.DataFrame({"json": [json.dumps(result.to_dict())]})
    key = ws.put_result(dataset_id, KIND, storage_key(ws, dataset_id, settings),
                        {"view": settings.view, "settings": settings.to_dict()}, {"result": document})
    _prune(ws, dataset_id, settings.view)
    stored = ws.result(dataset_id, KIND, key)
    return StoredView(settings, result, key, stored.created_at)


def funnel_audience(ws: Workspace, dataset_id: str, settings: FunnelSettings, reached: int,
                    group: str | None = None) -> Audience:
    """Users who reached step ``reached`` but not the next (or completed the funnel), optionally of one group."""
    ds = events_dataset(ws, dataset_id)
    return funnel_dropoff_users(ws.cursor(), ds.events_table, list(settings.steps), reached, settings.window_days,
                                exclude=settings.exclude, any_order=settings.any_order, top=settings.top,
                                group=group, **_breakdown_args(ws, ds, settings.breakdown))


def cohort_audience(ws: Workspace, dataset_id: str, settings: RetentionSettings, cohort_start: date | str,
                    offset: int | None, retained: bool = True, group: str | None = None) -> Audience:
    """Users of one cohort cell (active in it, or with ``retained=False`` not), optionally of one group."""
    ds = events_dataset(ws, dataset_id)
    return cohort_users(ws.cursor(), ds.events_table, cohort_start, offset, settings.period, retained=retained,
                        cohort_event=settings.cohort_event, return_event=settings.return_event, top=settings.top,
                        group=group, **_breakdown_args(ws, ds, settings.breakdown))


def save_audience(ws: Workspace, dataset_id: str, audience: Audience, name: str) -> str:
    """Store an audience under the name the user gave it (its key is returned); an existing one is replaced."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError("Give the audience a name (letters or digits).")
    named = Audience(name.strip(), audience.description, audience.users, audience.rule)
    return ws.save_audience(dataset_id, named, name.strip())


def _breakdown_args(ws: Workspace, ds: Dataset, breakdown: Breakdown | None) -> dict:
    """``by=`` or ``segments=`` for the library call."""
    if breakdown is None:
        return {}
    if breakdown.kind == "attribute":
        return {"by": breakdown.name}
    if breakdown.kind == "segmentation":
        labels = ws.result(ds.id, "segmentation", breakdown.name).frames["labels"]
        return {"segments": labels[["user_id", "segment"]]}
    audience = ws.audience(ds.id, breakdown.name)
    users = ws.cursor().execute(f"SELECT DISTINCT user_id FROM {quote_ident(ds.events_table)}").df()["user_id"]
    return {"segments": membership(audience, users)}


def _source_version(ws: Workspace, dataset_id: str, settings: ViewSettings) -> str | None:
    """When the saved segmentation or audience of the breakdown was stored (None without one)."""
    breakdown = getattr(settings, "breakdown", None)
    if breakdown is None or breakdown.kind == "attribute":
        return None
    for r in ws.results(dataset_id, breakdown.kind):
        if r.key == breakdown.name:
            return r.created_at.isoformat()
    raise DatasetNotFoundError(
        f"The saved {breakdown.kind} '{breakdown.name}' is not in this dataset any more; pick another breakdown.")


def _prune(ws: Workspace, dataset_id: str, view: str) -> None:
    """Keep the newest :data:`KEEP` stored results of a view."""
    mine = [r for r in ws.results(dataset_id, KIND) if r.meta.get("view") == view]
    for old in mine[KEEP:]:
        ws.drop_result(dataset_id, KIND, old.key)

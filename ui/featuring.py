"""Session-side glue for the Features page: parameters, stored tables, building, summaries."""

from __future__ import annotations

from datetime import datetime, time

import pandas as pd

from analytics.features.spec import FeatureParams
from analytics.features.summary import feature_summary
from analytics.social.kinds import social_events
from analytics.workspace import Dataset
from ui import datasets, state


def params(ds: Dataset, purchase_event: str | None, as_of_date, top_events: int, gap_minutes: int,
           engagement: bool | None = None) -> FeatureParams:
    """Feature parameters from the page's widgets; the dataset's last day means "as of the last event".

    ``engagement`` None keeps the dataset's default (on when the log has social events).
    """
    as_of = None if as_of_date == ds.ts_max.date() else datetime.combine(as_of_date, time.max).replace(microsecond=0)
    extra = {} if engagement is None else {"engagement": bool(engagement)}
    return state.workspace().feature_params(ds.id, purchase_event=purchase_event, as_of=as_of,
                                            top_events=int(top_events), session_gap_minutes=int(gap_minutes), **extra)


def social_kinds(ds: Dataset) -> dict[str, list[str]]:
    """Kind -> the log's event names of that kind, when the log has social events in the workspace (else empty)."""
    if not ds.has_events:
        return {}
    out: dict[str, list[str]] = {}
    for event, kind in sorted(social_events(ds.profile.event_counts).items()):
        out.setdefault(kind, []).append(event)
    return out


def stored(ds: Dataset, feature_params: FeatureParams | None = None) -> str | None:
    """The stored feature table for these parameters, or None if it has not been built."""
    ws = state.workspace()
    return ws.stored_features_table(ds.id, feature_params or ws.feature_params(ds.id))


def build(ds: Dataset, feature_params: FeatureParams | None = None) -> str:
    """Build (or find) the feature table; on Spark datasets this reads the whole log again."""
    return state.workspace().features_table(ds.id, feature_params)


def table(name: str) -> pd.DataFrame:
    return datasets.stored_table(name)


def meta(ds: Dataset, feature_params: FeatureParams) -> dict:
    return state.workspace().feature_meta(ds.id, feature_params)


def summary(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary statistics: numbers and text columns."""
    return feature_summary(frame)

"""Session-side glue for the Features page: parameters, stored tables, building, summaries."""

from __future__ import annotations

from datetime import datetime, time

import pandas as pd

from analytics.features.spec import FeatureParams
from analytics.features.summary import feature_summary
from analytics.workspace import Dataset
from ui import datasets, state


def params(ds: Dataset, purchase_event: str | None, as_of_date, top_events: int, gap_minutes: int) -> FeatureParams:
    """Feature parameters from the page's widgets; the dataset's last day means "as of the last event"."""
    as_of = None if as_of_date == ds.ts_max.date() else datetime.combine(as_of_date, time.max).replace(microsecond=0)
    return state.workspace().feature_params(ds.id, purchase_event=purchase_event, as_of=as_of,
                                            top_events=int(top_events), session_gap_minutes=int(gap_minutes))


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

"""What to cluster on: the default columns, derived ones, and how each is labelled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, NoDataError

DEFAULT_FEATURES: tuple[str, ...] = (
    "recency_days", "frequency", "monetary", "avg_order_value", "n_sessions", "events_per_session",
    "tenure_days", "session_conversion_rate",
)


"""RFM plus behaviour, one column per idea. Volume columns that move together (n_events,
active_days, n_<event>) are left out of the default because each extra copy of "how active"
gives activity more weight in the distances; users can still add them."""


DERIVED_DOCS: dict[str, str] = {
    "events_per_session": "Average events per session (n_events / n_sessions): how deeply a user browses",
}


"""Columns computed here from the feature table when asked for (not stored in it)."""


# What a missing value means for columns that are empty by design (no purchase yet).
# "max": as long ago as anyone; a number: that value; anything else: the median.
MISSING_MEANS: dict[str, float | str] = {
    "avg_order_value": 0.0,
    "days_since_last_purchase": "max",
    "mean_days_between_purchases": "max",
}

# Who has a value in those columns: segment profiles compare them among these users only (the filled
# value is right for clustering, but would make every segment of buyers look "above average").
DEFINED_FOR: dict[str, str] = {
    "avg_order_value": "buyers",
    "days_since_last_purchase": "buyers",
    "mean_days_between_purchases": "repeat buyers",
}


# Counts and money are skewed (a few users with 100x the median); log1p keeps them from
# dominating the distances. Durations and rates are bounded and left as they are.
LOG_COLUMNS: frozenset[str] = frozenset({
    "frequency", "monetary", "avg_order_value", "n_events", "n_sessions", "active_days",
    "events_per_session", "n_other_events",
})

FEATURE_LABELS: dict[str, str] = {
    "recency_days": "recency (days)",
    "frequency": "purchases",
    "monetary": "revenue",
    "avg_order_value": "order value",
    "n_sessions": "visits",
    "events_per_session": "events per visit",
    "tenure_days": "tenure (days)",
    "session_conversion_rate": "conversion",
    "n_events": "events",
    "active_days": "active days",
    "days_since_last_purchase": "days since purchase",
    "mean_days_between_purchases": "days between purchases",
}


def feature_label(column: str) -> str:
    """Readable name of a feature column for labels and segment names."""
    if column in FEATURE_LABELS:
        return FEATURE_LABELS[column]
    if column.startswith("n_"):
        return column[2:].replace("_", " ") + " count"
    return column.replace("_", " ")


@dataclass
class FeatureChoice:
    """The columns to cluster on, and why others were left out.

    Attributes
    ----------
    columns : list of str
        Usable columns, in a stable order.
    available : list of str
        Every numeric column the user may pick from (including derived ones).
    notices : list of str
        Plain sentences about dropped or unknown columns, for the page.
    """

    columns: list[str]
    available: list[str]
    notices: list[str] = field(default_factory=list)


def numeric_candidates(features: pd.DataFrame) -> list[str]:
    """Numeric columns of a feature table that could be clustered on, plus derivable ones."""
    check_table(features)
    cols = [c for c in features.columns
            if c != "user_id" and pd.api.types.is_numeric_dtype(features[c]) and not pd.api.types.is_bool_dtype(
                features[c])]
    if {"n_events", "n_sessions"} <= set(cols):
        cols.append("events_per_session")
    return cols


def choose_features(features: pd.DataFrame, columns: Sequence[str] | None = None) -> FeatureChoice:
    """Pick the columns to cluster on: the default set, or the user's, minus useless ones.

    Parameters
    ----------
    features : DataFrame
        Per-user feature table (``user_id`` plus feature columns).
    columns : list of str, optional
        The user's choice. None: :data:`DEFAULT_FEATURES` that exist in the table
        (all numeric columns if none of them do).

    Returns
    -------
    FeatureChoice
        Columns that are numeric, not empty and not constant, and notices about the rest.

    Raises
    ------
    InvalidParameterError
        A chosen column is not in the table or is not numeric.
    NoDataError
        No usable column is left (every user has the same values).
    """
    available = numeric_candidates(features)
    notices: list[str] = []
    if columns is None:
        wanted = [c for c in DEFAULT_FEATURES if c in available] or list(available)
    else:
        wanted = list(dict.fromkeys(columns))
        if not wanted:
            raise InvalidParameterError("Choose at least one feature to build segments from.")
        unknown = [c for c in wanted if c not in features.columns and c not in DERIVED_DOCS]
        if unknown:
            raise InvalidParameterError(
                f"These features are not in the feature table: {', '.join(map(str, unknown))}. "
                f"Pick from: {', '.join(available)}.")
        not_numeric = [c for c in wanted if c not in available]
        if not_numeric:
            raise InvalidParameterError(
                f"Only numeric features can be used for segments; {', '.join(map(str, not_numeric))} "
                "holds text. Leave it out (it is still shown in the segment profiles' data).")
    frame = feature_frame(features, wanted)
    kept = []
    for col in wanted:
        values = frame[col].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if len(finite) == 0:
            notices.append(f"'{col}' was left out: it is empty for every user.")
        elif np.ptp(finite) == 0 and col not in MISSING_MEANS:
            notices.append(f"'{col}' was left out: every user has the same value ({finite[0]:g}).")
        elif np.ptp(finite) == 0 and np.isfinite(values).all():
            notices.append(f"'{col}' was left out: every user has the same value ({finite[0]:g}).")
        else:
            kept.append(col)
    if not kept:
        raise NoDataError(
            "Every user has the same value in every chosen feature, so there is nothing to tell them apart. "
            "Choose other features or a dataset with more varied behaviour.")
    return FeatureChoice(columns=kept, available=available, notices=notices)


def feature_frame(features: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The chosen columns as floats, with derived columns computed and inf turned into NaN."""
    out = {}
    for col in columns:
        if col == "events_per_session" and col not in features.columns:
            sessions = pd.to_numeric(features["n_sessions"], errors="coerce").astype(float)
            out[col] = pd.to_numeric(features["n_events"], errors="coerce").astype(float) / sessions.where(
                sessions > 0)
        else:
            out[col] = pd.to_numeric(features[col], errors="coerce").astype(float)
    frame = pd.DataFrame(out, index=features.index)
    return frame.replace([np.inf, -np.inf], np.nan)


def check_table(features: Any) -> None:
    if not isinstance(features, pd.DataFrame):
        raise InvalidParameterError(f"Expected a feature table (pandas DataFrame), got {type(features).__name__}.")
    if len(features) == 0:
        raise NoDataError("The feature table has no users; import a log with events first.")

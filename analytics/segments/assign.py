"""Placing other users (e.g. features as of a cutoff) into an existing segmentation's segments."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.segments.clustering import nearest_centre
from analytics.segments.features import feature_frame
from analytics.segments.preprocessing import Preprocessing, prepare
from analytics.segments.rfm import rfm_scores
from analytics.segments.segment import SegmentationResult


def assign_segments(result: SegmentationResult, fitted_on: pd.DataFrame, features: pd.DataFrame) -> pd.Series:
    """Put users of another feature table (e.g. as of a cutoff) into a segmentation's segments.

    The preprocessing is fitted again on the table the segmentation was made from
    (``fitted_on``: same data, same settings, same result) and each user of
    ``features`` goes to the nearest segment centre, as K-means would assign them.

    Parameters
    ----------
    result : SegmentationResult
    fitted_on : DataFrame
        The feature table the segmentation was computed on.
    features : DataFrame
        ``user_id`` and the segmentation's columns, computed with the same settings.

    Returns
    -------
    Series
        user_id -> segment name.

    Raises
    ------
    InvalidParameterError
        ``features`` lacks a column the segments were made from.
    """
    return SegmentPlacer(result, fitted_on).place(features)


class SegmentPlacer:
    """:func:`assign_segments` with the preprocessing fitted once, for placing users again and again
    (a scoring service placing each new user as they are scored)."""

    def __init__(self, result: SegmentationResult, fitted_on: pd.DataFrame):
        if result.space != "features":
            raise InvalidParameterError(
                "This segmentation was found in behaviour-sequence embeddings, so other users cannot be placed in "
                "it from their features alone. Use a segmentation made on the aggregate features here.")
        self.result = result
        self._prep = None if result.method == "rfm" else prepare(
            fitted_on, result.columns, Preprocessing.from_dict(result.preprocessing)).pipeline

    def place(self, features: pd.DataFrame) -> pd.Series:
        """user_id -> segment name of each user of ``features`` (see :func:`assign_segments`)."""
        result = self.result
        missing = [c for c in result.columns if c not in features.columns and c != "events_per_session"]
        if missing:
            raise InvalidParameterError(f"The users to place lack {', '.join(missing)}, which the segments were "
                                        "made from; compute their features with the same settings.")
        if self._prep is None:  # RFM: the same score boundaries, not the new users' own fifths
            scores = rfm_scores(features, result.rules["edges"])
            return pd.Series(scores["segment_name"].to_numpy(), index=scores["user_id"].to_numpy())
        X = self._prep.transform(feature_frame(features, result.columns).to_numpy(dtype=float))
        labels = nearest_centre(X, np.asarray(result.centers, dtype=float))
        return pd.Series(np.asarray(result.names, dtype=object)[labels],
                         index=features["user_id"].astype(str).to_numpy())

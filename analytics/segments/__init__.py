"""Customer segments: which features, how many segments, which users, what they mean, and maps.

A typical session::

    from analytics import segments
    choice = segments.choose_features(table)                    # default columns + notices
    sweep = segments.k_sweep(table, choice.columns)              # scores for k = 2..12
    result = segments.segment(table, sweep.recommended_k, columns=choice.columns)
    emb = segments.embed(table, "umap", labels=result.labels, columns=result.columns)

One module per step: ``features`` (what to cluster on), ``preprocessing``
(fill, cap, log, scale), ``ksweep`` (how many), ``clustering`` (K-means, Ward),
``describe`` (KPIs, profiles, names), ``stability``, ``segment`` (the whole
run and its result), ``maps`` (t-SNE, UMAP, PCA) and ``umap_loader``.
"""

from __future__ import annotations

from analytics.segments.assign import SegmentPlacer, assign_segments
from analytics.segments.clustering import METHODS
from analytics.segments.describe import name_segments, segment_kpis
from analytics.segments.features import (
    DEFAULT_FEATURES,
    FeatureChoice,
    choose_features,
    feature_label,
    numeric_candidates,
)
from analytics.segments.ksweep import KSweepResult, k_sweep, recommend_k
from analytics.segments.maps import DEFAULT_MAX_POINTS, Embedding, embed, warm_up
from analytics.segments.maps import METHODS as MAP_METHODS
from analytics.segments.preprocessing import SCALINGS, Prepared, Preprocessing, prepare
from analytics.segments.rfm import grid_table as rfm_grid_table
from analytics.segments.rfm import rfm_scores, rfm_segment
from analytics.segments.segment import SegmentationResult, rename_segments, segment
from analytics.segments.umap_loader import load_umap

__all__ = ["DEFAULT_FEATURES", "DEFAULT_MAX_POINTS", "MAP_METHODS", "METHODS", "SCALINGS", "SegmentPlacer",
           "assign_segments",
           "choose_features", "embed", "Embedding", "feature_label", "FeatureChoice", "k_sweep", "KSweepResult",
           "load_umap", "name_segments", "numeric_candidates", "prepare", "Prepared", "Preprocessing", "recommend_k",
           "rename_segments", "rfm_grid_table", "rfm_scores", "rfm_segment", "segment", "segment_kpis",
           "SegmentationResult", "warm_up"]

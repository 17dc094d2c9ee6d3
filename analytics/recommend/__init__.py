"""Recommendations: the next best product for each user and segment.

Public entry points (each validates its input and raises :mod:`analytics.errors`):

- :func:`build_interactions` - events table (DuckDB) -> weighted users x products;
  :func:`guess_item_column`, :func:`item_events`, :func:`suggested_weights`,
  :func:`item_attributes` - what the log says about its products.
- :func:`make_model` / the model classes - one interface: ``fit(interactions)``,
  ``recommend(user_indices, k, exclude_seen=True) -> (items, scores)``; ``gru4rec``
  (:class:`~analytics.recommend.sequential.SequenceGRU`) reads the order of each
  user's products and needs PyTorch (:func:`offered_models` leaves it out without it).
- :func:`evaluate` - models compared on a last-N or time split (:class:`EvaluationResult`).
- :func:`top_items`, :func:`recommend_latest`, :func:`segment_items`, :func:`also_bought`,
  :func:`export_recommendations` - putting the results to use.
- :func:`save_recommender` / :func:`load_recommender` - numpy + JSON, no pickle.
"""

from analytics.recommend.base import Recommender
from analytics.recommend.catalogue import (
    guess_item_column,
    item_attributes,
    item_column_choices,
    item_events,
    suggested_weights,
)
from analytics.recommend.evaluation import (
    PROTOCOLS,
    EvaluationResult,
    default_split_date,
    evaluate,
    ranking_metrics,
    split_by_time,
    split_last_n,
)
from analytics.recommend.factorization import ALS, BPR
from analytics.recommend.interactions import DEFAULT_WEIGHTS, Interactions, build_interactions, from_frame
from analytics.recommend.models import EASE, ItemKNN, Popularity, RecentPopularity
from analytics.recommend.persistence import (
    SavedRecommender,
    load_recommender,
    read_recommender_metadata,
    save_recommender,
)
from analytics.recommend.use import (
    also_bought,
    export_recommendations,
    flat_scores,
    recommend_latest,
    segment_items,
    top_items,
)
from analytics.recommend.zoo import DEEP_MODELS, DEFAULT_MODELS, MODELS, make_model, offered_models, parse_models

__all__ = [
    "ALS", "BPR", "DEEP_MODELS", "DEFAULT_MODELS", "DEFAULT_WEIGHTS", "EASE", "MODELS", "PROTOCOLS", "EvaluationResult",
    "Interactions", "ItemKNN", "Popularity", "RecentPopularity", "Recommender", "SavedRecommender", "also_bought",
    "build_interactions", "default_split_date", "evaluate", "export_recommendations", "flat_scores", "from_frame",
    "guess_item_column", "item_attributes", "item_column_choices", "item_events", "load_recommender", "make_model",
    "offered_models", "parse_models", "ranking_metrics", "read_recommender_metadata", "recommend_latest",
    "save_recommender",
    "segment_items", "split_by_time", "split_last_n", "suggested_weights", "top_items",
]

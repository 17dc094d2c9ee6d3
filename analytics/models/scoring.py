"""Scoring users with a fitted or saved model: a feature table, or a stored dataset."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analytics.errors import InvalidParameterError, MarketLensError, ModelCompatibilityError
from analytics.models.customer_value import ValueFeatures, join_value_features, value_feature_table
from analytics.models.economics import target_list
from analytics.models.fitting import positive_scores
from analytics.models.persistence import TrainedModel, load_model
from analytics.models.zoo import prepare_features

if TYPE_CHECKING:
    from analytics.workspace import Workspace


def score(model: TrainedModel | str | Path, features: pd.DataFrame) -> pd.DataFrame:
    """Score users with a fitted or saved model.

    Parameters
    ----------
    model : TrainedModel or path
        A model from :func:`fit_model`/:func:`load_model`, or the folder of a saved one.
    features : DataFrame
        ``user_id`` and the model's feature columns, computed like at training
        (``TrainedModel.feature_params``, ``as_of`` = the date to score at);
        extra columns are ignored.

    Returns
    -------
    DataFrame
        ``user_id`` and ``score`` (0..1, higher = more likely positive), in the
        order of ``features``.

    Raises
    ------
    ModelCompatibilityError
        A feature the model needs is missing (or the saved model is refused).
    """
    if not isinstance(model, TrainedModel):
        model = load_model(model)
    if model.pipeline is None or (model.network is not None and not set(model.feature_kinds) <= set(features)):
        raise ModelCompatibilityError(
            f"{model.name} scores users from their events, not from a feature table alone. Score a stored dataset "
            "with score_dataset (or `python -m analytics score`), which reads them.")
    if not isinstance(features, pd.DataFrame):
        raise InvalidParameterError(f"features must be a table (DataFrame), got {type(features).__name__}.")
    if "user_id" not in features.columns:
        raise InvalidParameterError("The feature table has no 'user_id' column.")
    missing = [c for c in model.feature_kinds if c not in features.columns]
    if missing and model.value_features and set(missing) <= set(ValueFeatures.from_dict(model.value_features).columns):
        raise ModelCompatibilityError(
            f"The model uses customer-value features ({', '.join(missing)}) that the feature table lacks. Compute "
            "them as of the scoring date (analytics.value.value_features) and join them, or score a stored dataset "
            "with score_dataset, which does it for you.")
    if missing:
        raise ModelCompatibilityError(
            f"The new data lacks {len(missing)} feature{'s' if len(missing) > 1 else ''} the model was trained on: "
            f"{', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}. This happens when an event type or "
            "attribute is absent from the new log or named differently. Score data with the same events and "
            "attributes, or train a new model on it.")
    if features.empty:
        return pd.DataFrame({"user_id": pd.Series([], dtype=object), "score": pd.Series([], dtype=float)})
    Xp = prepare_features(features, model.feature_kinds)
    p = positive_scores(model.pipeline, Xp, model.name)
    return pd.DataFrame({"user_id": features["user_id"].astype(str).to_numpy(dtype=object), "score": p})


def score_dataset(ws: Workspace, dataset_id: str, model: TrainedModel | str | Path, *, as_of: datetime | None = None,
                  segments: pd.DataFrame | pd.Series | dict | None = None,
                  top_pct: float | None = None) -> pd.DataFrame:
    """The ranked target list of a dataset's users, scored by a model: the one way to score stored data.

    Features are computed (or taken from the workspace) with the settings the
    model was trained with, as of ``as_of`` (default: the dataset's last event).
    A model trained with customer-value features gets them computed again as of
    that date, from the events up to it only.

    Parameters
    ----------
    ws : Workspace
    dataset_id : str
    model : TrainedModel or path
        Fitted here, or the folder of a saved model (checked before use).
    as_of : datetime, optional
    segments : DataFrame, Series or dict, optional
        user_id -> segment, added as a column (see :func:`analytics.models.economics.target_list`).
    top_pct : float, optional
        Keep only the top share of users, in percent.

    Returns
    -------
    DataFrame
        ``user_id, score, rank, segment``, best first.

    Raises
    ------
    ModelCompatibilityError
        The model is refused (see :func:`load_model`), lacks features, or uses customer-value
        features that cannot be computed on this dataset as of ``as_of``.
    """
    if not isinstance(model, TrainedModel):
        model = load_model(model)
    features = ws.features(dataset_id, ws.feature_params(dataset_id, **model.feature_overrides(), as_of=as_of))
    if model.value_features:
        features = _with_value_features(ws, dataset_id, model, features, as_of)
    if model.network is not None:
        scored = _sequence_scores(ws, dataset_id, model, features, as_of)
    else:
        scored = score(model, features)
    return target_list(scored, segments, top_pct=top_pct)


def _sequence_scores(ws: Workspace, dataset_id: str, model: TrainedModel, features: pd.DataFrame,
                     as_of: datetime | None) -> pd.DataFrame:
    """Scores of a sequence model: the network on each user's events up to ``as_of`` (plus the booster's)."""
    from analytics.sequences.propensity import SCORE_COLUMN, network_scores
    from analytics.sequences.tokens import dataset_sequences
    from analytics.sequences.vocabulary import Vocabulary

    users = features["user_id"].astype(str).to_numpy(dtype=object)
    if not len(users):
        return pd.DataFrame({"user_id": pd.Series([], dtype=object), "score": pd.Series([], dtype=float)})
    vocab = Vocabulary.from_dict((model.sequence or {}).get("vocab") or {})
    p = network_scores(model.network, dataset_sequences(ws, dataset_id, users, as_of, vocab=vocab))
    if model.pipeline is None:
        return pd.DataFrame({"user_id": users, "score": p})
    return score(model, features.assign(**{SCORE_COLUMN: p}))


def _with_value_features(ws: Workspace, dataset_id: str, model: TrainedModel, features: pd.DataFrame,
                         as_of: datetime | None) -> pd.DataFrame:
    """The feature table with the model's customer-value features, computed as of the scoring date."""
    spec = ValueFeatures.from_dict(model.value_features)
    ds = ws.get(dataset_id)
    when = as_of if as_of is not None else ds.ts_max
    if when is None:
        raise ModelCompatibilityError(f"'{ds.name}' has no events to score.")
    try:
        extra = value_feature_table(ws, dataset_id, spec, when)
    except MarketLensError as exc:
        raise ModelCompatibilityError(
            f"This model uses customer-value features (P(alive), expected purchases), which cannot be computed on "
            f"'{ds.name}' as of {when:%Y-%m-%d}: {exc} Score data with enough repeat buyers, or train a model "
            "without them.") from exc
    return join_value_features(features, extra)

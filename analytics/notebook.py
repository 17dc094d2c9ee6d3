"""The shortest path from a DataFrame of events to features, segments and a model, for notebooks.

::

    import pandas as pd
    import analytics as ml

    events = pd.read_csv("sample_data/sample_events.csv.gz")   # one row per user event, any column names
    features = ml.features_from_events(events)                  # one row per user
    segments = ml.segment(features, k="auto")                   # K-means, k chosen from a sweep
    trained = ml.train(events, horizon_days=30)                 # buy in the next 30 days? LR, RF, boosting
    print(segments.summary[["name", "users"]], trained.report.best.label)

Nothing is written anywhere: the events go through the same import (role
guessing, cleaning) and the same feature and label definitions as in the app,
in a workspace that lives in memory for the length of the call.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.models import (
    DEFAULT_MODELS,
    ModelReport,
    TargetDefinition,
    TrainedModel,
    build_training_set,
    fit_model,
    train_models,
)
from analytics.workspace import Workspace, temporary_workspace


@dataclass
class Trained:
    """Models compared on one target, and the best one fitted on all users.

    Attributes
    ----------
    report : ModelReport
        Cross-validated metrics of every model (``report.best``, ``report.table()``).
    model : TrainedModel
        The best model fitted on all labelled users: ``analytics.score(model, features)``.
    """

    report: ModelReport
    model: TrainedModel


def features_from_events(events: pd.DataFrame, *, purchase_event: str | None = None, as_of: datetime | None = None,
                         columns: dict[str, str | None] | None = None) -> pd.DataFrame:
    """The per-user feature table of an events DataFrame, without a workspace on disk.

    Parameters
    ----------
    events : DataFrame
        One row per event; column roles are guessed as for an upload.
    purchase_event : str, optional
        The event that counts as a purchase (default: guessed).
    as_of : datetime, optional
        Reference date (default: the last event).
    columns : dict, optional
        Role overrides, e.g. ``{"user_id": "customer", "event": None, "event_name": "order"}``
        (see :func:`analytics.ingest.roles.mapping_with`).

    Returns
    -------
    DataFrame
        One row per user (see the README's feature table).
    """
    with temporary_workspace() as ws:
        ds = _import(ws, events, columns)
        overrides = {"as_of": as_of} | ({"purchase_event": purchase_event} if purchase_event else {})
        return ws.features(ds.id, ws.feature_params(ds.id, **overrides))


def train(events: pd.DataFrame, *, target_event: str | None = None, churn: bool = False, horizon_days: float = 30,
          cutoff: datetime | None = None, models: Sequence[str] = DEFAULT_MODELS, n_folds: int = 5,
          columns: dict[str, str | None] | None = None) -> Trained:
    """Compare classifiers on "does the user do ``target_event`` (or churn) in the days after the cutoff".

    Features use only events up to the cutoff and labels only the horizon after it,
    as on the Models page. See :class:`analytics.models.TargetDefinition` for the target.
    """
    with temporary_workspace() as ws:
        ds = _import(ws, events, columns)
        target = TargetDefinition(kind="churn" if churn else "event", target_event=target_event,
                                  horizon_days=horizon_days, cutoff=cutoff)
        training = build_training_set(ws, ds.id, target, n_folds=n_folds)
        report = train_models(training, models, n_folds=n_folds)
        if report.best is None:
            raise InvalidParameterError("No model could be evaluated on this target: "
                                        + "; ".join(r.error or "; ".join(r.notes) for r in report.results))
        return Trained(report, fit_model(training, report.best.key, cv_result=report.best))


def _import(ws: Workspace, events: pd.DataFrame, columns: dict | None):
    if not isinstance(events, pd.DataFrame):
        raise InvalidParameterError(f"events must be a pandas DataFrame, got {type(events).__name__}.")
    with tempfile.TemporaryDirectory(prefix="marketlens-events-") as tmp:
        path = Path(tmp) / "events.parquet"
        events.to_parquet(path, index=False)
        return ws.import_file(path, changes=columns, features=False, keep_original=False)

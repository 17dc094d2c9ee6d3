"""Session-side glue for the Models page: cached training sets, the current run, fitted models.

Everything here lives in this browser session's state: another session never
sees a training set or an unsaved model of this one. Runs are also stored in
the workspace (kind ``training``) so that a reload or a restart finds them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import streamlit as st

from analytics import labels, models
from analytics.workspace import Dataset, Workspace

_TRAINING = "model_training_sets"
_RUN = "model_run"
_FITTED = "model_fitted"


def training_set(ws: Workspace, ds: Dataset, target: labels.TargetDefinition) -> labels.TrainingSet:
    """X and y for this target (features as of the cutoff, labels after it), built once per session."""
    cache = st.session_state.setdefault(_TRAINING, {})
    key = (ds.id, json.dumps(target.to_dict(), sort_keys=True, default=str))
    if key not in cache:
        cache.clear()  # one target at a time: training sets can be large
        cache[key] = labels.build_training_set(ws, ds.id, target, n_folds=None)
    return cache[key]


def store_run(ws: Workspace, ds: Dataset, training: labels.TrainingSet, results: list[models.ModelResult],
              n_folds: int) -> str:
    """Keep a finished run in the workspace and make it this session's current run."""
    report = models.ModelReport(results, training.summary(), n_folds, 0)
    key = datetime.now(UTC).strftime("run_%Y%m%d_%H%M%S")
    meta = {"target": training.target.to_dict(), "results": [r.to_dict() for r in results],
            "training": training.summary(), "n_folds": n_folds, "best": report.best.key if report.best else None}
    key = ws.put_result(ds.id, "training", key, meta, {"scores": report.scores_frame(training)})
    st.session_state[_RUN] = (ds.id, key)
    st.session_state.pop(_FITTED, None)
    return key


def current_run(ws: Workspace, ds: Dataset) -> tuple[str, dict, list[models.ModelResult], object] | None:
    """This session's run for the dataset (or the latest stored one): key, meta, results with scores, scores."""
    chosen = st.session_state.get(_RUN)
    if not chosen or chosen[0] != ds.id:
        runs = ws.results(ds.id, "training")
        if not runs:
            return None
        chosen = (ds.id, runs[0]["key"])
        st.session_state[_RUN] = chosen
    meta, frames = ws.result(ds.id, "training", chosen[1])
    scores = frames["scores"]
    results = [models.ModelResult.from_dict(d, scores[d["model"]].to_numpy() if d["model"] in scores else None)
               for d in meta["results"]]
    return chosen[1], meta, results, scores


def fitted(training: labels.TrainingSet, result: models.ModelResult) -> models.TrainedModel:
    """The chosen model fitted on all labelled users (once per session and model)."""
    cache = st.session_state.setdefault(_FITTED, {})
    key = (training.fingerprint(), result.key, json.dumps(result.params, sort_keys=True, default=str))
    if key not in cache:
        cache.clear()
        cache[key] = models.fit_model(training, result.key, cv_result=result)
    return cache[key]

"""Session-side glue for the Models page: training sets, runs, closer looks, money, saving and scoring.

Training sets and fitted models live in this browser session; runs are also
stored in the workspace (kind ``training``) so a reload or a restart finds them.
Every expensive result (importance, learning curve, tuning, target list,
scores) is remembered under the dataset, run and model it belongs to
(:func:`ui.state.remember`), so it stays on screen across reruns and never
shows next to another dataset's or run's results.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import streamlit as st

from analytics import models
from analytics.workspace import Dataset
from ui import state

_TRAINING = "model_training_sets"
_RUN = "model_run"
_FITTED = "model_fitted"


@dataclass
class TrainingRun:
    """A finished training run: its target, each model's cross-validated result, and the out-of-fold scores."""

    dataset_id: str
    key: str
    target: models.TargetDefinition
    results: list[models.ModelResult]
    scores: pd.DataFrame  # user_id, label, one column of out-of-fold scores per model

    @property
    def usable(self) -> list[models.ModelResult]:
        """Models that produced scores."""
        return [r for r in self.results if r.ok and r.oof_scores is not None]

    @property
    def labels(self) -> np.ndarray:
        return self.scores["label"].to_numpy()

    def memo_key(self, result: models.ModelResult, *extra) -> tuple:
        """What a result computed for one model of this run depends on."""
        return (self.dataset_id, self.key, result.key, *extra)


def catalogue() -> dict[str, str]:
    """Model key -> name, cheapest first."""
    table = models.available_models()
    return dict(zip(table["key"], table["model"]))


def training_set(ds: Dataset, target: models.TargetDefinition) -> models.TrainingSet:
    """X and y for this target (features as of the cutoff, labels after it), built once per session."""
    cache = st.session_state.setdefault(_TRAINING, {})
    key = (ds.id, json.dumps(target.to_dict(), sort_keys=True, default=str))
    if key not in cache:
        cache.clear()  # one target at a time: training sets can be large
        cache[key] = models.build_training_set(state.workspace(), ds.id, target, n_folds=None)
    return cache[key]


def train(ds: Dataset, training: models.TrainingSet, keys: list[str], n_folds: int, out_of_time: bool,
          progress) -> Iterator[models.ModelResult]:
    """Cross-validate the chosen models, yielding each result as soon as it is done."""
    oot = models.build_out_of_time_set(state.workspace(), ds.id, training.target) if out_of_time else None
    return models.iter_train(training, keys, n_folds=n_folds, out_of_time=oot, progress=progress)


def results_table(results: list[models.ModelResult]) -> pd.DataFrame:
    return models.metrics_table(results)


def store_run(ds: Dataset, training: models.TrainingSet, results: list[models.ModelResult], n_folds: int) -> str:
    """Keep a finished run in the workspace and make it this session's current run."""
    report = models.ModelReport(results, training.summary(), n_folds, 0)
    key = datetime.now(UTC).strftime("run_%Y%m%d_%H%M%S")
    meta = {"target": training.target.to_dict(), "results": [r.to_dict() for r in results],
            "training": training.summary(), "n_folds": n_folds, "best": report.best.key if report.best else None}
    key = state.workspace().put_result(ds.id, "training", key, meta, {"scores": report.scores_frame(training)})
    st.session_state[_RUN] = (ds.id, key)
    st.session_state.pop(_FITTED, None)
    return key


def current_run(ds: Dataset) -> TrainingRun | None:
    """This session's run for the dataset, or the latest stored one."""
    ws = state.workspace()
    chosen = st.session_state.get(_RUN)
    if not chosen or chosen[0] != ds.id:
        runs = ws.results(ds.id, "training")
        if not runs:
            return None
        chosen = (ds.id, runs[0].key)
        st.session_state[_RUN] = chosen
    stored = ws.result(ds.id, "training", chosen[1])
    scores = stored.frames["scores"]
    results = [models.ModelResult.from_dict(d, scores[d["model"]].to_numpy() if d["model"] in scores else None)
               for d in stored.meta["results"]]
    return TrainingRun(ds.id, chosen[1], models.TargetDefinition.from_dict(stored.meta["target"]), results, scores)


# --- a closer look ---------------------------------------------------------------------------------------


def gain_curves(run: TrainingRun) -> dict[str, models.GainLift]:
    return {r.name: models.gain_lift(run.labels, r.oof_scores) for r in run.usable}


def calibration(run: TrainingRun, result: models.ModelResult) -> models.CalibrationCurve:
    return models.calibration(run.labels, result.oof_scores)


def confusion(run: TrainingRun, result: models.ModelResult, threshold: float) -> models.ConfusionResult:
    return models.confusion_at(run.labels, result.oof_scores, threshold)


def importance(training: models.TrainingSet, run: TrainingRun, result: models.ModelResult) -> models.ImportanceResult:
    return state.remember("importance", run.memo_key(result), models.permutation_importance_report(
        training, result.key, params=result.params))


def last_importance(run: TrainingRun, result: models.ModelResult) -> models.ImportanceResult | None:
    return state.recall("importance", run.memo_key(result))


def learning_curve(training: models.TrainingSet, run: TrainingRun,
                   result: models.ModelResult) -> models.LearningCurveResult:
    return state.remember("learning_curve", run.memo_key(result), models.learning_curve_report(
        training, result.key, params=result.params))


def last_learning_curve(run: TrainingRun, result: models.ModelResult) -> models.LearningCurveResult | None:
    return state.recall("learning_curve", run.memo_key(result))


def tune(training: models.TrainingSet, run: TrainingRun, result: models.ModelResult,
         budget_s: float) -> models.TuningResult:
    return state.remember("tuning", run.memo_key(result), models.tune_model(training, result.key,
                                                                             time_budget_s=float(budget_s)))


def last_tuning(run: TrainingRun, result: models.ModelResult) -> models.TuningResult | None:
    return state.recall("tuning", run.memo_key(result))


def saved_segmentations(ds: Dataset) -> list[str]:
    return [s.key for s in state.workspace().results(ds.id, "segmentation")]


def segment_performance(ds: Dataset, training: models.TrainingSet, result: models.ModelResult,
                        segmentation: str) -> pd.DataFrame:
    labels = state.workspace().result(ds.id, "segmentation", segmentation).frames["labels"]
    return models.segment_performance(training, result.oof_scores, labels.set_index("user_id")["segment"])


# --- money and targets ---------------------------------------------------------------------------------------


def profit(run: TrainingRun, result: models.ModelResult, cost: float, value: float) -> models.ProfitCurve:
    return models.profit_curve(run.labels, result.oof_scores, cost, value)


def fitted(training: models.TrainingSet, result: models.ModelResult) -> models.TrainedModel:
    """The chosen model fitted on all labelled users (once per session and model)."""
    cache = st.session_state.setdefault(_FITTED, {})
    key = (training.fingerprint(), result.key, json.dumps(result.params, sort_keys=True, default=str))
    if key not in cache:
        cache.clear()
        cache[key] = models.fit_model(training, result.key, cv_result=result)
    return cache[key]


def _latest_segments(ds: Dataset) -> pd.Series | None:
    """user_id -> segment of the newest saved segmentation, if there is one."""
    keys = saved_segmentations(ds)
    if not keys:
        return None
    return state.workspace().result(ds.id, "segmentation", keys[0]).frames["labels"].set_index("user_id")["segment"]


def build_target_list(ds: Dataset, training: models.TrainingSet, run: TrainingRun, result: models.ModelResult,
                      depth_pct: float) -> pd.DataFrame:
    """Today's users scored by the model fitted on all labelled users, top ``depth_pct`` percent."""
    targets = models.score_dataset(state.workspace(), ds.id, fitted(training, result), segments=_latest_segments(ds),
                                   top_pct=depth_pct)
    return state.remember("target_list", run.memo_key(result), targets)


def last_target_list(run: TrainingRun, result: models.ModelResult) -> pd.DataFrame | None:
    return state.recall("target_list", run.memo_key(result))


def targets_csv(targets: pd.DataFrame) -> bytes:
    return models.target_list_csv(targets)


# --- keep and reuse ------------------------------------------------------------------------------------------


def save_model(ds: Dataset, training: models.TrainingSet, run: TrainingRun, result: models.ModelResult,
               name: str) -> None:
    model = fitted(training, result)
    state.workspace().save_model_files(ds.id, name, lambda folder: models.save_model(model, folder),
                                       {"model": result.name, "target": run.target.describe(),
                                        "auc": result.auc_mean})


def saved_models(ds: Dataset) -> pd.DataFrame:
    return pd.DataFrame([{"name": s.key, "model": s.meta.get("model"), "target": s.meta.get("target"),
                          "ROC AUC": s.meta.get("auc"), "saved": s.created_at}
                         for s in state.workspace().results(ds.id, "model")
                         if s.meta.get("type") != "recommender"])  # those are on the Recommendations page


def score_with_saved(ds: Dataset, model_name: str, on_dataset: str) -> pd.DataFrame:
    """Score the latest data of a dataset with a saved model (checked before use)."""
    ws = state.workspace()
    scored = models.score_dataset(ws, on_dataset, ws.model_path(ds.id, model_name))
    return state.remember("saved_model_scores", (ds.id, model_name, on_dataset), scored)


def last_scores(ds: Dataset, model_name: str, on_dataset: str) -> pd.DataFrame | None:
    return state.recall("saved_model_scores", (ds.id, model_name, on_dataset))

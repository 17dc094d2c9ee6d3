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

from analytics import models, segments
from analytics.audiences import membership
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
    value_features: dict | None = None  # the customer-value features the run used (ValueFeatures.to_dict())

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
    """Model key -> name of the models that can run here, cheapest first (sequence models need PyTorch)."""
    table = models.available_models()
    unavailable = unavailable_models()
    return {k: name for k, name in zip(table["key"], table["model"]) if k not in unavailable}


def unavailable_models() -> dict[str, str]:
    """Model key -> name of the catalogue's models that cannot run on this installation (no PyTorch)."""
    from analytics.sequences import torch_available

    if torch_available():
        return {}
    return {k: models.MODELS[k].name for k in models.SEQUENCE_MODELS}


def unavailable_note() -> str | None:
    """Why some models are not offered, and the command that enables them (None when all are)."""
    from analytics.sequences import INSTALL_HINT

    missing = unavailable_models()
    if not missing:
        return None
    return f"Not available here: {', '.join(missing.values())}. {INSTALL_HINT}"


def model_notes(keys: list[str]) -> list[str]:
    """A sentence on each chosen sequence model: what it reads and what to expect."""
    return [f"{models.MODELS[k].name}: {models.MODELS[k].about}. Slower than the others (a few minutes on 50,000 "
            "users); the chart shows whether it beats the aggregates on this data." for k in keys
            if k in models.MODELS and models.MODELS[k].sequence]


def training_set(ds: Dataset, target: models.TargetDefinition, value_features: bool = False) -> models.TrainingSet:
    """X and y for this target (features as of the cutoff, labels after it), built once per session.

    ``value_features`` adds P(alive) and expected purchases over the horizon, from a
    BG/NBD fit on the purchases up to the cutoff (when they cannot be computed, the
    set's warnings say why and it is built without them).
    """
    cache = st.session_state.setdefault(_TRAINING, {})
    key = (ds.id, json.dumps(target.to_dict(), sort_keys=True, default=str), bool(value_features))
    if key not in cache:
        cache.clear()  # one target at a time: training sets can be large
        cache[key] = models.build_training_set(state.workspace(), ds.id, target, n_folds=None,
                                               value_features=bool(value_features))
    return cache[key]


def value_features_used(training: models.TrainingSet) -> str | None:
    """The customer-value features in the training set, in words (None when there are none)."""
    spec = training.value_features
    return None if spec is None else f"Customer-value features added: {spec.describe()}."


def same_setup(run: TrainingRun, training: models.TrainingSet) -> bool:
    """The run was trained on this training set's target and features (so its models can be looked at again)."""
    used = None if training.value_features is None else training.value_features.to_dict()
    return run.target.to_dict() == training.target.to_dict() and run.value_features == used


def train(ds: Dataset, training: models.TrainingSet, keys: list[str], n_folds: int, out_of_time: bool,
          progress, on_fold=None) -> Iterator[models.ModelResult]:
    """Cross-validate the chosen models, yielding each result as soon as it is done.

    ``on_fold(result)`` gets each model's provisional result after each fold but its last (for the live chart).
    """
    oot = (models.build_out_of_time_set(state.workspace(), ds.id, training.target,
                                        value_features=training.value_features) if out_of_time else None)
    return models.iter_train(training, keys, n_folds=n_folds, out_of_time=oot, progress=progress, on_fold=on_fold)


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
    return TrainingRun(ds.id, chosen[1], models.TargetDefinition.from_dict(stored.meta["target"]), results, scores,
                       value_features=(stored.meta.get("training") or {}).get("value_features"))


def compared_run(ds: Dataset, run: TrainingRun) -> str | None:
    """The latest stored run of the same target with the opposite customer-value choice, in one sentence."""
    for other in state.workspace().results(ds.id, "training"):
        meta = other.meta
        used = (meta.get("training") or {}).get("value_features")
        if other.key == run.key or meta.get("target") != run.target.to_dict() or bool(used) == bool(run.value_features):
            continue
        scored = [r for r in meta.get("results", []) if r.get("roc_auc_mean") is not None]
        if not scored:
            return None
        best = max(scored, key=lambda r: r["roc_auc_mean"])
        what = "with" if used else "without"
        return (f"Same target {what} customer-value features (run {other.key}): best ROC AUC "
                f"{best['roc_auc_mean']:.3f} ({best.get('name', best.get('model'))}).")
    return None


# --- a closer look ---------------------------------------------------------------------------------------


def gain_curves(run: TrainingRun) -> dict[str, models.GainLift]:
    return {r.name: models.gain_lift(run.labels, r.oof_scores) for r in run.usable}


def calibration(run: TrainingRun, result: models.ModelResult) -> models.CalibrationCurve:
    return models.calibration(run.labels, result.oof_scores)


def confusion(run: TrainingRun, result: models.ModelResult, threshold: float) -> models.ConfusionResult:
    return models.confusion_at(run.labels, result.oof_scores, threshold)


def importance(training: models.TrainingSet, run: TrainingRun, result: models.ModelResult,
               progress=None) -> models.ImportanceResult:
    found = models.permutation_importance_report(training, result.key, params=result.params, progress=progress)
    return state.remember("importance", run.memo_key(result), found, keep=lambda r: r.to_parts())


def last_importance(run: TrainingRun, result: models.ModelResult) -> models.ImportanceResult | None:
    return state.recall("importance", run.memo_key(result), load=models.ImportanceResult.from_parts)


def learning_curve(training: models.TrainingSet, run: TrainingRun, result: models.ModelResult,
                   progress=None) -> models.LearningCurveResult:
    found = models.learning_curve_report(training, result.key, params=result.params, progress=progress)
    return state.remember("learningcurve", run.memo_key(result), found, keep=lambda r: r.to_parts())


def last_learning_curve(run: TrainingRun, result: models.ModelResult) -> models.LearningCurveResult | None:
    return state.recall("learningcurve", run.memo_key(result), load=models.LearningCurveResult.from_parts)


def tune(training: models.TrainingSet, run: TrainingRun, result: models.ModelResult, budget_s: float,
         progress=None) -> models.TuningResult:
    found = models.tune_model(training, result.key, time_budget_s=float(budget_s), progress=progress)
    return state.remember("tuning", run.memo_key(result), found, keep=lambda r: r.to_parts())


def last_tuning(run: TrainingRun, result: models.ModelResult) -> models.TuningResult | None:
    return state.recall("tuning", run.memo_key(result), load=models.TuningResult.from_parts)


def saved_segmentations(ds: Dataset) -> list[str]:
    return [s.key for s in state.workspace().results(ds.id, "segmentation")]


def segment_choices(ds: Dataset) -> list[tuple[str, str]]:
    """What can split users for the per-segment view: saved segmentations, then saved audiences, as (kind, key)."""
    ws = state.workspace()
    return ([("segmentation", s.key) for s in ws.results(ds.id, "segmentation")]
            + [("audience", s.key) for s in ws.results(ds.id, "audience")])


def segment_choice_label(ds: Dataset, choice: tuple[str, str]) -> str:
    kind, key = choice
    if kind == "audience":
        name = next((s.meta.get("name", key) for s in state.workspace().results(ds.id, "audience") if s.key == key),
                    key)
        return f"audience: {name} (in it / not in it)"
    return f"segmentation: {key}"


def segment_performance(ds: Dataset, training: models.TrainingSet, result: models.ModelResult,
                        choice: tuple[str, str]) -> pd.DataFrame:
    """Model quality per segment of a saved segmentation, or in and out of a saved audience.

    A saved segmentation was made from the latest features, which include the label
    window: its users are placed again by their features as of the cutoff (nearest
    segment centre, or the RFM grid's boundaries), so the comparison is free of what
    happened after the cutoff. An audience is used as it was saved.
    """
    kind, key = choice
    ws = state.workspace()
    if kind == "audience":
        groups = membership(ws.audience(ds.id, key), training.user_ids)
    else:
        groups = _segments_at_cutoff(ds, training, key)
    return models.segment_performance(training, result.oof_scores, groups)


def _segments_at_cutoff(ds: Dataset, training: models.TrainingSet, segmentation: str) -> pd.Series:
    ws = state.workspace()
    stored = ws.result(ds.id, "segmentation", segmentation)
    labels = stored.frames["labels"]
    result = segments.SegmentationResult.from_dict(stored.meta["result"], labels.rename(
        columns={"segment": "segment_name", "segment_id": "segment"}))
    fitted_on = ws.read_table(stored.meta["features_table"])
    at_cutoff = training.X.assign(user_id=training.user_ids)
    return segments.assign_segments(result, fitted_on, at_cutoff)


# --- money and targets ---------------------------------------------------------------------------------------


def profit(run: TrainingRun, result: models.ModelResult, cost: float, value: float) -> models.ProfitCurve:
    return models.profit_curve(run.labels, result.oof_scores, cost, value, target_kind=run.target.kind)


def outcome(run: TrainingRun) -> str:
    """What a positive user reached is worth money as, for the run's target ("conversion", "churner reached")."""
    return models.OUTCOMES.get(run.target.kind, models.OUTCOMES["event"])[0]


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
    return state.remember("targetlist", run.memo_key(result, round(depth_pct, 3)), targets,
                          keep=lambda t: ({}, {"targets": t}))


def last_target_list(run: TrainingRun, result: models.ModelResult, depth_pct: float) -> pd.DataFrame | None:
    """The target list built for this run, model and depth (none when any of them changed since)."""
    return state.recall("targetlist", run.memo_key(result, round(depth_pct, 3)),
                        load=lambda _meta, frames: frames["targets"])


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
    return state.remember("scores", (ds.id, model_name, on_dataset), scored, keep=lambda t: ({}, {"scores": t}))


def last_scores(ds: Dataset, model_name: str, on_dataset: str) -> pd.DataFrame | None:
    return state.recall("scores", (ds.id, model_name, on_dataset), load=lambda _meta, frames: frames["scores"])

"""What a report shows, gathered from the workspace: the dataset, its features, segments, models and money.

:func:`gather` reads only what is stored (the dataset and its cleaning report,
the default feature table, a saved segmentation with its maps, a training run
with its out-of-fold scores) and computes the few small things a report adds
(gain, calibration and profit curves from the stored scores). It never trains
or clusters: a section whose result was never saved is absent, with one
sentence saying how to get it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.features.summary import feature_summary
from analytics.jsonable import json_safe
from analytics.models.curves import CalibrationCurve, GainLift, calibration, gain_lift
from analytics.models.economics import ProfitCurve, profit_curve
from analytics.models.results import ModelResult
from analytics.models.targets import TargetDefinition
from analytics.report import DEFAULT_COST_PER_CONTACT, DEFAULT_VALUE_PER_CONVERSION
from analytics.sampling import stratified_sample
from analytics.segments.maps import Embedding
from analytics.segments.segment import SegmentationResult
from analytics.workspace import Dataset, Workspace
from analytics.workspace.store import safe_key

# A map in the report keeps at most this many points (every segment in proportion), so the file stays small.
MAX_MAP_POINTS = 10_000
# Within noise of chance: the fold spread of the ROC AUC reaches down to this (issue 17, item 4).


@dataclass
class FeaturePart:
    """The default feature table of the dataset, summarised.

    ``frame`` is the table itself (for histograms and map hover); ``numbers`` and
    ``texts`` are :func:`analytics.features.summary.feature_summary`.
    """

    table: str
    params: dict
    as_of: str | None
    frame: pd.DataFrame
    numbers: pd.DataFrame
    texts: pd.DataFrame

    @property
    def n_users(self) -> int:
        return len(self.frame)

    @property
    def n_features(self) -> int:
        return self.frame.shape[1] - 1

    def to_dict(self) -> dict:
        return {"table": self.table, "params": self.params, "as_of": self.as_of, "users": self.n_users,
                "features": self.n_features}


@dataclass
class SegmentPart:
    """A saved segmentation with its stored maps.

    ``user_ids`` and ``features`` are in the segmentation's row order (the order
    the maps' row numbers refer to); ``features`` is None when the table it was
    computed on is gone.
    """

    key: str
    saved_at: datetime
    result: SegmentationResult
    maps: list[Embedding]
    user_ids: np.ndarray
    features: pd.DataFrame | None

    def to_dict(self) -> dict:
        return {"name": self.key, "saved_at": self.saved_at, **self.result.brief(),
                "maps": [{"method": m.method, "points": len(m.indices), "users": m.n_total} for m in self.maps]}


@dataclass
class ModelPart:
    """A stored training run and what the report draws from it.

    ``chosen`` is the model with the best mean ROC AUC; calibration and money
    are shown for it. ``chance_warning`` is set when its AUC is within noise of
    0.5 (:attr:`analytics.models.results.ModelResult.near_chance`).
    """

    key: str
    saved_at: datetime
    target: TargetDefinition
    results: list[ModelResult]
    training: dict
    n_folds: int
    gains: dict[str, GainLift]
    chosen: ModelResult | None
    calibration: CalibrationCurve | None
    profit: ProfitCurve | None
    chance_warning: str | None

    @property
    def usable(self) -> list[ModelResult]:
        return [r for r in self.results if r.ok and r.oof_scores is not None]

    def to_dict(self) -> dict:
        p = self.profit
        money = None if p is None else {
            "model": self.chosen.key, "cost_per_contact": p.cost_per_contact,
            "value_per_conversion": p.value_per_conversion, "best_depth_pct": p.best_depth_pct,
            "best_contacted": p.best_contacted, "best_conversions": p.best_conversions,
            "best_profit": p.best_profit, "users": p.n_users, "note": p.note}
        return {"run": self.key, "saved_at": self.saved_at, "target": self.target.to_dict(),
                "target_text": self.target.describe(), "training": self.training, "n_folds": self.n_folds,
                "models": [r.metrics() for r in self.results],
                "best_model": self.chosen.key if self.chosen else None, "chance_warning": self.chance_warning,
                "money": money}


@dataclass
class ReportContent:
    """Everything one report shows. A part that is None is explained in ``absent`` (section -> sentence)."""

    dataset: Dataset
    features: FeaturePart | None
    segments: SegmentPart | None
    models: ModelPart | None
    cost_per_contact: float
    value_per_conversion: float
    generated_at: datetime
    absent: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """What went into the report, JSON-safe (``python -m analytics report --json``)."""
        ds = self.dataset
        r = ds.report
        return json_safe({
            "generated_at": self.generated_at,
            "dataset": {"id": ds.id, "name": ds.name, "source_file": ds.source_file, "format": ds.source_format,
                        "events": ds.rows, "users": ds.users, "from": ds.ts_min, "to": ds.ts_max,
                        "imported_at": ds.created_at, "purchase_event": ds.purchase_event,
                        "rows_read": r.rows_read, "rows_kept": r.rows_kept,
                        "duplicates_removed": r.duplicates_removed, "rejected_rows": r.rejected_rows,
                        "dropped": r.dropped, "coerced": r.coerced},
            "features": self.features.to_dict() if self.features else None,
            "segmentation": self.segments.to_dict() if self.segments else None,
            "training": self.models.to_dict() if self.models else None,
            "settings": {"cost_per_contact": self.cost_per_contact,
                         "value_per_conversion": self.value_per_conversion},
            "absent": self.absent,
        })


def gather(ws: Workspace, dataset_id: str, *, segmentation: str | None = None, run: str | None = None,
           cost_per_contact: float = DEFAULT_COST_PER_CONTACT,
           value_per_conversion: float = DEFAULT_VALUE_PER_CONVERSION) -> ReportContent:
    """Collect what the report of a dataset shows.

    Parameters
    ----------
    ws : Workspace
    dataset_id : str
    segmentation : str, optional
        Name of a saved segmentation; default the newest one (none saved: the
        section says so).
    run : str, optional
        Key of a stored training run; default the newest one.
    cost_per_contact, value_per_conversion : float
        Money settings of the profit curve (>= 0, same currency).

    Returns
    -------
    ReportContent

    Raises
    ------
    DatasetNotFoundError
        No such dataset.
    InvalidParameterError
        A named segmentation or run that is not stored, or negative money.
    """
    for name, v in (("cost per contact", cost_per_contact), ("value per conversion", value_per_conversion)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise InvalidParameterError(f"The {name} must be a number of 0 or more, got {v!r}.")
    ds = ws.get(dataset_id)
    absent: dict[str, str] = {}
    features = _features(ws, ds)
    if features is None:
        absent["features"] = ("The feature table has not been built yet: open the Features page (or run "
                              "`python -m analytics features`) to build it.")
    segments = _segments(ws, ds, segmentation)
    if segments is None:
        absent["segments"] = "No segmentation has been saved for this dataset yet (Segments page, Save segmentation)."
    models = _models(ws, ds, run, float(cost_per_contact), float(value_per_conversion))
    if models is None:
        absent["models"] = "No model has been trained on this dataset yet (Models page, Train)."
        absent["money"] = "The money section needs a trained model: train models on the Models page first."
    elif models.profit is None:
        absent["money"] = "No model of this run produced scores, so there is no profit curve."
    return ReportContent(dataset=ds, features=features, segments=segments, models=models,
                         cost_per_contact=float(cost_per_contact), value_per_conversion=float(value_per_conversion),
                         generated_at=datetime.now(UTC).replace(microsecond=0), absent=absent)


def _features(ws: Workspace, ds: Dataset) -> FeaturePart | None:
    """The default feature table: the stored one, built now if the events are here (cheap in DuckDB)."""
    params = ws.feature_params(ds.id)
    table = ws.stored_features_table(ds.id, params)
    if table is None:
        if not ds.has_events:
            return None  # a connected Spark log: building would read the whole lake again
        table = ws.features_table(ds.id, params)
    frame = ws.read_table(table)
    numbers, texts = feature_summary(frame)
    return FeaturePart(table=table, params=params.to_dict(), as_of=ws.feature_meta(ds.id, params).get("as_of"),
                       frame=frame, numbers=numbers, texts=texts)


def _stored(ws: Workspace, ds: Dataset, kind: str, key: str | None, what: str):
    """The named (or newest) stored result of a kind, with its tables; None when there is none."""
    listed = ws.results(ds.id, kind)
    if key is None:
        return ws.result(ds.id, kind, listed[0].key) if listed else None
    keys = {s.key for s in listed}
    key = _as_stored(key, keys)
    if key not in keys:
        known = ", ".join(s.key for s in listed[:20]) or "none"
        raise InvalidParameterError(f"There is no saved {what} '{key}' for dataset '{ds.name}'; saved: {known}.")
    return ws.result(ds.id, kind, key)


def _as_stored(key: str, keys: set[str]) -> str:
    """The key as stored: names typed in the app are kept under their safe form (``My seg`` -> ``my_seg``)."""
    if key in keys:
        return key
    try:
        return safe_key(key)
    except InvalidParameterError:
        return key


def _segments(ws: Workspace, ds: Dataset, key: str | None) -> SegmentPart | None:
    stored = _stored(ws, ds, "segmentation", key, "segmentation")
    if stored is None:
        return None
    labels = stored.frames["labels"]
    assignments = pd.DataFrame({"user_id": labels["user_id"], "segment": labels["segment_id"],
                                "segment_name": labels["segment"]})
    result = SegmentationResult.from_dict(stored.meta["result"], assignments)
    user_ids = labels["user_id"].astype(str).to_numpy()
    features = _aligned_features(ws, stored.meta.get("features_table"), user_ids)
    maps = []
    for method, meta in (stored.meta.get("maps") or {}).items():
        frame = stored.frames.get(f"map_{method}")
        if frame is not None and len(frame):
            maps.append(_thinned(Embedding.from_parts(meta, frame), result.labels))
    return SegmentPart(key=stored.key, saved_at=stored.created_at, result=result, maps=maps, user_ids=user_ids,
                       features=features)


def _aligned_features(ws: Workspace, table: str | None, user_ids: np.ndarray) -> pd.DataFrame | None:
    """The feature table a segmentation was computed on, in the segmentation's row order (for map hover)."""
    if not table:
        return None
    try:
        frame = ws.read_table(table)
    except Exception:  # noqa: BLE001 - the table may have been rebuilt away; the map then shows without it
        return None
    frame = frame.assign(user_id=frame["user_id"].astype(str)).drop_duplicates("user_id").set_index("user_id")
    return frame.reindex(user_ids).reset_index()


def _thinned(emb: Embedding, labels: np.ndarray) -> Embedding:
    """At most :data:`MAX_MAP_POINTS` points of a stored map, every segment in proportion."""
    if len(emb.indices) <= MAX_MAP_POINTS:
        return emb
    keep = stratified_sample(labels[emb.indices], MAX_MAP_POINTS, random_state=emb.random_state,
                             min_per_group=200)
    return replace(emb, coords=emb.coords[keep], indices=emb.indices[keep])


def _models(ws: Workspace, ds: Dataset, key: str | None, cost: float, value: float) -> ModelPart | None:
    stored = _stored(ws, ds, "training", key, "training run")
    if stored is None:
        return None
    scores = stored.frames["scores"]
    results = [ModelResult.from_dict(d, scores[d["model"]].to_numpy(dtype=float) if d["model"] in scores else None)
               for d in stored.meta["results"]]
    y = scores["label"].to_numpy()
    usable = [r for r in results if r.ok and r.oof_scores is not None]
    gains = {r.name: gain_lift(y, r.oof_scores) for r in usable} if 0 < y.sum() < len(y) else {}
    chosen = max(usable, key=lambda r: r.auc_mean) if usable else None
    return ModelPart(
        key=stored.key, saved_at=stored.created_at, target=TargetDefinition.from_dict(stored.meta["target"]),
        results=results, training=stored.meta.get("training") or {}, n_folds=int(stored.meta.get("n_folds") or 0),
        gains=gains, chosen=chosen,
        calibration=calibration(y, chosen.oof_scores) if chosen else None,
        profit=profit_curve(y, chosen.oof_scores, cost, value,
                            target_kind=stored.meta["target"].get("kind", "event")) if chosen else None,
        chance_warning=_chance_warning(chosen))


def _chance_warning(chosen: ModelResult | None) -> str | None:
    note = chosen.chance_note() if chosen is not None else None
    if note is None:
        return None
    return (f"The best model: {note}. The features may not carry the signal for this target, so the money "
            "figures below are not advice.")

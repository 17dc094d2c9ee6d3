"""Session-side glue for the Recommendations page: products and weights, evaluations, lists, segments, saved models.

The interactions (users x products) are built once per session and settings.
Every evaluation and every list of recommendations is stored in the workspace
(kinds ``receval`` and ``reclist``) under a key naming its settings, so a reload
or a restart shows it again and the same settings are never computed twice.
Fitted models live in this session until saved as a workspace model folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import streamlit as st

from analytics import recommend
from analytics.errors import NoDataError
from analytics.recommend import datasets as rec_data
from analytics.sequences import INSTALL_HINT
from analytics.workspace import Dataset
from ui import datasets, state

EVAL_KIND, LIST_KIND = "receval", "reclist"
KS = (10, 20)
_INTERACTIONS = "recommend_interactions"
_ATTRIBUTES = "recommend_item_attributes"
_FITTED = "recommend_fitted"
_KEEP = 3  # interactions kept per session (the page's, the purchases-only one, another dataset's)


@dataclass(frozen=True)
class Settings:
    """Everything an evaluation depends on besides the dataset."""

    item_col: str
    weights: dict[str, float]
    models: list[str] = field(default_factory=lambda: list(recommend.DEFAULT_MODELS))
    protocol: str = "last-n"
    n: int = 5
    split_date: str | None = None

    def to_dict(self) -> dict:
        return {"item_col": self.item_col, "weights": dict(self.weights), "models": list(self.models),
                "protocol": self.protocol, "n": int(self.n) if self.protocol == "last-n" else None,
                "split_date": self.split_date if self.protocol == "time-split" else None, "ks": list(KS)}

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        return cls(d["item_col"], dict(d["weights"]), list(d["models"]), d["protocol"], int(d.get("n") or 5),
                   d.get("split_date"))

    def key(self) -> str:
        return rec_data.settings_key("eval", **self.to_dict())

    def describe(self) -> str:
        """The protocol in one sentence, before anything is computed."""
        if self.protocol == "last-n":
            return (f"Last-{self.n} hold-out: for every user with more than {self.n} products, the {self.n} they "
                    "came to last are hidden; the models learn from everything else and rank the whole catalogue "
                    "(leaving out what each user already had). Scored at K = 10 and 20.")
        return (f"Time split at {self.split_date}: the models learn from everything before that day and must find "
                "the products each user active before it came to for the first time on or after it, ranking the "
                "whole catalogue (leaving out what each user already had). Scored at K = 10 and 20.")


# --- products and weights -------------------------------------------------------------------------------------


def flat_scores_note(recs: pd.DataFrame, model: str) -> str | None:
    """A warning when the list's order means nothing (every score about zero), else None."""
    if not recommend.flat_scores(recs):
        return None
    return (f"{model_names().get(model, model)} gives every product a score of about 0 for these users: it found "
            "nothing to rank them by (often users with a single product), so the order of this list is arbitrary. "
            "Popularity still ranks products by how many users have them.")


def model_names() -> dict[str, str]:
    """Model key -> label, in the library's order (the PyTorch ones only when PyTorch is installed)."""
    offered = set(recommend.offered_models())
    return {key: cls.label for key, cls in recommend.MODELS.items() if key in offered}


def missing_models_note() -> str | None:
    """What is not offered and how to enable it (PyTorch for the sequence recommender), or None."""
    if set(recommend.DEEP_MODELS) <= set(recommend.offered_models()):
        return None
    labels = ", ".join(recommend.MODELS[key].label for key in recommend.DEEP_MODELS)
    return f"{labels}: not offered here. {INSTALL_HINT}"


def item_columns(ds: Dataset) -> list[str]:
    return rec_data.item_columns(state.workspace(), ds.id)


def default_item_column(ds: Dataset) -> str | None:
    return rec_data.default_item_column(state.workspace(), ds.id)


def event_weights(ds: Dataset, item_col: str) -> pd.DataFrame:
    """``event, events, with_item, weight`` with the proposed weights (cached per session)."""
    cache = st.session_state.setdefault("recommend_event_weights", {})
    key = (ds.id, item_col)
    if key not in cache:
        cache[key] = rec_data.event_weights(state.workspace(), ds.id, item_col)
    return cache[key].copy()


def interactions(ds: Dataset, item_col: str, weights: dict[str, float], progress=None) -> recommend.Interactions:
    """Users x products for these settings, built once per session."""
    cache: dict = st.session_state.setdefault(_INTERACTIONS, {})
    key = (ds.id, item_col, json.dumps(weights, sort_keys=True))
    if key not in cache:
        data = rec_data.dataset_interactions(state.workspace(), ds.id, item_col, weights, progress=progress)
        while len(cache) >= _KEEP:
            cache.pop(next(iter(cache)))
        cache[key] = data
    return cache[key]


def purchase_interactions(ds: Dataset, item_col: str) -> recommend.Interactions | None:
    """Users x products from purchases only ("bought"), or None when purchases carry no products."""
    weights = event_weights(ds, item_col)
    buy = ds.purchase_event
    if not buy or buy not in set(weights["event"]) or not weights.set_index("event").loc[buy, "with_item"]:
        return None
    return interactions(ds, item_col, {buy: 1.0})


def item_attributes(ds: Dataset, item_col: str) -> pd.DataFrame | None:
    """Attributes that describe each product (category, name, price), or None (cached per session)."""
    cache = st.session_state.setdefault(_ATTRIBUTES, {})
    key = (ds.id, item_col)
    if key not in cache:
        cache[key] = rec_data.dataset_item_attributes(state.workspace(), ds.id, item_col)
    return cache[key]


def summary(data: recommend.Interactions) -> dict:
    return data.summary()


def default_split_date(data: recommend.Interactions) -> date:
    return pd.Timestamp(recommend.default_split_date(data)).date()


def day_range(data: recommend.Interactions) -> tuple[date, date]:
    return pd.Timestamp(data.day.min()).date(), pd.Timestamp(data.day.max()).date()


def parse_date(text: str) -> date:
    return date.fromisoformat(str(text)[:10])


# --- evaluation -------------------------------------------------------------------------------------------------


def _stored_meta(ds: Dataset, kind: str, key: str) -> dict | None:
    for stored in state.workspace().results(ds.id, kind):
        if stored.key == key:
            return stored.meta
    return None


def latest_settings(ds: Dataset) -> Settings | None:
    """The settings of the dataset's latest evaluation (to open the page where the user left it)."""
    runs = state.workspace().results(ds.id, EVAL_KIND)
    return Settings.from_dict(runs[0].meta["settings"]) if runs else None


def evaluate(ds: Dataset, data: recommend.Interactions, settings: Settings,
             progress=None) -> recommend.EvaluationResult:
    """Compare the models on one split and store the result under the dataset and settings."""
    result = recommend.evaluate(data, settings.models, protocol=settings.protocol, n=int(settings.n),
                                split_date=settings.split_date, ks=KS, random_state=0, progress=progress)
    if result.metrics.empty:
        reasons = "; ".join(f"{model_names()[k]}: {why}" for k, why in result.skipped.items())
        raise NoDataError(f"No model could be evaluated. {reasons}")
    state.workspace().put_result(ds.id, EVAL_KIND, settings.key(),
                                 {"settings": settings.to_dict(), "result": result.to_dict()})
    return result


def stored_evaluation(ds: Dataset, settings: Settings) -> recommend.EvaluationResult | None:
    """The stored evaluation for exactly these settings, or None."""
    meta = _stored_meta(ds, EVAL_KIND, settings.key())
    return recommend.EvaluationResult.from_dict(meta["result"]) if meta else None


def metrics_table(result: recommend.EvaluationResult) -> pd.DataFrame:
    """Model and metrics (the seconds are in :func:`timings`)."""
    return result.table().drop(columns=["fit (s)", "recommend (s)"], errors="ignore")


def full_table(result: recommend.EvaluationResult) -> pd.DataFrame:
    """Every column of the comparison, seconds included (for the download)."""
    return result.table()


def timings(result: recommend.EvaluationResult) -> str:
    """Seconds each model took to fit and to rank the catalogue for the test users, in words."""
    return "; ".join(f"{row['label']} {row['fit_seconds']:.1f} s + {row['recommend_seconds']:.1f} s"
                     for _, row in result.metrics.iterrows())


# --- lists per user ---------------------------------------------------------------------------------------------


def _list_key(ds: Dataset, item_col: str, weights: dict, model: str, k: int) -> str:
    return rec_data.settings_key("list", dataset=ds.id, item_col=item_col, weights=weights, model=model, k=int(k))


def fitted(ds: Dataset, data: recommend.Interactions, model: str, progress=None) -> recommend.Recommender:
    """The model fitted on all interactions (once per session and settings)."""
    cache = st.session_state.setdefault(_FITTED, {})
    key = (ds.id, data.fingerprint(), json.dumps(data.weights, sort_keys=True), model)
    if key not in cache:
        cache.clear()  # one fitted model at a time: item-item matrices can be large
        cache[key] = recommend.make_model(model).fit(data, progress=progress)  # seeded: random_state=0
    return cache[key]


def recommend_all(ds: Dataset, data: recommend.Interactions, model: str, k: int, progress=None) -> pd.DataFrame:
    """Top ``k`` for every user (with product attributes when known); stored under the dataset and settings."""
    fit_progress = None if progress is None else (lambda f, m: progress(0.6 * f, m))
    list_progress = None if progress is None else (lambda f, m: progress(0.6 + 0.4 * f, m))
    fitted_model = fitted(ds, data, model, progress=fit_progress)
    recs = recommend.top_items(fitted_model, data, int(k), item_attributes=item_attributes(ds, data.item_col),
                               progress=list_progress)
    key = _list_key(ds, data.item_col, data.weights, model, k)
    state.workspace().put_result(ds.id, LIST_KIND, key, {
        "model": model, "label": fitted_model.label, "k": int(k), "item_col": data.item_col,
        "weights": dict(data.weights), "users": int(recs["user_id"].nunique()), "note": fitted_model.note},
        {"recs": recs})
    return recs


def stored_list(ds: Dataset, data: recommend.Interactions, model: str, k: int) -> pd.DataFrame | None:
    key = _list_key(ds, data.item_col, data.weights, model, k)
    if _stored_meta(ds, LIST_KIND, key) is None:
        return None
    return state.workspace().result(ds.id, LIST_KIND, key).frames["recs"]


def export_csv(recs: pd.DataFrame) -> bytes:
    """``user_id, rank, item_id, score`` as formula-safe CSV."""
    return recommend.export_recommendations(recs)


def table_csv(table: pd.DataFrame) -> bytes:
    """Any table on screen as formula-safe CSV."""
    return datasets.frame_download(table, "csv")


def for_user(recs: pd.DataFrame, user_id: str) -> pd.DataFrame:
    return recs[recs["user_id"].astype(str) == str(user_id).strip()]


# --- segments and "also bought" ---------------------------------------------------------------------------------


def segment_sources(ds: Dataset) -> dict[str, str]:
    """Saved segmentations and audiences of the dataset: ``kind:key`` -> label."""
    ws = state.workspace()
    out = {f"segmentation:{s.key}": f"Segmentation: {s.key}" for s in ws.results(ds.id, "segmentation")}
    out |= {f"audience:{s.key}": f"Audience: {s.meta.get('name', s.key)}" for s in ws.results(ds.id, "audience")}
    return out


def _segment_labels(ds: Dataset, source: str) -> pd.DataFrame:
    ws = state.workspace()
    kind, key = source.split(":", 1)
    if kind == "segmentation":
        return ws.result(ds.id, "segmentation", key).frames["labels"][["user_id", "segment"]]
    audience = ws.audience(ds.id, key)
    return audience.users[["user_id"]].assign(segment=audience.name)


def segment_items(ds: Dataset, data: recommend.Interactions, source: str) -> tuple[pd.DataFrame, list[str]]:
    """Products that characterise each segment (or the audience) by lift over all users, and every segment name
    (those without rows have nothing that stands out)."""
    labels = _segment_labels(ds, source)
    table = recommend.segment_items(data, labels, 10, item_attributes=item_attributes(ds, data.item_col))
    return table, sorted({str(s) for s in labels["segment"]})


def popular_items(data: recommend.Interactions, limit: int = 1000) -> list[str]:
    """Product ids, most frequent first (the first ``limit``)."""
    return [str(i) for i in data.item_ids[:limit]]


def item_labels(ds: Dataset, item_col: str) -> dict[str, str]:
    """Product id -> "id · attribute values" for pickers (empty without attributes)."""
    attrs = item_attributes(ds, item_col)
    if attrs is None:
        return {}
    cols = [c for c in attrs.columns if c != "item_id"][:2]
    return {str(r[0]): " · ".join([str(r[0]), *(str(v) for v in r[1:] if pd.notna(v))])
            for r in attrs[["item_id", *cols]].itertuples(index=False)}


def labelled(ds: Dataset, item_col: str, table: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``product`` column (id and what describes it) right after ``item_id``, for charts."""
    labels = item_labels(ds, item_col)
    ids = table["item_id"].astype(str)
    out = table.copy()
    out.insert(out.columns.get_loc("item_id") + 1, "product", [labels.get(i, i) for i in ids])
    return out


ALSO_MIN_USERS = 3  # a product Y needs this many of X's users (lift on two users is mostly noise)


def also_bought(ds: Dataset, data: recommend.Interactions, item_id: str) -> pd.DataFrame:
    return recommend.also_bought(data, item_id, 10, min_users=ALSO_MIN_USERS,
                                 item_attributes=item_attributes(ds, data.item_col))


# --- keep and reuse ---------------------------------------------------------------------------------------------


def save_model(ds: Dataset, data: recommend.Interactions, model: str, name: str,
               evaluation: recommend.EvaluationResult | None) -> None:
    """Fit (if needed) and keep the model as a workspace model folder with its metadata."""
    extra = {}
    if evaluation is not None and model in evaluation.metrics.index:
        k = max(evaluation.ks)
        extra = {"ndcg": float(evaluation.metrics.loc[model, f"ndcg@{k}"]), "k": k,
                 "protocol": evaluation.protocol, "evaluation": evaluation.to_dict()}
    rec_data.save_dataset_recommender(state.workspace(), ds.id, name, fitted(ds, data, model), data, extra)


def saved_models(ds: Dataset) -> pd.DataFrame:
    return rec_data.saved_recommenders(state.workspace(), ds.id)


def recommend_with_saved(ds: Dataset, name: str, on_dataset: str, k: int, progress=None) -> pd.DataFrame:
    """Top ``k`` for the users of a dataset's latest data with a saved model (checked before use)."""
    recs = rec_data.recommend_for_dataset(state.workspace(), ds.id, name, on_dataset, int(k), progress=progress)
    return state.remember("saved_recommender_lists", (ds.id, name, on_dataset, int(k)), recs)


def last_saved_list(ds: Dataset, name: str, on_dataset: str, k: int) -> pd.DataFrame | None:
    return state.recall("saved_recommender_lists", (ds.id, name, on_dataset, int(k)))

"""Recommendations on a stored dataset: the workspace's events table in, the library's results out.

The app and the CLI work on datasets of a :class:`~analytics.workspace.Workspace`;
these functions open the dataset's events table and call the rest of
:mod:`analytics.recommend`, and keep fitted recommenders as workspace model folders
(``Workspace.save_model_files``, registered with ``meta["type"] == "recommender"``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.errors import MappingError, NoDataError
from analytics.jsonable import json_safe
from analytics.progress import Progress
from analytics.recommend import catalogue, interactions
from analytics.recommend.base import Recommender
from analytics.recommend.interactions import Interactions, build_interactions
from analytics.recommend.persistence import load_recommender, save_recommender
from analytics.recommend.use import recommend_latest

if TYPE_CHECKING:  # pragma: no cover
    from analytics.workspace import Dataset, Workspace

RECOMMENDER = "recommender"  # meta["type"] of a saved recommender among the workspace's model folders


def _events(ws: Workspace, dataset_id: str) -> tuple[Dataset, Any]:
    ds = ws.get(dataset_id)
    if not ds.has_events:
        raise NoDataError(f"'{ds.name}' lives in the data lake (Spark): only its features are in the workspace. "
                          "Recommendations need the events themselves; import the log (or an extract with the "
                          "product column) instead of connecting it.")
    return ds, ws.cursor()


def item_columns(ws: Workspace, dataset_id: str) -> list[str]:
    """Columns of the dataset's events that could hold the product id, the likeliest first."""
    ds, con = _events(ws, dataset_id)
    return catalogue.item_column_choices(con, ds.events_table)


def default_item_column(ws: Workspace, dataset_id: str) -> str | None:
    """``item_id`` (or a column named like a product id) when the dataset has one, else None."""
    ds, con = _events(ws, dataset_id)
    return catalogue.guess_item_column(con, ds.events_table)


def resolve_item_column(ws: Workspace, dataset_id: str, name: str | None) -> str:
    """The events column for a product column named by the user (as in the file), or the guessed one.

    Raises
    ------
    MappingError
        No name given and none guessed, or no such column; the message lists the candidates.
    """
    ds, con = _events(ws, dataset_id)
    choices = catalogue.item_column_choices(con, ds.events_table)
    shown = ", ".join(repr(c) for c in choices[:10])
    hint = (f" Columns that could hold it: {shown}." if choices
            else " This log has no other columns: it needs a column naming the product of each event.")
    if not name:
        guess = catalogue.guess_item_column(con, ds.events_table)
        if guess is None:
            raise MappingError("Recommendations need an item column: the product (SKU, product or content id) each "
                               "event is about, and none was found by its name." + hint)
        return guess
    if name in choices:
        return name
    folded = [c for c in choices if c.lower() == str(name).lower() or c.rstrip("_") == f"{name}_attr"]
    if folded:
        return folded[0]
    raise MappingError(f"There is no column '{name}' in this log to use as the product id." + hint)


def event_weights(ws: Workspace, dataset_id: str, item_col: str) -> pd.DataFrame:
    """``event, events, with_item, weight``: every event type, how many carry a product, and a proposed weight."""
    ds, con = _events(ws, dataset_id)
    table = catalogue.item_events(con, ds.events_table, item_col)
    weights = catalogue.suggested_weights(table, ds.purchase_event)
    return table.assign(weight=[float(weights.get(e, 0.0)) for e in table["event"]])


def dataset_interactions(ws: Workspace, dataset_id: str, item_col: str, weights: Mapping[str, float] | None = None,
                         *, max_items: int | None = None, progress: Progress | None = None) -> Interactions:
    """:func:`~analytics.recommend.build_interactions` on the dataset's events."""
    ds, con = _events(ws, dataset_id)
    return build_interactions(con, ds.events_table, item_col, weights=weights,
                              max_items=interactions.MAX_ITEMS if max_items is None else max_items,
                              progress=progress)


def dataset_item_attributes(ws: Workspace, dataset_id: str, item_col: str) -> pd.DataFrame | None:
    """One row per product with the attributes that describe it (category, name, price), or None."""
    ds, con = _events(ws, dataset_id)
    return catalogue.item_attributes(con, ds.events_table, item_col)


def settings_key(prefix: str, **settings: Any) -> str:
    """A short stable key for a result computed with these settings (for ``Workspace.put_result``)."""
    text = json.dumps(json_safe(settings), sort_keys=True, default=str)
    return f"{prefix}_{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def save_dataset_recommender(ws: Workspace, dataset_id: str, name: str, model: Recommender, data: Interactions,
                             extra: Mapping[str, Any] | None = None) -> Path:
    """Keep a fitted recommender as a model folder of the dataset (numpy + JSON, no pickle); returns the folder."""
    meta = json_safe({"type": RECOMMENDER, "model": model.key, "label": model.label, "item_column": data.item_col,
                      "weights": dict(data.weights), "users": data.n_users, "items": data.n_items,
                      **dict(extra or {})})
    return ws.save_model_files(dataset_id, name, lambda folder: save_recommender(model, data, folder, extra=meta),
                               meta)


def saved_recommenders(ws: Workspace, dataset_id: str) -> pd.DataFrame:
    """``name, model, item column, products, saved`` and the stored metrics of the dataset's saved recommenders."""
    rows = [{"name": s.key, "model": s.meta.get("label"), "item column": s.meta.get("item_column"),
             "products": s.meta.get("items"), "NDCG": s.meta.get("ndcg"), "protocol": s.meta.get("protocol"),
             "saved": s.created_at}
            for s in ws.results(dataset_id, "model") if s.meta.get("type") == RECOMMENDER]
    return pd.DataFrame(rows, columns=["name", "model", "item column", "products", "NDCG", "protocol", "saved"])


def recommend_for_dataset(ws: Workspace, model_dataset_id: str, name: str, dataset_id: str, k: int = 20, *,
                          progress: Progress | None = None) -> pd.DataFrame:
    """Top ``k`` for the users of a dataset's latest data with a saved recommender (checked before use).

    The dataset's interactions are built with the item column and event weights
    the model was fitted with; products the model does not know are ignored.
    """
    saved = load_recommender(ws.model_path(model_dataset_id, name))
    item_col = resolve_item_column(ws, dataset_id, saved.meta.get("item_column"))
    data = dataset_interactions(ws, dataset_id, item_col, saved.meta.get("weights") or None, progress=progress)
    attrs = dataset_item_attributes(ws, dataset_id, item_col)
    return recommend_latest(saved.model, saved.item_ids, data, k, item_attributes=attrs, progress=progress)

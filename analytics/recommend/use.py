"""Putting recommendations to use: lists per user, products per segment, "also bought", CSV export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.errors import InvalidParameterError, NoDataError
from analytics.exports import frame_bytes, write_table
from analytics.recommend.base import MAX_K, Progress, Recommender
from analytics.recommend.interactions import Interactions

EXPORT_COLUMNS = ["user_id", "rank", "item_id", "score"]


def top_items(model: Recommender, interactions: Interactions, k: int = 20, *, users: Sequence[str] | None = None,
              item_attributes: pd.DataFrame | None = None, exclude_seen: bool = True,
              progress: Progress | None = None) -> pd.DataFrame:
    """The top ``k`` products of every user (or of ``users``), one row per (user, rank).

    Parameters
    ----------
    model : Recommender
        Fitted on ``interactions``.
    interactions : Interactions
    k : int
        Products per user (1 to 1000).
    users : sequence of str, optional
        User ids; default every user. Unknown ids are refused with the count.
    item_attributes : DataFrame, optional
        One row per product with an ``item_id`` column and any of ``name``,
        ``category``, ``price``, ...: joined to the list (products it lacks get
        empty cells).
    exclude_seen : bool
        Leave out products the user already had.
    progress : callable, optional

    Returns
    -------
    DataFrame
        ``user_id, rank, item_id, score`` (+ attribute columns), by user then rank.
        Users with fewer than ``k`` products left get fewer rows.
    """
    _check_fitted(model, interactions)
    if users is None:
        rows = np.arange(interactions.n_users)
    else:
        index = pd.Index(interactions.user_ids.astype(str))
        pos = index.get_indexer(pd.Index([str(u) for u in users]))
        if (pos < 0).any():
            missing = [str(u) for u, p in zip(users, pos) if p < 0]
            raise InvalidParameterError(f"{len(missing):,} user(s) have no products in these data (e.g. "
                                        f"{', '.join(missing[:3])}); they cannot get personal recommendations.")
        rows = pos
    items, scores = model.recommend(rows, k, exclude_seen=exclude_seen, progress=progress)
    valid = items >= 0
    r, c = np.nonzero(valid)
    out = pd.DataFrame({
        "user_id": interactions.user_ids[rows[r]].astype(str),
        "rank": (c + 1).astype(np.int32),
        "item_id": interactions.item_ids[items[valid]].astype(str),
        "score": scores[valid].astype(float),
    })
    return _with_attributes(out, item_attributes)


def recommend_latest(model: Recommender, item_ids: np.ndarray, interactions: Interactions, k: int = 20, *,
                     item_attributes: pd.DataFrame | None = None, exclude_seen: bool = True,
                     progress: Progress | None = None) -> pd.DataFrame:
    """Top ``k`` for the users of newer data with a model fitted (or saved) earlier.

    Parameters
    ----------
    model : Recommender
        Fitted, e.g. ``load_recommender(folder).model``.
    item_ids : array of str
        The model's product index (``SavedRecommender.item_ids``).
    interactions : Interactions
        The latest data (same item column); products the model does not know are
        ignored (a new product cannot be recommended until the model is refitted).

    Returns
    -------
    DataFrame
        As :func:`top_items`.
    """
    if not isinstance(model, Recommender) or not model.fitted or len(item_ids) != model.n_items:
        raise InvalidParameterError("recommend_latest needs a fitted model and its product index.")
    col = pd.Index(np.asarray(item_ids).astype(str)).get_indexer(interactions.item_ids.astype(str))
    X = interactions.matrix.tocoo()
    known = col[X.col] >= 0
    if not known.any():
        raise NoDataError("None of the products in the new data is known to the model: fit it again on these data.")
    U = sp.csr_matrix((X.data[known], (X.row[known], col[X.col[known]])), shape=(interactions.n_users, model.n_items))
    rows = np.flatnonzero(np.diff(U.indptr) > 0)
    items, scores = model.recommend(rows, k, exclude_seen=exclude_seen, user_items=U, progress=progress)
    valid = items >= 0
    r, c = np.nonzero(valid)
    out = pd.DataFrame({"user_id": interactions.user_ids[rows[r]].astype(str), "rank": (c + 1).astype(np.int32),
                        "item_id": np.asarray(item_ids).astype(str)[items[valid]],
                        "score": scores[valid].astype(float)})
    return _with_attributes(out, item_attributes)


def _with_attributes(df: pd.DataFrame, item_attributes: pd.DataFrame | None) -> pd.DataFrame:
    if item_attributes is None:
        return df
    if not isinstance(item_attributes, pd.DataFrame) or "item_id" not in item_attributes.columns:
        raise InvalidParameterError("The item attribute table needs an 'item_id' column (one row per product).")
    attrs = item_attributes.copy()
    attrs["item_id"] = attrs["item_id"].astype(str)
    attrs = attrs.drop_duplicates("item_id").drop(columns=[c for c in EXPORT_COLUMNS if c != "item_id"],
                                                   errors="ignore")
    return df.merge(attrs, on="item_id", how="left")


# Scores below this are zero for ranking purposes: ALS gave ~1e-24 to every product of one-product users.
FLAT_SCORE = 1e-9


def flat_scores(recs: pd.DataFrame) -> bool:
    """True when every listed score is about zero: the model found nothing to rank the products by, so
    their order in the list is arbitrary (e.g. ALS on a log where each user has a single product)."""
    return len(recs) > 0 and float(np.nanmax(np.abs(recs["score"].to_numpy(dtype=float)))) < FLAT_SCORE


def export_recommendations(recs: pd.DataFrame, path: str | Path | None = None) -> bytes | Path:
    """``user_id, rank, item_id, score`` as formula-safe CSV (Parquet for a ``.parquet`` path): written to
    ``path``, or returned as CSV bytes."""
    missing = [c for c in EXPORT_COLUMNS if c not in recs.columns]
    if missing:
        raise InvalidParameterError(f"The recommendations lack {', '.join(missing)} (use top_items).")
    df = recs[EXPORT_COLUMNS]
    if path is None:
        return frame_bytes(df, "csv")
    con = duckdb.connect()
    try:
        con.register("recommendations", df)
        return write_table(con, "recommendations", path)
    finally:
        con.close()


def segment_items(interactions: Interactions, segments: pd.DataFrame, top: int = 10, *,
                  min_users: int = 5, min_lift: float = 1.0,
                  item_attributes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Products that characterise each segment: how much more often its users had them than everyone.

    Parameters
    ----------
    interactions : Interactions
    segments : DataFrame
        ``user_id`` and ``segment`` (one row per user; users without products are ignored).
    top : int
        Products per segment (1 to 100).
    min_users : int
        A product needs at least this many users in the segment (lift on two users is noise).
    min_lift : float
        Only products with a lift above this (default 1: more common in the
        segment than overall); a segment where nothing stands out gets no rows.
    item_attributes : DataFrame, optional
        Joined on ``item_id`` as in :func:`top_items`.

    Returns
    -------
    DataFrame
        ``segment, rank, item_id, users, share, overall_share, lift``: ``share`` of
        the segment's users who had the product, ``overall_share`` of all users,
        ``lift`` = share / overall share; by segment then lift.
    """
    if not isinstance(segments, pd.DataFrame) or not {"user_id", "segment"} <= set(segments.columns):
        raise InvalidParameterError("segments must be a table with 'user_id' and 'segment' columns.")
    if not 1 <= int(top) <= 100 or not 1 <= int(min_users) <= 10_000:
        raise InvalidParameterError(f"top must be 1-100 and min_users 1-10000, got {top} and {min_users}.")
    if isinstance(min_lift, bool) or not isinstance(min_lift, (int, float)) or not 0 <= min_lift <= 1e6:
        raise InvalidParameterError(f"min_lift must be a number from 0 (every product) up, got {min_lift!r}.")
    seg = segments.drop_duplicates("user_id").copy()
    seg["user_id"] = seg["user_id"].astype(str)
    pos = pd.Index(interactions.user_ids.astype(str)).get_indexer(seg["user_id"])
    seg = seg[pos >= 0].assign(row=pos[pos >= 0])
    if seg.empty:
        raise NoDataError("None of the segment's users has products in these data: check that the segmentation "
                          "was made on the same dataset.")
    codes, labels = pd.factorize(seg["segment"], sort=True)
    S = sp.csr_matrix((np.ones(len(seg), dtype=np.float32), (codes, seg["row"].to_numpy())),
                      shape=(len(labels), interactions.n_users))
    X = interactions.matrix.copy()
    X.data[:] = 1.0
    counts = (S @ X).toarray()  # segments x products: users who had it
    seg_sizes = np.asarray(S.sum(axis=1)).ravel()
    overall = np.asarray(X.sum(axis=0)).ravel() / interactions.n_users
    share = counts / seg_sizes[:, None]
    lift = np.where(overall > 0, share / np.where(overall > 0, overall, 1.0), 0.0)
    frames = []
    for s, label in enumerate(labels):
        ok = np.flatnonzero((counts[s] >= min_users) & (lift[s] > float(min_lift)))
        best = ok[np.lexsort((ok, -counts[s, ok], -lift[s, ok]))][: int(top)]
        frames.append(pd.DataFrame({
            "segment": label, "rank": np.arange(1, len(best) + 1), "item_id": interactions.item_ids[best].astype(str),
            "users": counts[s, best].astype(int), "share": share[s, best], "overall_share": overall[best],
            "lift": lift[s, best]}))
    return _with_attributes(pd.concat(frames, ignore_index=True), item_attributes)


def also_bought(interactions: Interactions, item_id: str, k: int = 10, *, min_users: int = 2,
                item_attributes: pd.DataFrame | None = None) -> pd.DataFrame:
    """"Users who had X also had Y": the products most over-represented among X's users.

    Build ``interactions`` from purchases only (``weights={"purchase": 1}``) for
    "bought"; with the default weights it reads "interacted with".

    Parameters
    ----------
    interactions : Interactions
    item_id : str
        The product X.
    k : int
        Products returned (1 to 1000).
    min_users : int
        Y needs at least this many users who also had X.

    Returns
    -------
    DataFrame
        ``rank, item_id, users_with_both, confidence, lift``: ``confidence`` =
        share of X's users who had Y, ``lift`` = confidence / share of all users
        who had Y; ordered by lift, then users.
    """
    if not 1 <= int(k) <= MAX_K:
        raise InvalidParameterError(f"k must be from 1 to {MAX_K}, got {k}.")
    pos = np.flatnonzero(interactions.item_ids.astype(str) == str(item_id))
    if not len(pos):
        raise InvalidParameterError(f"The product '{item_id}' does not appear in these data.")
    X = sp.csc_matrix(interactions.matrix, copy=True)
    X.data[:] = 1.0
    x = int(pos[0])
    buyers = X[:, x].nonzero()[0]
    both = np.asarray(sp.csr_matrix(X)[buyers].sum(axis=0)).ravel()
    both[x] = 0
    overall = np.asarray(X.sum(axis=0)).ravel() / interactions.n_users
    confidence = both / max(1, len(buyers))
    lift = np.where(overall > 0, confidence / np.where(overall > 0, overall, 1.0), 0.0)
    ok = np.flatnonzero(both >= max(1, int(min_users)))
    best = ok[np.lexsort((ok, -both[ok], -lift[ok]))][: int(k)]
    out = pd.DataFrame({"rank": np.arange(1, len(best) + 1), "item_id": interactions.item_ids[best].astype(str),
                        "users_with_both": both[best].astype(int), "confidence": confidence[best],
                        "lift": lift[best]})
    return _with_attributes(out, item_attributes)


def _check_fitted(model: Recommender, interactions: Interactions) -> None:
    if not isinstance(model, Recommender) or not model.fitted:
        raise InvalidParameterError("The recommender is not fitted: call fit(interactions) first.")
    if model.n_items != interactions.n_items:
        raise InvalidParameterError(f"The model knows {model.n_items:,} products but the interactions have "
                                    f"{interactions.n_items:,}: use the interactions it was fitted on.")

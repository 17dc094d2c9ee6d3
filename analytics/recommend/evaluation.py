"""Offline evaluation of recommenders, kept apart from the models.

Two protocols, as the field runs them:

- ``last-n``: for every user with more than N products, the N products they
  came to last (by the time of their first interaction with each) are held out;
  the models learn from everything else and must find them.
- ``time-split``: the models learn from everything before a date; for every user
  active before it, the products they had for the first time on or after it are
  held out.

Each model ranks the full catalogue for each test user, leaving out what the user
had in the training data, and the top K is scored with Recall@K, NDCG@K, hit rate
and catalogue coverage.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.errors import InvalidParameterError, MarketLensError, NoDataError
from analytics.jsonable import json_safe
from analytics.progress import Progress
from analytics.recommend.interactions import Interactions, as_date
from analytics.recommend.zoo import DEFAULT_MODELS, make_model, parse_models
from analytics.wording import count as count_of

PROTOCOLS = ("last-n", "time-split")
DEFAULT_KS = (10, 20)
METRICS = ("recall", "ndcg", "hit_rate", "coverage")
METRIC_LABELS = {"recall": "Recall", "ndcg": "NDCG", "hit_rate": "Hit rate", "coverage": "Coverage"}
# Without a date, the time split leaves about this share of the records after it.
DEFAULT_TEST_SHARE = 0.2



@dataclass(frozen=True)
class Split:
    """Training interactions and what each test user must be recommended."""

    train: Interactions
    test: sp.csr_matrix  # users x products, 1 where held out
    test_users: np.ndarray
    protocol: str
    description: str
    n_holdout: int | None = None
    split_date: str | None = None
    notes: tuple[str, ...] = ()


def split_last_n(interactions: Interactions, n: int = 5) -> Split:
    """Hold out each user's last ``n`` products (users with more than ``n`` products only)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 100:
        raise InvalidParameterError(f"n (products held out per user) must be a whole number from 1 to 100, got {n!r}.")
    pairs = interactions.pairs
    u, i = pairs["user"].to_numpy(np.int64), pairs["item"].to_numpy(np.int64)
    first = pairs["first_ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    order = np.lexsort((i, first, u))
    u, i = u[order], i[order]
    count = np.bincount(u, minlength=interactions.n_users)
    last_of_user = np.cumsum(count)[u] - 1
    from_end = last_of_user - np.arange(len(u))
    held = (from_end < n) & (count[u] > n)
    test_users = np.flatnonzero(count > n)
    if not len(test_users):
        most = int(count.max()) if len(count) else 0
        fewer = (f"Hold out fewer (at most {most - 1}) or use the time split." if most > 1 else
                 "Every user has a single product, so no recommendation can be tested on this log (a test needs "
                 "users with two products or more, in either split); the models can still recommend.")
        raise NoDataError(f"No user has more than {n} {'product' if n == 1 else 'products'}, so none can have {n} "
                          f"held out and still have something to learn from. {fewer}")
    m = interactions.n_items
    held_keys = u[held] * m + i[held]
    rec_keys = interactions.user.astype(np.int64) * m + interactions.item
    train = interactions.subset(~np.isin(rec_keys, held_keys))
    test = _binary(u[held], i[held], interactions.n_users, m)
    skipped = int((count > 0).sum()) - len(test_users)
    desc = (f"Last-{n} hold-out: for each of the {len(test_users):,} users with more than {n} products, the {n} "
            f"products they came to last are hidden; the models learn from everything else and rank all "
            f"{m:,} products, leaving out what the user already had. {skipped:,} users with {n} products or "
            "fewer are used for learning only.")
    return Split(train, test, test_users, "last-n", desc, n_holdout=int(n))


def split_by_time(interactions: Interactions, split_date: str | date | datetime | None = None) -> Split:
    """Learn from everything before ``split_date``; test on products users first had on or after it.

    Without a date, the day that leaves about 20% of the records after it.
    """
    days = interactions.day
    d = default_split_date(interactions) if split_date is None else as_date(split_date)
    lo, hi = days.min(), days.max()
    if not lo < d <= hi:
        raise InvalidParameterError(f"The split date {d} must be after the first day ({lo}) and no later than the "
                                    f"last day ({hi}) of the data.")
    before = days < d
    train = interactions.subset(before)
    m = interactions.n_items
    train_keys = np.unique(train.user.astype(np.int64) * m + train.item)
    after_keys = np.unique(interactions.user[~before].astype(np.int64) * m + interactions.item[~before])
    new_keys = after_keys[~np.isin(after_keys, train_keys)]
    u, i = new_keys // m, new_keys % m
    known = np.zeros(interactions.n_users, dtype=bool)
    known[train.user] = True
    warm = known[u]
    cold_users = len(np.unique(u[~warm]))
    u, i = u[warm], i[warm]
    test_users = np.unique(u)
    if not len(test_users):
        raise NoDataError(f"No user active before {d} came to a new product on or after it, so there is nothing to "
                          "test. Choose an earlier date or use the last-N hold-out.")
    test = _binary(u, i, interactions.n_users, m)
    desc = (f"Time split at {d}: the models learn from everything before it and, for each of the "
            f"{len(test_users):,} users active before it, must find the products they came to for the first time "
            f"on or after it, ranking all {m:,} products and leaving out what the user already had. "
            f"{count_of(cold_users, 'user')} seen only after the date cannot be tested.")
    return Split(train, test, test_users, "time-split", desc, split_date=str(d))


def default_split_date(interactions: Interactions) -> np.datetime64:
    """The day that leaves about 20% of the records on or after it (the time split's default)."""
    days = interactions.day
    if not len(days):
        raise NoDataError("There are no interactions to split.")
    d = np.sort(days)[min(len(days) - 1, int(len(days) * (1 - DEFAULT_TEST_SHARE)))]
    if d <= days.min():
        d = days.min() + np.timedelta64(1, "D")
    return d


def _binary(u: np.ndarray, i: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def ranking_metrics(recommended: np.ndarray, relevant: sp.csr_matrix, k: int, n_items: int) -> dict[str, float]:
    """Recall@k, NDCG@k, hit rate@k and catalogue coverage@k.

    Parameters
    ----------
    recommended : array (users, >= k)
        Product indices, best first; -1 for "nothing".
    relevant : scipy.sparse matrix (users, n_items)
        Nonzero where the product is relevant for that user (same row order).
    k : int
    n_items : int
        Size of the catalogue (coverage denominator).

    Returns
    -------
    dict
        ``recall`` = mean over users of hits / relevant products; ``ndcg`` = mean
        of DCG / ideal DCG with gains 1/log2(rank + 1); ``hit_rate`` = share of
        users with at least one hit; ``coverage`` = distinct products recommended
        to anyone / catalogue size.
    """
    rec = np.asarray(recommended)[:, :k]
    relevant = sp.csr_matrix(relevant)
    n_rel = np.diff(relevant.indptr)
    rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), n_rel)
    rel_keys = np.sort(rows * n_items + relevant.indices)
    rec_keys = np.arange(len(rec), dtype=np.int64)[:, None] * n_items + rec
    hits = np.isin(rec_keys, rel_keys) & (rec >= 0)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(n_rel, k)]
    ok = n_rel > 0
    return {
        "recall": float(np.mean(hits.sum(axis=1)[ok] / n_rel[ok])) if ok.any() else 0.0,
        "ndcg": float(np.mean((hits * discount[: rec.shape[1]]).sum(axis=1)[ok] / ideal[ok])) if ok.any() else 0.0,
        "hit_rate": float(np.mean(hits.any(axis=1)[ok])) if ok.any() else 0.0,
        "coverage": len(np.unique(rec[rec >= 0])) / n_items if n_items else 0.0,
    }


@dataclass(frozen=True)
class EvaluationResult:
    """Models compared on one split.

    Attributes
    ----------
    protocol : str
        ``last-n`` or ``time-split``; ``description`` says it in one paragraph.
    metrics : pandas.DataFrame
        One row per evaluated model (index: model name): ``label``, then
        ``recall@K``, ``ndcg@K``, ``hit_rate@K``, ``coverage@K`` for each K, then
        ``fit_seconds`` and ``recommend_seconds``.
    skipped : dict
        Model name -> why it was not evaluated.
    notes : tuple of str
        What the models left out (EASE's catalogue cap, ...).
    """

    protocol: str
    description: str
    ks: tuple[int, ...]
    metrics: pd.DataFrame
    users_evaluated: int
    users: int
    items: int
    train_pairs: int
    test_pairs: int
    n_holdout: int | None = None
    split_date: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def best(self, metric: str | None = None) -> str | None:
        """Name of the model with the highest ``metric`` (default NDCG at the largest K)."""
        metric = metric or f"ndcg@{max(self.ks)}"
        if self.metrics.empty or metric not in self.metrics:
            return None
        return str(self.metrics[metric].astype(float).idxmax())

    def table(self) -> pd.DataFrame:
        """The metrics for a screen: readable column names, model labels as the first column."""
        df = self.metrics.copy()
        ren = {f"{m}@{k}": f"{METRIC_LABELS[m]}@{k}" for m in METRICS for k in self.ks}
        ren |= {"label": "model", "fit_seconds": "fit (s)", "recommend_seconds": "recommend (s)"}
        return df.rename(columns=ren).reset_index(drop=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvaluationResult:
        """The result again from :meth:`to_dict` (a stored evaluation)."""
        proto, data = d["protocol"], d["data"]
        rows = {name: dict(m) for name, m in (d.get("models") or {}).items()}
        metrics = pd.DataFrame.from_dict(rows, orient="index")
        metrics.index.name = "model"
        return cls(protocol=proto["name"], description=proto["description"], ks=tuple(int(k) for k in proto["k"]),
                   metrics=metrics, users_evaluated=int(data["users_evaluated"]), users=int(data["users"]),
                   items=int(data["items"]), train_pairs=int(data["train_pairs"]), test_pairs=int(data["test_pairs"]),
                   n_holdout=proto.get("n_holdout"), split_date=proto.get("split_date"),
                   skipped=dict(d.get("skipped") or {}), notes=tuple(d.get("notes") or ()))

    def to_dict(self) -> dict[str, Any]:
        """What ``recommend --json`` prints: the protocol, the data sizes, each model's metrics, the best."""
        models = {name: {"label": row["label"],
                         **{c: row[c] for c in self.metrics.columns if c != "label"}}
                  for name, row in self.metrics.iterrows()}
        return json_safe({
            "protocol": {"name": self.protocol, "description": self.description, "n_holdout": self.n_holdout,
                         "split_date": self.split_date, "k": list(self.ks),
                         "ranking": "full catalogue, products the user already had excluded"},
            "data": {"users": self.users, "items": self.items, "users_evaluated": self.users_evaluated,
                     "train_pairs": self.train_pairs, "test_pairs": self.test_pairs},
            "models": models, "skipped": self.skipped, "best": self.best(), "notes": list(self.notes)})


def evaluate(interactions: Interactions, models: str | Sequence[str] = DEFAULT_MODELS, *,
             protocol: str = "last-n", n: int = 5, split_date: str | date | datetime | None = None,
             ks: Sequence[int] = DEFAULT_KS, model_params: Mapping[str, Mapping[str, Any]] | None = None,
             max_users: int | None = None, random_state: int = 0, progress: Progress | None = None) -> EvaluationResult:
    """Fit every model on the same training split and score its top-K on the held-out products.

    Parameters
    ----------
    interactions : Interactions
    models : str or sequence of str
        Model names (see :data:`analytics.recommend.zoo.MODELS`), e.g. ``"pop,itemknn,ease,als"``.
    protocol : {"last-n", "time-split"}
    n : int
        Products held out per user (last-n).
    split_date : date or text, optional
        First day of the test period (time-split); default leaves ~20% of records after it.
    ks : sequence of int
        Cut-offs (1 to 100), default 10 and 20.
    model_params : mapping, optional
        Model name -> parameters, e.g. ``{"ease": {"l2": 500}}``.
    max_users : int, optional
        Evaluate on a random sample of this many test users (all by default).
    random_state : int
        Seeds the user sample and the models that draw at random.
    progress : callable, optional

    Returns
    -------
    EvaluationResult
    """
    if not isinstance(interactions, Interactions):
        raise InvalidParameterError(f"evaluate needs Interactions, got {type(interactions).__name__}.")
    names = parse_models(models)
    if protocol not in PROTOCOLS:
        raise InvalidParameterError(f"Unknown protocol '{protocol}'. Choose from: {', '.join(PROTOCOLS)}.")
    ks = tuple(sorted({int(k) for k in ks})) if ks else ()
    if not ks or ks[0] < 1 or ks[-1] > 100:
        raise InvalidParameterError(f"K values must be whole numbers from 1 to 100, got {list(ks)}.")
    model_params = dict(model_params or {})
    unknown = sorted(set(model_params) - set(names))
    if unknown:
        raise InvalidParameterError(f"Parameters given for models not evaluated: {', '.join(unknown)}.")
    if max_users is not None and (isinstance(max_users, bool) or not isinstance(max_users, (int, np.integer))
                                  or max_users < 1):
        raise InvalidParameterError(f"max_users must be a positive whole number, got {max_users!r}.")
    if progress:
        progress(0.0, "Splitting the interactions")
    split = split_last_n(interactions, n) if protocol == "last-n" else split_by_time(interactions, split_date)
    users = split.test_users
    notes = list(interactions.notes) + list(split.notes)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(random_state).choice(users, size=int(max_users), replace=False))
        notes.append(f"Evaluated on a random sample of {len(users):,} of {len(split.test_users):,} test users.")
    relevant = split.test[users]
    rows, skipped = {}, {}
    for j, name in enumerate(names):
        params = dict(model_params.get(name, {}))
        if "random_state" in make_model(name).defaults:
            params.setdefault("random_state", int(random_state))
        sub = _sub_progress(progress, j, len(names))
        try:
            model = make_model(name, **params)
            t0 = time.perf_counter()
            model.fit(split.train, progress=sub)
            t1 = time.perf_counter()
            recs, _ = model.recommend(users, max(ks), exclude_seen=True)
            t2 = time.perf_counter()
        except MarketLensError as exc:
            skipped[name] = str(exc)
            continue
        if model.note:
            notes.append(model.note)
        row: dict[str, Any] = {"label": model.label}
        for k in ks:
            row |= {f"{m}@{k}": v for m, v in ranking_metrics(recs, relevant, k, interactions.n_items).items()}
        rows[name] = row | {"fit_seconds": round(t1 - t0, 3), "recommend_seconds": round(t2 - t1, 3)}
    metrics = pd.DataFrame.from_dict(rows, orient="index")
    metrics.index.name = "model"
    if progress:
        progress(1.0, "Evaluation done")
    return EvaluationResult(
        protocol=split.protocol, description=split.description, ks=ks, metrics=metrics,
        users_evaluated=len(users), users=interactions.n_users, items=interactions.n_items,
        train_pairs=int(split.train.matrix.nnz), test_pairs=int(relevant.nnz), n_holdout=split.n_holdout,
        split_date=split.split_date, skipped=skipped, notes=tuple(notes))


def _sub_progress(progress: Progress | None, j: int, n: int) -> Progress | None:
    if not progress:
        return None
    return lambda f, msg: progress((j + min(1.0, max(0.0, f))) / n, msg)

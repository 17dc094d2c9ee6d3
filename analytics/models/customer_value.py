"""Customer-value features for the classifiers: P(alive) and expected purchases, as of the cutoff.

The buy-till-you-die models (:mod:`analytics.value`) summarise a customer's
purchase rhythm in two numbers a classifier may not find on its own: the
probability they are still a customer, and how many purchases to expect next.
:class:`ValueFeatures` says which to add; :func:`add_value_features` fits BG/NBD
on the purchases up to the cutoff (never later: the same rule as the feature
table ``as_of`` the cutoff) and joins the predictions to the feature table.

A model trained with them keeps the :class:`ValueFeatures` in its metadata, and
:func:`analytics.models.score_dataset` computes them again as of the scoring
date, so a saved model never sees stale or future values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from analytics.errors import InvalidParameterError, MarketLensError, NoDataError

if TYPE_CHECKING:
    from analytics.workspace import Workspace

VALUE_MODELS = ("bgnbd", "paretonbd")


@dataclass(frozen=True)
class ValueFeatures:
    """Which customer-value features to add to a training set.

    Attributes
    ----------
    purchase_event : str or None
        The event that counts as a purchase; None: the feature table's purchase event.
    horizons_days : tuple of float or None
        One ``expected_purchases_<N>d`` column per horizon; None: the target's horizon.
    model : {"bgnbd", "paretonbd"}
        The purchase-count model that gives them.
    """

    purchase_event: str | None = None
    horizons_days: tuple[float, ...] | None = None
    model: str = "bgnbd"

    def __post_init__(self) -> None:
        if self.model not in VALUE_MODELS:
            raise InvalidParameterError(f"The customer-value model must be one of {', '.join(VALUE_MODELS)}, "
                                        f"got {self.model!r}.")
        if self.horizons_days is not None:
            object.__setattr__(self, "horizons_days", tuple(float(h) for h in self.horizons_days))

    @property
    def columns(self) -> list[str]:
        """The feature columns it adds (horizons must be resolved)."""
        return ["p_alive", *(f"expected_purchases_{h:g}d" for h in self.horizons_days or ())]

    def resolve(self, purchase_event: str | None, horizon_days: float) -> ValueFeatures:
        """Defaults filled in: the purchase event of the features, the horizon of the target."""
        return ValueFeatures(purchase_event=self.purchase_event or purchase_event,
                             horizons_days=self.horizons_days or (float(horizon_days),), model=self.model)

    def describe(self) -> str:
        horizons = ", ".join(f"{h:g}" for h in self.horizons_days or ())
        return (f"P(alive) and expected purchases in the next {horizons} days ({self.model_label} fitted on "
                f"'{self.purchase_event}' events up to the cutoff)")

    @property
    def model_label(self) -> str:
        return {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD"}[self.model]

    def to_dict(self) -> dict:
        return {"purchase_event": self.purchase_event,
                "horizons_days": None if self.horizons_days is None else list(self.horizons_days),
                "model": self.model}

    @classmethod
    def from_dict(cls, d: dict) -> ValueFeatures:
        horizons = d.get("horizons_days")
        return cls(purchase_event=d.get("purchase_event"), horizons_days=None if horizons is None else tuple(horizons),
                   model=d.get("model", "bgnbd"))


def value_feature_table(ws: Workspace, dataset_id: str, spec: ValueFeatures, as_of: datetime) -> pd.DataFrame:
    """``user_id`` and the spec's columns for every user seen up to ``as_of``, from events up to ``as_of`` only.

    Raises
    ------
    MarketLensError
        The dataset's events are not in the workspace (a Spark dataset), no purchase event,
        too few repeat buyers up to ``as_of`` (see :func:`analytics.value.value_features`).
    """
    from analytics.value import value_features

    ds = ws.get(dataset_id)
    if not ds.has_events:
        raise NoDataError("this log lives in the data lake (Spark) and the customer-value models need its events in "
                          "the workspace.")
    if not spec.purchase_event:
        raise NoDataError("no purchase event is known for this dataset (choose one on the Features page).")
    table = value_features(ws.cursor(), ds.events_table, spec.purchase_event, as_of,
                           horizons_days=spec.horizons_days or (30.0,), model=spec.model)
    return table[["user_id", *spec.columns]]


def join_value_features(features: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """The feature table with the value columns joined on ``user_id`` (rows and their order unchanged).

    Users without a purchase up to the cutoff get empty values (the classifiers impute them
    and add a "was empty" indicator).
    """
    clash = [c for c in extra.columns if c != "user_id" and c in features.columns]
    if clash:
        raise InvalidParameterError(f"The feature table already has a column named {', '.join(clash)}; the "
                                    "customer-value features cannot be added next to it.")
    keys = features["user_id"].astype(str)
    values = extra.assign(user_id=extra["user_id"].astype(str)).set_index("user_id")
    joined = values.reindex(keys.to_numpy())
    out = features.copy()
    for col in values.columns:
        out[col] = joined[col].to_numpy(dtype=float)
    return out


def add_value_features(ws: Workspace, dataset_id: str, features: pd.DataFrame, spec: ValueFeatures,
                       as_of: datetime) -> tuple[pd.DataFrame, str | None]:
    """Join the value features computed as of ``as_of``; when they cannot be computed, say why.

    Returns
    -------
    (DataFrame, str or None)
        The feature table (unchanged when they could not be computed) and, in that case,
        why not (``None`` when they were added).
    """
    try:
        extra = value_feature_table(ws, dataset_id, spec, as_of)
        return join_value_features(features, extra), None
    except MarketLensError as exc:
        return features, str(exc)

"""The machine-learning challenger: gradient boosting that predicts holdout purchase counts.

To be a fair rival of the buy-till-you-die models it sees exactly what they see:
nothing after the calibration end. It learns on an earlier window of the same
length as the holdout: features as of ``calibration_end - holdout``, target =
purchase occasions in ``(calibration_end - holdout, calibration_end]``; then it
predicts the holdout from features as of the calibration end.

Features per customer (SQL over the events table, all events up to the cutoff):
the RFM-T summary (frequency, recency, T, time since the last purchase, mean
spend, orders, spend), plus activity that the models ignore: events, active days,
sessions, days since the last event, events and active days in the last 28 days,
purchase days in the last 28 and 91 days (calendar days up to the cutoff's day).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from analytics.errors import FitError, MarketLensError
from analytics.sql import quote_ident
from analytics.value.summary import TIME_UNITS, CustomerSummary, build_summary

SUMMARY_FEATURES = ["frequency", "recency", "T", "since_last_purchase", "monetary_value", "n_orders", "total_spend"]
MAX_TRAIN_ROWS = 100_000
MIN_TRAIN_CUSTOMERS = 50


@dataclass
class ChallengerResult:
    """Holdout predictions of the gradient-boosting challenger.

    Attributes
    ----------
    predictions : ndarray
        Expected holdout purchase occasions, aligned with the rows of ``summary.frame``.
    train_cutoff : datetime
        Features of the training rows are as of this instant; targets run to the calibration end.
    train_customers : int
        Customers the model learned on (a seeded sample when there are more than 100,000).
    features : list of str
        Feature names.
    seconds : float
        Wall time (features, training, prediction).
    """

    predictions: np.ndarray
    train_cutoff: datetime
    train_customers: int
    features: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"train_cutoff": self.train_cutoff.isoformat(), "train_customers": self.train_customers,
                "features": list(self.features), "seconds": round(self.seconds, 3)}


def _activity_sql(table: str, has_session: bool) -> str:
    # Per user and day first (one row per active day), then per user: no DISTINCT aggregates over raw events.
    sessions = "count(DISTINCT session_id)" if has_session else "CAST(NULL AS BIGINT)"
    return f"""
WITH d AS (
    SELECT user_id, CAST(ts AS DATE) AS day, count(*) AS events, max(ts) AS last_ts,
           count(*) FILTER (WHERE event = $event) AS purchases, {sessions} AS sessions
    FROM {quote_ident(table)} WHERE ts <= $cut AND user_id IS NOT NULL GROUP BY user_id, day
)
SELECT CAST(user_id AS VARCHAR) AS user_id, sum(events) AS n_events, count(*) AS active_days,
       sum(sessions) AS sessions, ($cut_epoch - epoch(max(last_ts))) / 86400.0 AS days_since_last_event,
       coalesce(sum(events) FILTER (WHERE day > $day28), 0) AS events_28d,
       count(*) FILTER (WHERE day > $day28) AS active_days_28d,
       count(*) FILTER (WHERE purchases > 0 AND day > $day28) AS purchase_days_28d,
       count(*) FILTER (WHERE purchases > 0 AND day > $day91) AS purchase_days_91d
FROM d GROUP BY user_id
"""


def customer_features(con: duckdb.DuckDBPyConnection, table: str, summary: CustomerSummary) -> pd.DataFrame:
    """Per-customer features as of ``summary.calibration_end`` (rows aligned with ``summary.frame``)."""
    cut = summary.calibration_end
    cols = {r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}
    day = pd.Timestamp(cut).normalize()
    # "Last 28 days" = the 28 calendar days up to the cutoff's day (sessions: summed per day).
    activity = con.execute(_activity_sql(table, "session_id" in cols),
                           {"cut": cut, "cut_epoch": (pd.Timestamp(cut) - pd.Timestamp(0)).total_seconds(),
                            "event": summary.purchase_event, "day28": (day - pd.Timedelta(days=28)).date(),
                            "day91": (day - pd.Timedelta(days=91)).date()}).df()
    f = summary.frame
    unit = TIME_UNITS[summary.time_unit]
    base = pd.DataFrame({"user_id": f["user_id"], "frequency": f["frequency"], "recency": f["recency"] * unit,
                         "T": f["T"] * unit, "since_last_purchase": (f["T"] - f["recency"]) * unit,
                         "monetary_value": f["monetary_value"], "n_orders": f["n_orders"],
                         "total_spend": f["total_spend"]})
    out = base.merge(activity, on="user_id", how="left")
    return out.drop(columns="user_id").astype(float)


def ml_challenger(con: duckdb.DuckDBPyConnection, table: str, summary: CustomerSummary,
                  random_state: int = 0) -> ChallengerResult:
    """Train gradient boosting on the window before the calibration end, predict the holdout.

    Raises
    ------
    FitError
        The summary has no holdout, or the calibration period is too short to hold a
        training window as long as the holdout (it needs twice the holdout).
    """
    t0 = time.perf_counter()
    if summary.holdout_days is None:
        raise FitError("The challenger needs a holdout period (holdout_days) to predict.")
    train_cut = summary.calibration_end - timedelta(days=summary.holdout_days)
    try:
        train = build_summary(con, table, summary.purchase_event, train_cut, summary.holdout_days, summary.time_unit)
    except MarketLensError as exc:
        raise FitError(f"The gradient-boosting challenger learns on the {summary.holdout_days:g} days before the "
                       f"calibration end, with features as of {train_cut:%Y-%m-%d}; that does not work here: {exc}"
                       ) from exc
    if train.n_customers < MIN_TRAIN_CUSTOMERS:
        raise FitError(f"The gradient-boosting challenger needs at least {MIN_TRAIN_CUSTOMERS} customers before "
                       f"{train_cut:%Y-%m-%d} to learn from (found {train.n_customers}); use a longer calibration "
                       "period or a shorter holdout.")
    X_train = customer_features(con, table, train)
    # A feature with no value at all (no sessions, no amounts) carries nothing and breaks the binning.
    X_train = X_train.loc[:, X_train.notna().any()]
    y_train = train.frame["holdout_frequency"].to_numpy(float)
    rng = np.random.default_rng(random_state)
    if len(y_train) > MAX_TRAIN_ROWS:
        idx = np.sort(rng.choice(len(y_train), MAX_TRAIN_ROWS, replace=False))
        X_train, y_train = X_train.iloc[idx], y_train[idx]
    model = HistGradientBoostingRegressor(loss="poisson", max_iter=100, learning_rate=0.1, max_leaf_nodes=31,
                                          min_samples_leaf=40, l2_regularization=1.0, early_stopping=True,
                                          validation_fraction=0.15, n_iter_no_change=15,
                                          random_state=random_state)
    model.fit(X_train, y_train)
    X_now = customer_features(con, table, summary)[list(X_train.columns)]
    pred = np.clip(model.predict(X_now), 0.0, None)
    return ChallengerResult(predictions=pred, train_cutoff=train_cut, train_customers=int(len(y_train)),
                            features=list(X_now.columns), seconds=time.perf_counter() - t0)

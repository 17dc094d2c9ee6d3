"""Per-customer predictions: P(alive), expected purchases, expected spend, CLV; features for classifiers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

from analytics.errors import FitError, InvalidParameterError
from analytics.sql import quote_ident
from analytics.value.clv import check_horizon, check_money, customer_value
from analytics.value.fitting import LABELS, ValueReport, fit_value_models
from analytics.value.summary import TIME_UNITS, CustomerSummary, TimeUnit, build_summary, to_naive_utc

# Predicting further ahead than this many times the span the models learned from is extrapolation.
MAX_HORIZON_SPAN = 2.0

PREDICTION_COLUMNS = ["user_id", "frequency", "recency", "T", "monetary_value", "p_alive", "expected_purchases",
                      "expected_spend", "clv"]


def predict_value(summary: CustomerSummary, report: ValueReport, horizon_days: float = 365.0,
                  discount_rate: float = 0.10, margin: float = 1.0, model: str | None = None,
                  step_days: float = 30.0) -> pd.DataFrame:
    """One row per customer: P(alive), expected purchases and spend, CLV over the horizon.

    Parameters
    ----------
    summary : CustomerSummary
        The customers to predict for (usually the one the models were fitted on).
    report : ValueReport
        Fitted models (:func:`analytics.value.fit_value_models`).
    horizon_days : float
        Horizon of ``expected_purchases`` and ``clv``, in days.
    discount_rate : float
        Yearly discount rate for CLV (0.1 = 10% a year).
    margin : float
        Share of spend that is profit (1 = CLV in revenue).
    model : str, optional
        Purchase-count model, ``"bgnbd"`` or ``"paretonbd"`` (default: BG/NBD when fitted).
    step_days : float
        Valuation step of the CLV sum (purchases are discounted at the end of each step).

    Returns
    -------
    DataFrame
        ``user_id, frequency, recency, T, monetary_value, p_alive, expected_purchases,
        expected_spend, clv``. ``expected_spend`` and ``clv`` are empty (NaN) when the
        spend model could not be fitted. ``df.attrs`` holds the settings (horizon,
        time unit, model, discount rate, margin, calibration end) and ``warnings``.
    """
    horizon_days = check_horizon(horizon_days)
    discount_rate, margin = check_money(discount_rate, margin)
    if summary.time_unit != report.time_unit:
        raise InvalidParameterError(f"The summary is in {summary.time_unit} but the models were fitted in "
                                    f"{report.time_unit}; build both with the same time_unit.")
    counts = report.count_model(model)
    frame = summary.frame
    out = frame[["user_id", "frequency", "recency", "T", "monetary_value"]].copy()
    out["p_alive"] = counts.p_alive(frame)
    warnings: list[str] = []
    gg = report.spend_model
    if gg is None:
        reason = report.skipped.get("gamma_gamma", "the spend model (gg) was not requested")
        warnings.append(f"No expected spend or CLV: {reason}")
        spend = np.full(len(frame), np.nan)
    else:
        spend = gg.expected_spend(frame)
    clv, purchases = customer_value(counts, frame, np.nan_to_num(spend), horizon_days, summary.time_unit,
                                    discount_rate, margin, step_days)
    if not np.isfinite(purchases).all() or not np.isfinite(out["p_alive"]).all():
        raise FitError(f"{LABELS[counts.name]} gives no usable predictions over {horizon_days:g} days for these "
                       "customers (its parameters ran to extremes); choose the other purchase model or a shorter "
                       "horizon.")
    span_days = float(frame["T"].max()) * TIME_UNITS[summary.time_unit] if len(frame) else 0.0
    if horizon_days > MAX_HORIZON_SPAN * span_days:
        warnings.append(f"The horizon ({horizon_days:g} days) is {horizon_days / max(span_days, 1e-9):,.0f} times "
                        f"the {span_days:,.3g} days the models learned from: predictions that far ahead are "
                        "extrapolation. Read them as a ranking of customers, not as amounts to plan on, or use a "
                        "shorter horizon.")
    out["expected_purchases"] = purchases
    out["expected_spend"] = spend
    out["clv"] = np.where(np.isfinite(spend), clv, np.nan)
    out.attrs.update({"horizon_days": horizon_days, "time_unit": summary.time_unit, "model": counts.name,
                      "model_label": LABELS[counts.name], "discount_rate": discount_rate, "margin": margin,
                      "calibration_end": summary.calibration_end.isoformat(), "warnings": warnings})
    return out


def value_features(con: duckdb.DuckDBPyConnection, table: str, purchase_event: str,
                   cutoff: datetime | date | str, horizons_days: Sequence[float] = (30,), model: str = "bgnbd",
                   time_unit: TimeUnit = "days") -> pd.DataFrame:
    """P(alive) and expected purchases as of a cutoff, as features for the classifiers.

    Only events with ``ts <= cutoff`` are read (the same rule as the feature table
    ``as_of`` the cutoff): the summary, the model fit and the predictions never look
    past it.

    Parameters
    ----------
    con : DuckDB connection
    table : str
        Canonical events table.
    purchase_event : str
        The event that counts as a purchase.
    cutoff : datetime, date or str
        The Models page cutoff.
    horizons_days : sequence of float
        One ``expected_purchases_<N>d`` column per horizon.
    model : str
        ``"bgnbd"`` or ``"paretonbd"``.
    time_unit : str
        Unit used to fit (does not change the outputs, which are probabilities and counts).

    Returns
    -------
    DataFrame
        ``user_id, p_alive, expected_purchases_<N>d, ...`` for every user with an event
        up to the cutoff; users who have not bought yet have empty (NaN) values.

    Raises
    ------
    analytics.errors.MarketLensError
        As :func:`customer_summary` and :func:`fit_value_models` (e.g. too few repeat buyers).
    """
    horizons = [check_horizon(h, "horizons_days") for h in horizons_days]
    if not horizons:
        raise InvalidParameterError("horizons_days needs at least one horizon in days, e.g. (30,).")
    cut = to_naive_utc(cutoff, "The cutoff")
    summary = build_summary(con, table, purchase_event, cut, None, time_unit)
    report = fit_value_models(summary, models=(model,))
    counts = report.count_model(model)
    frame = summary.frame
    curve = counts.expected_purchases_curve(frame, [h / TIME_UNITS[time_unit] for h in horizons])
    feats = pd.DataFrame({"user_id": frame["user_id"], "p_alive": counts.p_alive(frame)})
    for h, row in zip(horizons, curve):
        feats[f"expected_purchases_{h:g}d"] = row
    users = con.execute(f"SELECT DISTINCT CAST(user_id AS VARCHAR) AS user_id FROM {quote_ident(table)} "
                        "WHERE ts <= $cut AND user_id IS NOT NULL", {"cut": cut}).df()
    out = users.merge(feats, on="user_id", how="left").sort_values("user_id", ignore_index=True)
    out.attrs.update({"cutoff": cut.isoformat(), "model": counts.name, "fit": counts.result.to_dict()})
    return out


def value_by_segment(predictions: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Value per saved segment: customers, mean P(alive), expected purchases, mean and total CLV.

    ``segments`` has ``user_id, segment`` (e.g. a saved segmentation); customers
    without a segment are grouped as "(no segment)".
    """
    if not {"user_id", "segment"} <= set(segments.columns):
        raise InvalidParameterError("segments needs the columns user_id and segment.")
    if predictions.empty:
        raise FitError("There are no customer predictions to group by segment.")
    seg = segments[["user_id", "segment"]].astype({"user_id": str}).drop_duplicates("user_id")
    df = predictions.merge(seg, on="user_id", how="left")
    df["segment"] = df["segment"].astype(object).where(df["segment"].notna(), "(no segment)").astype(str)
    g = df.groupby("segment", sort=True)
    out = pd.DataFrame({"customers": g.size(), "mean_p_alive": g["p_alive"].mean(),
                        "expected_purchases": g["expected_purchases"].sum(),
                        "mean_clv": g["clv"].mean(), "total_clv": g["clv"].sum(min_count=1)})
    return out.reset_index().sort_values("total_clv", ascending=False, na_position="last", ignore_index=True)

"""Bad input gives a clear analytics.errors message (or documented handling), never a traceback or NaN results."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics.errors import FitError, InvalidParameterError, MarketLensError, NoDataError
from analytics.value import (
    customer_summary,
    fit_value_models,
    predict_value,
    validate_value,
    value_by_segment,
    value_features,
)
from analytics.value.simulate import simulate_transaction_log

TRUTH = {"r": 0.8, "alpha": 20.0, "a": 0.8, "b": 3.0}


def _con(frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE ev AS SELECT * FROM frame")
    return con


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return simulate_transaction_log(400, TRUTH, random_state=5)


def test_unknown_purchase_event_lists_the_events_in_the_log(log):
    con = _con(log.assign(event=np.where(np.arange(len(log)) % 3 == 0, "order", "page_view")))
    with pytest.raises(InvalidParameterError, match=r"No event in the log is called 'purchase'.*'page_view', 'order'"):
        customer_summary(con, "ev", "purchase")


def test_an_empty_log_says_so():
    con = duckdb.connect()
    con.execute("CREATE TABLE ev (user_id VARCHAR, ts TIMESTAMP, event VARCHAR, amount DOUBLE)")
    with pytest.raises(NoDataError, match="no events"):
        customer_summary(con, "ev", "purchase")
    with pytest.raises(NoDataError, match="cannot be read"):
        customer_summary(con, "missing_table", "purchase")


@pytest.mark.parametrize("kwargs,pattern", [
    ({"calibration_end": "2023-06-01"}, r"before the first purchase \(2024-01-01"),
    ({"calibration_end": "2026-01-01"}, r"after the data, which runs from 2024-01-01.*Pick a calibration end up to"),
    ({"calibration_end": "2024-12-01", "holdout_days": 90}, r"90-day holdout would run past the end of the data"),
    ({"holdout_days": 0}, r"holdout_days must be between 1 and"),
    ({"holdout_days": "soon"}, r"holdout_days must be a number of days"),
    ({"calibration_end": "not a date"}, r"calibration end must be a date"),
    ({"time_unit": "months"}, r"time_unit must be one of days, weeks"),
])
def test_windows_outside_the_data_are_refused_with_the_valid_range(log, kwargs, pattern):
    with pytest.raises(InvalidParameterError, match=pattern):
        customer_summary(_con(log), "ev", "purchase", **kwargs)


def test_a_log_with_a_single_purchase_per_user_cannot_learn_repeat_buying(log):
    once = log.drop_duplicates("user_id")
    summary = customer_summary(_con(once), "ev", "purchase")
    assert summary.n_customers == 400 and summary.n_repeat_customers == 0
    assert any("Nobody bought on two different days" in w for w in summary.warnings)
    with pytest.raises(NoDataError, match="Only 0 of 400 customers bought on two different days") as err:
        fit_value_models(summary)
    assert "later" not in str(err.value)  # the calibration end is the last event already
    held = customer_summary(_con(once), "ev", "purchase", holdout_days=30)
    with pytest.raises(NoDataError, match="move the calibration end later"):
        fit_value_models(held)


def test_too_few_customers(log):
    small = log[log["user_id"].isin(log["user_id"].unique()[:8])]
    with pytest.raises(NoDataError, match="Only 8 customers .* at least 20") as err:
        fit_value_models(customer_summary(_con(small), "ev", "purchase"))
    # Without a holdout the calibration end is the last event already: no advice to move it later.
    assert "later" not in str(err.value) and "more customers" in str(err.value)


def test_only_refunds_means_no_customers(log):
    refunds = log.assign(amount=-log["amount"].abs() - 1)
    summary = customer_summary(_con(refunds), "ev", "purchase")
    assert summary.n_customers == 0 and summary.refund_rows == len(log)
    with pytest.raises(NoDataError, match="Only 0 customers"):
        fit_value_models(summary)


@pytest.mark.parametrize("amount,reason", [(0.0, "mean spend is zero"), (None, "no purchase has an amount")])
def test_without_usable_spend_the_counts_still_work_and_value_is_empty(log, amount, reason):
    summary = customer_summary(_con(log.assign(amount=amount)), "ev", "purchase")
    said = "Every purchase amount is zero" if amount == 0 else "Purchases carry no amounts"
    assert any(said in w for w in summary.warnings), summary.warnings
    report = fit_value_models(summary, models=("bgnbd", "gg"))
    assert "gamma_gamma" in report.skipped and reason in report.skipped["gamma_gamma"]
    assert report.spend_model is None and "gamma_gamma" not in report.to_dict()["models"]
    pv = predict_value(summary, report)
    assert pv["p_alive"].notna().all() and pv["expected_purchases"].notna().all()
    assert pv["clv"].isna().all() and "No expected spend or CLV" in pv.attrs["warnings"][0]
    with pytest.raises(FitError, match="spend model"):
        fit_value_models(summary, models=("gg",))


def test_no_amount_column_at_all(log):
    summary = customer_summary(_con(log.drop(columns="amount")), "ev", "purchase")
    assert any("no amounts" in w for w in summary.warnings)
    report = fit_value_models(summary, models="bgnbd,gg")
    assert set(report.fits) == {"bgnbd"} and "gamma_gamma" in report.skipped


def test_parameters_are_never_nan(log):
    report = fit_value_models(customer_summary(_con(log), "ev", "purchase"))
    for fit in report.fits.values():
        assert all(math.isfinite(v) for v in fit.params.values())
        assert all(v is None or math.isfinite(v) for v in fit.std_errors.values())


def test_bad_model_and_prediction_settings(log):
    summary = customer_summary(_con(log), "ev", "purchase")
    with pytest.raises(InvalidParameterError, match="Unknown value model 'lifetimes'"):
        fit_value_models(summary, models=("bgnbd", "lifetimes"))
    with pytest.raises(InvalidParameterError, match="at least one value model"):
        fit_value_models(summary, models=())
    report = fit_value_models(summary, models=("bgnbd", "gg"))
    with pytest.raises(InvalidParameterError, match="horizon_days must be between 1 and 3660"):
        predict_value(summary, report, horizon_days=0)
    with pytest.raises(InvalidParameterError, match="discount_rate is a yearly rate between 0 and 1"):
        predict_value(summary, report, discount_rate=10)
    with pytest.raises(InvalidParameterError, match="margin is the share of spend"):
        predict_value(summary, report, margin=-1)
    with pytest.raises(FitError, match="Pareto/NBD model is not available"):
        predict_value(summary, report, model="paretonbd")
    with pytest.raises(InvalidParameterError, match="model must be 'bgnbd' or 'paretonbd'"):
        predict_value(summary, report, model="gg")
    weeks = customer_summary(_con(log), "ev", "purchase", time_unit="weeks")
    with pytest.raises(InvalidParameterError, match="same time_unit"):
        predict_value(weeks, report)
    with pytest.raises(InvalidParameterError, match="Validation needs a holdout"):
        validate_value(_con(log), "ev", summary, report)
    with pytest.raises(InvalidParameterError, match="segments needs the columns"):
        value_by_segment(predict_value(summary, report), pd.DataFrame({"user_id": ["x"]}))
    with pytest.raises(InvalidParameterError, match="horizons_days"):
        value_features(_con(log), "ev", "purchase", "2024-06-01", horizons_days=())


def test_challenger_without_room_before_the_holdout_is_a_warning_not_a_crash(log):
    con = _con(log)
    summary = customer_summary(con, "ev", "purchase", "2024-03-01", holdout_days=200)
    report = fit_value_models(summary, models=("bgnbd",))
    v = validate_value(con, "ev", summary, report)
    assert "ml" not in v.scores and v.challenger is None
    assert any("challenger" in w for w in v.warnings)
    assert v.to_dict()["models"]["bgnbd"]["holdout_actual_total"] > 0


def test_every_error_is_a_marketlens_error(log):
    con = _con(log)
    for call in (lambda: customer_summary(con, "ev", ""), lambda: customer_summary(con, "ev", "purchase", 12345),
                 lambda: value_features(con, "ev", "purchase", "2020-01-01")):
        with pytest.raises(MarketLensError):
            call()


def test_the_committed_sample_log_runs_end_to_end(sample_dataset, workspace):
    cur = workspace.cursor()
    table = sample_dataset.events_table
    summary = customer_summary(cur, table, "purchase", holdout_days=42, time_unit="weeks")
    report = fit_value_models(summary)
    v = validate_value(cur, table, summary, report)
    d = v.to_dict()
    assert d["time_unit"] == "weeks" and d["customers"] == summary.n_customers > 100
    for fit in report.fits.values():
        assert all(math.isfinite(x) for x in fit.params.values())
    assert set(d["models"]) >= {"bgnbd", "paretonbd"}
    full = customer_summary(cur, table, "purchase", time_unit="weeks")
    pv = predict_value(full, fit_value_models(full, models=("paretonbd", "gg")), horizon_days=90)
    assert pv["p_alive"].between(0, 1).all() and pv["clv"].notna().all()


def test_a_log_of_a_few_days_gives_numbers_or_says_why_never_nan(log):
    """Squeezed into 5 days, BG/NBD's fit runs to r, alpha ~ 1e5 where its formulas overflow: it is left out
    with the reason, Pareto/NBD predicts, and a year's horizon over 5 days of data is called extrapolation."""
    t0 = log["ts"].min()
    short = log.assign(ts=t0 + (log["ts"] - t0) * (5 / 364))
    con = _con(short)
    summary = customer_summary(con, "ev", "purchase")
    report = fit_value_models(summary)
    assert "gives no usable predictions" in report.skipped["bgnbd"] and "Use a longer log" in report.skipped["bgnbd"]
    assert set(report.fits) == {"paretonbd", "gamma_gamma"}
    pv = predict_value(summary, report)
    assert pv[["p_alive", "expected_purchases", "expected_spend", "clv"]].notna().all().all()
    assert pv.attrs["model"] == "paretonbd"
    assert any("is 73 times the 5 days the models learned from" in w for w in pv.attrs["warnings"])
    with pytest.raises(FitError, match="The BG/NBD model is not available: BG/NBD gives no usable predictions"):
        predict_value(summary, report, model="bgnbd")
    # The holdout check scores what can predict (it raised on NaN predictions before).
    held = customer_summary(con, "ev", "purchase", holdout_days=1)
    check = validate_value(con, "ev", held, fit_value_models(held), challenger=False)
    assert all(math.isfinite(s.mae) for s in check.scores.values()) and "paretonbd" in check.scores


def test_a_horizon_within_twice_the_data_is_not_called_extrapolation(log):
    summary = customer_summary(_con(log), "ev", "purchase")
    pv = predict_value(summary, fit_value_models(summary), horizon_days=365)
    assert not any("extrapolation" in w for w in pv.attrs["warnings"])


def test_only_refunds_suggests_checking_the_sign_of_the_amounts(log):
    summary = customer_summary(_con(log.assign(amount=-log["amount"].abs() - 1)), "ev", "purchase")
    with pytest.raises(NoDataError, match=rf"{len(log):,} purchase events up to then have a negative amount.*"
                                          "flip the sign of the amount column"):
        fit_value_models(summary)

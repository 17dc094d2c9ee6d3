"""Holdout validation, the challenger, predictions, CLV, classifier features and charts on a simulated log."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics.charts import value as value_charts
from analytics.jsonable import json_safe
from analytics.value import (
    ValueReport,
    customer_summary,
    fit_value_models,
    predict_value,
    validate_value,
    value_by_segment,
    value_features,
)
from analytics.value.clv import step_ends
from analytics.value.simulate import simulate_transaction_log

TRUTH = {"r": 0.8, "alpha": 20.0, "a": 0.8, "b": 3.0}  # per day
CAL_END = "2024-07-01"


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return simulate_transaction_log(2500, TRUTH, random_state=3)


@pytest.fixture(scope="module")
def con(log) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("CREATE TABLE ev AS SELECT * FROM log")
    # Browsing events that the value models ignore but the challenger may use.
    c.execute("INSERT INTO ev SELECT user_id, ts - INTERVAL 1 HOUR, 'page_view', NULL FROM ev")
    return c


@pytest.fixture(scope="module")
def validation(con):
    summary = customer_summary(con, "ev", "purchase", CAL_END, holdout_days=120)
    report = fit_value_models(summary, models=("bgnbd", "paretonbd", "gg"))
    return validate_value(con, "ev", summary, report, random_state=0)


def test_bgnbd_on_its_own_data_predicts_the_holdout(validation):
    s = validation.scores["bgnbd"]
    assert abs(s.bias_pct) < 8, s
    assert s.auc > 0.7 and s.mae < 1.5
    # Recovered parameters (days) are close to the truth the log was drawn from.
    fit = validation.report.fits["bgnbd"]
    assert fit.params["r"] == pytest.approx(TRUTH["r"], rel=0.2)
    assert fit.params["alpha"] == pytest.approx(TRUTH["alpha"], rel=0.25)
    assert fit.time_unit == "days"


def test_by_frequency_table_and_tracking(validation):
    t = validation.by_frequency
    assert list(t["frequency"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert t["customers"].sum() == validation.summary.n_customers
    assert {"actual", "bgnbd", "paretonbd", "ml"} <= set(t.columns)
    # Customers who bought more in calibration buy more in the holdout, and BG/NBD follows them.
    assert t["actual"].iloc[-1] > t["actual"].iloc[1] and t["bgnbd"].iloc[-1] > t["bgnbd"].iloc[1]
    assert np.abs(t["bgnbd"] - t["actual"]).max() < 0.6
    tr = validation.tracking
    assert (np.diff(tr["actual"]) >= 0).all() and (np.diff(tr["bgnbd"]) >= 0).all()
    assert tr["actual"].iloc[-1] == validation.summary.frame["frequency"].sum() + validation.per_customer[
        "actual"].sum()
    assert tr["in_holdout"].any() and not tr["in_holdout"].all()
    assert (tr["days"].iloc[:-1] == 7).all() and 0 < tr["days"].iloc[-1] <= 7
    # In the calibration weeks the fit follows the actual cumulative curve closely.
    cal = tr[~tr["in_holdout"]].iloc[-1]
    assert cal["bgnbd"] == pytest.approx(cal["actual"], rel=0.05)


def test_challenger_runs_on_the_window_before_the_holdout(validation):
    ch = validation.challenger
    assert ch is not None and ch.train_customers > 100
    assert str(ch.train_cutoff.date()) == "2024-03-03"  # calibration end minus the 120-day holdout
    pred = validation.per_customer["ml"]
    assert np.isfinite(pred).all() and (pred >= 0).all()
    assert validation.scores["ml"].auc > 0.6


def test_validation_json_has_what_the_cli_prints(validation):
    d = validation.to_dict()
    json.dumps(json_safe(d))
    assert d["time_unit"] == "days" and d["holdout_days"] == 120
    for key in ("bgnbd", "paretonbd", "ml"):
        m = d["models"][key]
        assert {"holdout_predicted_total", "holdout_actual_total", "mae", "auc"} <= set(m)
    assert set(d["models"]["bgnbd"]["params"]) == {"r", "alpha", "a", "b"}
    assert all(np.isfinite(v) for v in d["models"]["paretonbd"]["params"].values())
    assert set(d["spend_model"]["params"]) == {"p", "q", "gamma"}


def test_report_round_trips_through_json(validation):
    report = validation.report
    again = ValueReport.from_dict(json.loads(json.dumps(json_safe(report.to_dict()))))
    frame = validation.summary.frame
    np.testing.assert_allclose(again.count_model("bgnbd").p_alive(frame), report.count_model("bgnbd").p_alive(frame))
    np.testing.assert_allclose(again.spend_model.expected_spend(frame), report.spend_model.expected_spend(frame))


def test_predict_value_gives_every_customer_a_value(con):
    full = customer_summary(con, "ev", "purchase")
    report = fit_value_models(full, models=("bgnbd", "gg"))
    pv = predict_value(full, report, horizon_days=365, discount_rate=0.1)
    assert list(pv.columns[:9]) == ["user_id", "frequency", "recency", "T", "monetary_value", "p_alive",
                                    "expected_purchases", "expected_spend", "clv"]
    assert len(pv) == full.n_customers and pv[["p_alive", "expected_purchases", "clv"]].notna().all().all()
    assert pv["p_alive"].between(0, 1).all() and (pv["clv"] >= 0).all()
    assert pv.attrs["horizon_days"] == 365 and pv.attrs["time_unit"] == "days" and pv.attrs["model"] == "bgnbd"
    # BG/NBD: one-time buyers are alive by assumption.
    assert (pv.loc[pv["frequency"] == 0, "p_alive"] == 1).all()
    # CLV: undiscounted CLV is expected purchases times spend; discounting lowers it; margin scales it.
    flat = predict_value(full, report, horizon_days=365, discount_rate=0.0)
    np.testing.assert_allclose(flat["clv"], flat["expected_purchases"] * flat["expected_spend"], rtol=1e-9)
    assert (pv["clv"] <= flat["clv"] + 1e-9).all() and pv["clv"].sum() < flat["clv"].sum()
    half = predict_value(full, report, horizon_days=365, discount_rate=0.1, margin=0.5)
    np.testing.assert_allclose(half["clv"], 0.5 * pv["clv"], rtol=1e-12)
    assert list(step_ends(100, 30)) == [30, 60, 90, 100]


def test_value_by_segment_sums_customer_values(con):
    full = customer_summary(con, "ev", "purchase")
    pv = predict_value(full, fit_value_models(full, models=("bgnbd", "gg")))
    seg = pd.DataFrame({"user_id": pv["user_id"][:-10], "segment": np.where(pv["frequency"][:-10] > 3, "loyal", "x")})
    t = value_by_segment(pv, seg)
    assert set(t["segment"]) == {"loyal", "x", "(no segment)"}
    assert t["customers"].sum() == len(pv)
    assert t["total_clv"].sum() == pytest.approx(pv["clv"].sum())


def test_value_features_never_look_past_the_cutoff(con, log):
    cutoff = "2024-06-01"
    before = value_features(con, "ev", "purchase", cutoff, horizons_days=(30, 90))
    assert list(before.columns) == ["user_id", "p_alive", "expected_purchases_30d", "expected_purchases_90d"]
    # Rewrite everything after the cutoff: a heavy buying spree by everyone. The features must not move.
    c2 = duckdb.connect()
    c2.execute("CREATE TABLE ev AS SELECT * FROM log WHERE ts <= TIMESTAMP '2024-06-01'")
    c2.execute("INSERT INTO ev SELECT user_id, TIMESTAMP '2024-06-15' + INTERVAL (k) DAY, 'purchase', 50.0 "
               "FROM (SELECT DISTINCT user_id FROM log), range(20) t(k)")
    after = value_features(c2, "ev", "purchase", cutoff, horizons_days=(30, 90))
    pd.testing.assert_frame_equal(before, after)
    assert (before["expected_purchases_90d"].dropna() >= before["expected_purchases_30d"].dropna()).all()
    # Users with events but no purchase up to the cutoff are listed with empty values.
    users_before = log.loc[log["ts"] <= pd.Timestamp(cutoff), "user_id"].nunique()
    assert len(before) == users_before


def test_charts_build_from_the_results(validation, con):
    f1 = value_charts.frequency_chart(validation)
    assert [t.name for t in f1.data] == ["actual", "BG/NBD", "Pareto/NBD", "Gradient boosting"]
    f2 = value_charts.tracking_chart(validation)
    assert len(f2.data) == 3 and "calibration end" in f2.layout.annotations[0].text
    value_charts.tracking_chart(validation, cumulative=False)
    full = customer_summary(con, "ev", "purchase")
    pv = predict_value(full, fit_value_models(full, models=("bgnbd", "gg")))
    assert sum(len(t.x) for t in value_charts.p_alive_chart(pv).data) == len(pv)
    assert "365 days" in value_charts.clv_chart(pv).layout.title.text
    seg = pd.DataFrame({"user_id": pv["user_id"], "segment": "<script>x</script>"})
    fig = value_charts.segment_value_chart(value_by_segment(pv, seg))
    assert "<script>" not in json.dumps(fig.to_plotly_json(), default=str)

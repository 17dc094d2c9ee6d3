"""The customer summary SQL: a hand-computed log, and equality with an independent pandas version."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics.value import customer_summary


def _con(rows: list[tuple], columns=("user_id", "ts", "event", "amount")) -> duckdb.DuckDBPyConnection:
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["ts"] = pd.to_datetime(frame["ts"])
    con = duckdb.connect()
    con.register("frame_view", frame)
    con.execute("CREATE TABLE ev AS SELECT * FROM frame_view")
    con.unregister("frame_view")
    return con


HAND_LOG = [
    # a: two orders on 1 Jan (one occasion, 15), 5 Jan (20), a refund on 8 Jan, 11 Jan 09:00 is after the
    #    calibration end (2024-01-11 00:00), 20 Jan in the holdout, 30 Jan after the holdout.
    ("a", "2024-01-01 10:00", "purchase", 10.0),
    ("a", "2024-01-01 15:00", "purchase", 5.0),
    ("a", "2024-01-05 09:00", "purchase", 20.0),
    ("a", "2024-01-08 09:00", "purchase", -20.0),
    ("a", "2024-01-11 09:00", "purchase", 40.0),
    ("a", "2024-01-20 09:00", "purchase", 7.0),
    ("a", "2024-01-30 09:00", "purchase", 1.0),
    # b: one purchase without an amount, page views do not count.
    ("b", "2024-01-03 12:00", "purchase", None),
    ("b", "2024-01-04 12:00", "page_view", None),
    # c: first purchase in the holdout: not a customer of this summary.
    ("c", "2024-01-12 12:00", "purchase", 3.0),
    # d: never buys.
    ("d", "2024-01-02 00:00", "page_view", None),
    ("d", "2024-01-31 00:00", "page_view", None),
    # e: first purchase without an amount, then two priced repeat occasions (mean over the priced ones).
    ("e", "2024-01-02 08:00", "purchase", None),
    ("e", "2024-01-06 08:00", "purchase", 12.0),
    ("e", "2024-01-09 08:00", "purchase", 0.0),
    ("e", "2024-01-09 09:00", "purchase", 6.0),
    # f: only a refund before the calibration end: not a customer; bought in the holdout.
    ("f", "2024-01-04 08:00", "purchase", -5.0),
    ("f", "2024-01-15 08:00", "purchase", 9.0),
]


def test_summary_matches_a_hand_computed_log():
    s = customer_summary(_con(HAND_LOG), "ev", "purchase", "2024-01-11", holdout_days=14)
    f = s.frame.set_index("user_id")
    assert list(f.index) == ["a", "b", "e"]
    a, b, e = f.loc["a"], f.loc["b"], f.loc["e"]
    assert (a.frequency, a.recency, a["T"], a.monetary_value) == (1, 4.0, 10.0, 20.0)
    assert (a.n_orders, a.total_spend, a.holdout_frequency, a.holdout_spend) == (3, 35.0, 2, 47.0)
    assert (b.frequency, b.recency, b["T"], b.n_orders, b.holdout_frequency) == (0, 0.0, 8.0, 1, 0)
    assert np.isnan(b.monetary_value)
    # e: occasions 2, 6, 9 Jan; the first has no amount; repeat spend 12 and 0 + 6 -> mean 9.
    assert (e.frequency, e.recency, e["T"], e.monetary_value, e.n_orders) == (2, 7.0, 9.0, 9.0, 4)
    assert f.loc["a", "first_purchase"] == pd.Timestamp("2024-01-01")
    assert f.loc["e", "last_purchase"] == pd.Timestamp("2024-01-09")
    assert s.new_in_holdout == 2  # c and f
    assert (s.refund_rows, s.refund_total) == (2, 25.0)
    assert s.refund_rate == pytest.approx(25.0 / (35.0 + 0.0 + 18.0))
    assert any("refunds" in w and "gross" in w for w in s.warnings)
    d = s.to_dict()
    assert d["time_unit"] == "days" and d["customers"] == 3 and d["holdout_occasions"] == 2
    assert d["holdout_end"] == "2024-01-25T00:00:00"


def test_summary_in_weeks_and_without_holdout():
    s = customer_summary(_con(HAND_LOG), "ev", "purchase", "2024-01-11", time_unit="weeks")
    f = s.frame.set_index("user_id")
    assert f.loc["a", "recency"] == pytest.approx(4 / 7) and f.loc["a", "T"] == pytest.approx(10 / 7)
    assert "holdout_frequency" not in s.frame and s.holdout_end is None and s.to_dict()["time_unit"] == "weeks"


def test_default_calibration_end_is_the_last_event_or_the_last_event_minus_the_holdout():
    con = _con(HAND_LOG)
    assert customer_summary(con, "ev", "purchase").calibration_end == datetime(2024, 1, 31)
    s = customer_summary(con, "ev", "purchase", holdout_days=10)
    assert s.calibration_end == datetime(2024, 1, 21) and s.holdout_end == datetime(2024, 1, 31)


def test_date_only_log_keeps_the_calibration_end_day_in_calibration():
    # Transaction logs with dates only: every time is 00:00, so purchases of the end day are calibration.
    rows = [("u", "2024-03-01", "purchase", 5.0), ("u", "2024-03-10", "purchase", 5.0),
            ("u", "2024-03-11", "purchase", 5.0), ("v", "2024-03-02", "purchase", 1.0),
            ("v", "2024-03-20", "purchase", 1.0)]
    s = customer_summary(_con(rows), "ev", "purchase", "2024-03-10", holdout_days=10)
    f = s.frame.set_index("user_id")
    assert (f.loc["u", "frequency"], f.loc["u", "recency"], f.loc["u", "T"]) == (1, 9.0, 9.0)
    assert f.loc["u", "holdout_frequency"] == 1 and f.loc["v", "holdout_frequency"] == 1


def test_a_day_split_by_the_calibration_end_is_one_occasion():
    # Purchases at 00:00 (calibration) and 14:00 (holdout) on the calibration end day: one occasion, counted once.
    rows = [("u", "2024-03-01 09:00", "purchase", 5.0), ("u", "2024-03-10 00:00", "purchase", 5.0),
            ("u", "2024-03-10 14:00", "purchase", 8.0), ("u", "2024-03-12 10:00", "purchase", 2.0),
            ("w", "2024-03-20 10:00", "page_view", None)]
    s = customer_summary(_con(rows), "ev", "purchase", "2024-03-10", holdout_days=5)
    f = s.frame.set_index("user_id")
    assert f.loc["u", "frequency"] == 1 and f.loc["u", "holdout_frequency"] == 1
    assert f.loc["u", "holdout_spend"] == 2.0


def test_a_log_without_amount_column_still_summarises_counts():
    rows = [("u", "2024-03-01 09:00", "purchase"), ("u", "2024-03-04 09:00", "purchase")]
    s = customer_summary(_con(rows, ("user_id", "ts", "event")), "ev", "purchase")
    assert s.frame.loc[0, "frequency"] == 1 and np.isnan(s.frame.loc[0, "monetary_value"])
    assert any("no amounts" in w for w in s.warnings)


# --- equality with an independent pandas implementation on a random log ----------------------------


def _reference(ev: pd.DataFrame, event: str, cal: pd.Timestamp, holdout_days: float, unit: float) -> pd.DataFrame:
    """Row-by-row pandas version of the definitions in analytics.value.summary."""
    end = cal + pd.Timedelta(days=holdout_days)
    p = ev[(ev["event"] == event) & (ev["ts"] <= end)].copy()
    p["day"] = p["ts"].dt.normalize()
    buys = p[p["amount"].isna() | (p["amount"] >= 0)]
    rows = []
    for user, g in buys[buys["ts"] <= cal].groupby("user_id"):
        days = sorted(g["day"].unique())
        spend = {d: g.loc[(g["day"] == d) & (g["amount"] >= 0), "amount"].sum(min_count=1) for d in days}
        repeat = [spend[d] for d in days[1:] if not pd.isna(spend[d])]
        hold = buys[(buys["user_id"] == user) & (buys["ts"] > cal)]
        hold_days = [d for d in sorted(hold["day"].unique()) if d > days[-1]]
        hold_spend = sum(hold.loc[(hold["day"] == d) & (hold["amount"] >= 0), "amount"].sum() for d in hold_days)
        rows.append({"user_id": user, "frequency": len(days) - 1, "recency": (days[-1] - days[0]).days / unit,
                     "T": (cal - days[0]).total_seconds() / 86400 / unit,
                     "monetary_value": np.mean(repeat) if repeat else np.nan, "n_orders": len(g),
                     "total_spend": g.loc[g["amount"] >= 0, "amount"].sum(), "holdout_frequency": len(hold_days),
                     "holdout_spend": float(hold_spend)})
    return pd.DataFrame(rows).sort_values("user_id", ignore_index=True)


@pytest.mark.parametrize("unit_name,unit,cal", [("days", 1.0, "2024-02-15"), ("weeks", 7.0, "2024-02-20 13:30")])
def test_summary_equals_an_independent_pandas_implementation(unit_name, unit, cal):
    rng = np.random.default_rng(7)
    n = 2000
    ts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 90 * 86400, n).round(), unit="s")
    amount = rng.gamma(2, 20, n).round(2)
    amount[rng.random(n) < 0.08] *= -1  # refunds
    amount[rng.random(n) < 0.05] = np.nan  # unknown amounts
    amount[rng.random(n) < 0.03] = 0.0
    ev = pd.DataFrame({"user_id": rng.choice([f"u{i:03d}" for i in range(150)], n), "ts": ts,
                       "event": rng.choice(["purchase", "page_view"], n, p=[0.6, 0.4]), "amount": amount})
    con = duckdb.connect()
    con.execute("CREATE TABLE ev AS SELECT * FROM ev")
    s = customer_summary(con, "ev", "purchase", cal, holdout_days=21, time_unit=unit_name)
    ref = _reference(ev, "purchase", pd.Timestamp(cal), 21, unit)
    got = s.frame[ref.columns]
    pd.testing.assert_frame_equal(got, ref, check_dtype=False, rtol=1e-12, atol=1e-9)

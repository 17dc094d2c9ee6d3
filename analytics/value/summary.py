"""The per-customer summary the value models need, computed in DuckDB over the events table.

Definitions (the ones of the buy-till-you-die literature, stated so a test can pin them):

- A **purchase occasion** is a calendar day (UTC) with at least one purchase event
  that is not a refund. Several orders on one day count as one occasion.
- **Refunds** are purchase events with a negative amount. They are not purchase
  occasions and are not subtracted from spend; they are counted, and
  :attr:`CustomerSummary.refund_rate` says what share of gross spend they undo
  (net value is roughly ``(1 - refund_rate)`` times gross value). A purchase event
  without an amount is still an occasion; its spend is unknown.
- **Calibration period**: events with ``ts <= calibration_end``. A date means
  midnight at its start (UTC), so on a log with dates only (every time at
  00:00) the purchases of the calibration end day are in the calibration period,
  as in ``lifetimes``; on a log with times of day they are in the holdout.
- A **customer** has at least one purchase occasion in the calibration period.
  Their first occasion is their "birth"; all times are measured from the start of
  that day.
- ``frequency`` = repeat occasions = occasions in the calibration period minus one.
- ``recency`` = time from the first to the last occasion (0 without repeat occasions).
- ``T`` = time from the first occasion to the calibration end (the customer's age).
- ``monetary_value`` = mean spend per *repeat* occasion (the first is left out, as
  in Fader, Hardie & Lee 2005); empty without a repeat occasion with a known amount.
- ``holdout_frequency`` / ``holdout_spend``: occasions and their spend in
  ``(calibration_end, calibration_end + holdout_days]`` (a day already counted as a
  calibration occasion is not counted again).

Times are in days or weeks (``time_unit``); whichever is chosen is stated in
every output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from analytics.checks import to_naive_utc
from analytics.errors import InvalidParameterError, NoDataError
from analytics.sql import quote_ident

TimeUnit = Literal["days", "weeks"]
TIME_UNITS: dict[str, float] = {"days": 1.0, "weeks": 7.0}
MAX_HOLDOUT_DAYS = 3660
SUMMARY_COLUMNS = ["user_id", "frequency", "recency", "T", "monetary_value", "first_purchase", "last_purchase",
                   "n_orders", "total_spend"]
HOLDOUT_COLUMNS = ["holdout_frequency", "holdout_spend"]


@dataclass
class CustomerSummary:
    """RFM-T summary of every customer as of the calibration end (plus holdout counts when asked).

    Attributes
    ----------
    frame : DataFrame
        One row per customer: ``user_id, frequency, recency, T, monetary_value,
        first_purchase, last_purchase, n_orders, total_spend`` and, with a holdout,
        ``holdout_frequency, holdout_spend``. ``recency`` and ``T`` are in ``time_unit``.
    purchase_event : str
        The event that counts as a purchase.
    calibration_end : datetime
        Last instant of the calibration period (naive UTC).
    holdout_days : float or None
        Length of the holdout period in days (None: no holdout).
    time_unit : str
        ``"days"`` or ``"weeks"``: the unit of ``recency``, ``T`` and of the models' time parameters.
    data_start, data_end : datetime
        First and last event of any kind in the table.
    refund_rows, refund_total, gross_spend : int, float, float
        Refund rows and their (positive) total in the calibration period, and the
        customers' gross calibration spend they are compared with.
    new_in_holdout : int
        Users whose first purchase falls in the holdout (not customers of this summary).
    warnings : list of str
        What a marketer should know about these data before trusting the models.
    """

    frame: pd.DataFrame
    purchase_event: str
    calibration_end: datetime
    holdout_days: float | None
    time_unit: str
    data_start: datetime
    data_end: datetime
    refund_rows: int = 0
    refund_total: float = 0.0
    gross_spend: float = 0.0
    new_in_holdout: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def holdout_end(self) -> datetime | None:
        """End of the holdout period (None without a holdout)."""
        return None if self.holdout_days is None else self.calibration_end + timedelta(days=self.holdout_days)

    @property
    def holdout_length(self) -> float | None:
        """Holdout length in ``time_unit``."""
        return None if self.holdout_days is None else self.holdout_days / TIME_UNITS[self.time_unit]

    @property
    def n_customers(self) -> int:
        return len(self.frame)

    @property
    def n_repeat_customers(self) -> int:
        return int((self.frame["frequency"] > 0).sum())

    @property
    def refund_rate(self) -> float:
        """Refunded share of gross spend in the calibration period (0 without refunds)."""
        return self.refund_total / self.gross_spend if self.gross_spend > 0 else 0.0

    def to_dict(self) -> dict:
        """Settings and headline counts (not the per-customer rows)."""
        f = self.frame
        return {"purchase_event": self.purchase_event, "calibration_end": self.calibration_end.isoformat(),
                "holdout_days": self.holdout_days,
                "holdout_end": self.holdout_end.isoformat() if self.holdout_end else None,
                "time_unit": self.time_unit, "customers": self.n_customers,
                "repeat_customers": self.n_repeat_customers,
                "repeat_occasions": int(f["frequency"].sum()) if len(f) else 0,
                "holdout_occasions": int(f["holdout_frequency"].sum()) if "holdout_frequency" in f else None,
                "new_in_holdout": self.new_in_holdout, "refund_rows": self.refund_rows,
                "refund_total": round(self.refund_total, 2), "refund_rate": round(self.refund_rate, 6),
                "data_start": self.data_start.isoformat(), "data_end": self.data_end.isoformat(),
                "warnings": list(self.warnings)}


def check_time_unit(time_unit: str) -> str:
    """``time_unit`` if it is ``"days"`` or ``"weeks"``, else a clear error."""
    if time_unit not in TIME_UNITS:
        raise InvalidParameterError(f"time_unit must be one of {', '.join(TIME_UNITS)}, got {time_unit!r}.")
    return time_unit


@dataclass(frozen=True)
class _Extent:
    start: datetime
    end: datetime
    purchases: int
    first_purchase: datetime | None
    has_amount: bool  # the table has an amount column
    priced: bool  # some purchase carries an amount


def _extent(con: duckdb.DuckDBPyConnection, table: str, purchase_event: str) -> _Extent:
    t = quote_ident(table)
    try:
        cols = {r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()}
    except duckdb.Error as exc:
        raise NoDataError(f"The events table {table!r} cannot be read ({exc}).") from exc
    missing = {"user_id", "ts", "event"} - cols
    if missing:
        raise NoDataError(f"The events table {table!r} lacks the column(s) {', '.join(sorted(missing))}.")
    row = con.execute(f"SELECT min(ts), max(ts), count(*) FILTER (WHERE event = $e), "
                      f"min(ts) FILTER (WHERE event = $e) FROM {t}", {"e": purchase_event}).fetchone()
    if row[0] is None:
        raise NoDataError("The log has no events, so there are no customers to value.")
    if row[2] == 0:
        top = con.execute(f"SELECT event, count(*) AS n FROM {t} GROUP BY event ORDER BY n DESC, event LIMIT 8"
                          ).fetchall()
        names = ", ".join(repr(r[0]) for r in top)
        raise InvalidParameterError(f"No event in the log is called {purchase_event!r}, so there are no purchases to "
                                    f"model. Pick the purchase event among: {names}.")
    priced = False
    if "amount" in cols:
        priced = con.execute(f"SELECT count(amount) FILTER (WHERE event = $e) > 0 FROM {t}",
                             {"e": purchase_event}).fetchone()[0]
    return _Extent(row[0], row[1], int(row[2]), row[3], "amount" in cols, bool(priced))


def resolve_window(extent: _Extent, calibration_end: datetime | date | str | None,
                   holdout_days: float | None) -> tuple[datetime, float | None]:
    """Validate the calibration end and holdout against the data; fill the defaults."""
    if holdout_days is not None:
        try:
            holdout_days = float(holdout_days)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"holdout_days must be a number of days, got {holdout_days!r}.") from exc
        if not 0 < holdout_days <= MAX_HOLDOUT_DAYS:
            raise InvalidParameterError(f"holdout_days must be between 1 and {MAX_HOLDOUT_DAYS} days, "
                                        f"got {holdout_days:g}.")
    end = extent.end
    if calibration_end is None:
        cal = end - timedelta(days=holdout_days) if holdout_days else end
    else:
        cal = to_naive_utc(calibration_end, "The calibration end")
    span = f"from {extent.start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (UTC)"
    if cal > end:
        raise InvalidParameterError(f"The calibration end {cal:%Y-%m-%d %H:%M} is after the data, which runs {span}. "
                                    f"Pick a calibration end up to {end:%Y-%m-%d}.")
    if extent.first_purchase is None or cal < extent.first_purchase:
        raise InvalidParameterError(
            f"The calibration end {cal:%Y-%m-%d %H:%M} is before the first purchase "
            f"({extent.first_purchase:%Y-%m-%d %H:%M}); there are no customers yet. The data runs {span}.")
    if holdout_days is not None and cal + timedelta(days=holdout_days) > end:
        latest = end - timedelta(days=holdout_days)
        left = max(0.0, (end - cal).total_seconds() / 86_400)
        raise InvalidParameterError(
            f"With the calibration end at {cal:%Y-%m-%d %H:%M}, a {holdout_days:g}-day holdout would run past the end "
            f"of the data ({end:%Y-%m-%d %H:%M}; only {left:.1f} days are left). Move the calibration end to "
            f"{latest:%Y-%m-%d %H:%M} or earlier, or shorten the holdout.")
    return cal, holdout_days


def _summary_sql(table: str, has_amount: bool) -> str:
    amount = "amount" if has_amount else "CAST(NULL AS DOUBLE)"
    return f"""
WITH p AS (
    SELECT user_id, CAST(ts AS DATE) AS day, ts <= $cal AS in_cal, {amount} AS amount
    FROM {quote_ident(table)}
    WHERE event = $event AND ts <= $end AND user_id IS NOT NULL
),
occ AS (  -- one row per user, day and period; a day with a purchase that is not a refund is an occasion
    SELECT user_id, day, in_cal,
           count(*) FILTER (WHERE amount IS NULL OR amount >= 0) AS orders,
           sum(amount) FILTER (WHERE amount >= 0) AS spend,
           count(*) FILTER (WHERE amount < 0) AS refunds,
           coalesce(-sum(amount) FILTER (WHERE amount < 0), 0) AS refunded
    FROM p GROUP BY user_id, day, in_cal
),
u AS (  -- one pass per user: calibration occasions and spend, holdout occasions
    SELECT user_id,
           count(*) FILTER (WHERE in_cal AND orders > 0) AS occasions,
           min(day) FILTER (WHERE in_cal AND orders > 0) AS first_day,
           max(day) FILTER (WHERE in_cal AND orders > 0) AS last_day,
           arg_min_null(spend, day) FILTER (WHERE in_cal AND orders > 0) AS first_spend,
           sum(spend) FILTER (WHERE in_cal AND orders > 0) AS spend_sum,
           count(spend) FILTER (WHERE in_cal AND orders > 0) AS spend_known,
           coalesce(sum(orders) FILTER (WHERE in_cal), 0) AS n_orders,
           coalesce(sum(refunds) FILTER (WHERE in_cal), 0) AS refunds,
           coalesce(sum(refunded) FILTER (WHERE in_cal), 0) AS refunded,
           count(*) FILTER (WHERE NOT in_cal AND orders > 0) AS h_occ,
           coalesce(sum(spend) FILTER (WHERE NOT in_cal AND orders > 0), 0) AS h_spend,
           count(*) FILTER (WHERE NOT in_cal AND orders > 0 AND day = $cal_day) AS h_occ_cut,
           coalesce(sum(spend) FILTER (WHERE NOT in_cal AND orders > 0 AND day = $cal_day), 0) AS h_spend_cut
    FROM occ GROUP BY user_id
)
SELECT user_id, occasions, first_day, last_day,
       date_diff('day', first_day, last_day) AS recency_days,
       ($cal_epoch - epoch(CAST(first_day AS TIMESTAMP))) / 86400.0 AS age_days,
       spend_sum - coalesce(first_spend, 0) AS repeat_spend,
       spend_known - CASE WHEN first_spend IS NULL THEN 0 ELSE 1 END AS repeat_spend_known,
       coalesce(spend_sum, 0) AS total_spend, n_orders, refunds, refunded,
       -- a calibration day that runs past the calibration end is one occasion, counted in calibration only
       h_occ - CASE WHEN last_day = $cal_day THEN h_occ_cut ELSE 0 END AS holdout_frequency,
       h_spend - CASE WHEN last_day = $cal_day THEN h_spend_cut ELSE 0 END AS holdout_spend
FROM u ORDER BY user_id
"""


def build_summary(con: duckdb.DuckDBPyConnection, table: str, purchase_event: str,
                  calibration_end: datetime | date | str | None = None, holdout_days: float | None = None,
                  time_unit: TimeUnit = "days") -> CustomerSummary:
    """Compute the :class:`CustomerSummary` (see the module docstring for every definition)."""
    check_time_unit(time_unit)
    if not isinstance(purchase_event, str) or not purchase_event:
        raise InvalidParameterError(f"purchase_event must be an event name, got {purchase_event!r}.")
    extent = _extent(con, table, purchase_event)
    cal, holdout_days = resolve_window(extent, calibration_end, holdout_days)
    end = cal + timedelta(days=holdout_days) if holdout_days else cal
    cal_epoch = (pd.Timestamp(cal) - pd.Timestamp(0)).total_seconds()
    raw = con.execute(_summary_sql(table, extent.has_amount),
                      {"event": purchase_event, "cal": cal, "end": end, "cal_day": cal.date(),
                       "cal_epoch": cal_epoch}).df()
    is_customer = raw["occasions"].fillna(0) > 0
    new_in_holdout = int((~is_customer & (raw["holdout_frequency"] > 0)).sum())
    refund_rows = int(raw["refunds"].fillna(0).sum())
    refund_total = float(raw["refunded"].fillna(0).sum())
    raw = raw[is_customer]
    unit = TIME_UNITS[time_unit]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(raw["repeat_spend_known"] > 0, raw["repeat_spend"] / raw["repeat_spend_known"], np.nan)
    frame = pd.DataFrame({
        "user_id": raw["user_id"].astype(str).to_numpy(),
        "frequency": (raw["occasions"] - 1).astype(np.int64).to_numpy(),
        "recency": raw["recency_days"].astype(float).to_numpy() / unit,
        "T": raw["age_days"].astype(float).to_numpy() / unit,
        "monetary_value": monetary.astype(float),
        "first_purchase": pd.to_datetime(raw["first_day"]).to_numpy(),
        "last_purchase": pd.to_datetime(raw["last_day"]).to_numpy(),
        "n_orders": raw["n_orders"].astype(np.int64).to_numpy(),
        "total_spend": raw["total_spend"].astype(float).to_numpy(),
    })
    if holdout_days is not None:
        frame["holdout_frequency"] = raw["holdout_frequency"].astype(np.int64).to_numpy()
        frame["holdout_spend"] = raw["holdout_spend"].astype(float).to_numpy()
    summary = CustomerSummary(frame=frame, purchase_event=purchase_event, calibration_end=cal,
                              holdout_days=holdout_days, time_unit=time_unit, data_start=extent.start,
                              data_end=extent.end, refund_rows=refund_rows, refund_total=refund_total,
                              gross_spend=float(frame["total_spend"].sum()), new_in_holdout=new_in_holdout)
    summary.warnings.extend(_warnings(summary, extent.priced))
    return summary


def _warnings(s: CustomerSummary, priced: bool) -> list[str]:
    out = []
    f = s.frame
    if s.refund_rows:
        what = "refund" if s.refund_rows == 1 else "refunds"
        share = (f"They undo {100 * s.refund_rate:.1f}% of the customers' spend; multiply values by "
                 f"{1 - min(s.refund_rate, 1):.3f} for a net figure." if s.gross_spend > 0 else
                 "There is no positive spend for them to undo.")
        out.append(f"{s.refund_rows} {what} (purchase events with a negative amount, {s.refund_total:,.2f} in total) "
                   f"are not counted as purchases and not subtracted from spend: values are gross. {share}")
    if not priced:
        out.append("Purchases carry no amounts, so spend and customer value cannot be estimated; "
                   "P(alive) and expected purchases still can.")
    elif len(f) and f["total_spend"].eq(0).all():
        out.append("Every purchase amount is zero, so spend and customer value cannot be estimated.")
    if len(f) and s.n_repeat_customers == 0:
        out.append("Nobody bought on two different days before the calibration end: repeat buying cannot be "
                   "learned from these data (move the calibration end later, or check the purchase event).")
    return out

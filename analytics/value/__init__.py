"""Customer value: who is still alive, how much they will buy, what they are worth.

The "buy till you die" models of the marketing literature, fitted by maximum
likelihood on a per-customer summary that DuckDB computes from the events table:

- :class:`BetaGeoModel` (BG/NBD) and :class:`ParetoNBDModel` (Pareto/NBD) for
  purchase counts: P(alive), expected purchases in the next N days;
- :class:`GammaGammaModel` for spend per purchase;
- CLV over a horizon with a yearly discount rate;
- calibration/holdout validation against a gradient-boosting challenger.

Typical use::

    summary = customer_summary(con, table, "purchase", "2025-04-01", holdout_days=90)
    report = fit_value_models(summary)                  # BG/NBD, Pareto/NBD, Gamma-Gamma
    check = validate_value(con, table, summary, report)  # holdout scores, charts' data
    full = customer_summary(con, table, "purchase")      # everything up to the last event
    per_user = predict_value(full, fit_value_models(full), horizon_days=365)

or both at once, as the Value page does (stored and restored with the workspace)::

    run = run_value(con, table, "purchase", holdout_days=90)  # ValueRun
    per_user = run.predictions(horizon_days=365)

Definitions of frequency, recency, T, spend and refunds: :mod:`analytics.value.summary`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import duckdb

from analytics.value._mle import FitResult
from analytics.value.bgnbd import BetaGeoModel
from analytics.value.challenger import ChallengerResult
from analytics.value.fitting import ValueReport, fit_value_models
from analytics.value.gammagamma import GammaGammaModel
from analytics.value.paretonbd import ParetoNBDModel
from analytics.value.predict import predict_value, value_by_segment, value_features
from analytics.value.run import ValueRun, run_dataset_value, run_value
from analytics.value.summary import CustomerSummary, TimeUnit, build_summary
from analytics.value.validation import HoldoutScore, ValidationReport, validate_value

__all__ = ["BetaGeoModel", "ChallengerResult", "CustomerSummary", "FitResult", "GammaGammaModel", "HoldoutScore",
           "ParetoNBDModel", "ValidationReport", "ValueReport", "ValueRun", "customer_summary", "fit_value_models",
           "predict_value", "run_dataset_value", "run_value", "validate_value", "value_by_segment", "value_features"]


def customer_summary(con: duckdb.DuckDBPyConnection, table: str, purchase_event: str,
                     calibration_end: datetime | date | str | None = None, holdout_days: float | None = None,
                     time_unit: TimeUnit = "days",
                     progress: Callable[[float, str], None] | None = None) -> CustomerSummary:
    """Per-customer frequency, recency, age and mean spend as of the calibration end (DuckDB SQL).

    Parameters
    ----------
    con : DuckDB connection
    table : str
        Canonical events table (``user_id, ts, event, amount, ...``).
    purchase_event : str
        The event that counts as a purchase (a transaction log imports as ``"purchase"``).
    calibration_end : datetime, date or str, optional
        Last instant of the calibration period (a date is midnight at its start, UTC).
        Default: the last event, or the last event minus the holdout.
    holdout_days : float, optional
        Also count each customer's purchase occasions and spend in the ``holdout_days``
        after the calibration end (for :func:`validate_value`).
    time_unit : {"days", "weeks"}
        Unit of ``recency``, ``T`` and of the models' time parameters.
    progress : callable, optional
        ``progress(fraction_done, message)``.

    Returns
    -------
    CustomerSummary
        ``frame`` with one row per customer and the settings, refund counts and warnings.

    Raises
    ------
    InvalidParameterError
        Unknown purchase event (the message lists the events in the log), a calibration
        end outside the data, a holdout running past the data, a bad time unit.
    NoDataError
        The table has no events.
    """
    if progress:
        progress(0.0, "Summarising purchases per customer")
    summary = build_summary(con, table, purchase_event, calibration_end, holdout_days, time_unit)
    if progress:
        progress(1.0, f"{summary.n_customers:,} customers summarised")
    return summary

"""Calibration/holdout validation the way the buy-till-you-die literature does it.

Given a summary built with a holdout (``customer_summary(..., holdout_days=N)``)
and models fitted on its calibration part, :func:`validate_value` compares what
each model expected in the holdout with what customers actually did:

- **by calibration frequency** (the classic chart of Fader, Hardie & Lee 2005):
  customers grouped by their repeat purchases in calibration (0, 1, ..., 7+), mean
  actual vs mean predicted holdout purchases per group;
- **weekly cumulative tracking**: repeat purchases of the calibration customers
  summed over calendar weeks, actual vs model (each customer contributes the
  model's expected purchases for a new customer since their first purchase), the
  calibration end marked: left of it is fit, right of it is forecast;
- **per-customer accuracy**: mean absolute error, total bias (predicted minus
  actual holdout purchases, also in %), and ROC AUC of "buys at all in the
  holdout" ranked by each model's expected purchases.

A gradient-boosting challenger (:mod:`analytics.value.challenger`) is scored the
same way on the same customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from analytics.errors import FitError, InvalidParameterError
from analytics.progress import Progress
from analytics.sql import quote_ident
from analytics.value.challenger import ChallengerResult, ml_challenger
from analytics.value.fitting import COUNT_MODELS, LABELS, ValueReport
from analytics.value.summary import TIME_UNITS, CustomerSummary

CHALLENGER = "ml"
ALL_LABELS = {**LABELS, CHALLENGER: "Gradient boosting"}


@dataclass
class HoldoutScore:
    """How well one model predicted the holdout purchases of every customer.

    ``bias = predicted_total - actual_total``; ``auc`` is None when every customer
    (or none) bought in the holdout.
    """

    model: str
    label: str
    predicted_total: float
    actual_total: float
    mae: float
    rmse: float
    auc: float | None

    @property
    def bias(self) -> float:
        return self.predicted_total - self.actual_total

    @property
    def bias_pct(self) -> float | None:
        return 100.0 * self.bias / self.actual_total if self.actual_total > 0 else None

    def to_dict(self) -> dict:
        return {"model": self.model, "label": self.label,
                "holdout_predicted_total": round(self.predicted_total, 3),
                "holdout_actual_total": round(self.actual_total, 3), "bias": round(self.bias, 3),
                "bias_pct": None if self.bias_pct is None else round(self.bias_pct, 3),
                "mae": round(self.mae, 6), "rmse": round(self.rmse, 6),
                "auc": None if self.auc is None else round(self.auc, 6)}


@dataclass
class ValidationReport:
    """Holdout validation of the value models (and the challenger) on one calibration/holdout split.

    Attributes
    ----------
    summary : CustomerSummary
        The split (calibration end, holdout length, time unit, customers).
    report : ValueReport
        The models fitted on the calibration period.
    scores : dict
        Model key (``"bgnbd"``, ``"paretonbd"``, ``"ml"``) -> :class:`HoldoutScore`.
    per_customer : DataFrame
        ``user_id, frequency, actual`` and one column of predicted holdout purchases per model.
    by_frequency : DataFrame
        ``frequency`` (group label: ``"0"``, ..., ``"7+"``), ``customers``, ``actual``
        (mean holdout purchases) and the mean prediction of each model.
    tracking : DataFrame
        One row per calendar week: ``week_end`` (date), ``actual_weekly``, ``actual``
        (cumulative repeat purchases), ``days`` (7, or fewer for a last week cut short by
        the holdout end) and one cumulative column per count model; ``in_holdout`` is
        True after the calibration end.
    challenger : ChallengerResult or None
        The gradient-boosting run (None when not asked for or not possible).
    warnings : list of str
        Models' warnings and anything that stopped a comparison.
    """

    summary: CustomerSummary
    report: ValueReport
    scores: dict[str, HoldoutScore]
    per_customer: pd.DataFrame
    by_frequency: pd.DataFrame
    tracking: pd.DataFrame
    challenger: ChallengerResult | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def lowest_mae_model(self) -> str | None:
        """The model with the lowest per-customer MAE (MAE favours cautious predictions; read it with the bias)."""
        return min(self.scores, key=lambda k: self.scores[k].mae) if self.scores else None

    def to_dict(self) -> dict:
        """What ``python -m analytics clv LOG --holdout-days N --json`` prints.

        For each model: its parameters (and standard errors), holdout predicted and
        actual totals, bias, per-customer MAE and the AUC of "buys in the holdout".
        """
        models = {}
        for key, score in self.scores.items():
            entry = score.to_dict()
            fit = self.report.fits.get(key)
            if fit is not None:
                entry.update({"params": fit.params, "std_errors": fit.std_errors,
                              "log_likelihood": fit.log_likelihood, "converged": fit.converged,
                              "warnings": fit.warnings})
            elif key == CHALLENGER and self.challenger is not None:
                entry.update(self.challenger.to_dict())
            models[key] = entry
        gg = self.report.fits.get("gamma_gamma")
        return {"calibration_end": self.summary.calibration_end.isoformat(),
                "holdout_days": self.summary.holdout_days,
                "holdout_end": self.summary.holdout_end.isoformat() if self.summary.holdout_end else None,
                "time_unit": self.summary.time_unit, "customers": self.summary.n_customers,
                "repeat_customers": self.summary.n_repeat_customers, "models": models,
                "spend_model": None if gg is None else gg.to_dict(),
                "spend_frequency_correlation": self.report.spend_frequency_correlation,
                "lowest_mae_model": self.lowest_mae_model, "skipped": dict(self.report.skipped),
                "warnings": list(self.warnings)}


def score_predictions(model: str, actual: np.ndarray, predicted: np.ndarray) -> HoldoutScore:
    """MAE, RMSE, totals and AUC of "buys at all" for one model's holdout predictions."""
    actual = np.asarray(actual, float)
    predicted = np.asarray(predicted, float)
    err = predicted - actual
    bought = actual > 0
    auc = float(roc_auc_score(bought, predicted)) if 0 < bought.sum() < bought.size else None
    return HoldoutScore(model=model, label=ALL_LABELS.get(model, model), predicted_total=float(predicted.sum()),
                        actual_total=float(actual.sum()), mae=float(np.abs(err).mean()),
                        rmse=float(np.sqrt((err**2).mean())), auc=auc)


def by_frequency_table(per_customer: pd.DataFrame, models: list[str], max_group: int = 7) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases per number of calibration repeat purchases (0..max_group+)."""
    group = np.minimum(per_customer["frequency"].to_numpy(), max_group)
    labels = [str(g) if g < max_group else f"{max_group}+" for g in range(max_group + 1)]
    df = per_customer.assign(_g=group)
    g = df.groupby("_g", sort=True)
    out = pd.DataFrame({"customers": g.size(), "actual": g["actual"].mean()})
    for m in models:
        out[m] = g[m].mean()
    out.index = [labels[int(i)] for i in out.index]
    return out.rename_axis("frequency").reset_index()


def _daily_repeat_occasions(con: duckdb.DuckDBPyConnection, table: str, summary: CustomerSummary) -> pd.DataFrame:
    """Repeat purchase occasions per calendar day of the summary's customers, up to the holdout end."""
    cols = {r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}
    not_refund = "(amount IS NULL OR amount >= 0)" if "amount" in cols else "TRUE"
    sql = f"""
WITH p AS (
    SELECT user_id, CAST(ts AS DATE) AS day, min(ts) AS first_ts
    FROM {quote_ident(table)} WHERE event = $event AND ts <= $end AND {not_refund} AND user_id IS NOT NULL
    GROUP BY user_id, day
),
u AS (SELECT user_id, min(day) AS first_day FROM p WHERE first_ts <= $cal GROUP BY user_id)
SELECT p.day, count(*) AS occasions FROM p JOIN u USING (user_id) WHERE p.day > u.first_day
GROUP BY p.day ORDER BY p.day
"""
    return con.execute(sql, {"event": summary.purchase_event, "end": summary.holdout_end,
                             "cal": summary.calibration_end}).df()


def tracking_table(con: duckdb.DuckDBPyConnection, table: str, summary: CustomerSummary,
                   report: ValueReport) -> pd.DataFrame:
    """Weekly cumulative repeat purchases of the calibration customers: actual and per count model."""
    f = summary.frame
    start = pd.Timestamp(f["first_purchase"].min()).normalize()
    end = pd.Timestamp(summary.holdout_end)
    n_weeks = max(int(np.ceil((end - start) / pd.Timedelta(days=7))), 1)
    week_ends = start + pd.to_timedelta(7 * np.arange(1, n_weeks + 1), unit="D")
    week_ends = week_ends.where(week_ends <= end, end)
    daily = _daily_repeat_occasions(con, table, summary)
    day = pd.to_datetime(daily["day"]).to_numpy() if len(daily) else np.array([], "datetime64[ns]")
    counts = daily["occasions"].to_numpy(float) if len(daily) else np.array([])
    # An occasion on day d happened before the week end w when d < w (days start at midnight).
    cum_actual = np.array([counts[day < w.to_datetime64()].sum() for w in week_ends])
    out = pd.DataFrame({"week_end": week_ends.date, "actual": cum_actual})
    out["actual_weekly"] = np.diff(cum_actual, prepend=0.0)
    # The last week may be cut short by the holdout end; weekly charts scale it to 7 days.
    out["days"] = np.diff(np.r_[0.0, ((week_ends - start) / pd.Timedelta(days=1)).to_numpy(float)])
    cohorts = f.groupby("first_purchase").size()
    unit_days = TIME_UNITS[summary.time_unit]
    for key in COUNT_MODELS:
        if key not in report.models:
            continue
        model = report.models[key]
        ages = (week_ends.to_numpy()[:, None] - pd.to_datetime(cohorts.index).to_numpy()[None, :])
        ages = np.maximum(ages / np.timedelta64(1, "D"), 0.0) / unit_days
        expected = model.expected_purchases_new_customer(ages.ravel()).reshape(ages.shape)
        out[key] = expected @ cohorts.to_numpy(float)
    out["in_holdout"] = week_ends > pd.Timestamp(summary.calibration_end)
    return out


def validate_value(con: duckdb.DuckDBPyConnection, table: str, summary: CustomerSummary, report: ValueReport,
                   challenger: bool = True, max_group: int = 7, random_state: int = 0,
                   progress: Progress | None = None) -> ValidationReport:
    """Score the fitted models (and a gradient-boosting challenger) on the holdout.

    Parameters
    ----------
    con : DuckDB connection
    table : str
        The canonical events table the summary was built from.
    summary : CustomerSummary
        Built with ``holdout_days`` (:func:`analytics.value.customer_summary`).
    report : ValueReport
        Models fitted on that summary (:func:`analytics.value.fit_value_models`).
    challenger : bool
        Also train and score the gradient-boosting challenger.
    max_group : int
        Customers with this many or more calibration repeat purchases share the last group.
    random_state : int
        Seed of the challenger.
    progress : callable, optional
        ``progress(fraction_done, message)``.

    Returns
    -------
    ValidationReport

    Raises
    ------
    InvalidParameterError
        The summary has no holdout, or ``max_group`` is out of range.
    """
    if summary.holdout_days is None or "holdout_frequency" not in summary.frame:
        raise InvalidParameterError("Validation needs a holdout: build the summary with holdout_days "
                                    "(e.g. customer_summary(..., holdout_days=90)).")
    if not isinstance(max_group, int) or not 1 <= max_group <= 50:
        raise InvalidParameterError(f"max_group must be a whole number between 1 and 50, got {max_group!r}.")
    f = summary.frame
    actual = f["holdout_frequency"].to_numpy(float)
    per_customer = pd.DataFrame({"user_id": f["user_id"], "frequency": f["frequency"], "actual": actual})
    scores: dict[str, HoldoutScore] = {}
    warnings = list(report.warnings)
    keys = [k for k in COUNT_MODELS if k in report.models]
    for i, key in enumerate(keys):
        if progress:
            progress(0.6 * i / max(len(keys), 1), f"Predicting the holdout with {LABELS[key]}")
        per_customer[key] = report.models[key].expected_purchases(f, summary.holdout_length)
        scores[key] = score_predictions(key, actual, per_customer[key].to_numpy())
    result_challenger = None
    if challenger:
        if progress:
            progress(0.6, "Training the gradient-boosting challenger")
        try:
            result_challenger = ml_challenger(con, table, summary, random_state=random_state)
        except FitError as exc:
            warnings.append(str(exc))
        else:
            per_customer[CHALLENGER] = result_challenger.predictions
            scores[CHALLENGER] = score_predictions(CHALLENGER, actual, result_challenger.predictions)
    if progress:
        progress(0.9, "Tracking weekly repeat purchases")
    models = [k for k in (*keys, CHALLENGER) if k in per_customer]
    report_out = ValidationReport(summary=summary, report=report, scores=scores, per_customer=per_customer,
                                  by_frequency=by_frequency_table(per_customer, models, max_group),
                                  tracking=tracking_table(con, table, summary, report),
                                  challenger=result_challenger, warnings=warnings)
    if progress:
        progress(1.0, "Validation done")
    return report_out

"""One value run: the models fitted on all the data (per-customer predictions) and their holdout validation.

What the Value page computes behind its button, as one result that the workspace
can store and give back (:meth:`ValueRun.to_stored` / :meth:`ValueRun.from_stored`):

- the customer summary **as of the last event** (or ``as_of``) and the models
  fitted on it: P(alive), expected purchases and CLV of today's customers;
- with ``holdout_days``, the calibration/holdout validation
  (:func:`analytics.value.validate_value`): the same models fitted on the data up
  to the calibration end only, scored on the holdout next to the ML challenger.

Horizon, discount rate and margin are not part of the run: they only weigh its
predictions (:meth:`ValueRun.predictions`, cheap), so changing them never refits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError, NoDataError
from analytics.progress import Progress, within
from analytics.value.challenger import ChallengerResult
from analytics.value.fitting import LABELS, ValueReport, fit_value_models
from analytics.value.predict import predict_value
from analytics.value.summary import CustomerSummary, TimeUnit, build_summary, check_time_unit
from analytics.value.validation import CHALLENGER, HoldoutScore, ValidationReport, validate_value

if TYPE_CHECKING:
    from analytics.workspace import Workspace


@dataclass
class ValueRun:
    """Models fitted on all the data, and (optionally) their calibration/holdout validation.

    Attributes
    ----------
    settings : dict
        ``purchase_event, time_unit, holdout_days, calibration_end`` as asked
        (``calibration_end`` None: the default), plus ``as_of``.
    summary : CustomerSummary
        Every customer as of the last event (or ``as_of``): what the predictions are about.
    report : ValueReport
        BG/NBD, Pareto/NBD and Gamma-Gamma fitted on ``summary``.
    validation : ValidationReport or None
        The holdout check (None without ``holdout_days``).
    seconds : float
        Wall time of the run.
    """

    settings: dict
    summary: CustomerSummary
    report: ValueReport
    validation: ValidationReport | None = None
    seconds: float = 0.0

    @property
    def time_unit(self) -> str:
        return self.summary.time_unit

    @property
    def warnings(self) -> list[str]:
        """What a marketer should know: data warnings, then each fit's, without repeats."""
        out = [*self.summary.warnings, *self.report.warnings]
        if self.validation is not None:
            out += [w for w in self.validation.warnings if w not in self.validation.report.warnings]
        return list(dict.fromkeys(out))

    def predictions(self, horizon_days: float = 365.0, discount_rate: float = 0.10, margin: float = 1.0,
                    model: str | None = None) -> pd.DataFrame:
        """Per-customer P(alive), expected purchases, expected spend and CLV (see :func:`predict_value`)."""
        return predict_value(self.summary, self.report, horizon_days=horizon_days, discount_rate=discount_rate,
                             margin=margin, model=model)

    def parameters(self) -> pd.DataFrame:
        """One row per model parameter: ``model, parameter, estimate, std_error`` (std_error empty if unknown)."""
        rows = [{"model": LABELS.get(key, key), "parameter": name, "estimate": float(value),
                 "std_error": fit.std_errors.get(name)}
                for key, fit in self.report.fits.items() for name, value in fit.params.items()]
        return pd.DataFrame(rows, columns=["model", "parameter", "estimate", "std_error"])

    def scores(self) -> pd.DataFrame:
        """Holdout scores side by side: predicted and actual totals, bias, per-customer MAE, AUC (empty if none)."""
        cols = ["model", "predicted", "actual", "bias_pct", "mae", "auc"]
        if self.validation is None:
            return pd.DataFrame(columns=cols)
        return pd.DataFrame([{"model": s.label, "predicted": s.predicted_total, "actual": s.actual_total,
                              "bias_pct": s.bias_pct, "mae": s.mae, "auc": s.auc}
                             for s in self.validation.scores.values()], columns=cols)

    def to_dict(self) -> dict:
        """JSON-ready description: settings, the full fit, and the validation (if any)."""
        return {"settings": dict(self.settings), "summary": self.summary.to_dict(), "report": self.report.to_dict(),
                "validation": None if self.validation is None else self.validation.to_dict(),
                "seconds": round(self.seconds, 3)}

    def to_stored(self) -> tuple[dict, dict[str, pd.DataFrame]]:
        """``(meta, frames)`` for :meth:`analytics.workspace.Workspace.put_result`."""
        meta = self.to_dict()
        frames = {"summary": self.summary.frame}
        v = self.validation
        if v is not None:
            meta["validation_state"] = {
                "summary": v.summary.to_dict(), "report": v.report.to_dict(),
                "scores": {k: s.to_dict() for k, s in v.scores.items()},
                "challenger": None if v.challenger is None else v.challenger.to_dict(),
                "warnings": list(v.warnings)}
            frames |= {"calibration": v.summary.frame, "per_customer": v.per_customer,
                       "by_frequency": v.by_frequency, "tracking": v.tracking}
        return meta, frames

    @classmethod
    def from_stored(cls, meta: dict, frames: dict[str, pd.DataFrame]) -> ValueRun:
        """Rebuild a run from :meth:`to_stored` output (e.g. read back from the workspace)."""
        summary = _summary_from(meta["summary"], frames["summary"])
        report = ValueReport.from_dict(meta["report"])
        validation = None
        state = meta.get("validation_state")
        if state:
            per_customer = frames["per_customer"]
            challenger = None
            if state.get("challenger") and CHALLENGER in per_customer:
                c = state["challenger"]
                challenger = ChallengerResult(predictions=per_customer[CHALLENGER].to_numpy(float),
                                              train_cutoff=datetime.fromisoformat(c["train_cutoff"]),
                                              train_customers=int(c["train_customers"]),
                                              features=list(c.get("features", [])), seconds=float(c.get("seconds", 0)))
            tracking = frames["tracking"].copy()
            tracking["week_end"] = pd.to_datetime(tracking["week_end"]).dt.date
            validation = ValidationReport(
                summary=_summary_from(state["summary"], frames["calibration"]),
                report=ValueReport.from_dict(state["report"]),
                scores={k: _score_from(d) for k, d in state["scores"].items()}, per_customer=per_customer,
                by_frequency=frames["by_frequency"], tracking=tracking, challenger=challenger,
                warnings=list(state.get("warnings", [])))
        return cls(settings=dict(meta["settings"]), summary=summary, report=report, validation=validation,
                   seconds=float(meta.get("seconds", 0.0)))


def run_value(con: duckdb.DuckDBPyConnection, table: str, purchase_event: str, *, holdout_days: float | None = None,
              calibration_end: datetime | date | str | None = None, as_of: datetime | date | str | None = None,
              time_unit: TimeUnit = "days", challenger: bool = True, random_state: int = 0,
              progress: Progress | None = None) -> ValueRun:
    """Fit the value models on all the data and, with a holdout, validate them on a calibration/holdout split.

    Parameters
    ----------
    con : DuckDB connection
    table : str
        Canonical events table.
    purchase_event : str
        The event that counts as a purchase.
    holdout_days : float, optional
        Validate: fit on the data up to ``calibration_end`` and predict the next ``holdout_days``.
        None: no validation.
    calibration_end : datetime, date or str, optional
        End of the calibration period of the validation (default: the last event minus the
        holdout). Only with ``holdout_days``.
    as_of : datetime, date or str, optional
        The predictions are about customers as of this instant (default: the last event).
    time_unit : {"days", "weeks"}
        Unit of recency, age and the models' time parameters.
    challenger : bool
        Also score the gradient-boosting challenger on the holdout.
    random_state : int
        Seed of the challenger.
    progress : callable, optional
        ``progress(fraction_done, message)``.

    Returns
    -------
    ValueRun

    Raises
    ------
    InvalidParameterError
        Unknown purchase event, a calibration end or holdout outside the data, bad settings.
    NoDataError
        Too few customers, or too few who bought twice (e.g. one purchase per customer).
    """
    t0 = time.perf_counter()
    check_time_unit(time_unit)
    if calibration_end is not None and holdout_days is None:
        raise InvalidParameterError("A calibration end only makes sense with a holdout (holdout_days): the "
                                    "validation fits up to the calibration end and predicts the holdout. To value "
                                    "customers as of an earlier date, use as_of.")
    report_to = progress or (lambda _f, _m: None)
    report_to(0.0, "Summarising purchases per customer")
    # The split is checked first: a bad calibration end is reported before any long fit.
    split = (build_summary(con, table, purchase_event, calibration_end, holdout_days, time_unit)
             if holdout_days is not None else None)
    summary = build_summary(con, table, purchase_event, as_of, None, time_unit)
    share = 0.45 if split is not None else 1.0
    report = fit_value_models(summary, progress=within(progress, 0.05, share))
    validation = None
    if split is not None:
        calibration = fit_value_models(split, progress=within(progress, share, 0.75))
        validation = validate_value(con, table, split, calibration, challenger=challenger,
                                    random_state=random_state, progress=within(progress, 0.75, 1.0))
    report_to(1.0, "Done")
    settings = {"purchase_event": purchase_event, "time_unit": time_unit,
                "holdout_days": None if holdout_days is None else float(holdout_days),
                "calibration_end": None if calibration_end is None else str(calibration_end),
                "as_of": None if as_of is None else str(as_of), "challenger": bool(challenger),
                "random_state": int(random_state)}
    return ValueRun(settings=settings, summary=summary, report=report, validation=validation,
                    seconds=time.perf_counter() - t0)


def run_dataset_value(ws: Workspace, dataset_id: str, purchase_event: str, **kwargs) -> ValueRun:
    """:func:`run_value` on a dataset of the workspace (its cleaned events table).

    Raises
    ------
    NoDataError
        The dataset's events are not in the workspace (a log connected through Spark).
    """
    ds = ws.get(dataset_id)
    if not ds.has_events:
        raise NoDataError(f"'{ds.name}' lives in the data lake (Spark): the value models read every purchase of "
                          "every customer and need the events in the workspace. Upload the transactions instead.")
    return run_value(ws.cursor(), ds.events_table, purchase_event, **kwargs)


def _summary_from(d: dict, frame: pd.DataFrame) -> CustomerSummary:
    frame = frame.copy()
    for col in ("first_purchase", "last_purchase"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col])
    return CustomerSummary(
        frame=frame, purchase_event=d["purchase_event"], calibration_end=datetime.fromisoformat(d["calibration_end"]),
        holdout_days=d.get("holdout_days"), time_unit=d["time_unit"],
        data_start=datetime.fromisoformat(d["data_start"]), data_end=datetime.fromisoformat(d["data_end"]),
        refund_rows=int(d.get("refund_rows", 0)), refund_total=float(d.get("refund_total", 0.0)),
        gross_spend=float(np.nansum(frame["total_spend"])) if "total_spend" in frame else 0.0,
        new_in_holdout=int(d.get("new_in_holdout", 0)), warnings=list(d.get("warnings", [])))


def _score_from(d: dict) -> HoldoutScore:
    return HoldoutScore(model=d["model"], label=d["label"], predicted_total=float(d["holdout_predicted_total"]),
                        actual_total=float(d["holdout_actual_total"]), mae=float(d["mae"]), rmse=float(d["rmse"]),
                        auc=None if d.get("auc") is None else float(d["auc"]))


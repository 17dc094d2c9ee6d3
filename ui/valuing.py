"""Session-side glue for the Value page: settings, the fit (kept in the workspace), predictions, per segment.

A fit is stored in the workspace (kind ``value``) under a key derived from the
settings it depends on (purchase event, time unit, holdout, calibration end), so
a reload, a restart or another tab shows it again, and the same settings are
never fitted twice. Horizon, discount rate and margin only weigh the stored fit's
predictions (cheap), so changing them never refits; the predictions are
remembered for this session under the dataset, fit and those three numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from analytics import value
from analytics.exports import frame_bytes
from analytics.progress import Progress
from analytics.workspace import Dataset
from ui import state
from ui.escape import plain

KIND = "value"
TIME_UNITS = {"days": "Days", "weeks": "Weeks"}
MAX_DEFAULT_HOLDOUT = 90
MODEL_ORDER = ("bgnbd", "paretonbd", "gamma_gamma")
MODEL_LABELS = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD", "gamma_gamma": "Gamma-Gamma", "ml": "Gradient boosting"}
MODEL_ROLES = {"bgnbd": "purchases; a customer may drop out right after a purchase",
               "paretonbd": "purchases; a customer may drop out at any time",
               "gamma_gamma": "spend per purchase"}
SHOWN_ROWS = 1000


def widget_key(name: str, ds: Dataset, *extra: object) -> str:
    """The session-state key of one of the page's settings widgets for a dataset."""
    return "_".join(["value", name, ds.id, *map(str, extra)])


@dataclass(frozen=True)
class ValueSettings:
    """What a fit depends on, as chosen on the page.

    ``holdout_days`` 0 means no validation; ``calibration_end`` None means the last
    event minus the holdout (a chosen date means the end of that day, UTC).
    """

    purchase_event: str
    time_unit: str = "days"
    holdout_days: int = 0
    calibration_end: date | None = None

    @property
    def key(self) -> str:
        """The workspace key of this fit: a short hash of the settings."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return "v_" + hashlib.sha1(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["calibration_end"] = None if self.calibration_end is None else self.calibration_end.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ValueSettings:
        cal = d.get("calibration_end")
        return cls(purchase_event=d["purchase_event"], time_unit=d.get("time_unit", "days"),
                   holdout_days=int(d.get("holdout_days") or 0),
                   calibration_end=None if cal is None else date.fromisoformat(cal))


def purchase_events(ds: Dataset) -> tuple[list[str], int | None]:
    """The events of the log (most frequent first) and the index of the dataset's purchase event (None if unknown)."""
    events = list(ds.profile.events_by_count)
    return events, events.index(ds.purchase_event) if ds.purchase_event in events else None


def data_days(ds: Dataset) -> float:
    """Days from the first to the last event."""
    if ds.ts_min is None or ds.ts_max is None:
        return 0.0
    return (ds.ts_max - ds.ts_min).total_seconds() / 86_400


def default_holdout_days(ds: Dataset) -> int:
    """A third of the data, at most 90 days: leaves the challenger a training window as long as the holdout."""
    return int(max(1, min(MAX_DEFAULT_HOLDOUT, data_days(ds) // 3)))


def default_calibration_end(ds: Dataset, holdout_days: int) -> date:
    """The day of the last event minus the holdout (the library's own default), not before the first day.

    A holdout as long as the data leaves no calibration period: the date picker still gets a
    date it can show, and the fit says what is wrong.
    """
    return max((ds.ts_max - timedelta(days=holdout_days)).date(), ds.ts_min.date())


def _calibration_instant(ds: Dataset, settings: ValueSettings) -> datetime | None:
    """The end of the chosen day, or the last event when that day is the last one (its end is after the data)."""
    if settings.calibration_end is None:
        return None
    return min(datetime.combine(settings.calibration_end, time(23, 59, 59)), ds.ts_max)


def stored_run(ds: Dataset, settings: ValueSettings) -> value.ValueRun | None:
    """The fit stored for these settings, or None (read from the workspace once per session)."""
    memo_key = (ds.id, settings.key)
    run = state.recall("value_run", memo_key)
    if run is not None:
        return run
    ws = state.workspace()
    if not any(r.key == settings.key for r in ws.results(ds.id, KIND)):
        return None
    stored = ws.result(ds.id, KIND, settings.key)
    return state.remember("value_run", memo_key, value.ValueRun.from_stored(stored.meta, stored.frames))


def fit(ds: Dataset, settings: ValueSettings, progress: Progress | None = None) -> value.ValueRun:
    """Fit the value models (and validate them with a holdout), store the result in the workspace."""
    ws = state.workspace()
    holdout = settings.holdout_days or None
    run = value.run_dataset_value(ws, ds.id, settings.purchase_event, holdout_days=holdout,
                                  calibration_end=_calibration_instant(ds, settings) if holdout else None,
                                  time_unit=settings.time_unit, progress=progress)
    meta, frames = run.to_stored()
    ws.put_result(ds.id, KIND, settings.key, meta | {"page_settings": settings.to_dict()}, frames)
    return state.remember("value_run", (ds.id, settings.key), run)


def stored_fits(ds: Dataset) -> pd.DataFrame:
    """The fits stored for a dataset, newest first: key, settings, customers, when."""
    rows = []
    for r in state.workspace().results(ds.id, KIND):
        s = r.meta.get("page_settings") or {}
        rows.append({"key": r.key, "purchase event": s.get("purchase_event"), "time unit": s.get("time_unit"),
                     "holdout days": s.get("holdout_days") or None,
                     "calibration end": s.get("calibration_end") or ("default" if s.get("holdout_days") else None),
                     "customers": (r.meta.get("summary") or {}).get("customers"), "fitted": r.created_at})
    return pd.DataFrame(rows, columns=["key", "purchase event", "time unit", "holdout days", "calibration end",
                                       "customers", "fitted"])


def settings_of(ds: Dataset, key: str) -> ValueSettings:
    """The page settings a stored fit was made with."""
    meta = next(r.meta for r in state.workspace().results(ds.id, KIND) if r.key == key)
    return ValueSettings.from_dict(meta["page_settings"])


def delete_fit(ds: Dataset, key: str) -> None:
    state.workspace().drop_result(ds.id, KIND, key)
    state.forget("value_run", "value_predictions")


def predictions(ds: Dataset, settings: ValueSettings, run: value.ValueRun, horizon_days: float,
                discount_rate: float, margin: float, model: str | None = None) -> pd.DataFrame:
    """Per-customer P(alive), expected purchases, spend and CLV for this horizon, money settings and count model."""
    memo_key = (ds.id, settings.key, float(horizon_days), float(discount_rate), float(margin), model)
    found = state.recall("value_predictions", memo_key)
    if found is None:
        found = state.remember("value_predictions", memo_key, run.predictions(
            horizon_days=float(horizon_days), discount_rate=float(discount_rate), margin=float(margin), model=model))
    return found


def saved_segmentations(ds: Dataset) -> list[str]:
    return [s.key for s in state.workspace().results(ds.id, "segmentation")]


def by_segment(ds: Dataset, per_user: pd.DataFrame, segmentation: str) -> pd.DataFrame:
    """Customers, mean P(alive), expected purchases and CLV per segment of a saved segmentation."""
    labels = state.workspace().result(ds.id, "segmentation", segmentation).frames["labels"]
    return value.value_by_segment(per_user, labels[["user_id", "segment"]])


def per_user_csv(per_user: pd.DataFrame) -> bytes:
    """The per-customer table as formula-safe CSV."""
    return frame_bytes(per_user, "csv")


def fit_label(row: pd.Series) -> str:
    """One stored fit in words (for the picker)."""
    holdout = f"holdout {row['holdout days']:g} days" if pd.notna(row["holdout days"]) else "no holdout"
    cal = f", calibration end {row['calibration end']}" if pd.notna(row["holdout days"]) else ""
    return (f"{row['purchase event']}, {row['time unit']}, {holdout}{cal} "
            f"(fitted {pd.Timestamp(row['fitted']):%Y-%m-%d %H:%M})")


def show_stored(ds: Dataset, key: str) -> None:
    """Put a stored fit's settings into the page's widgets (a button callback: runs before they are drawn)."""
    s = settings_of(ds, key)
    st.session_state[widget_key("event", ds)] = s.purchase_event
    st.session_state[widget_key("unit", ds)] = s.time_unit
    st.session_state[widget_key("holdout", ds)] = s.holdout_days
    if s.holdout_days:
        st.session_state[widget_key("cal", ds, s.holdout_days)] = (
            s.calibration_end or default_calibration_end(ds, s.holdout_days))


# --- what the page shows ------------------------------------------------------------------------------------------


def data_warnings(run: value.ValueRun) -> list[str]:
    """What the data make doubtful (refunds, no amounts, ...), before any model."""
    return list(run.summary.warnings)


def why_not_fitted(run: value.ValueRun, key: str) -> str:
    return run.report.skipped.get(key, f"The {MODEL_LABELS[key]} model was not fitted.")


def _number(x: float | None, fmt: str = ".4g") -> str:
    return "n/a" if x is None or pd.isna(x) else format(float(x), fmt)


def parameter_table(report: value.ValueReport, key: str) -> pd.DataFrame:
    """A model's parameters with standard errors, as text (``n/a`` where a standard error is unknown)."""
    fit = report.fits[key]
    return pd.DataFrame({"parameter": list(fit.params),
                         "estimate": [_number(v) for v in fit.params.values()],
                         "standard error": [_number(fit.std_errors.get(k)) for k in fit.params]})


def interpretation(report: value.ValueReport, key: str) -> str:
    """The parameters in a marketer's words."""
    p = report.fits[key].params
    unit = report.time_unit.rstrip("s")
    if key in ("bgnbd", "paretonbd"):
        every = p["alpha"] / p["r"]
        text = f"While active, the average customer buys about once every {every:,.1f} {unit}s"
        if key == "bgnbd":
            return text + f"; after each purchase they drop out with a probability of {p['a'] / (p['a'] + p['b']):.0%}."
        return text + f"; they drop out at an average rate of {p['s'] / p['beta']:.3g} per {unit}."
    text = (f"Average spend per purchase across customers: {p['p'] * p['gamma'] / (p['q'] - 1):,.2f}."
            if p["q"] > 1 else "q ≤ 1: a few very large spenders dominate, so there is no finite average to shrink "
                               "towards; repeat customers are valued at their own average spend, the others at the "
                               "observed average.")
    rho = report.spend_frequency_correlation
    return text + (f" Correlation of purchase frequency and spend: {rho:+.2f}." if rho is not None else "")


def split_text(v: value.ValidationReport) -> str:
    """The calibration/holdout split (and the challenger's window) in words."""
    s = v.summary
    text = (f"Fitted on the purchases up to {s.calibration_end:%Y-%m-%d %H:%M} ({s.n_customers:,} customers, "
            f"{s.n_repeat_customers:,} of them bought on two days or more) and scored on the {s.holdout_days:g} days "
            f"after it, to {s.holdout_end:%Y-%m-%d %H:%M} (UTC).")
    if s.new_in_holdout:
        text += f" {s.new_in_holdout:,} users who first bought in the holdout are not part of the check."
    c = v.challenger
    if c is not None:
        text += (f" Gradient boosting learned on the {s.holdout_days:g} days before the calibration end (features as "
                 f"of {c.train_cutoff:%Y-%m-%d}, {c.train_customers:,} customers), with browsing activity the value "
                 "models ignore.")
    return text


def scores_table(v: value.ValidationReport) -> pd.DataFrame:
    """The holdout scores of every model side by side, as text (``n/a`` where a score is not defined)."""
    rows = [{"model": sc.label, "predicted purchases": _number(sc.predicted_total, ",.0f"),
             "actual purchases": _number(sc.actual_total, ",.0f"),
             "bias": "n/a" if sc.bias_pct is None else f"{sc.bias_pct:+.1f}%",
             "MAE per customer": _number(sc.mae, ".3f"), "AUC (buys at all)": _number(sc.auc, ".3f")}
            for sc in v.scores.values()]
    return pd.DataFrame(rows)


def validation_notes(v: value.ValidationReport) -> list[str]:
    """Warnings of the check itself (e.g. why the challenger could not run), not repeated from the fits."""
    return [w for w in v.warnings if w not in v.report.warnings]


def has_value(per_user: pd.DataFrame) -> bool:
    """True when customers have a value (a spend model was fitted)."""
    return bool(len(per_user)) and bool(per_user["clv"].notna().any())


def no_value_reason(per_user: pd.DataFrame) -> str:
    notes = per_user.attrs.get("warnings") or []
    return notes[0] if notes else "Expected spend and customer value cannot be computed for these data."


def prediction_warnings(per_user: pd.DataFrame) -> list[str]:
    """What the predictions warn about (a horizon far beyond the data), the no-value reason aside."""
    notes = per_user.attrs.get("warnings") or []
    return notes if has_value(per_user) else notes[1:]


SEGMENT_COLUMNS = {
    "segment": st.column_config.TextColumn("segment"),
    "customers": st.column_config.NumberColumn("customers", format="localized"),
    "mean_p_alive": st.column_config.NumberColumn("mean P(alive)", format="%.2f"),
    "expected_purchases": st.column_config.NumberColumn("expected purchases", format="%.0f"),
    "mean_clv": st.column_config.NumberColumn("mean value", format="%.2f"),
    "total_clv": st.column_config.NumberColumn("total value", format="%.0f"),
}


def segment_display(table: pd.DataFrame, with_value: bool) -> pd.DataFrame:
    return table if with_value else table.drop(columns=["mean_clv", "total_clv"])


def customer_display(per_user: pd.DataFrame, with_value: bool) -> pd.DataFrame:
    """Most valuable first (most expected purchases without a spend model); value columns only when known."""
    out = per_user.sort_values("clv" if with_value else "expected_purchases", ascending=False, kind="stable",
                               ignore_index=True)
    return out if with_value else out.drop(columns=["expected_spend", "clv"])


def customer_columns(time_unit: str) -> dict:
    return {
        "user_id": st.column_config.TextColumn("user_id", pinned=True),
        "frequency": st.column_config.NumberColumn("repeat purchases", format="localized",
                                                   help="Days with a purchase, minus the first one."),
        "recency": st.column_config.NumberColumn(f"recency ({time_unit})", format="%.1f",
                                                 help="From the first to the last purchase day."),
        "T": st.column_config.NumberColumn(f"age ({time_unit})", format="%.1f",
                                           help="From the first purchase day to the end of the data."),
        "monetary_value": st.column_config.NumberColumn("mean spend", format="%.2f",
                                                        help="Mean spend per repeat purchase (empty without one)."),
        "p_alive": st.column_config.NumberColumn("P(alive)", format="%.3f"),
        "expected_purchases": st.column_config.NumberColumn("expected purchases", format="%.2f"),
        "expected_spend": st.column_config.NumberColumn("expected spend per purchase", format="%.2f"),
        "clv": st.column_config.NumberColumn("value", format="%.2f"),
    }


def warnings_markdown(key: str, warnings: list[str]) -> str:
    """One model's warnings as a Markdown list (each warning escaped: they may quote names from the data)."""
    label = MODEL_LABELS.get(key, key)
    items = (w[len(label) + 2:] if w.startswith(f"{label}: ") else w for w in warnings)
    return f"**{label}**\n\n" + "\n".join(f"- {plain(w)}" for w in items)

"""Fit the value models on a customer summary: :func:`fit_value_models` -> :class:`ValueReport`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from analytics.errors import FitError, InvalidParameterError, NoDataError
from analytics.progress import Progress
from analytics.value._mle import FitResult
from analytics.value.bgnbd import BetaGeoModel
from analytics.value.gammagamma import GammaGammaModel
from analytics.value.paretonbd import ParetoNBDModel
from analytics.value.summary import CustomerSummary
from analytics.wording import count

CountModel = BetaGeoModel | ParetoNBDModel

# Aliases accepted in ``models`` -> the key used everywhere else.
MODEL_KEYS = {"bgnbd": "bgnbd", "bg/nbd": "bgnbd", "paretonbd": "paretonbd", "pareto/nbd": "paretonbd",
              "pnbd": "paretonbd", "gg": "gamma_gamma", "gamma_gamma": "gamma_gamma", "gammagamma": "gamma_gamma"}
COUNT_MODELS = ("bgnbd", "paretonbd")
LABELS = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD", "gamma_gamma": "Gamma-Gamma"}
# Below these counts the parameters are not identified well enough to show.
MIN_CUSTOMERS = 20
MIN_REPEAT_CUSTOMERS = 5


@dataclass
class ValueReport:
    """The fitted value models of one customer summary.

    Attributes
    ----------
    fits : dict
        Model key (``"bgnbd"``, ``"paretonbd"``, ``"gamma_gamma"``) -> :class:`FitResult`.
    models : dict
        Model key -> fitted model object (predictions: ``p_alive``, ``expected_purchases``, ...).
    skipped : dict
        Model key -> why it was not fitted (e.g. no amounts for the spend model).
    time_unit : str
        Unit of the time-scale parameters and of ``recency``/``T``.
    calibration_end : datetime
        End of the data the models were fitted on.
    customers, repeat_customers : int
        Customers in the summary, and those with at least one repeat occasion.
    spend_frequency_correlation : float or None
        Correlation of frequency and mean spend among repeat customers (Gamma-Gamma assumes ~0).
    warnings : list of str
        Every model's warnings, in one list for display.
    """

    fits: dict[str, FitResult]
    models: dict[str, CountModel | GammaGammaModel]
    skipped: dict[str, str]
    time_unit: str
    calibration_end: datetime
    customers: int
    repeat_customers: int
    spend_frequency_correlation: float | None = None
    warnings: list[str] = field(default_factory=list)

    def count_model(self, name: str | None = None) -> CountModel:
        """The fitted purchase-count model ``name`` (default: BG/NBD, else Pareto/NBD)."""
        if name is None:
            name = next((k for k in COUNT_MODELS if k in self.models), None)
            if name is None:
                raise FitError("No purchase-count model (BG/NBD or Pareto/NBD) was fitted; "
                               + "; ".join(self.skipped.values()))
        key = MODEL_KEYS.get(str(name).lower())
        if key not in COUNT_MODELS:
            raise InvalidParameterError(f"model must be 'bgnbd' or 'paretonbd', got {name!r}.")
        if key not in self.models:
            why = self.skipped.get(key, "it was not requested")
            raise FitError(f"The {LABELS[key]} model is not available: {why}")
        return self.models[key]  # type: ignore[return-value]

    @property
    def spend_model(self) -> GammaGammaModel | None:
        """The fitted Gamma-Gamma model, or None when spend could not be modelled."""
        return self.models.get("gamma_gamma")  # type: ignore[return-value]

    def to_dict(self) -> dict:
        """JSON-ready: each model's parameters, standard errors, fit quality and warnings."""
        return {"time_unit": self.time_unit, "calibration_end": self.calibration_end.isoformat(),
                "customers": self.customers, "repeat_customers": self.repeat_customers,
                "models": {k: v.to_dict() for k, v in self.fits.items()}, "skipped": dict(self.skipped),
                "spend_frequency_correlation": self.spend_frequency_correlation, "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, d: dict) -> ValueReport:
        """Rebuild a report (and its model objects) from :meth:`to_dict` output, e.g. from the workspace."""
        fits = {k: FitResult(**{**v, "warnings": list(v.get("warnings", []))}) for k, v in d["models"].items()}
        models: dict = {}
        for k, fit in fits.items():
            if k == "bgnbd":
                models[k] = BetaGeoModel(fit.params, time_unit=fit.time_unit)
            elif k == "paretonbd":
                models[k] = ParetoNBDModel(fit.params, time_unit=fit.time_unit)
            elif k == "gamma_gamma":
                models[k] = GammaGammaModel(fit.params)
            models[k].result = fit
        return cls(fits=fits, models=models, skipped=dict(d.get("skipped", {})), time_unit=d["time_unit"],
                   calibration_end=datetime.fromisoformat(d["calibration_end"]), customers=int(d["customers"]),
                   repeat_customers=int(d["repeat_customers"]),
                   spend_frequency_correlation=d.get("spend_frequency_correlation"),
                   warnings=list(d.get("warnings", [])))


def usable_predictions(model: CountModel, summary: CustomerSummary) -> None:
    """Refuse a purchase model whose predictions are not numbers for these customers.

    On a log of a few days the fit can run to extreme parameters (BG/NBD's r and alpha near 1e5: every
    customer buys at the same rate), where its formulas overflow: every expected purchase came out
    NaN, summed to 0 on the page and broke the holdout scores.

    Raises
    ------
    FitError
        Saying which parameters ran away and why that happens.
    """
    frame = summary.frame
    span = float(frame["T"].max()) if len(frame) else 0.0
    with np.errstate(all="ignore"):
        finite = (np.isfinite(model.p_alive(frame)).all()
                  and np.isfinite(model.expected_purchases(frame, max(span, 1.0))).all())
    if not finite:
        params = ", ".join(f"{k} = {v:.3g}" for k, v in model.params.items())
        raise FitError(f"{LABELS[model.name]} gives no usable predictions for these customers: its fit ran to "
                       f"extreme parameters ({params}), as it does when the data span too little time "
                       f"({span:.3g} {summary.time_unit}) to tell customers' buying rates apart. Use a longer log.")


def parse_models(models: Sequence[str] | str) -> list[str]:
    """Model names (with aliases) -> distinct keys, validated."""
    if isinstance(models, str):
        models = [m for m in models.replace(";", ",").split(",") if m.strip()]
    keys = []
    for m in models:
        key = MODEL_KEYS.get(str(m).strip().lower())
        if key is None:
            raise InvalidParameterError(f"Unknown value model {m!r}; choose among bgnbd, paretonbd, gg.")
        if key not in keys:
            keys.append(key)
    if not keys:
        raise InvalidParameterError("Choose at least one value model among bgnbd, paretonbd, gg.")
    return keys


def fit_value_models(summary: CustomerSummary, models: Sequence[str] | str = ("bgnbd", "paretonbd", "gg"),
                     progress: Progress | None = None) -> ValueReport:
    """Fit the requested models by maximum likelihood on a customer summary.

    Parameters
    ----------
    summary : CustomerSummary
        From :func:`analytics.value.customer_summary`.
    models : sequence of str
        Any of ``"bgnbd"``, ``"paretonbd"``, ``"gg"`` (Gamma-Gamma spend model).
    progress : callable, optional
        ``progress(fraction_done, message)``.

    Returns
    -------
    ValueReport
        Fitted models with parameters, standard errors and warnings. A spend model
        that cannot be fitted (no amounts, all zero) is listed in ``skipped`` with the
        reason, and the count models are still returned.

    Raises
    ------
    NoDataError
        Too few customers, or nobody bought on two different days.
    FitError
        No requested model could be fitted.
    """
    keys = parse_models(models)
    frame = summary.frame
    n, n_rep = summary.n_customers, summary.n_repeat_customers
    if n < MIN_CUSTOMERS:
        refunds = summary.refund_rows
        # An accounting export may write every sale as a negative number: then nothing is a purchase.
        sign = (f" {count(refunds, 'purchase event')} up to then {'has' if refunds == 1 else 'have'} a negative "
                "amount and count as refunds, not purchases: if the export writes sales as negative numbers, "
                "flip the sign of the amount column and import it again." if refunds >= max(n, 1) else "")
        raise NoDataError(f"Only {count(n, 'customer')} bought up to the calibration end "
                          f"{summary.calibration_end:%Y-%m-%d}; the value models need at least {MIN_CUSTOMERS}. "
                          "Use a log with more customers, or check that the purchase event is right; with a "
                          "holdout, a shorter one leaves more of the log for fitting." + sign)
    if n_rep < MIN_REPEAT_CUSTOMERS:
        # Without a holdout the calibration end is usually the last event already: nothing to move.
        later = "move the calibration end later, or " if summary.calibration_end < summary.data_end else ""
        raise NoDataError(f"Only {n_rep} of {count(n, 'customer')} bought on two different days up to the "
                          f"calibration end {summary.calibration_end:%Y-%m-%d}; at least {MIN_REPEAT_CUSTOMERS} are "
                          "needed to learn how often customers come back. With one purchase per customer, repeat "
                          f"buying cannot be modelled: {later}check that the purchase event is right, or use a log "
                          "that covers more time.")
    fits: dict[str, FitResult] = {}
    fitted: dict = {}
    skipped: dict[str, str] = {}
    step = 1.0 / len(keys)
    for i, key in enumerate(keys):
        if progress:
            progress(i * step, f"Fitting {LABELS[key]} on {n:,} customers")
        try:
            if key == "bgnbd":
                model = BetaGeoModel().fit(frame, time_unit=summary.time_unit)
            elif key == "paretonbd":
                start = fitted["bgnbd"].params if "bgnbd" in fitted else None
                model = ParetoNBDModel().fit(frame, time_unit=summary.time_unit, start=start)
            else:
                model = GammaGammaModel().fit(frame)
            if key in COUNT_MODELS:
                usable_predictions(model, summary)
        except FitError as exc:
            skipped[key] = str(exc)
            continue
        fitted[key] = model
        fits[key] = model.result
    if not fitted:
        raise FitError(" ".join(skipped.values()))
    if progress:
        progress(1.0, "Models fitted")
    warnings = [w for f in fits.values() for w in f.warnings] + list(skipped.values())
    gg = fitted.get("gamma_gamma")
    return ValueReport(fits=fits, models=fitted, skipped=skipped, time_unit=summary.time_unit,
                       calibration_end=summary.calibration_end, customers=n, repeat_customers=n_rep,
                       spend_frequency_correlation=None if gg is None else gg.spend_frequency_correlation,
                       warnings=warnings)

"""Maximum-likelihood machinery shared by the value models.

Every model is fitted the same way: the mean negative log-likelihood is
minimised over the *logarithms* of the (positive) parameters with L-BFGS-B,
inside the box ``[-LOG_BOUND, LOG_BOUND]``; standard errors come from a
numerical Hessian of the total log-likelihood at the optimum (delta method back
to the natural scale); and everything that makes a fit untrustworthy becomes a
plain-language warning in the :class:`FitResult`, never a NaN shown as a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from analytics.errors import FitError, InvalidParameterError

# Parameters live in [e^-13, e^13] ~ [2e-6, 4.4e5]. Wide enough for any sensible
# purchase rate or spend scale (spend is rescaled before fitting); reaching the edge
# means the data do not pin the parameter down, and is reported.
LOG_BOUND = 13.0
# A parameter within this distance (in log units, a factor 1.6) of the box edge is "at the bound".
AT_BOUND = 0.5
# Relative standard error above which a parameter is called poorly determined.
POOR_SE = 1.0

Objective = Callable[[np.ndarray], "tuple[float, np.ndarray] | float"]


@dataclass
class FitResult:
    """One fitted model: parameters, standard errors, fit quality and warnings.

    Attributes
    ----------
    model : str
        ``"bgnbd"``, ``"paretonbd"`` or ``"gamma_gamma"``.
    params : dict
        Parameter name -> estimate (natural scale, always finite).
    std_errors : dict
        Parameter name -> standard error (None where the curvature could not be measured).
    log_likelihood : float
        Total log-likelihood at the estimate.
    n_customers : int
        Customers the model was fitted on.
    converged : bool
        The optimiser reported success.
    iterations : int
        Optimiser iterations.
    warnings : list of str
        Why the fit may not be trustworthy (empty when all is well).
    time_unit : str or None
        Unit of the time-scale parameters (``alpha``, ``beta``); None for spend models.
    seconds : float
        Wall time of the fit.
    """

    model: str
    params: dict[str, float]
    std_errors: dict[str, float | None]
    log_likelihood: float
    n_customers: int
    converged: bool
    iterations: int
    warnings: list[str] = field(default_factory=list)
    time_unit: str | None = None
    seconds: float = 0.0

    @property
    def trustworthy(self) -> bool:
        """Converged, nothing at a bound, standard errors available: no warning at all."""
        return self.converged and not self.warnings

    def to_dict(self) -> dict:
        """JSON-ready: parameters, standard errors, log-likelihood, convergence, warnings."""
        return {"model": self.model, "params": {k: float(v) for k, v in self.params.items()},
                "std_errors": {k: (None if v is None else float(v)) for k, v in self.std_errors.items()},
                "log_likelihood": float(self.log_likelihood), "n_customers": int(self.n_customers),
                "converged": bool(self.converged), "iterations": int(self.iterations),
                "warnings": list(self.warnings), "time_unit": self.time_unit, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Compressed:
    """Customers with identical (frequency, recency, T) merged into one row with a weight.

    The likelihood only depends on these three numbers, and day-level data repeat
    them a lot (every one-time buyer of the same day is the same row), so fits run
    on a fraction of the rows with exactly the same result.
    """

    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    w: np.ndarray
    ux: np.ndarray  # distinct frequencies
    xi: np.ndarray  # row -> index into ux

    @classmethod
    def of(cls, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> Compressed:
        frame = pd.DataFrame({"x": np.asarray(x, float), "tx": np.asarray(tx, float), "T": np.asarray(T, float)})
        counts = frame.groupby(["x", "tx", "T"], sort=False).size()
        keys = counts.index.to_frame(index=False)
        cx = keys["x"].to_numpy(float)
        ux, xi = np.unique(cx, return_inverse=True)
        return cls(cx, keys["tx"].to_numpy(float), keys["T"].to_numpy(float), counts.to_numpy(float), ux, xi)

    @property
    def n(self) -> float:
        return float(self.w.sum())


def unique_rows(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct combinations of the columns and, for each row, the index of its combination."""
    frame = pd.DataFrame({str(i): np.asarray(c, float) for i, c in enumerate(cols)})
    codes = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    first = np.unique(codes, return_index=True)[1]
    return [np.asarray(c, float)[first] for c in cols], codes


def central_gradient(f: Callable[[np.ndarray], float], theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient by central differences (for likelihoods without an analytic gradient)."""
    g = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        g[j] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


def numerical_hessian(objective: Objective, theta: np.ndarray, has_grad: bool) -> np.ndarray:
    """Hessian of a mean objective: central differences of the gradient, or second differences."""
    k = theta.size
    hess = np.empty((k, k))
    if has_grad:
        h = 1e-4
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            hess[:, j] = (objective(theta + e)[1] - objective(theta - e)[1]) / (2 * h)
    else:
        h = 1e-3
        f0 = objective(theta)
        for i in range(k):
            for j in range(i, k):
                ei = np.zeros(k)
                ej = np.zeros(k)
                ei[i] = h
                ej[j] = h
                if i == j:
                    val = (objective(theta + ei) - 2 * f0 + objective(theta - ei)) / h**2
                else:
                    val = (objective(theta + ei + ej) - objective(theta + ei - ej)
                           - objective(theta - ei + ej) + objective(theta - ei - ej)) / (4 * h**2)
                hess[i, j] = hess[j, i] = val
    return (hess + hess.T) / 2


def maximise(objective: Objective, starts: Sequence[np.ndarray], names: Sequence[str], n: float, *,
             model: str, label: str, has_grad: bool, time_unit: str | None = None,
             bound_hints: dict[tuple[str, str], str] | None = None, maxiter: int = 1000,
             scale: dict[str, float] | None = None, ll_offset: float = 0.0,
             upper: dict[str, float] | None = None, max_starts: int = 3) -> FitResult:
    """Minimise a mean negative log-likelihood over log-parameters and describe the result.

    Parameters
    ----------
    objective : callable
        ``theta_log -> mean NLL`` (``has_grad=False``) or ``-> (mean NLL, gradient)``.
    starts : sequence of arrays
        Starting points in log space, tried in order until one converges; the best is kept.
    names : sequence of str
        Parameter names, in the order of ``theta``.
    n : float
        Number of customers (turns the mean into the total log-likelihood).
    model, label : str
        Model key and the name shown in warnings.
    has_grad : bool
        Whether ``objective`` returns its gradient.
    time_unit : str, optional
        Unit of the time-scale parameters, kept in the result.
    bound_hints : dict, optional
        ``(param, "upper"|"lower") -> what it means`` for warnings about parameters at a bound.
    maxiter : int
        Optimiser iteration cap.
    scale : dict, optional
        Parameter -> factor that maps the fitted (rescaled) value back to the data's units.
    ll_offset : float
        Added to the total log-likelihood (the Jacobian of a rescaling of the data).
    upper : dict, optional
        Parameter -> upper limit (natural scale) tighter than the default box.
    max_starts : int
        Try at most this many starting points.

    Raises
    ------
    FitError
        No starting point gives a finite likelihood.
    """
    t0 = time.perf_counter()
    tops = {nm: min(LOG_BOUND, float(np.log(v))) for nm, v in (upper or {}).items()}
    bounds = [(-LOG_BOUND, tops.get(nm, LOG_BOUND)) for nm in names]
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    best, best_ok = None, False
    fun = objective if has_grad else (lambda th: (objective(th), central_gradient(objective, th)))
    for start in list(starts)[:max_starts]:
        start = np.clip(np.asarray(start, float), lo + 1, hi - 1)
        with np.errstate(all="ignore"):
            first = fun(start)
            if not np.isfinite(first[0]):
                continue
            res = minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": maxiter, "ftol": 1e-12, "gtol": 1e-7})
        if not (np.isfinite(res.fun) and np.all(np.isfinite(res.x))):
            continue
        ok = bool(res.success) or _stationary(res, lo, hi)
        if best is None or res.fun < best.fun - 1e-12:
            best, best_ok = res, ok
        if best_ok:
            break
    if best is None:
        raise FitError(f"The {label} model could not be fitted: its likelihood is not finite for these data. "
                       "Check that the customer summary has sensible values (frequencies, recencies and ages "
                       "that are not all zero).")
    theta = best.x
    warnings: list[str] = []
    if not best_ok:
        warnings.append(f"The {label} fit did not converge ({_reason(best.message)}); "
                        "treat its numbers with caution.")
    # Back to the data's units before anything is worded: warnings quote the numbers the user sees.
    params = {nm: float(np.exp(v)) * (scale or {}).get(nm, 1.0) for nm, v in zip(names, theta)}
    hints = bound_hints or {}
    for nm, v, top in zip(names, theta, hi):
        side = "upper" if v > top - AT_BOUND else "lower" if v < -LOG_BOUND + AT_BOUND else None
        if side:
            hint = hints.get((nm, side), "the data do not pin it down")
            warnings.append(f"{label}: parameter {nm} ran to its {side} limit ({params[nm]:.3g}): {hint}.")
    se_log = _se_log(objective, theta, n, has_grad)
    std_errors: dict[str, float | None] = {}
    if se_log is None:
        warnings.append(f"{label}: standard errors are not available (the likelihood is flat or curved the wrong "
                        "way in some direction), so at least one parameter is not identified by these data.")
        std_errors = {nm: None for nm in names}
    else:
        for nm, s in zip(names, se_log):
            std_errors[nm] = float(params[nm] * s)
            if s > POOR_SE:
                warnings.append(f"{label}: parameter {nm} is poorly determined (standard error "
                                f"{std_errors[nm]:.3g} for an estimate of {params[nm]:.3g}).")
    return FitResult(model=model, params=params, std_errors=std_errors,
                     log_likelihood=float(-best.fun * n + ll_offset), n_customers=int(round(n)),
                     converged=best_ok, iterations=int(best.nit), warnings=warnings,
                     time_unit=time_unit, seconds=time.perf_counter() - t0)


def _stationary(res: object, lo: np.ndarray, hi: np.ndarray, tol: float = 1e-5) -> bool:
    """The optimiser stopped where the projected gradient vanishes (a line search that gives up there,
    as numerical gradients make it do, has still found the optimum)."""
    g = np.asarray(getattr(res, "jac", np.full(lo.shape, np.inf)), float)
    x = np.asarray(res.x, float)
    g = np.where((x <= lo + 1e-9) & (g > 0), 0.0, g)
    g = np.where((x >= hi - 1e-9) & (g < 0), 0.0, g)
    return bool(np.all(np.isfinite(g)) and np.max(np.abs(g)) < tol)


def _se_log(objective: Objective, theta: np.ndarray, n: float, has_grad: bool) -> np.ndarray | None:
    """Standard errors of the log-parameters from the inverse Hessian of the total NLL (None if not PD)."""
    with np.errstate(all="ignore"):
        hess = numerical_hessian(objective, theta, has_grad) * n
    if not np.all(np.isfinite(hess)):
        return None
    try:
        np.linalg.cholesky(hess)
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return None
    diag = np.diag(cov)
    if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
        return None
    return np.sqrt(diag)


def _reason(message: object) -> str:
    text = message.decode() if isinstance(message, bytes) else str(message)
    return text.strip().rstrip(".").lower() or "stopped early"


def as_arrays(data: pd.DataFrame, columns: Sequence[str]) -> list[np.ndarray]:
    """Columns of a summary frame as float arrays, with a clear error when one is missing."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InvalidParameterError(f"The customer summary lacks the column(s) {', '.join(missing)}; build it with "
                                    "analytics.value.customer_summary (columns frequency, recency, T, "
                                    "monetary_value).")
    return [data[c].to_numpy(dtype=float, na_value=np.nan) for c in columns]

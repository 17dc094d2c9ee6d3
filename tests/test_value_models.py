"""BG/NBD, Pareto/NBD and Gamma-Gamma: published numbers, independent formulas, parameter recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import betaln, gammaln, hyp2f1

from analytics.errors import InvalidParameterError
from analytics.value import BetaGeoModel, GammaGammaModel, ParetoNBDModel, bgnbd, gammagamma, paretonbd
from analytics.value._mle import Compressed
from analytics.value.simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_paretonbd

CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # Fader, Hardie & Lee (2005), weeks
CDNOW_PNBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}  # Fader, Hardie & Lee (2005), weeks
CDNOW_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}  # Fader, Hardie & Lee (2005, JMR), dollars
A1 = np.array


def _quad(f, lo, hi):
    return integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-11, limit=200)[0]


def _gamma_moment(k, rate_shape, t):
    """E[lambda^k exp(-lambda t)] for lambda ~ Gamma(shape r, rate alpha): the textbook gamma integral."""
    r, alpha = rate_shape
    return np.exp(gammaln(r + k) - gammaln(r) + r * np.log(alpha) - (r + k) * np.log(alpha + t))


# --- BG/NBD ---------------------------------------------------------------------------------------


def test_bgnbd_reproduces_the_published_cdnow_example():
    # FHL (2005) and their Excel sheet: customer with x=2, t_x=30.43, T=38.86 weeks buys 1.226 times in 39 weeks.
    got = bgnbd.expected_purchases(CDNOW_BGNBD, 39, A1([2.0]), A1([30.43]), A1([38.86]))[0]
    assert got == pytest.approx(1.226, abs=5e-4)


@pytest.mark.parametrize("params", [CDNOW_BGNBD, {"r": 2.5, "alpha": 6.0, "a": 1.5, "b": 3.0}])
@pytest.mark.parametrize("x,tx,T", [(0, 0.0, 30.0), (2, 30.43, 38.86), (6, 20.0, 39.0)])
def test_bgnbd_likelihood_p_alive_and_expectation_match_direct_integration(params, x, tx, T):
    # Integrate the individual-level story over the mixing densities: lambda in closed form
    # (gamma integral), the dropout probability p numerically.
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    beta_pdf = stats.beta(a, b).pdf
    l_alive = _gamma_moment(x, (r, alpha), T) * _quad(lambda p: (1 - p) ** x * beta_pdf(p), 0, 1)
    l_dead = (_gamma_moment(x, (r, alpha), tx) * _quad(lambda p: p * (1 - p) ** (x - 1) * beta_pdf(p), 0, 1)
              if x > 0 else 0.0)
    ll = bgnbd.log_likelihood(params, A1([x]), A1([tx]), A1([T]))[0]
    assert ll == pytest.approx(np.log(l_alive + l_dead), abs=1e-8)
    assert bgnbd.p_alive(params, A1([x]), A1([tx]), A1([T]))[0] == pytest.approx(l_alive / (l_alive + l_dead),
                                                                                   abs=1e-8)
    # E[Y(t) | lambda, p, alive at T] = (1 - exp(-lambda p t)) / p   (FHL 2005, eq. 7)
    t = 26.0
    e = _quad(lambda p: (1 - p) ** x / p * beta_pdf(p)
              * (_gamma_moment(x, (r, alpha), T) - _gamma_moment(x, (r, alpha), T + p * t)), 0, 1)
    got = bgnbd.expected_purchases(params, t, A1([x]), A1([tx]), A1([T]))[0]
    assert got == pytest.approx(e / (l_alive + l_dead), rel=1e-7)


def test_bgnbd_expectations_equal_the_published_untransformed_formula():
    r, alpha, a, b = CDNOW_BGNBD.values()
    x, tx, T, t = A1([0, 1, 3, 10.0]), A1([0, 5, 20, 35.0]), A1([10, 30, 39, 39.0]), 39.0
    palive = bgnbd.p_alive(CDNOW_BGNBD, x, tx, T)
    z = t / (alpha + T + t)
    published = ((a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
                                              * hyp2f1(r + x, b + x, a + b + x - 1, z))) * palive
    np.testing.assert_allclose(bgnbd.expected_purchases(CDNOW_BGNBD, t, x, tx, T), published, rtol=1e-9)
    new = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    assert BetaGeoModel(CDNOW_BGNBD).expected_purchases_new_customer(t)[0] == pytest.approx(new, rel=1e-9)


def test_bgnbd_log_likelihood_formula_and_stability_for_frequent_buyers():
    r, alpha, a, b = CDNOW_BGNBD.values()
    x, tx, T = A1([0.0, 3.0]), A1([0.0, 20.0]), A1([30.0, 38.0])
    direct = (gammaln(r + x) - gammaln(r) + r * np.log(alpha)
              + np.log(np.exp(betaln(a, b + x) - betaln(a, b)) / (alpha + T) ** (r + x)
                       + (x > 0) * np.exp(betaln(a + 1, np.maximum(b + x - 1, 1e-9)) - betaln(a, b))
                       / (alpha + tx) ** (r + x)))
    np.testing.assert_allclose(bgnbd.log_likelihood(CDNOW_BGNBD, x, tx, T), direct, rtol=1e-12)
    # 400 repeat purchases: the direct powers underflow, the log-space version stays finite.
    heavy = (A1([400.0]), A1([38.0]), A1([39.0]))
    assert np.isfinite(bgnbd.log_likelihood(CDNOW_BGNBD, *heavy)).all()
    assert np.isfinite(bgnbd.expected_purchases(CDNOW_BGNBD, 52, *heavy)).all()
    assert 0 < bgnbd.p_alive(CDNOW_BGNBD, *heavy)[0] <= 1


def test_bgnbd_analytic_gradient_matches_finite_differences():
    data = simulate_bgnbd(300, **CDNOW_BGNBD, T=(20, 39), random_state=4)
    d = Compressed.of(data["frequency"], data["recency"], data["T"])
    theta = np.log([0.4, 3.0, 1.1, 2.0])
    _, g = bgnbd._loglik_terms(theta, d, grad=True)
    grad = g @ d.w
    h = 1e-6
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        num = (bgnbd._loglik_terms(theta + e, d, False)[0] @ d.w - bgnbd._loglik_terms(theta - e, d, False)[0] @ d.w)
        assert grad[j] == pytest.approx(num / (2 * h), rel=1e-5, abs=1e-6)


def test_bgnbd_recovers_its_own_parameters():
    truth = CDNOW_BGNBD
    data = simulate_bgnbd(20_000, **truth, T=(20, 39), random_state=11)
    model = BetaGeoModel().fit(data, time_unit="weeks")
    fit = model.result
    assert fit.converged and fit.warnings == []
    for k, v in truth.items():
        se = fit.std_errors[k]
        assert se is not None and se > 0
        assert abs(fit.params[k] - v) < max(4 * se, 0.05 * v), (k, fit.params[k], v, se)
    # The likelihood at the truth is just below the maximum (within a chi-square margin).
    at_truth = bgnbd.log_likelihood(truth, data["frequency"], data["recency"], data["T"]).sum()
    assert 0 <= fit.log_likelihood - at_truth < 10
    assert fit.time_unit == "weeks" and fit.to_dict()["params"]["r"] == pytest.approx(fit.params["r"])


def test_bgnbd_warns_when_nobody_drops_out():
    # Customers who never drop out: the dropout probability is pushed to zero (a -> 0 or b -> infinity).
    data = simulate_bgnbd(3000, r=1.0, alpha=5.0, a=1e-4, b=1e4, T=(20, 39), random_state=2)
    fit = BetaGeoModel().fit(data).result
    assert all(np.isfinite(v) for v in fit.params.values())
    assert fit.warnings, fit
    assert any("limit" in w or "poorly determined" in w or "not available" in w for w in fit.warnings)


# --- Pareto/NBD -----------------------------------------------------------------------------------


def _pnbd_published(params, x, tx, T):
    """The likelihood exactly as printed in Fader & Hardie's note (fine for small x only)."""
    r, alpha, s, beta = params
    if alpha >= beta:
        def h(t):
            return hyp2f1(r + s + x, s + 1, r + s + x + 1, (alpha - beta) / (alpha + t)) / (alpha + t) ** (r + s + x)
    else:
        def h(t):
            return hyp2f1(r + s + x, r + x, r + s + x + 1, (beta - alpha) / (beta + t)) / (beta + t) ** (r + s + x)
    a0 = h(tx) - h(T)
    return (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            + np.log(1 / ((alpha + T) ** (r + x) * (beta + T) ** s) + s / (r + s + x) * a0))


@pytest.mark.parametrize("params", [tuple(CDNOW_PNBD.values()), (0.553, 10.578, 0.606, 4.0), (1.2, 3.0, 2.0, 30.0)])
def test_paretonbd_likelihood_equals_the_published_formula(params):
    x, tx, T = A1([0.0, 2, 5, 1, 12]), A1([0.0, 10.5, 28, 39, 37]), A1([30.0, 30, 39, 39, 39])
    ours = paretonbd.log_likelihood(A1(params), x, tx, T)
    published = [_pnbd_published(params, *v) for v in zip(x, tx, T)]
    np.testing.assert_allclose(ours, published, rtol=1e-10)


@pytest.mark.parametrize("params", [tuple(CDNOW_PNBD.values()), (1.5, 4.0, 2.0, 20.0), (2.0, 30.0, 1.5, 3.0)])
@pytest.mark.parametrize("x,tx,T", [(0, 0.0, 30.0), (3, 12.0, 30.0), (9, 38.0, 39.0)])
def test_paretonbd_likelihood_p_alive_and_expectation_match_direct_integration(params, x, tx, T):
    # Alive at T: lambda^x e^-(lambda+mu)T. Dropped out at tau in (t_x, T]: lambda^x e^-lambda tau mu e^-mu tau.
    # Both integrate over lambda and mu in closed form for a given tau; tau is integrated numerically.
    r, alpha, s, beta = params
    l_alive = _gamma_moment(x, (r, alpha), T) * _gamma_moment(0, (s, beta), T)
    l_dead = _quad(lambda tau: _gamma_moment(x, (r, alpha), tau) * _gamma_moment(1, (s, beta), tau), tx, T)
    assert paretonbd.log_likelihood(A1(params), A1([x]), A1([tx]), A1([T]))[0] == pytest.approx(
        np.log(l_alive + l_dead), abs=1e-8)
    assert paretonbd.p_alive(A1(params), A1([x]), A1([tx]), A1([T]))[0] == pytest.approx(
        l_alive / (l_alive + l_dead), abs=1e-8)
    # E[Y(t) | lambda, mu, alive at T] = lambda / mu (1 - e^-mu t)
    t = 20.0
    mu_part = _quad(lambda mu: stats.gamma.pdf(mu, s, scale=1 / beta) * np.exp(-mu * T) * -np.expm1(-mu * t) / mu,
                    0, np.inf)
    e = _gamma_moment(x + 1, (r, alpha), T) * mu_part
    assert paretonbd.expected_purchases(A1(params), t, A1([x]), A1([tx]), A1([T]))[0] == pytest.approx(
        e / (l_alive + l_dead), rel=1e-7)


def test_paretonbd_is_stable_for_frequent_buyers_where_the_published_form_overflows():
    params = (0.553, 10.578, 0.606, 4.0)
    x, tx, T = A1([300.0, 1500.0]), A1([38.0, 38.9]), A1([39.0, 39.0])
    with np.errstate(all="ignore"):
        published = [_pnbd_published(params, *v) for v in zip(x, tx, T)]
    assert not np.isfinite(published).all()  # the printed form breaks down here
    ll = paretonbd.log_likelihood(A1(params), x, tx, T)
    assert np.isfinite(ll).all()
    pa = paretonbd.p_alive(A1(params), x, tx, T)
    assert ((pa > 0) & (pa <= 1)).all()
    assert np.isfinite(paretonbd.expected_purchases(A1(params), 10, x, tx, T)).all()


def test_paretonbd_recovers_its_own_parameters():
    truth = CDNOW_PNBD
    data = simulate_paretonbd(6000, **truth, T=(20, 39), random_state=5)
    data[["recency", "T"]] = data[["recency", "T"]].round(1)  # a tenth-of-a-week grid, as day-level data have
    fit = ParetoNBDModel().fit(data, time_unit="weeks").result
    assert fit.converged
    for k, v in truth.items():
        se = fit.std_errors[k]
        assert se is not None
        assert abs(fit.params[k] - v) < max(4 * se, 0.05 * v), (k, fit.params[k], v, se)
    at_truth = paretonbd.log_likelihood(truth, data["frequency"], data["recency"], data["T"]).sum()
    assert 0 <= fit.log_likelihood - at_truth < 10


# --- Gamma-Gamma ----------------------------------------------------------------------------------


def test_gamma_gamma_recovers_its_own_parameters_in_any_currency():
    x = simulate_bgnbd(20_000, **CDNOW_BGNBD, T=(20, 39), random_state=3)["frequency"].to_numpy()
    m = simulate_gamma_gamma(x, **CDNOW_GG, random_state=8)
    data = pd.DataFrame({"frequency": x, "monetary_value": m})
    fit = GammaGammaModel().fit(data).result
    assert fit.converged and fit.warnings == []
    for k, v in CDNOW_GG.items():
        assert abs(fit.params[k] - v) < max(4 * fit.std_errors[k], 0.05 * v), (k, fit.params[k], v)
    rep = data["frequency"] > 0
    at_truth = gammagamma.log_likelihood(CDNOW_GG, x[rep], m[rep]).sum()
    assert 0 <= fit.log_likelihood - at_truth < 10
    # Spend in cents: the same shape parameters, gamma and the log-likelihood shift by the scale.
    cents = GammaGammaModel().fit(data.assign(monetary_value=m * 100)).result
    assert cents.params["p"] == pytest.approx(fit.params["p"], rel=1e-5)
    assert cents.params["gamma"] == pytest.approx(100 * fit.params["gamma"], rel=1e-5)
    assert cents.log_likelihood == pytest.approx(fit.log_likelihood - rep.sum() * np.log(100), rel=1e-8)


def test_gamma_gamma_expected_spend_is_the_posterior_mean():
    p, q, g = CDNOW_GG.values()
    model = GammaGammaModel(CDNOW_GG)
    x, m = 4, 35.0
    # nu | data ~ Gamma(p x + q, rate g + m x); spend per purchase = p / nu.
    post = stats.gamma(p * x + q, scale=1 / (g + m * x))
    expected = integrate.quad(lambda nu: p / nu * post.pdf(nu), 0, np.inf)[0]
    got = model.expected_spend(pd.DataFrame({"frequency": [x, 0], "monetary_value": [m, np.nan]}))
    assert got[0] == pytest.approx(expected, rel=1e-8)
    assert got[1] == pytest.approx(p * g / (q - 1))  # no repeat purchase: the population mean
    assert model.population_mean_spend == pytest.approx(p * g / (q - 1))


def test_gamma_gamma_warns_when_spend_depends_on_frequency():
    x = simulate_bgnbd(5000, **CDNOW_BGNBD, T=(20, 39), random_state=3)["frequency"].to_numpy()
    m = simulate_gamma_gamma(x, **CDNOW_GG, random_state=8) * (1 + x)  # frequent buyers spend more per order
    model = GammaGammaModel().fit(pd.DataFrame({"frequency": x, "monetary_value": m}))
    assert model.spend_frequency_correlation > 0.3
    assert any("correlated" in w for w in model.result.warnings)


def _pnbd_p_alive_direct(params, x, tx, T):
    r, alpha, s, beta = params
    alive = _gamma_moment(x, (r, alpha), T) * _gamma_moment(0, (s, beta), T)
    dead = _quad(lambda tau: _gamma_moment(x, (r, alpha), tau) * _gamma_moment(1, (s, beta), tau), tx, T)
    return alive / (alive + dead)


def test_paretonbd_holds_s_at_its_limit_when_dropout_rates_hardly_differ():
    truth = {"r": 0.8, "alpha": 10.0, "s": 400.0, "beta": 8000.0}  # dropout rates within 5% of each other
    data = simulate_paretonbd(4000, **truth, T=(20, 39), random_state=3)
    data[["recency", "T"]] = data[["recency", "T"]].round(1)
    model = ParetoNBDModel().fit(data)
    fit = model.result
    assert fit.params["s"] == pytest.approx(paretonbd.S_MAX)
    assert any("s ran to its upper limit" in w for w in fit.warnings)
    # The mean dropout rate s / beta is still learned, and P(alive) agrees with the truth
    # (computed by direct integration, where the hypergeometric route would fail at s = 400).
    assert fit.params["s"] / fit.params["beta"] == pytest.approx(truth["s"] / truth["beta"], rel=0.25)
    sample = data.iloc[:25]
    ours = model.p_alive(sample)
    direct = [_pnbd_p_alive_direct(tuple(truth.values()), *row) for row in sample[["frequency", "recency", "T"]]
              .itertuples(index=False)]
    assert np.abs(ours - direct).mean() < 0.03


def test_paretonbd_refuses_parameters_it_cannot_evaluate_accurately():
    with pytest.raises(InvalidParameterError, match="s at most 50"):
        ParetoNBDModel({"r": 0.8, "alpha": 10.0, "s": 400.0, "beta": 8000.0})
    with pytest.raises(InvalidParameterError, match="positive numbers"):
        ParetoNBDModel({"r": 0.8, "alpha": -1.0, "s": 1.0, "beta": 8.0})


def test_gamma_gamma_with_q_at_most_one_values_repeat_customers_at_their_own_mean():
    """No finite average to shrink towards: the formula would put a customer above their own mean.
    Built from parameters alone (as a stored run is read back), without the data it was fitted on."""
    model = GammaGammaModel({"p": 2.24, "q": 0.93, "gamma": 39.8})
    assert model.population_mean_spend is None
    got = model.expected_spend(pd.DataFrame({"frequency": [2, 1, 0, 3], "monetary_value": [100.0, 50.0, np.nan, 0.0]}))
    # Repeat customers keep their own mean; the one-time buyer gets the repeat customers' observed average
    # (of positive means: 75), and a repeat customer whose purchases were free keeps 0.
    assert got.tolist() == [100.0, 50.0, 75.0, 0.0]

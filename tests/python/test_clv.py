"""BG/NBD and Gamma-Gamma: closed forms against the models' definitions (numerical integration and
simulation), a figure published with the BG/NBD paper, and parameter recovery by maximum likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from customer_segments.prediction.clv import (
    BgNbdParams,
    GammaGammaParams,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_probability_alive,
    bgnbd_unconditional_expected_purchases,
    distinct_rows,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_expected_value,
    gamma_gamma_log_likelihood,
    per_distinct_row,
)

#: Maximum-likelihood estimates on the CDNOW sample (weeks), Fader, Hardie & Lee (2005), section 5.
CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE = BgNbdParams(r=0.8, alpha=20.0, a=0.9, b=3.0)


def simulate_bgnbd(params: BgNbdParams, T: np.ndarray, horizon: float, seed: int):
    """Customers drawn from the model: (x, t_x) observed up to T and purchases in (T, T + horizon]."""
    rng = np.random.default_rng(seed)
    n = len(T)
    lam = rng.gamma(params.r, 1 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    x, tx, future = np.zeros(n), np.zeros(n), np.zeros(n)
    clock, alive = np.zeros(n), np.ones(n, dtype=bool)
    while alive.any():
        clock = np.where(alive, clock + rng.exponential(1 / np.maximum(lam, 1e-12)), clock)
        alive &= clock <= T + horizon
        observed, later = alive & (clock <= T), alive & (clock > T)
        x += observed
        tx = np.where(observed, clock, tx)
        future += later
        # After each repeat purchase the customer drops out with probability p.
        alive &= rng.random(n) >= p
    return x, tx, future


@pytest.mark.parametrize("x, tx, T", [(0, 0.0, 10.0), (1, 3.0, 10.0), (4, 25.0, 38.0), (12, 30.5, 31.0)])
def test_bgnbd_likelihood_equals_the_integral_over_rate_and_dropout(x, tx, T):
    params = BgNbdParams(r=1.3, alpha=6.0, a=1.5, b=2.5)
    # Given rate lambda and dropout p, FHL (2005) eq. (3): L = (1-p)^x lambda^x e^(-lambda T)
    # + [x > 0] p (1-p)^(x-1) lambda^x e^(-lambda t_x). Each term is (function of p) x (function of
    # lambda), so its integral over the Gamma and Beta mixing distributions is a product of 1-D integrals.
    rate = stats.gamma(params.r, scale=1 / params.alpha)
    dropout = stats.beta(params.a, params.b)

    def over_rate(f):
        return integrate.quad(lambda lam: f(lam) * rate.pdf(lam), 0, np.inf, epsabs=1e-15, limit=200)[0]

    def over_dropout(f):
        return integrate.quad(lambda p: f(p) * dropout.pdf(p), 0, 1, epsabs=1e-15, limit=200)[0]

    numeric = over_dropout(lambda p: (1 - p) ** x) * over_rate(lambda lam: lam ** x * np.exp(-lam * T))
    if x > 0:
        numeric += over_dropout(lambda p: p * (1 - p) ** (x - 1)) * over_rate(lambda lam: lam ** x * np.exp(-lam * tx))
    closed = np.exp(bgnbd_log_likelihood(params, [x], [tx], [T]))[0]
    assert closed == pytest.approx(numeric, rel=1e-6)


def test_bgnbd_expectation_matches_the_published_cdnow_example():
    # FHL (2005): a customer with x = 2, t_x = 30.43, T = 38.86 weeks is expected to make 1.226
    # purchases in the next 39 weeks.
    assert bgnbd_expected_purchases(CDNOW, 39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=5e-4)


def test_probability_alive_follows_the_closed_form_and_is_one_without_repeat_purchases():
    x, tx, T = np.array([0, 2, 2]), np.array([0.0, 30.43, 5.0]), np.array([38.86, 38.86, 38.86])
    alive = bgnbd_probability_alive(CDNOW, x, tx, T)
    by_hand = 1 / (1 + CDNOW.a / (CDNOW.b + 2 - 1) * ((CDNOW.alpha + 38.86) / (CDNOW.alpha + tx[1:])) ** (CDNOW.r + 2))
    assert alive[0] == 1.0
    np.testing.assert_allclose(alive[1:], by_hand)
    # A customer whose last purchase is long ago is less likely to be alive.
    assert alive[2] < alive[1]


def test_unconditional_expectation_is_the_conditional_one_at_birth():
    t = np.array([5.0, 39.0, 78.0])
    # A customer just acquired (x = 0, T -> 0) expects E[X(t)] repeat purchases.
    conditional = bgnbd_expected_purchases(CDNOW, t, np.zeros(3), np.zeros(3), np.full(3, 1e-9))
    np.testing.assert_allclose(conditional, bgnbd_unconditional_expected_purchases(CDNOW, t), rtol=1e-6)


def test_conditional_expectation_matches_simulated_future_purchases():
    T = np.random.default_rng(1).uniform(20, 60, 40_000)
    x, tx, future = simulate_bgnbd(TRUE, T, horizon=30.0, seed=2)
    predicted = bgnbd_expected_purchases(TRUE, 30.0, x, tx, T)
    # In aggregate and for groups of customers with different histories.
    assert predicted.sum() == pytest.approx(future.sum(), rel=0.03)
    for group in (x == 0, (x >= 1) & (x <= 3), x > 3):
        assert predicted[group].mean() == pytest.approx(future[group].mean(), rel=0.08)


def test_fit_bgnbd_recovers_the_parameters_of_simulated_customers():
    T = np.random.default_rng(3).uniform(20, 60, 8000)
    x, tx, _ = simulate_bgnbd(TRUE, T, horizon=0.0, seed=4)
    fitted = fit_bgnbd(x, tx, T)
    assert fitted.r == pytest.approx(TRUE.r, rel=0.15)
    assert fitted.alpha == pytest.approx(TRUE.alpha, rel=0.2)
    assert fitted.a == pytest.approx(TRUE.a, rel=0.35)
    assert fitted.b == pytest.approx(TRUE.b, rel=0.4)
    # The fit is a maximum: the true parameters are no more likely.
    assert bgnbd_log_likelihood(fitted, x, tx, T).sum() >= bgnbd_log_likelihood(TRUE, x, tx, T).sum()


@pytest.mark.parametrize("x, m", [(1, 12.5), (3, 40.0), (10, 22.0)])
def test_gamma_gamma_density_equals_the_integral_over_the_customer_scale(x, m):
    params = GammaGammaParams(p=4.0, q=3.5, gamma=30.0)
    # Mean of x Gamma(p, nu) spends is Gamma(p x, rate nu x); nu ~ Gamma(q, rate gamma).

    def integrand(nu):
        return stats.gamma.pdf(m, params.p * x, scale=1 / (nu * x)) * stats.gamma.pdf(nu, params.q, scale=1 / params.gamma)

    numeric, _ = integrate.quad(integrand, 0, np.inf, epsabs=1e-14, limit=200)
    closed = np.exp(gamma_gamma_log_likelihood(params, [x], [m]))[0]
    assert closed == pytest.approx(numeric, rel=1e-6)


def test_fit_gamma_gamma_recovers_the_mean_spend_of_simulated_customers():
    rng = np.random.default_rng(5)
    true = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    n = 6000
    nu = rng.gamma(true.q, 1 / true.gamma, n)
    x = rng.integers(1, 12, n)
    m = np.array([rng.gamma(true.p, 1 / v, k).mean() for v, k in zip(nu, x)])
    fitted = fit_gamma_gamma(x, m)
    population_mean = true.p * true.gamma / (true.q - 1)
    assert fitted.p * fitted.gamma / (fitted.q - 1) == pytest.approx(population_mean, rel=0.05)
    assert fitted.p == pytest.approx(true.p, rel=0.15)
    # Conditional expectations track each customer's true mean spend p / nu better than their own average.
    expected = gamma_gamma_expected_value(fitted, x, m)
    truth = true.p / nu
    assert np.abs(expected - truth).mean() < np.abs(m - truth).mean()


def test_gamma_gamma_uses_the_population_mean_without_usable_history():
    params = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    values = gamma_gamma_expected_value(params, [0, 2, 2], [0.0, -5.0, 20.0])
    assert values[0] == values[1] == pytest.approx(6.0 * 15.0 / 3.0)
    assert values[2] == pytest.approx(6.0 * (15.0 + 2 * 20.0) / (6.0 * 2 + 4.0 - 1))


@pytest.mark.parametrize("x, tx, T, message", [
    ([1, 2], [1.0], [5.0, 5.0], "one shape"),
    ([-1], [0.0], [5.0], "non-negative whole"),
    ([1.5], [1.0], [5.0], "non-negative whole"),
    ([1], [6.0], [5.0], "between 0 and T"),
    ([0], [2.0], [5.0], "0 for customers without repeat"),
    ([1], [0.0], [0.0], "T must be positive"),
])
def test_bgnbd_inputs_are_validated_with_clear_messages(x, tx, T, message):
    with pytest.raises(ValueError, match=message):
        bgnbd_log_likelihood(CDNOW, x, tx, T)


def test_fits_refuse_data_they_cannot_identify():
    with pytest.raises(ValueError, match="repeat purchases"):
        fit_bgnbd([0, 0, 0], [0.0, 0.0, 0.0], [5.0, 6.0, 7.0])
    with pytest.raises(ValueError, match="positive mean value"):
        fit_gamma_gamma([1, 2], [10.0, -3.0])


def test_fits_on_distinct_rows_equal_fits_on_every_customer():
    # Fitting on distinct (x, t_x, T) rows weighted by their counts is exact: a data set and the same
    # customers repeated ten times (the benchmark's replicas) have the same maximum.
    T = np.round(np.random.default_rng(6).uniform(20, 60, 3000))
    x, tx, _ = simulate_bgnbd(TRUE, T, horizon=0.0, seed=7)
    tx = np.where(x > 0, np.minimum(np.ceil(tx), T), 0.0)
    once = fit_bgnbd(x, tx, T)
    tenfold = fit_bgnbd(np.tile(x, 10), np.tile(tx, 10), np.tile(T, 10))
    assert tenfold.r == pytest.approx(once.r, rel=1e-3)
    assert tenfold.alpha == pytest.approx(once.alpha, rel=1e-3)
    m = np.round(np.random.default_rng(8).gamma(4.0, 5.0, 500), 1)
    k = np.random.default_rng(9).integers(1, 6, 500)
    gg_once, gg_tenfold = fit_gamma_gamma(k, m), fit_gamma_gamma(np.tile(k, 10), np.tile(m, 10))
    assert gg_tenfold.p * gg_tenfold.gamma / (gg_tenfold.q - 1) == pytest.approx(
        gg_once.p * gg_once.gamma / (gg_once.q - 1), rel=1e-3)


def test_distinct_rows_counts_each_row_once():
    rows = distinct_rows(np.array([1.0, 2.0, 1.0, 1.0]), np.array([5.0, 5.0, 5.0, 6.0]))
    (x, t), counts = rows.columns, rows.counts
    assert list(zip(x, t, counts)) == [(1.0, 5.0, 2.0), (1.0, 6.0, 1.0), (2.0, 5.0, 1.0)]
    assert list(rows.inverse) == [0, 2, 0, 1]


def test_per_distinct_row_equals_evaluating_every_row():
    x, tx, T = np.array([0.0, 2, 2, 5, 0]), np.array([0.0, 10, 10, 30, 0]), np.array([40.0, 50, 50, 60, 40])
    direct = bgnbd_expected_purchases(TRUE, 30.0, x, tx, T)
    np.testing.assert_array_equal(per_distinct_row(lambda *h: bgnbd_expected_purchases(TRUE, 30.0, *h), x, tx, T), direct)

"""Buy-till-you-die models: BG/NBD for how many purchases a customer will make, Gamma-Gamma for their
value, both fitted by maximum likelihood over customer-level arrays.

Definitions (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to the
Pareto/NBD model", Marketing Science 24(2); and "RFM and CLV: using iso-value curves for customer base
analysis", JMR 42(4), for Gamma-Gamma):

- ``frequency`` x: number of repeat purchases (purchases after the first one).
- ``recency`` t_x: time from the first purchase to the last one (0 when x = 0).
- ``T``: time from the first purchase to the end of the observation period.
- ``monetary_value``: mean value of the x repeat purchases.

The tables name these for what they hold (customer_purchase_summary): ``repeat_purchases`` (x),
``first_to_last_purchase_days`` (t_x), ``observed_days`` (T) and ``mean_repeat_value``; the functions
keep the papers' names.

Time is in whatever unit the caller uses, consistently (this project uses days and counts a purchase
as a day with at least one purchase invoice). Parameters are in the same unit: alpha is a time.

While active a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each purchase they drop
out with probability p ~ Beta(a, b). Spend per purchase z ~ Gamma(p, nu) around a customer's mean with
nu ~ Gamma(q, gamma).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: purchase rate lambda ~ Gamma(r, alpha), dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: spend z ~ Gamma(p, nu) per purchase, nu ~ Gamma(q, gamma)."""

    p: float
    q: float
    gamma: float


def _bgnbd_arrays(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float arrays (x, t_x, T) of one shape."""
    x, tx, t = (np.asarray(v, dtype="float64") for v in (frequency, recency, T))
    if not (x.shape == tx.shape == t.shape):
        raise ValueError(f"frequency, recency and T must have one shape, got {x.shape}, {tx.shape}, {t.shape}")
    if np.isnan(x).any() or np.isnan(tx).any() or np.isnan(t).any():
        raise ValueError("frequency, recency and T must not contain missing values")
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("frequency must be a non-negative whole number of repeat purchases")
    if (tx < 0).any() or (tx > t).any():
        raise ValueError("recency must lie between 0 and T")
    if ((x == 0) & (tx != 0)).any():
        raise ValueError("recency must be 0 for customers without repeat purchases")
    if (t <= 0).any():
        raise ValueError("T must be positive")
    return x, tx, t


def bgnbd_log_likelihood(params: BgNbdParams, frequency, recency, T) -> np.ndarray:
    """Per-customer log-likelihood, equation (6) of Fader, Hardie & Lee (2005).

    L = A1 * A2 * (A3 + [x > 0] * A4) with
    A1 = Gamma(r + x) alpha^r / Gamma(r), A2 = B(a, b + x) / B(a, b),
    A3 = (alpha + T)^-(r + x), A4 = a / (b + x - 1) * (alpha + t_x)^-(r + x).
    """
    x, tx, t = _bgnbd_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    log_a2 = betaln(a, b + x) - betaln(a, b)
    log_a3 = -(r + x) * np.log(alpha + t)
    with np.errstate(divide="ignore"):
        log_a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx), -np.inf)
    return log_a1 + log_a2 + np.logaddexp(log_a3, log_a4)


#: Bounds of the log-parameters: wide enough for any sensible model, and they stop the search from
#: walking forever along a flat ridge (BG/NBD on data with almost no dropout drifts to a -> 0, b -> inf).
LOG_PARAM_BOUND = 15.0


@dataclass(frozen=True)
class DistinctRows:
    """The distinct rows of some equal-length columns: ``columns`` (one array each), ``counts`` (how
    many rows each distinct row stands for) and ``inverse`` (which distinct row each row is)."""

    columns: list[np.ndarray]
    counts: np.ndarray
    inverse: np.ndarray


def distinct_rows(*columns) -> DistinctRows:
    """Both likelihoods, and the predictions, depend on a customer only through (x, t_x, T) or (x, m):
    working on distinct rows (log-likelihoods weighted by their counts) is exact, and bounded by the
    number of distinct day-granular histories (a few thousand), not by the number of customers."""
    unique, inverse, counts = np.unique(np.column_stack([np.asarray(c, dtype="float64") for c in columns]),
                                        axis=0, return_inverse=True, return_counts=True)
    return DistinctRows([unique[:, i] for i in range(unique.shape[1])], counts.astype("float64"), inverse.ravel())


def per_distinct_row(function, *columns) -> np.ndarray:
    """``function(*columns)`` evaluated once per distinct row of the columns and spread back to every
    row (the hypergeometric function of the predictions is the slow part: 37 horizons for the CLV)."""
    rows = distinct_rows(*columns)
    return np.asarray(function(*rows.columns))[rows.inverse]


def _fit(negative_log_likelihood, n_params: int, start: np.ndarray) -> np.ndarray:
    """Minimise over bounded log-parameters (keeps them positive): L-BFGS-B, then a short Nelder-Mead
    from its result in case the gradient-free search finds a better point; the best one wins."""
    bounds = [(-LOG_PARAM_BOUND, LOG_PARAM_BOUND)] * n_params
    first = minimize(negative_log_likelihood, np.log(start), method="L-BFGS-B", bounds=bounds)
    second = minimize(negative_log_likelihood, first.x, method="Nelder-Mead", bounds=bounds,
                      options={"maxiter": 400 * n_params, "xatol": 1e-6, "fatol": 1e-8})
    best = second.x if second.fun < first.fun else first.x
    if not np.isfinite(negative_log_likelihood(best)):
        raise RuntimeError("maximum likelihood fit did not converge to a finite likelihood")
    return np.exp(best)


def fit_bgnbd(frequency, recency, T) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters (r, alpha, a, b) for customer arrays x, t_x, T.

    Parameters
    ----------
    frequency : shape (n,), repeat purchases x >= 0.
    recency : shape (n,), time of the last purchase since the first, 0 <= t_x <= T (0 when x = 0).
    T : shape (n,), time since the first purchase to the end of the observation period, > 0.
    """
    x, tx, t = _bgnbd_arrays(frequency, recency, T)
    if len(x) < 2 or not (x > 0).any():
        raise ValueError("fit_bgnbd needs at least two customers and some repeat purchases")
    # Start from the mean purchase rate: r / alpha ~ repeat purchases per unit of time.
    start = np.array([1.0, max(float(t.mean()) / max(float(x.mean()), 1e-3), 1e-3), 1.0, 1.0])
    rows = distinct_rows(x, tx, t)
    (x, tx, t), weights = rows.columns, rows.counts

    def negative_log_likelihood(log_params: np.ndarray) -> float:
        value = -(weights * bgnbd_log_likelihood(BgNbdParams(*np.exp(log_params)), x, tx, t)).sum()
        return float(value) if np.isfinite(value) else np.inf

    return BgNbdParams(*(float(v) for v in _fit(negative_log_likelihood, 4, start)))


def bgnbd_probability_alive(params: BgNbdParams, frequency, recency, T) -> np.ndarray:
    """P(still active at T | x, t_x, T), equation (11); 1 for customers without repeat purchases."""
    x, tx, t = _bgnbd_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
    return np.where(x > 0, 1.0 / (1.0 + np.exp(np.where(x > 0, log_ratio, 0.0))), 1.0)


def bgnbd_expected_purchases(params: BgNbdParams, t_future, frequency, recency, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T], equation (10) of Fader, Hardie & Lee (2005)."""
    x, tx, t = _bgnbd_arrays(frequency, recency, T)
    horizon = np.broadcast_to(np.asarray(t_future, dtype="float64"), x.shape)
    if (horizon < 0).any():
        raise ValueError("the forecast horizon must be non-negative")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = horizon / (alpha + t + horizon)
    growth = 1.0 - np.exp((r + x) * (np.log(alpha + t) - np.log(alpha + t + horizon))) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    scale = (a + b + x - 1) / (a - 1)
    return scale * growth * bgnbd_probability_alive(params, x, tx, t)


def bgnbd_unconditional_expected_purchases(params: BgNbdParams, t) -> np.ndarray:
    """E[X(t)]: expected repeat purchases in (0, t] of a new customer, equation (9)."""
    t = np.asarray(t, dtype="float64")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def _gamma_gamma_arrays(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
    x, m = np.asarray(frequency, dtype="float64"), np.asarray(monetary_value, dtype="float64")
    if x.shape != m.shape:
        raise ValueError(f"frequency and monetary_value must have one shape, got {x.shape}, {m.shape}")
    if np.isnan(x).any() or np.isnan(m).any():
        raise ValueError("frequency and monetary_value must not contain missing values")
    if (x <= 0).any() or (m <= 0).any():
        raise ValueError("Gamma-Gamma needs customers with repeat purchases (x > 0) of positive mean value")
    return x, m


def gamma_gamma_log_likelihood(params: GammaGammaParams, frequency, monetary_value) -> np.ndarray:
    """Per-customer log density of the mean spend m of x purchases (Fader, Hardie & Lee 2005 note):

    f(m | p, q, gamma; x) = Gamma(px + q) / (Gamma(px) Gamma(q)) * gamma^q * x^(px) m^(px - 1) / (gamma + x m)^(px + q).
    """
    x, m = _gamma_gamma_arrays(frequency, monetary_value)
    p, q, g = params.p, params.q, params.gamma
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g) + p * x * np.log(x)
            + (p * x - 1) * np.log(m) - (p * x + q) * np.log(g + x * m))


def fit_gamma_gamma(frequency, monetary_value) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters (p, q, gamma) from customers with x > 0, m > 0."""
    x, m = _gamma_gamma_arrays(frequency, monetary_value)
    if len(x) < 2:
        raise ValueError("fit_gamma_gamma needs at least two customers with repeat purchases")

    start = np.array([1.0, 2.0, float(np.median(m))])
    rows = distinct_rows(x, m)
    (x, m), weights = rows.columns, rows.counts

    def negative_log_likelihood(log_params: np.ndarray) -> float:
        value = -(weights * gamma_gamma_log_likelihood(GammaGammaParams(*np.exp(log_params)), x, m)).sum()
        return float(value) if np.isfinite(value) else np.inf

    return GammaGammaParams(*(float(v) for v in _fit(negative_log_likelihood, 3, start)))


def gamma_gamma_expected_value(params: GammaGammaParams, frequency, monetary_value) -> np.ndarray:
    """E[spend per purchase | x, m] = p (gamma + x m) / (p x + q - 1); the population mean
    p gamma / (q - 1) for customers without usable history (x = 0 or m <= 0)."""
    x = np.asarray(frequency, dtype="float64")
    m = np.asarray(monetary_value, dtype="float64")
    usable = (x > 0) & (m > 0)
    x, m = np.where(usable, x, 0.0), np.where(usable, m, 0.0)
    if params.q <= 1:
        raise ValueError("Gamma-Gamma q must exceed 1 for the expected spend to be finite")
    return params.p * (params.gamma + x * m) / (params.p * x + params.q - 1)


def discounted_expected_spend(params: BgNbdParams, value_per_purchase, frequency, recency, T,
                              horizon_days: float, annual_discount_rate: float, period_days: float = 30.4375) -> np.ndarray:
    """Customer lifetime value: expected spend over the horizon, each month's purchases discounted
    to today at the annual rate (time in days)."""
    if annual_discount_rate < 0:
        raise ValueError("the discount rate must be non-negative")
    edges = np.append(np.arange(0.0, horizon_days, period_days), horizon_days)
    cumulative = np.stack([bgnbd_expected_purchases(params, e, frequency, recency, T) for e in edges])
    purchases = np.diff(cumulative, axis=0)
    discount = (1 + annual_discount_rate) ** (-(edges[1:] / 365.25))
    return (purchases * discount[:, None]).sum(axis=0) * np.asarray(value_per_purchase, dtype="float64")


SUMMARY_COLUMNS = ("customer_id", "repeat_purchases", "first_to_last_purchase_days", "observed_days", "mean_repeat_value")


def _fit_both(table: pd.DataFrame) -> tuple[BgNbdParams, GammaGammaParams]:
    bgnbd = fit_bgnbd(table["repeat_purchases"], table["first_to_last_purchase_days"], table["observed_days"])
    value = table["mean_repeat_value"].astype("float64")
    usable = (table["repeat_purchases"] > 0) & (value > 0)
    gamma_gamma = fit_gamma_gamma(table.loc[usable, "repeat_purchases"], value[usable])
    return bgnbd, gamma_gamma


def fit_or_reason(table: pd.DataFrame) -> tuple[tuple[BgNbdParams, GammaGammaParams] | None, str | None]:
    """Both fits, or None and why the summary cannot support them: BG/NBD needs two customers and some
    repeat purchase, Gamma-Gamma two customers with repeat purchases of positive mean value, and a
    fitted q above 1 (else the expected spend is infinite)."""
    value = table["mean_repeat_value"].astype("float64")
    repeaters = int(((table["repeat_purchases"] > 0) & (value > 0)).sum())
    if len(table) < 2 or repeaters < 2:
        return None, (f"{len(table)} customer(s), {repeaters} with repeat purchases of positive value: BG/NBD and "
                      "Gamma-Gamma need at least 2 customers with repeat purchases")
    try:
        fits = _fit_both(table)
    except RuntimeError as error:  # the likelihood did not converge: too little data to pin the parameters
        return None, f"the maximum likelihood fit failed ({error}) on {len(table)} customers"
    if fits[1].q <= 1:
        return None, (f"the Gamma-Gamma fit on {repeaters} repeat customers gives q = {fits[1].q:.3g} <= 1, an "
                      "infinite expected spend: needs more repeat customers with varied spend")
    return fits, None

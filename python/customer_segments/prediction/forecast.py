"""The customer_purchase_forecast table: the chosen method of the backtest (forecast_backtest_evaluation)
predicting each customer's purchases and net spend over the next var forecast_horizon_days from the
as-of date, with a count band and a discounted CLV; and the churn gate that decides whether a
probability of being alive is published.

The churn gate (:func:`dropout_test`): BG/NBD's dropout is identified by the data when the fitted a and b
both lie inside the search bounds (|log a|, |log b| < LOG_PARAM_BOUND - 1: a fit that runs to a -> 0 and
b -> infinity is the no-dropout model, one that runs to a, b -> 0 puts every customer's dropout
probability at 0 or 1, and neither pins down a P(alive)) and a likelihood-ratio test rejects the no-dropout model (NBD: the
same gamma-Poisson purchase rate, nobody leaves; the limit b -> infinity of BG/NBD) at the 5% level:
2 (log L_BG/NBD - log L_NBD) > 5.99, the 95% point of chi-square with 2 degrees of freedom. Only then does
probability_alive hold BG/NBD's P(alive), for the customers with a repeat purchase (the model makes it 1,
by assumption, for the others: NULL there); otherwise it is NULL for everyone and build_notes says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln
from scipy.stats import chi2

from customer_segments.notes import Note, empty_table
from customer_segments.prediction.backtest import count_band, method_predictions
from customer_segments.prediction.clv import (
    LOG_PARAM_BOUND,
    SUMMARY_COLUMNS,
    BgNbdParams,
    _fit,
    bgnbd_log_likelihood,
    bgnbd_probability_alive,
    discounted_expected_spend,
    distinct_rows,
    fit_or_reason,
    per_distinct_row,
)

#: The likelihood ratio above which the no-dropout model is rejected (chi-square, 2 df, 5%).
DROPOUT_CRITICAL_VALUE = float(chi2.ppf(0.95, 2))

_PARAM_COLUMNS = {f"param_{name}": "float64" for name in ("r", "alpha", "a", "b", "gg_p", "gg_q", "gg_gamma")}
FORECAST_COLUMNS = {"customer_id": "int64", "method": "string", "horizon_days": "int64", "repeat_purchases": "int64",
                    "first_to_last_purchase_days": "float64", "observed_days": "float64",
                    "mean_repeat_value": "float64", "expected_purchases": "float64",
                    "expected_purchases_p10": "float64", "expected_purchases_p90": "float64",
                    "expected_value_per_purchase": "float64", "expected_spend": "float64",
                    "expected_spend_p10": "float64", "expected_spend_p90": "float64", "probability_alive": "float64",
                    "clv": "float64", **_PARAM_COLUMNS}


@dataclass(frozen=True)
class DropoutTest:
    """BG/NBD against the no-dropout NBD on one set of customers."""

    params: BgNbdParams
    log_likelihood: float
    no_dropout_log_likelihood: float

    @property
    def statistic(self) -> float:
        return max(0.0, 2 * (self.log_likelihood - self.no_dropout_log_likelihood))

    @property
    def at_bounds(self) -> bool:
        return max(abs(np.log(self.params.a)), abs(np.log(self.params.b))) >= LOG_PARAM_BOUND - 1

    @property
    def identified(self) -> bool:
        return not self.at_bounds and self.statistic > DROPOUT_CRITICAL_VALUE

    def detail(self) -> str:
        bounds = (" (at the bounds of the search: a or b runs to 0 or infinity, the dropout distribution is not "
                  "pinned down)") if self.at_bounds else ""
        return (f"BG/NBD a = {self.params.a:.4g}, b = {self.params.b:.4g}{bounds}; likelihood "
                f"ratio against no dropout {self.statistic:.3g} (needs > {DROPOUT_CRITICAL_VALUE:.3g}, chi-square 2 df, "
                f"5%)")


def nbd_log_likelihood(r: float, alpha: float, frequency, T) -> np.ndarray:
    """Per-customer log-likelihood of x purchases in (0, T] at a Gamma(r, alpha) Poisson rate, nobody
    leaving: Gamma(r + x) / Gamma(r) alpha^r / (alpha + T)^(r + x) (BG/NBD's A1 * A3)."""
    x, t = np.asarray(frequency, dtype="float64"), np.asarray(T, dtype="float64")
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + t)


def dropout_test(table: pd.DataFrame, params: BgNbdParams) -> DropoutTest:
    """The gate's figures for BG/NBD ``params`` fitted on ``table`` (repeat_purchases, first_to_last_purchase_days,
    observed_days)."""
    rows = distinct_rows(table["repeat_purchases"], table["first_to_last_purchase_days"], table["observed_days"])
    (x, tx, t), weights = rows.columns, rows.counts
    log_likelihood = float((weights * bgnbd_log_likelihood(params, x, tx, t)).sum())

    def negative(log_params: np.ndarray) -> float:
        value = -(weights * nbd_log_likelihood(*np.exp(log_params), x, t)).sum()
        return float(value) if np.isfinite(value) else np.inf

    try:
        r, alpha = _fit(negative, 2, np.array([params.r, params.alpha]))
    except RuntimeError:  # no finite no-dropout fit: nothing to reject it against
        return DropoutTest(params, log_likelihood, log_likelihood)
    return DropoutTest(params, log_likelihood, float((weights * nbd_log_likelihood(r, alpha, x, t)).sum()))


def _discount_weights(horizon_days: float, annual_discount_rate: float, period_days: float = 30.4375) -> float:
    """Days of the CLV horizon, each month discounted to today (what a constant daily rate is multiplied by)."""
    edges = np.append(np.arange(0.0, horizon_days, period_days), horizon_days)
    return float((np.diff(edges) * (1 + annual_discount_rate) ** (-(edges[1:] / 365.25))).sum())


def _forecast_origin(summary: pd.DataFrame) -> pd.DataFrame:
    """The customers of customer_purchase_summary's forecast origin (the as-of date), in customer order."""
    table = summary.loc[summary["origin_role"] == "forecast"].sort_values("customer_id", kind="stable")
    return table.reset_index(drop=True)


def forecast_or_reason(summary: pd.DataFrame, method: str | None, horizon_days: int, clv_horizon_days: int,
                       annual_discount_rate: float) -> tuple[pd.DataFrame | None, list[Note]]:
    """The forecast table (or None) of :func:`forecast_table` and its notes (:func:`forecast_notes`)."""
    table = forecast_table(summary, method, horizon_days, clv_horizon_days, annual_discount_rate)
    return table, forecast_notes(summary, method, table)


def forecast_table(summary: pd.DataFrame, method: str | None, horizon_days: int, clv_horizon_days: int,
                   annual_discount_rate: float) -> pd.DataFrame | None:
    """The forecast table, or None when it is skipped (:func:`forecast_notes` says why): ``summary`` holds
    customer_purchase_summary's forecast origin and the origin one backtest horizon before it (the
    regression's training); ``method`` is the backtest's chosen method."""
    table = _forecast_origin(summary)
    if method is None or table.empty:
        return None
    window = int(table["horizon_days"].iloc[0])
    training = summary.loc[(summary["origin_role"] == "backtest")
                           & (pd.to_datetime(summary["origin_date"]) == pd.to_datetime(table["origin_date"].iloc[0])
                              - pd.Timedelta(days=window))]
    predictions = method_predictions(table, None if training.empty else training, horizon_days, window)
    if method not in predictions:
        return None
    purchases, spend = predictions[method]
    fits, _ = fit_or_reason(table)
    out = table.loc[:, list(SUMMARY_COLUMNS)].copy()
    out.insert(1, "method", method)
    out.insert(2, "horizon_days", int(horizon_days))
    value = np.where(purchases > 0, spend / np.where(purchases > 0, purchases, 1), np.nan)
    low, high = count_band(purchases)
    out = out.assign(expected_purchases=purchases, expected_purchases_p10=low, expected_purchases_p90=high,
                     expected_value_per_purchase=value, expected_spend=spend,
                     expected_spend_p10=np.nan_to_num(low * value), expected_spend_p90=np.nan_to_num(high * value),
                     probability_alive=np.nan)
    x, tx, t = table["repeat_purchases"], table["first_to_last_purchase_days"], table["observed_days"]
    if method == "bg_nbd":
        out["clv"] = np.nan_to_num(value) * per_distinct_row(
            lambda *h: discounted_expected_spend(fits[0], 1.0, *h, clv_horizon_days, annual_discount_rate), x, tx, t)
    else:  # a constant daily rate: the horizon's spend per day times the discounted days
        out["clv"] = spend / horizon_days * _discount_weights(clv_horizon_days, annual_discount_rate)
    for name in _PARAM_COLUMNS:
        out[name] = np.nan
    if fits is not None:
        for name, v in {**vars(fits[0]), **{f"gg_{k}": v for k, v in vars(fits[1]).items()}}.items():
            out[f"param_{name}"] = v
        if dropout_test(table, fits[0]).identified:
            # BG/NBD lets a customer drop out only after a repeat purchase, so P(alive) is 1 by assumption,
            # not from the data, for a customer without one: NULL there.
            alive = per_distinct_row(lambda *h: bgnbd_probability_alive(fits[0], *h), x, tx, t)
            out["probability_alive"] = np.where(x.to_numpy() > 0, alive, np.nan)
    return out.astype({k: v for k, v in FORECAST_COLUMNS.items() if k in ("method", "horizon_days")})


def forecast_notes(summary: pd.DataFrame, method: str | None, forecast: pd.DataFrame | None) -> list[Note]:
    """The notes of customer_purchase_forecast, read off the table it wrote (``forecast``: None or empty
    when it was skipped; its first row is enough, the fit's parameters are on every row) with no refit: the
    churn gate is recomputed from the published BG/NBD parameters on the same customers."""
    table = _forecast_origin(summary)
    if method is None or table.empty:
        return [Note("customer_purchase_forecast", "skipped",
                     "no method was chosen: the backtest is skipped (see forecast_backtest_predictions); the "
                     "table is empty")]
    if forecast is None or forecast.empty:
        return [Note("customer_purchase_forecast", "skipped",
                     f"the chosen method {method} cannot be fitted on the customers at the as-of date; the "
                     "table is empty")]
    first = forecast.iloc[0]
    if pd.isna(first["param_r"]):
        _, reason = fit_or_reason(table)  # only when the fit failed, which fails fast
        return [Note("customer_purchase_forecast", "probability_alive absent",
                     f"BG/NBD cannot be fitted at the as-of date ({reason}): probability_alive is NULL")]
    gate = dropout_test(table, BgNbdParams(*(float(first[f"param_{name}"]) for name in ("r", "alpha", "a", "b"))))
    if gate.identified:
        return []
    return [Note("customer_purchase_forecast", "probability_alive absent",
                 f"the data does not identify dropout: {gate.detail()}; probability_alive is NULL "
                 "(such a fit gives a P(alive) of about 1 to everyone)")]


def build_purchase_forecast(summary: pd.DataFrame, method: str | None, horizon_days: int, clv_horizon_days: int,
                            annual_discount_rate: float) -> pd.DataFrame:
    """The customer_purchase_forecast table, or an empty one (build_notes says why)."""
    table = forecast_table(summary, method, horizon_days, clv_horizon_days, annual_discount_rate)
    return empty_table(FORECAST_COLUMNS) if table is None else table

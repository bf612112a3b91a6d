"""The forecast backtest: every method predicts each customer's purchases and net spend over the horizon
after each backtest origin of customer_purchase_summary, from what was known at the origin; the errors
say which method the build uses for the forecast after the as-of date.

Methods (:data:`METHODS`):

- ``bg_nbd``: BG/NBD for purchases and Gamma-Gamma for the value of a purchase, fitted by maximum
  likelihood on the customers at the origin (customer_segments.prediction.clv).
- ``poisson_regression``: two L2-regularised Poisson regressions (scikit-learn ``PoissonRegressor`` on
  standardised log1p features: purchases, purchases in the previous window, recency, tenure, mean value
  per purchase, spend in the previous window, the naive past rate's prediction), one for purchases and
  one for spend (clipped at 0), trained on the features of the origin one horizon earlier and the
  outcomes of its horizon, which end at this origin: nothing after the origin is used.
- ``naive_past_rate`` (baseline): repeat purchases x / observed days T times the horizon; spend is that
  times the customer's mean repeat value.
- ``previous_window`` (baseline): the purchases, and the spend (at least 0), of the window of the
  horizon's length just before the origin.

The rule that picks the method (:func:`choose_method`): the lowest mean purchases MAE over the backtest
origins, among the methods that predicted at every origin; ties go to the lower mean spend MAE, then to
the earlier method of :data:`METHODS`. The count band is the 10% and 90% quantile of a Poisson count
with the predicted mean (its coverage on the backtest is in forecast_backtest_evaluation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import poisson
from sklearn.linear_model import PoissonRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from customer_segments.notes import Note, empty_table
from customer_segments.prediction.clv import (
    bgnbd_expected_purchases,
    fit_or_reason,
    gamma_gamma_expected_value,
    per_distinct_row,
)

#: The methods, in the order that breaks ties of the rule.
METHODS = ("bg_nbd", "poisson_regression", "naive_past_rate", "previous_window")
#: Quantiles of the count band.
BAND_QUANTILES = (0.1, 0.9)
#: L2 penalty of the regressions (on standardised features).
REGRESSION_ALPHA = 1e-2

PREDICTION_COLUMNS = {"customer_id": "int64", "origin_date": "datetime64[us]", "method": "string",
                      "horizon_days": "int64", "predicted_purchases": "float64", "predicted_purchases_p10": "float64",
                      "predicted_purchases_p90": "float64", "predicted_spend": "float64", "actual_purchases": "int64",
                      "actual_spend": "float64", "is_chosen_method": "bool"}


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values("customer_id", kind="stable").reset_index(drop=True)


def origin_features(table: pd.DataFrame) -> np.ndarray:
    """The regression's features of one origin's customers (log1p of counts, days and £), shape (n, 7)."""
    purchases = table["purchases"].to_numpy(dtype="float64")
    value = np.maximum(table["net_spend"].to_numpy(dtype="float64"), 0) / np.maximum(purchases, 1)
    past_rate = table["repeat_purchases"].to_numpy(dtype="float64") / table["observed_days"].to_numpy(dtype="float64")
    columns = [purchases, table["previous_window_purchases"], table["recency_days"], table["observed_days"], value,
               np.maximum(table["previous_window_spend"].to_numpy(dtype="float64"), 0),
               past_rate * table["horizon_days"].to_numpy(dtype="float64")]
    return np.log1p(np.column_stack([np.asarray(c, dtype="float64") for c in columns]))


def _regression(features: np.ndarray, target: np.ndarray):
    model = make_pipeline(StandardScaler(), PoissonRegressor(alpha=REGRESSION_ALPHA, max_iter=1000))
    return model.fit(features, np.maximum(target, 0))


def regression_predictions(training: pd.DataFrame, table: pd.DataFrame, scale: float = 1.0
                           ) -> tuple[np.ndarray, np.ndarray] | None:
    """Purchases and spend of ``table``'s customers from regressions fitted on ``training`` (an earlier
    origin, with actuals), times ``scale`` (the ratio of the horizons); None when the training origin
    has fewer than 2 customers or no purchase in its horizon to learn from."""
    training = _sorted(training)
    counts = training["actual_purchases"].to_numpy(dtype="float64")
    spend = training["actual_spend"].to_numpy(dtype="float64")
    if len(training) < 2 or counts.sum() <= 0 or np.maximum(spend, 0).sum() <= 0:
        return None
    x_train, x = origin_features(training), origin_features(table)
    return (_regression(x_train, counts).predict(x) * scale, _regression(x_train, spend).predict(x) * scale)


def bgnbd_predictions(table: pd.DataFrame, horizon_days: float) -> tuple[np.ndarray, np.ndarray] | None:
    """BG/NBD purchases and Gamma-Gamma spend over the horizon, or None when the fits cannot be made."""
    fits, _ = fit_or_reason(table)
    if fits is None:
        return None
    bgnbd, gamma_gamma = fits
    x, tx, t = table["repeat_purchases"], table["first_to_last_purchase_days"], table["observed_days"]
    value = gamma_gamma_expected_value(gamma_gamma, x, table["mean_repeat_value"].astype("float64").fillna(0))
    purchases = per_distinct_row(lambda *h: bgnbd_expected_purchases(bgnbd, horizon_days, *h), x, tx, t)
    if not (np.isfinite(purchases).all() and np.isfinite(value).all()):
        return None
    return purchases, purchases * value


def baseline_predictions(table: pd.DataFrame, horizon_days: float, scale: float = 1.0
                         ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The two baselines' purchases and spend over the horizon (``scale``: previous window to horizon)."""
    rate = table["repeat_purchases"].to_numpy(dtype="float64") / table["observed_days"].to_numpy(dtype="float64")
    naive = rate * horizon_days
    value = table["mean_repeat_value"].astype("float64").fillna(0).to_numpy()
    previous = table["previous_window_purchases"].to_numpy(dtype="float64") * scale
    previous_spend = np.maximum(table["previous_window_spend"].to_numpy(dtype="float64"), 0) * scale
    return {"naive_past_rate": (naive, naive * value), "previous_window": (previous, previous_spend)}


def method_predictions(table: pd.DataFrame, training: pd.DataFrame | None, horizon_days: float,
                       training_horizon_days: float | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every method that can predict ``table`` (one origin's customers, sorted by customer id) over
    ``horizon_days``: method -> (purchases, spend). ``training``: the earlier origin the regression
    learns from; its horizon and the previous window are ``training_horizon_days`` long (default the
    same), and the rate-like predictions are scaled to ``horizon_days``."""
    window = float(training_horizon_days or horizon_days)
    scale = horizon_days / window
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    bgnbd = bgnbd_predictions(table, horizon_days)
    if bgnbd is not None:
        out["bg_nbd"] = bgnbd
    regression = None if training is None else regression_predictions(training, table, scale)
    if regression is not None:
        out["poisson_regression"] = regression
    out.update(baseline_predictions(table, horizon_days, scale))
    return {m: out[m] for m in METHODS if m in out}


def count_band(purchases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 10% and 90% quantiles of a Poisson count of mean ``purchases`` (0 for a mean of 0)."""
    mean = np.maximum(np.asarray(purchases, dtype="float64"), 0)
    low, high = (np.where(mean > 0, poisson.ppf(q, np.where(mean > 0, mean, 1.0)), 0.0) for q in BAND_QUANTILES)
    return low, high


def backtest_origins(summary: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.DataFrame, pd.DataFrame | None]]:
    """(origin date, its customers, the customers of the origin one horizon earlier that trains the
    regression, or None when no one had bought by then) for every backtest origin, latest first."""
    by_date = {pd.Timestamp(d): _sorted(g) for d, g in summary.groupby("origin_date", sort=True)}
    out = []
    for origin, table in sorted(by_date.items(), reverse=True):
        if table["origin_role"].iloc[0] == "backtest":
            out.append((origin, table, by_date.get(origin - pd.Timedelta(days=int(table["horizon_days"].iloc[0])))))
    return out


def backtest_predictions(summary: pd.DataFrame) -> pd.DataFrame:
    """The forecast_backtest_predictions table: one row per customer, backtest origin and method that
    could predict there, with the chosen method flagged; empty without a backtest origin."""
    frames = []
    for origin, table, training in backtest_origins(summary):
        horizon = int(table["horizon_days"].iloc[0])
        for method, (purchases, spend) in method_predictions(table, training, horizon).items():
            low, high = count_band(purchases)
            frames.append(pd.DataFrame({
                "customer_id": table["customer_id"].to_numpy(dtype="int64"), "origin_date": origin, "method": method,
                "horizon_days": horizon, "predicted_purchases": purchases, "predicted_purchases_p10": low,
                "predicted_purchases_p90": high, "predicted_spend": spend,
                "actual_purchases": table["actual_purchases"].to_numpy(dtype="int64"),
                "actual_spend": table["actual_spend"].to_numpy(dtype="float64")}))
    if not frames:
        return empty_table(PREDICTION_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["is_chosen_method"] = out["method"] == choose_method(evaluation_metrics(out))
    out["origin_date"] = pd.to_datetime(out["origin_date"]).astype("datetime64[us]")
    return out.astype({k: v for k, v in PREDICTION_COLUMNS.items() if k != "origin_date"})


def evaluation_metrics(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per method and origin: purchases_mae and spend_mae (what the rule reads), in customer order."""
    rows = []
    for (method, origin), g in predictions.groupby(["method", "origin_date"], sort=True):
        g = g.sort_values("customer_id", kind="stable")
        rows.append({"method": method, "origin_date": origin,
                     "purchases_mae": float(np.mean(np.abs(g["predicted_purchases"] - g["actual_purchases"]))),
                     "spend_mae": float(np.mean(np.abs(g["predicted_spend"] - g["actual_spend"])))})
    return pd.DataFrame(rows)


def choose_method(evaluation: pd.DataFrame) -> str | None:
    """The rule: among methods evaluated at every origin, the lowest mean purchases_mae over the origins,
    then the lowest mean spend_mae, then the order of :data:`METHODS`; None without an evaluation."""
    if evaluation.empty:
        return None
    origins = evaluation["origin_date"].nunique()
    means = evaluation.groupby("method").agg(origins=("origin_date", "nunique"), purchases=("purchases_mae", "mean"),
                                             spend=("spend_mae", "mean"))
    means = means.loc[means["origins"] == origins].reset_index()
    means["order"] = means["method"].map(METHODS.index)
    return str(means.sort_values(["purchases", "spend", "order"]).iloc[0]["method"])


def backtest_note(summary: pd.DataFrame, predictions: pd.DataFrame) -> Note | None:
    """The note of forecast_backtest_predictions when it is skipped, or a method missed an origin, read off
    the table it wrote (``predictions``: its method and origin_date columns; one row per pair is enough)."""
    origins = [origin for origin, _, _ in backtest_origins(summary)]
    if not origins:
        return Note("forecast_backtest_predictions", "skipped",
                    "no backtest origin: the data's window is shorter than var forecast_backtest_origins + 2 days, "
                    "or no customer had bought before the latest origin (model customer_purchase_summary); the "
                    "table is empty, and so are forecast_backtest_evaluation and customer_purchase_forecast")
    present = set(zip(predictions["method"], pd.to_datetime(predictions["origin_date"])))
    missing = [f"{m} at {origin.date()}" for origin in origins for m in METHODS if (m, origin) not in present]
    if not missing:
        return None
    return Note("forecast_backtest_predictions", "methods missing",
                f"{', '.join(missing)}: too few customers with repeat purchases to fit BG/NBD and Gamma-Gamma, or no "
                "purchase in the training origin's horizon for the regression; a method missing at an origin "
                "cannot be chosen")

"""The forecast backtest's methods, its choice rule and the churn gate, on hand-made and simulated customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customer_segments.prediction.backtest import (
    METHODS,
    backtest_predictions,
    choose_method,
    count_band,
    evaluation_metrics,
)
from customer_segments.prediction.clv import BgNbdParams, fit_bgnbd
from customer_segments.prediction.forecast import DROPOUT_CRITICAL_VALUE, dropout_test, forecast_or_reason
from test_clv import TRUE, simulate_bgnbd


def simulated_summary(params: BgNbdParams, n: int, seed: int) -> pd.DataFrame:
    """Customers of one origin as customer_purchase_summary holds them (days, whole numbers)."""
    T = np.round(np.random.default_rng(seed).uniform(30, 300, n))
    x, tx, _ = simulate_bgnbd(params, T, horizon=0.0, seed=seed + 1)
    tx = np.where(x > 0, np.minimum(np.ceil(tx), T - 1), 0.0)
    return pd.DataFrame({"customer_id": np.arange(n), "repeat_purchases": x.astype(int),
                         "first_to_last_purchase_days": tx, "observed_days": T})


def test_the_gate_publishes_p_alive_only_when_the_data_identifies_dropout():
    with_dropout = simulated_summary(TRUE, 3000, seed=11)
    gate = dropout_test(with_dropout, fit_bgnbd(*(with_dropout[c] for c in with_dropout.columns[1:])))
    assert gate.identified and gate.statistic > DROPOUT_CRITICAL_VALUE
    # Nobody leaves (p ~ Beta(0.001, 1000), a mean dropout of 1e-6): the fit runs to its bounds or the
    # likelihood ratio is small, and either way the gate says no.
    no_dropout = simulated_summary(BgNbdParams(r=0.8, alpha=20.0, a=0.001, b=1000.0), 3000, seed=12)
    gate = dropout_test(no_dropout, fit_bgnbd(*(no_dropout[c] for c in no_dropout.columns[1:])))
    assert not gate.identified
    assert "likelihood ratio" in gate.detail()


def evaluation(rows):
    return pd.DataFrame(rows, columns=["method", "origin_date", "purchases_mae", "spend_mae"])


def test_the_rule_takes_the_lowest_mean_mae_of_the_methods_at_every_origin():
    rows = [("bg_nbd", 1, 1.0, 10.0), ("bg_nbd", 2, 1.0, 10.0), ("previous_window", 1, 0.9, 20.0),
            ("previous_window", 2, 1.0, 20.0), ("poisson_regression", 2, 0.1, 1.0)]
    # The regression is best where it ran, but missed origin 1: it cannot be chosen.
    assert choose_method(evaluation(rows)) == "previous_window"
    # A tie on purchases goes to the lower spend MAE, then to the order of METHODS.
    tie = [("naive_past_rate", 1, 1.0, 5.0), ("bg_nbd", 1, 1.0, 9.0)]
    assert choose_method(evaluation(tie)) == "naive_past_rate"
    assert choose_method(evaluation([("previous_window", 1, 1.0, 5.0), ("bg_nbd", 1, 1.0, 5.0)])) == "bg_nbd"
    assert choose_method(evaluation([])) is None


def test_the_band_is_the_poisson_quantiles_and_zero_for_no_purchase():
    low, high = count_band(np.array([0.0, 1.0, 10.0]))
    np.testing.assert_array_equal(low, [0, 0, 6])
    np.testing.assert_array_equal(high, [0, 2, 14])


def origin(customers: pd.DataFrame, date: str, role: str, horizon: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = customers.copy()
    out["origin_date"], out["origin_role"], out["horizon_days"] = pd.Timestamp(date), role, horizon
    out["purchases"] = out["repeat_purchases"] + 1
    out["recency_days"] = out["observed_days"] - out["first_to_last_purchase_days"]
    out["net_spend"] = out["purchases"] * 20.0
    out["mean_repeat_value"] = np.where(out["repeat_purchases"] > 0, rng.gamma(4.0, 5.0, len(out)), np.nan)
    out["previous_window_purchases"] = rng.poisson(out["repeat_purchases"] / out["observed_days"] * horizon)
    out["previous_window_spend"] = out["previous_window_purchases"] * 20.0
    out["actual_purchases"] = rng.poisson(out["repeat_purchases"] / out["observed_days"] * horizon)
    out["actual_spend"] = out["actual_purchases"] * 20.0
    return out


def test_every_method_predicts_and_the_regression_sees_only_the_earlier_origin():
    customers = simulated_summary(TRUE, 600, seed=21)
    summary = pd.concat([origin(customers, "2011-01-01", "training", 60, 1),
                         origin(customers, "2011-03-02", "backtest", 60, 2)], ignore_index=True)
    predictions = backtest_predictions(summary)
    assert set(predictions["method"]) == set(METHODS)
    assert (predictions.groupby("method").size() == 600).all()
    chosen = choose_method(evaluation_metrics(predictions))
    assert set(predictions.loc[predictions["is_chosen_method"], "method"]) == {chosen}
    # The backtest origin's own outcomes are not an input of any method's prediction there.
    changed = summary.copy()
    later = changed["origin_role"] == "backtest"
    changed.loc[later, "actual_purchases"] = changed.loc[later, "actual_purchases"] * 3 + 1
    again = backtest_predictions(changed)
    np.testing.assert_array_equal(again["predicted_purchases"], predictions["predicted_purchases"])
    # The forecast origin scales the rate methods from the backtest horizon to the forecast horizon.
    forecast = pd.concat([origin(customers, "2011-05-01", "forecast", 60, 3), summary.loc[later]], ignore_index=True)
    forecast["origin_date"] = np.where(forecast["origin_role"] == "forecast", pd.Timestamp("2011-05-01"),
                                       pd.Timestamp("2011-03-02"))
    table, _ = forecast_or_reason(forecast, "previous_window", 120, 365, 0.1)
    expected = forecast.loc[forecast["origin_role"] == "forecast"].sort_values("customer_id")
    np.testing.assert_allclose(table["expected_purchases"], expected["previous_window_purchases"] * 2)
    assert (table["expected_purchases_p10"] <= table["expected_purchases_p90"]).all()
    assert table["method"].eq("previous_window").all()


def test_no_backtest_origin_gives_empty_tables_and_a_note():
    from customer_segments.prediction.backtest import backtest_note
    empty = origin(simulated_summary(TRUE, 5, seed=3), "2011-01-01", "forecast", 1, 4).iloc[:0]
    assert backtest_predictions(empty).empty
    assert backtest_note(empty, backtest_predictions(empty)).note == "skipped"
    table, notes = forecast_or_reason(empty, None, 365, 365, 0.1)
    assert table is None and notes[0].note == "skipped"


def test_the_backtest_note_names_each_method_missing_at_an_origin_of_the_table():
    from customer_segments.prediction.backtest import backtest_note
    customers = simulated_summary(TRUE, 300, seed=5)
    summary = pd.concat([origin(customers, "2011-05-01", "backtest", 60, 5),
                         origin(customers, "2011-03-02", "backtest", 60, 6)], ignore_index=True)
    predictions = backtest_predictions(summary)
    # The earliest origin has no origin before it to train the regression on.
    assert backtest_note(summary, predictions).detail.startswith("poisson_regression at 2011-03-02: ")
    dropped = predictions.loc[~((predictions["method"] == "bg_nbd") & (predictions["origin_date"] == "2011-05-01"))]
    note = backtest_note(summary, dropped)
    assert note.note == "methods missing"
    assert note.detail.startswith("bg_nbd at 2011-05-01, poisson_regression at 2011-03-02: ")


@pytest.mark.parametrize("method", ["bg_nbd", "naive_past_rate"])
def test_clv_is_the_discounted_spend_and_below_the_undiscounted(method):
    customers = simulated_summary(TRUE, 800, seed=31)
    summary = pd.concat([origin(customers, "2011-05-01", "forecast", 60, 5),
                         origin(customers, "2011-03-02", "backtest", 60, 6)], ignore_index=True)
    table, _ = forecast_or_reason(summary, method, 365, 365, 0.1)
    assert (table["clv"] <= table["expected_spend"] + 1e-9).all()
    assert table["clv"].sum() > 0.9 * table["expected_spend"].sum()

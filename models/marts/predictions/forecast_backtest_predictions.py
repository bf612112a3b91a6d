"""One row per customer, backtest origin and forecasting method: purchases and net spend predicted over
the horizon after the origin from what was known at it, next to what happened, and whether the method
is the one the backtest chose (customer_segments.prediction.backtest)."""

from customer_segments.prediction.backtest import backtest_predictions


def model(dbt, session):
    dbt.config(materialized="table")
    # Customer-level rows only: the features at each origin are computed in SQL.
    summary = dbt.ref("customer_purchase_summary").filter("origin_role in ('backtest', 'training')").df()
    return backtest_predictions(summary)

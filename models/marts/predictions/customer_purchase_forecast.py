"""One row per customer: the backtest's chosen method predicting purchases and net spend over the next
var forecast_horizon_days, with a count band, a discounted CLV and, only when the data identifies
dropout, BG/NBD's probability alive (customer_segments.prediction.forecast)."""

from customer_segments.prediction.forecast import build_purchase_forecast
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    summary = dbt.ref("customer_purchase_summary").filter("origin_role in ('forecast', 'backtest')").df()
    chosen = dbt.ref("forecast_backtest_evaluation").filter("is_chosen_method").project("method").distinct().fetchall()
    return build_purchase_forecast(
        summary,
        method=chosen[0][0] if chosen else None,
        horizon_days=settings["forecast_horizon_days"],
        clv_horizon_days=settings["clv_horizon_days"],
        annual_discount_rate=settings["clv_annual_discount_rate"],
    )

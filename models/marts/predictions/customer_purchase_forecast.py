"""One row per customer: BG/NBD + Gamma-Gamma forecast of purchases and net spend over the next
var forecast_horizon_days, probability alive and discounted CLV (customer_segments.prediction.clv)."""

from customer_segments.prediction.clv import build_purchase_forecast
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    summary = dbt.ref("customer_purchase_summary").df()
    return build_purchase_forecast(
        summary.loc[summary["period"] == "full"],
        horizon_days=settings["forecast_horizon_days"],
        clv_horizon_days=settings["clv_horizon_days"],
        annual_discount_rate=settings["clv_annual_discount_rate"],
    )

"""One row per customer: BG/NBD + Gamma-Gamma forecast of purchases and net spend over the next
var forecast_horizon_days, probability alive and discounted CLV (customer_segments.clv)."""

from customer_segments.clv import build_purchase_forecast


def model(dbt, session):
    dbt.config(materialized="table")
    summary = dbt.ref("customer_purchase_summary").df()
    return build_purchase_forecast(
        summary.loc[summary["period"] == "full"],
        horizon_days=float(dbt.config.get("forecast_horizon_days")),
        clv_horizon_days=float(dbt.config.get("clv_horizon_days")),
        annual_discount_rate=float(dbt.config.get("clv_annual_discount_rate")),
    )

"""One row per customer who bought before build_dates.forecast_calibration_end_date: purchases predicted for
the rest of the data by BG/NBD fitted on the calibration period, the naive past-rate baseline, and
what actually happened (customer_segments.prediction.clv.build_holdout_forecast)."""

from customer_segments.prediction.clv import build_holdout_forecast


def model(dbt, session):
    dbt.config(materialized="table")
    summary = dbt.ref("customer_purchase_summary").df()
    return build_holdout_forecast(summary.loc[summary["period"] == "calibration"])

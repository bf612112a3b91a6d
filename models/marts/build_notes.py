"""One row per thing a model skipped or reduced because the data could not support it, with why and what
it needs; empty on a normal build. Each note comes from the function of the package that made the model
skip or reduce (customer_segments.notes); the forecast's are read off what its models wrote. Only
customer- and product-level rows cross into Python."""

from customer_segments.delivery.build_notes import build_notes
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    [(cutoff,)] = dbt.ref("build_dates").project("classifier_cutoff_date").fetchall()
    forecast_methods = dbt.ref("forecast_backtest_predictions").project("method, origin_date, is_chosen_method")
    return build_notes(
        k_selection=dbt.ref("segment_k_selection").df(),
        segments=dbt.ref("customer_segments").df(),
        products=dbt.ref("int_products_described").df(),
        first_purchase_features=dbt.ref("first_purchase_features").df(),
        purchase_summary=dbt.ref("customer_purchase_summary").df(),
        classifier_cutoff=cutoff.isoformat(),
        settings=parse_settings(dbt.config.get("settings")),
        new_customer_outcomes=dbt.ref("new_customer_outcomes").df(),
        backtest_methods=forecast_methods.distinct().df(),
        purchase_forecast=dbt.ref("customer_purchase_forecast").order("customer_id").limit(1).df(),
    )

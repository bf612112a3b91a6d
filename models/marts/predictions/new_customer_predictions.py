"""One row per customer and method: purchases, spend and the probability of a repeat purchase in the
horizon after the first invoice, predicted from that invoice alone, beside the actuals
(customer_segments.prediction.new_customer.predict_new_customers)."""

from customer_segments.prediction.new_customer import predict_new_customers
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # Only customer-level rows cross into Python.
    return predict_new_customers(
        dbt.ref("first_purchase_features").df(),
        dbt.ref("new_customer_outcomes").df(),
        dbt.ref("new_customer_model").df(),
        random_state=settings["random_state"],
        sample_size=settings["classifier_sample_size"],
    )

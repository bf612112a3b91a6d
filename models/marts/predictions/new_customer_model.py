"""One row per new-customer method: its purchases, spend and repeat models fitted on every customer whose
horizon after the first invoice lies inside the data, pickled for `python -m
customer_segments.prediction.scoring` (no row when skipped: build_notes says why)."""

from customer_segments.prediction.new_customer import new_customer_model_table
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # Only customer-level rows cross into Python.
    return new_customer_model_table(
        dbt.ref("first_purchase_features").df(),
        dbt.ref("new_customer_outcomes").df(),
        random_state=settings["random_state"],
        sample_size=settings["classifier_sample_size"],
    )

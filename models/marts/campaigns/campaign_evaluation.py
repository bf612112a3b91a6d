"""One row per scope (each segment, and all customers) and outcome: the campaign's lift, treatment
against control, with a 95 % interval and a p-value (customer_segments.campaigns.evaluation)."""

from customer_segments.campaigns.evaluation import campaign_evaluation


def model(dbt, session):
    dbt.config(materialized="table")
    # Only customer-level rows cross into Python.
    return campaign_evaluation(dbt.ref("campaign_outcomes").df())

"""One row per customer, classifier and evaluation: the segment predicted from the first purchase alone
(customer_segments.prediction.first_purchase.predict_segments)."""

from customer_segments.prediction.first_purchase import predict_segments
from customer_segments.prediction.horizon_segments import horizon_segments
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # Only customer-level rows cross into Python.
    features = dbt.ref("first_purchase_features").df()
    # The label: the segment of the customer's first horizon, not of the whole data (prediction.horizon_segments).
    segments = horizon_segments(dbt.ref("new_customer_outcomes").df(), dbt.ref("customer_segments").df())
    # The cutoff's one home: its var when set, else derived from the data's window.
    [(cutoff,)] = dbt.ref("build_dates").project("classifier_cutoff_date").fetchall()
    return predict_segments(
        features,
        segments,
        cutoff=cutoff.isoformat(),
        random_state=settings["random_state"],
        sample_size=settings["classifier_sample_size"],
    )

"""One row per customer, classifier and evaluation: the segment predicted from the first purchase alone
(customer_segments.first_purchase.predict_segments)."""

from customer_segments.first_purchase import predict_segments
from customer_segments.settings import int_setting


def model(dbt, session):
    dbt.config(materialized="table")
    # Only customer-level rows cross into Python.
    features = dbt.ref("first_purchase_features").df()
    segments = dbt.ref("customer_segments").project("customer_id, segment_id").df()
    return predict_segments(
        features,
        segments,
        cutoff=str(dbt.config.get("classifier_cutoff_date")),
        random_state=int(dbt.config.get("random_state")),
        sample_size=int_setting("classifier_sample_size", dbt.config.get("classifier_sample_size"), 10),
    )

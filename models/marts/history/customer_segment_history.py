"""One row per customer and month-end: int_customer_months' RFM features, scores and RFM segment, and the
K-means segment this build's model gives them (customer_segments' transform and centroids) and the
customer's state (segment, inactive or no net spend; customer_segments.segmentation.history)."""

from customer_segments.segmentation.history import customer_segment_history
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # Only customer-level rows cross into Python: the months' key and three features, and the build's
    # customers and segments.
    return customer_segment_history(
        session,
        dbt.ref("int_customer_months"),
        dbt.ref("customer_rfm").df(),
        dbt.ref("customer_segments").df(),
        settings=settings,
    )

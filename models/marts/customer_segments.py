"""One row per customer with monetary > 0: their K-means segment, with k from segment_k_selection
(capped to what the data can hold), ids kept from the previous build only when this build continues its
customers' history and centroids barely moved, names from the median member
(customer_segments.segmentation.segments)."""

from customer_segments.segmentation.segments import customer_segments_table, previous_segments
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # Only customer-level rows cross into Python.
    return customer_segments_table(
        dbt.ref("customer_rfm").df(),
        dbt.ref("segment_k_selection").df(),
        dbt.ref("segment_playbook").df(),
        dbt.ref("segment_name_overrides").df(),
        previous=previous_segments(session, dbt.this.schema, dbt.this.identifier),
        settings=settings,
    )

"""One row per candidate k: K-means metrics on the production features, and the chosen k with its
reason (customer_segments.segmentation.selection)."""

from customer_segments.segmentation.selection import build_k_selection
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # Only customer-level rows cross into Python.
    return build_k_selection(dbt.ref("customer_rfm").df(), **settings)

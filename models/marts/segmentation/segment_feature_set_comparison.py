"""One row per feature set x transform: K-means with the chosen k, metrics, outlier check and
bootstrap stability, ranked (customer_segments.segmentation.comparison)."""

from customer_segments.segmentation.comparison import comparison_table
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    # Only customer-level rows cross into Python. Settings: one config mapping shared by both comparisons.
    return comparison_table(
        "segment_feature_set_comparison",
        customers=dbt.ref("customer_rfm").df(),
        k_selection=dbt.ref("segment_k_selection").df(),
        settings=parse_settings(dbt.config.get("settings")),
    )

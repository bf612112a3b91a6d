"""One row per clustering algorithm on the production features and the chosen k: metrics, sizes,
noise, bootstrap stability (customer_segments.comparison)."""

from customer_segments.settings import comparison_table


def model(dbt, session):
    dbt.config(materialized="table")
    # Only customer-level rows cross into Python. Settings: one config mapping (see _segmentation.yml).
    return comparison_table(
        "segment_algorithm_comparison",
        customers=dbt.ref("customer_rfm").df(),
        k_selection=dbt.ref("segment_k_selection").df(),
        config=dbt.config.get("comparison_settings"),
    )

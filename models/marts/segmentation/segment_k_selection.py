"""One row per candidate k: K-means metrics on the production features, and the chosen k with its
reason (customer_segments.selection)."""

from customer_segments.selection import build_k_selection
from customer_segments.settings import int_setting


def model(dbt, session):
    dbt.config(materialized="table")
    # Only customer-level rows cross into Python.
    customers = dbt.ref("customer_rfm").df()
    # dbt finds config keys by reading literal dbt.config.get("...") calls, hence one per key.
    return build_k_selection(
        customers,
        k_min=int_setting("k_min", dbt.config.get("k_min"), 2),
        k_max=int_setting("k_max", dbt.config.get("k_max"), 2),
        n_segments=dbt.config.get("n_segments"),
        random_state=int_setting("random_state", dbt.config.get("random_state"), 0),
        silhouette_sample_size=int_setting("silhouette_sample_size", dbt.config.get("silhouette_sample_size"), 2),
        stability_resamples=int_setting("stability_resamples", dbt.config.get("stability_resamples"), 2),
        stability_sample_size=int_setting("stability_sample_size", dbt.config.get("stability_sample_size"), 10),
        selection_sample_size=int_setting("selection_sample_size", dbt.config.get("selection_sample_size"), 10),
    )

"""One row per customer with monetary > 0: their K-means segment (customer_segments.segments)."""

from customer_segments.segments import build_customer_segments


def model(dbt, session):
    dbt.config(materialized="table")
    # Only customer-level rows cross into Python.
    customers = dbt.ref("customer_rfm").df()
    playbook = dbt.ref("segment_playbook").df()
    return build_customer_segments(
        customers,
        playbook,
        n_segments=int(dbt.config.get("n_segments")),
        random_state=int(dbt.config.get("random_state")),
    )

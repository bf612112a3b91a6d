"""One row per customer with monetary > 0: their K-means segment (customer_segments.segments)."""

from customer_segments.ingest import without_traceback
from customer_segments.segments import build_customer_segments
from customer_segments.validation import checked_integer, segments_to_fit


def model(dbt, session):
    dbt.config(materialized="table")
    # Only customer-level rows cross into Python.
    customers = dbt.ref("customer_rfm").df()
    playbook = dbt.ref("segment_playbook").df()
    # Degenerate data (too few customers for n_segments, none at all) is handled here, with a clear message.
    n_segments = without_traceback(segments_to_fit, customers, dbt.config.get("n_segments"))
    random_state = without_traceback(checked_integer, dbt.config.get("random_state"), "random_state", 0, 2**32 - 1)
    return build_customer_segments(customers, playbook, n_segments=n_segments, random_state=random_state)

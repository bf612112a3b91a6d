"""One row per customer with monetary > 0: their K-means segment (customer_segments.segmentation.segments), with k
from segment_k_selection (capped to what the data can hold) and ids kept from the previous build where
centroids barely moved."""

from customer_segments.segmentation.segments import build_customer_segments
from customer_segments.segmentation.selection import chosen_k
from customer_segments.segmentation.validation import segments_to_fit
from customer_segments.settings import parse_settings


def previous_build(dbt, session):
    """This table as the previous build left it, or None on a first build."""
    # fetchall, not fetchone: DuckDB refuses further work on a connection with a result left open.
    exists = session.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [dbt.this.schema, dbt.this.identifier],
    ).fetchall()[0][0]
    if not exists:
        return None
    return session.sql(f"select customer_id, segment_id, recency_days, frequency, monetary from {dbt.this}").df()


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # Only customer-level rows cross into Python.
    customers = dbt.ref("customer_rfm").df()
    return build_customer_segments(
        customers,
        dbt.ref("segment_playbook").df(),
        n_segments=segments_to_fit(customers, chosen_k(dbt.ref("segment_k_selection").df())),
        random_state=settings["random_state"],
        previous=None if settings["reset_segment_ids"] else previous_build(dbt, session),
        overrides=dbt.ref("segment_name_overrides").df(),
        max_shift=settings["max_centroid_shift"],
    )

"""One row per customer with monetary > 0: their K-means segment (customer_segments.segments), with k
from segment_k_selection and ids kept from the previous build where centroids barely moved."""

from customer_segments.ingest import without_traceback
from customer_segments.segments import build_customer_segments
from customer_segments.settings import chosen_k, float_setting, int_setting
from customer_segments.validation import segments_to_fit


def previous_build(dbt, session):
    """This table as the previous build left it, or None on a first build or when var reset_segment_ids is true."""
    if str(dbt.config.get("reset_segment_ids")).strip().lower() == "true":
        return None
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
    # Only customer-level rows cross into Python.
    customers = dbt.ref("customer_rfm").df()
    playbook = dbt.ref("segment_playbook").df()
    overrides = dbt.ref("segment_name_overrides").df()
    n_segments = chosen_k(dbt.ref("segment_k_selection").df())
    return build_customer_segments(
        customers,
        playbook,
        n_segments=n_segments,
        random_state=int_setting("random_state", dbt.config.get("random_state"), 0),
        previous=previous_build(dbt, session),
        overrides=overrides,
        max_shift=float_setting("max_centroid_shift", dbt.config.get("max_centroid_shift"), 0.0),
    )

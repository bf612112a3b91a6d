"""One row per line of the input file, in canonical typed columns (see customer_segments.ingest)."""

from customer_segments.ingest import load_transactions


def model(dbt, session):
    dbt.config(materialized="table")
    return load_transactions(session, dbt.config.get("transactions_path"))

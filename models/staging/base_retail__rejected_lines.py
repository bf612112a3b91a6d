"""One row per line of a CSV input that is not valid CSV, with its text and why (see customer_segments.ingest.read)."""

from customer_segments.ingest.read import rejected_transactions, without_traceback
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    # Read after build_settings, the root of the DAG: a refused var stops the build before the input is read.
    dbt.ref("build_settings")
    settings = parse_settings(dbt.config.get("settings"))
    return without_traceback(rejected_transactions, session, settings)

"""One row per line of a CSV input that is not valid CSV, with its text and why (see customer_segments.ingest)."""

from customer_segments.ingest import rejected_transactions, without_traceback


def model(dbt, session):
    dbt.config(materialized="table")
    # dbt passes a Python model only the config keys it reads with literal dbt.config.get calls.
    return without_traceback(
        rejected_transactions,
        session,
        path=dbt.config.get("transactions_path"),
        column_map=dbt.config.get("column_map"),
        date_formats=dbt.config.get("date_formats"),
        csv_encoding=dbt.config.get("csv_encoding"),
        csv_delimiter=dbt.config.get("csv_delimiter"),
        decimal_separator=dbt.config.get("decimal_separator"),
    )

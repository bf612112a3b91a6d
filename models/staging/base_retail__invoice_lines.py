"""One row per readable line of the input file, in canonical typed columns (see customer_segments.ingest)."""

from customer_segments.ingest import load_transactions, without_traceback


def model(dbt, session):
    dbt.config(materialized="table")
    # dbt passes a Python model only the config keys it reads with literal dbt.config.get calls.
    return without_traceback(
        load_transactions,
        session,
        path=dbt.config.get("transactions_path"),
        column_map=dbt.config.get("column_map"),
        date_formats=dbt.config.get("date_formats"),
        csv_encoding=dbt.config.get("csv_encoding"),
        csv_delimiter=dbt.config.get("csv_delimiter"),
        decimal_separator=dbt.config.get("decimal_separator"),
        # The CSV's malformed rows, already found by that model: the file is not scanned for them again.
        rejected=dbt.ref("base_retail__rejected_lines"),
    )

"""One row per readable line of the input file, in canonical typed columns (see customer_segments.ingest.read)."""

from customer_segments.ingest.read import load_transactions, without_traceback
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    # Read after build_settings, the root of the DAG: a refused var stops the build before the input is read.
    dbt.ref("build_settings")
    settings = parse_settings(dbt.config.get("settings"))
    return without_traceback(
        load_transactions,
        session,
        settings,
        # The CSV's malformed rows, already found by that model: the file is not scanned for them again.
        rejected=dbt.ref("base_retail__rejected_lines"),
    )

"""One row: the input file as the loader found it (path, bytes, the column mapping used) and the package
version that read it (customer_segments.ingest.read.input_facts)."""

import pandas as pd

from customer_segments.ingest.read import input_facts, without_traceback
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # After the loader: a file it refuses has failed there, with its message, before this model runs.
    dbt.ref("base_retail__invoice_lines")
    facts = without_traceback(input_facts, session, settings, rejected=dbt.ref("base_retail__rejected_lines"))
    return pd.DataFrame([facts])

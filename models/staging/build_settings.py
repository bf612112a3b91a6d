"""One row per dbt var: the value in use, parsed and checked by customer_segments.settings."""

import pandas as pd

from customer_segments.settings import parse_settings, settings_rows


def model(dbt, session):
    dbt.config(materialized="table")
    return pd.DataFrame(settings_rows(parse_settings(dbt.config.get("settings"))))

"""The inspector end to end: its dbt run of the staging models says what becomes of each line, and the
vars it prints make a real `dbt build` of the base and staging models on the file pass."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import DBT, run_dbt
from customer_segments.ingest.inspect import main

pytestmark = pytest.mark.dbt

ROWS = [
    "InvoiceNo;StockCode;Description;Quantity;InvoiceDate;UnitPrice;CustomerID;Country",
    "536365;85123A;WHITE HANGING HEART;6;13/01/2011 08:26;2,55;17850;Germany",
    "536365;85123A;WHITE HANGING HEART;6;13/01/2011 08:26;2,55;17850;Germany",
    "536366;71053;WHITE METAL LANTERN;6;02/02/2011 09:00;1.234,50;17850;Germany",
    "C536367;71053;WHITE METAL LANTERN;-1;03/02/2011 09:00;1.234,50;17850;Germany",
    "536368;POST;POSTAGE;1;03/02/2011 09:00;18,00;13047;Germany",
    "536369;22633;HAND WARMER;2;04/02/2011 09:00;1,85;;Germany",
    "536370;22633;HAND WARMER;2;05/02/2011 09:00;1,85;13047;Germany",
]
SELECTION = ["--select", "build_settings", "base_retail__invoice_lines", "base_retail__rejected_lines",
             "stg_retail__invoice_lines", "non_merchandise_codes", "--indirect-selection", "cautious"]


def test_the_printed_vars_build_the_staging_models(tmp_path, capsys):
    assert shutil.which(str(DBT))
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(ROWS) + "\n")
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    # What the build's own staging makes of each line, counted from line_accounting.
    for line in ("staging: 3 purchase", "staging: 1 cancellation", "staging: 1 duplicate_copy",
                 "staging: 1 missing_customer (e.g. no customer id)", "staging: 1 non_merchandise"):
        assert line in out, out
    assert "identical_lines: keep" in out
    printed = re.search(r"^  dbt build --vars '(.*)'$", out, re.M).group(1)
    dbt_vars = json.loads(printed)
    assert dbt_vars == {"transactions_path": str(path), "csv_delimiter": ";", "decimal_separator": ","}
    result = run_dbt(["build", *SELECTION], tmp_path / "build.duckdb", tmp_path, dbt_vars)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "ERROR=0 SKIP=0" in result.stdout

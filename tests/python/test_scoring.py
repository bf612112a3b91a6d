"""The scoring entry point's own steps, without dbt: the lines it hands the loader and its defaults.

The features themselves come from the build's models (tests/python/test_predictions_e2e.py runs them).
"""

from __future__ import annotations

import pandas as pd
import pytest

from customer_segments.prediction.scoring import NEW_CUSTOMER_ID, loader_lines, main, new_invoice_no


def test_lines_without_invoice_or_customer_are_one_invoice_of_one_customer():
    lines = pd.DataFrame({"stock_code": ["22423", "POST"], "quantity": ["2", "1"], "unit_price": ["12,75", "18"],
                          "invoiced_at": ["1/12/2011 10:00", "1/12/2011 10:00"], "basket_note": ["gift", ""]})
    table = loader_lines(lines, "C")
    assert list(table.columns) == ["invoice_no", "stock_code", "quantity", "unit_price", "invoiced_at", "customer_id"]
    assert table["invoice_no"].tolist() == ["NEW", "NEW"] and (table["customer_id"] == NEW_CUSTOMER_ID).all()
    # Values are the loader's to parse (decimal separator, date formats), so they are left as given.
    assert table["unit_price"].tolist() == ["12,75", "18"]
    given = lines.assign(invoice_no=["C1", "C1"], customer_id=[7, 7])
    assert loader_lines(given, "C")[["invoice_no", "customer_id"]].values.tolist() == [["C1", 7], ["C1", 7]]


@pytest.mark.parametrize(("marker", "invoice_no"), [("C", "NEW"), ("n", "0"), ("NEW", "0"), ("0", "NEW"), ("NEWS", "NEW")])
def test_the_invoice_given_to_lines_without_one_is_never_a_cancellation(marker, invoice_no):
    assert new_invoice_no(marker) == invoice_no


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"missing columns \['unit_price', 'invoiced_at'\]"):
        loader_lines(pd.DataFrame({"stock_code": ["22423"], "quantity": [1]}), "C")


def test_the_default_database_is_the_published_file(tmp_path, monkeypatch, capsys):
    lines = tmp_path / "first.csv"
    pd.DataFrame({"stock_code": ["22423"], "quantity": [1], "unit_price": [2.5],
                  "invoiced_at": ["2011-12-01 10:00"]}).to_csv(lines, index=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEGMENTS_PUBLISHED", raising=False)
    monkeypatch.setenv("SEGMENTS_DB", str(tmp_path / "working.duckdb"))
    assert main([str(lines)]) == 2
    assert "DuckDB file customer_segments.duckdb not found" in capsys.readouterr().err
    monkeypatch.setenv("SEGMENTS_PUBLISHED", str(tmp_path / "served.duckdb"))
    assert main([str(lines)]) == 2
    assert f"DuckDB file {tmp_path / 'served.duckdb'} not found" in capsys.readouterr().err

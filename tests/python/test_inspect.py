"""The inspector on small files: what it reads, the vars it would print, and its exit codes.

These run the readers only (``staging=False``); test_inspect_build.py runs the staging models through
dbt and builds with the vars printed.
"""

from __future__ import annotations

import datetime
import gzip
import json
import re

import duckdb
import pandas as pd
import pytest

from customer_segments.ingest.inspect import inspect_file, main

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
LINES = [
    ["536365", "85123A", "WHITE HANGING HEART", "6", "13/01/2011 08:26", "2,55", "17850", "Germany"],
    ["536366", "71053", "WHITE METAL LANTERN", "6", "02/02/2011 09:00", "1.234,50", "17850", "Germany"],
    ["536367", "22633", "HAND WARMER", "six", "03/02/2011 09:00", "1,85", "13047", "Germany"],
]


def _csv(path, rows, delimiter=",", encoding="utf-8"):
    path.write_text("\n".join(delimiter.join(row) for row in rows) + "\n", encoding=encoding)
    return str(path)


def test_semicolons_decimal_commas_and_day_first_dates(tmp_path):
    path = _csv(tmp_path / "orders.csv", [HEADER, *LINES], delimiter=";")
    report = inspect_file(path, staging=False)
    assert (report.format, report.encoding, report.delimiter, report.whole_file) == ("csv", "utf-8", ";", True)
    assert report.mapping[path]["unit_price"] == "UnitPrice" and report.unmapped[path] == []
    assert "day first" in report.dates
    assert report.date_range == ("2011-01-13 08:26:00", "2011-02-03 09:00:00")
    # The reader's own parse errors: 'six' is not a quantity; the prices read with the comma.
    assert report.reader_rejects == {"unparseable Quantity": 1}
    assert report.vars == {"transactions_path": path, "csv_delimiter": ";", "decimal_separator": ","}
    assert not report.problems


def test_a_utf16_file_is_read_in_its_encoding_and_its_head_only(tmp_path):
    rows = [HEADER] + [[f"5{i:04d}", "85123A", "HEART", "1", "2011-01-05 10:00", "2.55", "17850", "France"]
                       for i in range(50)]
    path = _csv(tmp_path / "unicode.csv", rows, delimiter="\t", encoding="utf-16")
    report = inspect_file(path, max_lines=10, staging=False)
    assert (report.encoding, report.delimiter, report.head_lines, report.whole_file) == ("utf-16", "\t", 10, False)
    # Estimated from the bytes of the head (its header is longer than a line): 50 lines, roughly.
    assert report.file_lines.startswith("about ") and 45 <= int(report.file_lines.split()[1]) <= 55
    assert report.mapping[path]["customer_id"] == "CustomerID"
    assert report.vars == {"transactions_path": path, "csv_delimiter": "\t"}


def test_a_workbook_maps_each_sheet(tmp_path):
    path = str(tmp_path / "book.xlsx")
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([LINES[0]], columns=HEADER).to_excel(writer, sheet_name="2010", index=False)
        pd.DataFrame([["536370", "22728", 24, "2011-02-05 08:45", 3.75, 12583]],
                     columns=["Invoice", "StockCode", "Quantity", "InvoiceDate", "Price", "Customer ID"]).to_excel(
            writer, sheet_name="2011", index=False)
    report = inspect_file(path, staging=False)
    assert report.format == "xlsx"
    assert report.mapping[f"{path} [2011]"]["unit_price"] == "Price"
    assert report.mapping[f"{path} [2011]"]["country"] is None
    assert report.mapping[f"{path} [2010]"]["customer_id"] == "CustomerID"
    assert not report.problems


def test_parquet_is_read_typed_and_only_its_head(tmp_path):
    path = str(tmp_path / "lines.parquet")
    frame = pd.DataFrame({"order_id": [str(i) for i in range(30)], "sku": "A1", "qty": 2,
                          "ordered_at": [datetime.datetime(2023, 1, 1 + i) for i in range(30)],
                          "price": 1.5, "customer": 7, "channel": "web"})
    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute(f"copy frame to '{path}' (format parquet)")
    report = inspect_file(path, max_lines=5, staging=False)
    assert (report.head_lines, report.whole_file, report.file_lines) == (5, False, "30")
    assert report.unmapped[path] == ["channel"]
    assert report.dates.startswith("typed timestamp column 'ordered_at'")
    assert report.date_range == ("2023-01-01 00:00:00", "2023-01-05 00:00:00")
    assert report.vars == {"transactions_path": path}


def test_an_ambiguous_column_asks_for_column_map_and_the_answer_settles_it(tmp_path, capsys):
    header = [*HEADER[:6], "CustomerID", "Customer ID", "Country"]
    row = ["536365", "85123A", "HEART", "6", "2011-01-05 10:00", "2.55", "17850", "17850", "France"]
    path = _csv(tmp_path / "two_ids.csv", [header, row])
    assert main([path, "--no-staging"]) == 1
    out = capsys.readouterr().out
    assert "to decide:" in out and "could each be customer_id; say which with column_map" in out
    assert main([path, "--no-staging", "--vars", "{column_map: {customer_id: 'Customer ID'}, identical_lines: keep}"]) == 0
    out = capsys.readouterr().out
    assert "customer_id  <- Customer ID" in out and "not used: ['CustomerID']" in out
    # The vars given are printed with the guessed ones.
    assert f'{{"transactions_path": "{path}", "column_map": {{"customer_id": "Customer ID"}}, "identical_lines": "keep"}}' in out
    assert main([path, "--no-staging", "--vars", "{identical_lines: twice}"]) == 2
    assert capsys.readouterr().err.strip() == "var identical_lines must be one of 'collapse', 'keep', got \"twice\""


def test_dates_whose_order_the_head_cannot_tell_ask_for_date_formats(tmp_path):
    rows = [HEADER, ["536365", "85123A", "HEART", "6", "03/04/2011 10:00", "2.55", "17850", "France"]]
    report = inspect_file(_csv(tmp_path / "ambiguous.csv", rows), staging=False)
    assert len(report.problems) == 1 and "set date_formats: ['%d/%m/%Y %H:%M'] (day first)" in report.problems[0]


@pytest.mark.parametrize("content, message", [(None, "transactions file not found"), (b"", "transactions file is empty"),
                                              (b"not a workbook", "cannot be read as xlsx")])
def test_a_file_that_cannot_be_read_exits_2_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "export.xlsx"
    if content is not None:
        path.write_bytes(content)
    assert main([str(path), "--no-staging"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1 and not captured.out


def _printed_vars(out: str) -> dict:
    return json.loads(re.search(r"^  dbt build --vars '(.*)'$", out, re.M).group(1))


def test_a_gzipped_csv_is_read_by_its_decompressed_head(tmp_path, capsys):
    path = tmp_path / "orders.csv.gz"
    rows = [HEADER] + [[f"5{i:04d}", "85123A", "HEART", "1", "2011-01-05 10:00", "2.55", "17850", "France"]
                       for i in range(30)]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(";".join(row) for row in rows) + "\n")
    assert main([str(path), "--no-staging", "--max-lines", "10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: csv.gz, read the first 10 lines (the head)\n"), out
    assert "encoding: utf-8; delimiter: ';'" in out and "customer_id  <- CustomerID" in out
    assert _printed_vars(out) == {"transactions_path": str(path), "csv_delimiter": ";"}


def test_a_folder_is_read_by_its_first_files_head_and_every_file_must_have_its_columns(tmp_path, capsys):
    folder = tmp_path / "monthly"
    folder.mkdir()
    _csv(folder / "2011-01.csv", [HEADER, LINES[0]], delimiter=";")
    _csv(folder / "2011-02.csv", [HEADER, LINES[1]], delimiter=";")
    assert main([str(folder), "--no-staging"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{folder}: 2 files of the same columns, read the whole file of the first, "
                          f"{folder / '2011-01.csv'} (csv)"), out
    assert "day first" in out and "date range read: 2011-01-13 08:26:00 to 2011-01-13 08:26:00" in out
    assert _printed_vars(out) == {"transactions_path": str(folder), "csv_delimiter": ";", "decimal_separator": ","}
    # A file of other columns stops the build: the inspector says so as the build would.
    _csv(folder / "2011-03.csv", [HEADER[:-1], LINES[0][:-1]], delimiter=";")
    assert main([str(folder), "--no-staging"]) == 2
    assert "files of different shapes cannot be read as one input" in capsys.readouterr().err


def test_an_order_level_file_shows_the_columns_derived(tmp_path, capsys):
    # CDNOW's layout: customer, yyyymmdd date, quantity, amount; no invoice numbers, no unit prices.
    rows = [["customer_id", "date", "quantity", "amount"], ["1", "19970101", "1", "11.77"],
            ["2", "19970112", "5", "77.00"], ["1", "19970302", "2", "20.76"]]
    path = _csv(tmp_path / "cdnow.csv", rows)
    assert main([path, "--no-staging"]) == 0
    out = capsys.readouterr().out
    assert "invoice_no   <- (derived: one invoice per customer and timestamp)" in out
    assert "unit_price   <- (derived: line_total / quantity from 'amount')" in out
    assert "line_total   <- amount" in out and "stock_code   <- (absent: placeholder)" in out
    assert "date range read: 1997-01-01 00:00:00 to 1997-03-02 00:00:00" in out
    assert _printed_vars(out) == {"transactions_path": path}


def test_the_kind_of_customer_ids_is_shown_and_a_mixed_column_is_a_decision(tmp_path, capsys):
    rows = [["customer", "date", "amount"], ["c1025", "2024-01-02", "10.00"], ["gid://shopify/Customer/7", "2024-01-03", "5"]]
    assert main([_csv(tmp_path / "keys.csv", rows), "--no-staging"]) == 0
    assert "customer ids: key (customer_id_kind auto: by the column's name, type or values)" in capsys.readouterr().out
    path = _csv(tmp_path / "mixed.csv", [*rows, ["1026", "2024-01-04", "5"]])
    assert main([path, "--no-staging"]) == 1
    out = capsys.readouterr().out
    assert (f"to decide: {path}: customer column 'customer' holds 1 numbers (e.g. '1026') and 2 text ids "
            "(e.g. 'c1025')") in out
    # Given the var, the inspector takes it and prints it in the vars to build with.
    assert main([path, "--no-staging", "--vars", "{customer_id_kind: key}"]) == 0
    out = capsys.readouterr().out
    assert "customer ids: key (var customer_id_kind)" in out
    assert _printed_vars(out) == {"transactions_path": path, "customer_id_kind": "key"}

"""Every value read right or rejected with a reason: decimal marks, day/month order, ISO dates and
zones, non-finite and overflowing numbers, utf-16, and every sheet of a workbook.

Each case makes its own small input and calls the loader the dbt models call (models/staging/*.py are
one-call wrappers); the workbook case is also built by a real `dbt build` down to line_accounting.
"""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import ROOT, Build, run_dbt
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.options import input_options
from customer_segments.ingest.read import load_transactions, rejected_transactions
from customer_segments.settings import SettingsError
from input_settings import input_settings

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def line(invoice: str = "1", quantity: str = "2", date: str = "2011-01-05 10:00", price: str = "2.55",
         customer: str = "17850") -> str:
    return f'{invoice},85123A,HEART,{quantity},{date},"{price}",{customer},United Kingdom\n'


def write_csv(path: Path, *lines: str) -> Path:
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def read(path: Path, con: duckdb.DuckDBPyConnection | None = None, rejected: duckdb.DuckDBPyRelation | None = None,
         **values) -> pd.DataFrame:
    return (load_transactions(con or duckdb.connect(), input_settings(path, **values), rejected=rejected).df()
            .sort_values("source_row_id"))


def errors(frame: pd.DataFrame) -> list[str | None]:
    return [None if pd.isna(e) else e for e in frame["parse_error"]]


# ---------------------------------------------------------------- decimal separator

def test_a_comma_is_a_thousands_separator_only_in_groups_of_three_by_default(tmp_path):
    path = write_csv(tmp_path / "prices.csv", line("1", price="1,25"), line("2", price="1,234.50"),
                     line("3", price="£12,345,678.5"), line("4", price="1,2345.0"), line("5", price="2.55"))
    loaded = read(path)
    assert [None if pd.isna(p) else float(p) for p in loaded["unit_price"]] == [None, 1234.5, 12345678.5, None, 2.55]
    assert errors(loaded)[0] == (
        "UnitPrice '1,25' is not a price with the decimal separator '.' (var decimal_separator) "
        "and at most 15 digits before it")
    assert "UnitPrice '1,2345.0' is not a price" in errors(loaded)[3]


def test_decimal_comma_prices_under_the_var(tmp_path):
    path = write_csv(tmp_path / "prices.csv", line("1", price="1,25"), line("2", price="1.234,50"),
                     line("3", price="£3"), line("4", price="2.55"), line("5", price="1.2345"))
    loaded = read(path, decimal_separator=",")
    assert [None if pd.isna(p) else float(p) for p in loaded["unit_price"]] == [1.25, 1234.5, 3.0, None, None]
    # A point is a thousands separator under ',': 2.55 is not a price, 1.2345 is not a group of three.
    assert "UnitPrice '2.55' is not a price with the decimal separator ','" in errors(loaded)[3]


@pytest.mark.parametrize("value", [";", "comma", ",,", 1])
def test_decimal_separator_var_is_checked(value):
    with pytest.raises(SettingsError, match=r"^var decimal_separator must be one of '\.', ',', got "):
        input_options(input_settings("lines.csv", decimal_separator=value))


# ---------------------------------------------------------------- day/month order

def test_day_first_dates_are_read_day_first_when_one_value_says_so(tmp_path):
    path = write_csv(tmp_path / "day_first.csv", line("1", date="03/04/2011 10:00"), line("2", date="13/04/2011 9:30"),
                     line("3", date="01/02/2011"))
    loaded = read(path)
    assert loaded["invoiced_at"].tolist() == [pd.Timestamp("2011-04-03 10:00"), pd.Timestamp("2011-04-13 09:30"),
                                              pd.Timestamp("2011-02-01")]
    assert loaded["parse_error"].isna().all()


def test_dates_that_read_both_ways_stop_the_build_naming_both_readings_and_the_var(tmp_path):
    path = write_csv(tmp_path / "ambiguous.csv", line("1", date="03/04/2011 10:00"), line("2", date="05/04/2011 10:00"))
    with pytest.raises(InputError) as raised:
        read(path)
    assert str(raised.value) == (
        f"{path}: column 'InvoiceDate' has dates whose day and month cannot be told apart (every day is 12 or less): "
        "'03/04/2011 10:00' reads as 2011-03-04 10:00 (month first) or 2011-04-03 10:00 (day first); "
        "set date_formats: ['%d/%m/%Y %H:%M'] (day first) or ['%m/%d/%Y %H:%M'] (month first)")
    # Dates without a time: the var to set is the date-only form.
    date_only = write_csv(tmp_path / "ambiguous_days.csv", line("1", date="03/04/2011"))
    with pytest.raises(InputError, match=r"set date_formats: \['%d/%m/%Y'\] \(day first\) or \['%m/%d/%Y'\]"):
        read(date_only)
    # Set as the message says, the var is used as given: no detection, day first.
    loaded = read(path, date_formats=["%d/%m/%Y %H:%M"])
    assert loaded["invoiced_at"].tolist() == [pd.Timestamp("2011-04-03 10:00"), pd.Timestamp("2011-04-05 10:00")]


def test_dates_of_both_orders_in_one_column_stop_the_build(tmp_path):
    path = write_csv(tmp_path / "mixed.csv", line("1", date="12/13/2010 8:26"), line("2", date="13/12/2010 8:26"))
    with pytest.raises(InputError, match=(
            r"mixed\.csv: column 'InvoiceDate' mixes dates that read only month first \('12/13/2010 8:26'\) and only "
            r"day first \('13/12/2010 8:26'\); set date_formats: \['%d/%m/%Y %H:%M'\]")):
        read(path)


def test_uci_text_dates_read_month_first_as_in_the_original(tmp_path):
    path = write_csv(tmp_path / "uci.csv", line("1", date="12/1/2010 8:26"), line("2", date="12/9/2011 12:50"),
                     line("3", date="1/13/2011 10:05"))
    assert read(path)["invoiced_at"].tolist() == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2011-12-09 12:50"),
                                                  pd.Timestamp("2011-01-13 10:05")]


# ---------------------------------------------------------------- ISO dates and zones

def test_iso_dates_with_or_without_time_and_zone(tmp_path):
    values = ["2011-01-05", "2011-01-05 10:00", "2011-01-05T10:00", "2011-01-05T10:00:30", "2011-01-05T10:00:00Z",
              "2011-01-05T10:00:00+01:00", "2011-01-05 10:00-0500", "2011-01-05T10:00:00.250Z"]
    path = write_csv(tmp_path / "iso.csv", *(line(str(i), date=v) for i, v in enumerate(values)))
    con = duckdb.connect()
    # The session's zone plays no part: a value without a zone is stored as written, one with a zone in UTC.
    con.execute("set TimeZone = 'America/New_York'")
    loaded = read(path, con)
    assert loaded["invoiced_at"].tolist() == [pd.Timestamp(t) for t in (
        "2011-01-05", "2011-01-05 10:00", "2011-01-05 10:00", "2011-01-05 10:00:30", "2011-01-05 10:00",
        "2011-01-05 09:00", "2011-01-05 15:00", "2011-01-05 10:00:00.250")]
    assert loaded["parse_error"].isna().all()


def test_a_typed_zoned_timestamp_is_stored_in_utc(tmp_path):
    path = tmp_path / "zoned.parquet"
    con = duckdb.connect()
    con.execute("set TimeZone = 'Europe/Paris'")
    con.execute("copy (select '1' as InvoiceNo, 2 as Quantity, timestamptz '2011-01-05 10:00:00+01' as InvoiceDate, "
                "'HEART' as Description, 2.5 as UnitPrice, 7 as CustomerID, 'UK' as Country, 'A' as StockCode) to $path",
                {"path": str(path)})
    con.execute("set TimeZone = 'America/New_York'")
    assert read(path, con)["invoiced_at"].tolist() == [pd.Timestamp("2011-01-05 09:00")]


def test_explicit_zoned_formats_are_stored_in_utc(tmp_path):
    path = write_csv(tmp_path / "zoned.csv", line("1", date="2011-01-05 10:00+0100"), line("2", date="2011-01-05 10:00"))
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Tokyo'")
    loaded = read(path, con, date_formats=["%Y-%m-%d %H:%M%z"])
    assert loaded["invoiced_at"].iloc[0] == pd.Timestamp("2011-01-05 09:00")
    # Used as given: a value without a zone does not fit the one format.
    assert "InvoiceDate '2011-01-05 10:00' is not a date in any of the formats %Y-%m-%d %H:%M%z" == loaded["parse_error"].iloc[1]


def test_mixing_zoned_and_unzoned_date_formats_is_refused():
    with pytest.raises(InputError, match=r"var date_formats: either every format has a zone \(%z\) or none has"):
        input_options(input_settings("lines.csv", date_formats=["%Y-%m-%d %H:%M%z", "%Y-%m-%d %H:%M"]))


# ---------------------------------------------------------------- non-finite and overflowing numbers

def test_non_finite_and_overflowing_text_numbers_are_per_line_errors(tmp_path):
    cases = [
        line("1", quantity="inf"), line("2", quantity="-inf"), line("3", quantity="NaN"), line("4", quantity="nan"),
        line("5", quantity="1e20"), line("6", quantity="9223372036854775808"),
        line("7", customer="1e30"), line("8", customer="inf"), line("9", price="1e20"), line("10", price="NaN"),
        line("11", quantity="1000000000000", price="99999999"),
        line("12", quantity="9223372036854775807", price="0"), line("13", customer="9223372036854775807"),
        line("14", quantity="1e3", customer="17850.0"),
    ]
    loaded = read(write_csv(tmp_path / "numbers.csv", *cases))
    found = errors(loaded)
    whole = "is not a whole number within the 64-bit integer range"
    customer = "is not a customer number (a whole number within the 64-bit integer range)"
    assert found[:10] == [
        f"Quantity 'inf' {whole}", f"Quantity '-inf' {whole}", f"Quantity 'NaN' {whole}", f"Quantity 'nan' {whole}",
        f"Quantity '1e20' {whole}", f"Quantity '9223372036854775808' {whole}",
        f"CustomerID '1e30' {customer}", f"CustomerID 'inf' {customer}",
        "UnitPrice '1e20' is not a price with the decimal separator '.' (var decimal_separator) and at most 15 digits before it",
        "UnitPrice 'NaN' is not a price with the decimal separator '.' (var decimal_separator) and at most 15 digits before it",
    ]
    # Each value fits, their product does not fit the money type: rejected, not a crash in a later sum.
    assert found[10] == "line value Quantity x UnitPrice = 99999999000000000000.000 is beyond DECIMAL(18,3)"
    assert pd.isna(loaded["unit_price"].iloc[10])  # so no sum of line values overflows
    # The largest bigint is read exactly, not through a rounding double.
    assert found[11:] == [None, None, None]
    assert loaded["quantity"].tolist()[11:] == [9223372036854775807, 2, 1000]
    assert loaded["customer_id"].tolist()[12:] == [9223372036854775807, 17850]


def test_non_finite_and_overflowing_typed_numbers_are_per_line_errors(tmp_path):
    path = tmp_path / "typed.parquet"
    duckdb.connect().execute(
        "copy (select * from (values "
        "('1', 'inf'::double, 5.0::double, 2.5::double, 1::ubigint, 1::decimal(38,0)), "
        "('2', 'nan'::double, 'nan'::double, 'inf'::double, 1::ubigint, 1::decimal(38,0)), "
        "('3', 1e30::double, 1e30::double, 1e30::double, 18446744073709551615::ubigint, "
        "'1000000000000000000000000000000'::decimal(38,0)), "
        "('4', 2.0::double, 17850.0::double, 2.5::double, 3::ubigint, 4::decimal(38,0))"
        ") as t (InvoiceNo, Quantity, CustomerID, UnitPrice, Units, Ref), "
        "(select timestamp '2011-01-05 10:00' as InvoiceDate)) to $path", {"path": str(path)})
    with pytest.warns(UserWarning, match="optional columns"):
        loaded = read(path)
    whole = "is not a whole number within the 64-bit integer range"
    customer = "is not a customer number (a whole number within the 64-bit integer range)"
    price = "is not a finite price within DECIMAL(18,3)"
    assert errors(loaded) == [
        f"Quantity 'inf' {whole}",
        f"Quantity 'nan' {whole}; UnitPrice 'inf' {price}; CustomerID 'nan' {customer}",
        f"Quantity '1e+30' {whole}; UnitPrice '1e+30' {price}; CustomerID '1e+30' {customer}",
        None,
    ]
    assert (loaded["quantity"].iloc[3], loaded["customer_id"].iloc[3], float(loaded["unit_price"].iloc[3])) == (2, 17850, 2.5)
    # Unsigned 64-bit and 38-digit decimal quantities beyond a bigint: errors, not a failed read.
    for column, value in (("Units", "18446744073709551615"), ("Ref", "1000000000000000000000000000000")):
        with pytest.warns(UserWarning, match="optional columns"):
            loaded = read(path, column_map={"quantity": column})
        assert loaded["parse_error"].tolist()[2].startswith(f"{column} '{value}' {whole}"), column
        assert loaded["quantity"].tolist()[3] in (3, 4)


# ---------------------------------------------------------------- encodings

UTF16_TEXT = HEADER + line("1", price="£2.55") + "2,85123A,HEART,3\n" + line("3", date="2011-01-06 10:00")


@pytest.mark.parametrize(
    ("name", "data", "encoding"),
    [
        ("le_bom.csv", codecs.BOM_UTF16_LE + UTF16_TEXT.encode("utf-16-le"), None),
        ("be_bom.csv", codecs.BOM_UTF16_BE + UTF16_TEXT.encode("utf-16-be"), None),
        ("be_bom_forced.csv", codecs.BOM_UTF16_BE + UTF16_TEXT.encode("utf-16-be"), "utf-16"),
        ("le_no_bom_forced.csv", UTF16_TEXT.encode("utf-16-le"), "utf-16"),
        ("utf8_bom.csv", codecs.BOM_UTF8 + UTF16_TEXT.encode("utf-8"), None),
    ],
)
def test_utf16_and_byte_order_marks_are_read_with_their_rejects(tmp_path, name, data, encoding):
    path = tmp_path / name
    path.write_bytes(data)
    con = duckdb.connect()
    rejected = rejected_transactions(con, input_settings(path, csv_encoding=encoding))
    assert rejected.df()[["line_number", "reject_type"]].values.tolist() == [[3, "missing columns"]]
    assert rejected.df()["file_path"].tolist() == [str(path)] == rejected.df()["source_name"].tolist()
    # As the dbt model does: the rejects are handed over, the file is not scanned for them again.
    loaded = read(path, con, csv_encoding=encoding, rejected=rejected)
    assert loaded["source_line_number"].tolist() == [2, 4]
    assert loaded["invoice_no"].tolist() == ["1", "3"]  # the header's first name is InvoiceNo, not "\ufeffInvoiceNo"
    assert [float(p) for p in loaded["unit_price"]] == [2.55, 2.55]
    assert loaded["parse_error"].isna().all()


def test_bytes_that_are_not_utf16_stop_the_build(tmp_path):
    path = tmp_path / "broken_utf16.csv"
    # A lone high surrogate (0xD800) followed by a letter is not utf-16.
    path.write_bytes(codecs.BOM_UTF16_LE + HEADER.encode("utf-16-le") + b"\x00\xd8a\x00\n\x00")
    with pytest.raises(InputError, match=r"broken_utf16\.csv: cannot be read as utf-16 text"):
        read(path)


def test_the_utf8_copy_of_a_utf16_file_is_removed_when_the_process_exits(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + UTF16_TEXT.encode("utf-16-le"))
    script = ("import sys; from customer_segments.ingest.encoding import utf8_copy; "
              "copy = utf8_copy(sys.argv[1]); print(copy); assert open(copy, encoding='utf-8').read().startswith('InvoiceNo')")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "python")})
    assert result.stdout.strip().endswith(".csv") and not Path(result.stdout.strip()).exists()


# ---------------------------------------------------------------- every sheet of a workbook

def workbook(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def uci_sheet(invoices: list[str], quantities: list[object], prices: list[float] | None = None) -> pd.DataFrame:
    n = len(invoices)
    return pd.DataFrame({"InvoiceNo": invoices, "StockCode": ["85123A"] * n, "Description": ["HEART"] * n,
                         "Quantity": quantities, "InvoiceDate": ["2011-01-05 10:00"] * n,
                         "UnitPrice": prices or [2.55] * n,
                         "CustomerID": [17850] * n, "Country": ["United Kingdom"] * n})


def online_retail_ii_sheet(invoices: list[str]) -> pd.DataFrame:
    """The same columns under the Online Retail II names, without a description."""
    n = len(invoices)
    return pd.DataFrame({"Invoice": invoices, "StockCode": ["22633"] * n, "Quantity": [6] * n,
                         "InvoiceDate": ["2011-02-01 09:00"] * n, "Price": ["£1.85"] * n,
                         "Customer ID": [12583] * n, "Country": ["France"] * n})


def test_every_sheet_of_a_workbook_is_read_and_named(tmp_path):
    path = workbook(tmp_path / "two_years.xlsx", {
        "2010": uci_sheet(["536365", "536366"], [6, 2]),
        "Notes": pd.DataFrame(),
        "2011": online_retail_ii_sheet(["540001", "540002", "540003"]),
    })
    with pytest.warns(UserWarning, match=r"two_years\.xlsx: empty sheets \['Notes'\] skipped"):
        loaded = read(path)
    assert loaded["invoice_no"].tolist() == ["536365", "536366", "540001", "540002", "540003"]
    assert loaded["source_name"].tolist() == [f"{path} [2010]"] * 2 + [f"{path} [2011]"] * 3
    assert loaded["source_line_number"].tolist() == [2, 3, 2, 3, 4]  # within its sheet, the header is line 1
    assert loaded["source_row_id"].tolist() == [1, 2, 3, 4, 5]
    assert loaded["description"].isna().tolist() == [False, False, True, True, True]
    assert [float(p) for p in loaded["unit_price"]] == [2.55, 2.55, 1.85, 1.85, 1.85]
    assert loaded["parse_error"].isna().all()


def test_a_sheet_without_a_usable_header_beside_usable_ones_stops_the_build(tmp_path):
    path = workbook(tmp_path / "with_summary.xlsx", {
        "Lines": uci_sheet(["536365"], [6]),
        "Summary": pd.DataFrame({"Month": ["2010-12"], "Revenue": [15.3]}),
    })
    with pytest.raises(InputError) as raised:
        read(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: sheets ['Summary'] have no usable header while sheets ['Lines'] do (")
    assert f"{path} [Summary]: required column 'invoiced_at' not found" in message
    assert message.endswith("delete or fix those sheets so that every sheet holds invoice lines")
    assert "\n" not in message


@pytest.mark.dbt
def test_workbook_build_accounts_for_every_line_per_sheet(tmp_path):
    """One real build down to line_accounting: sheet names in the accounting and the lines, row ids unique
    across sheets, a sheet that repeats a line of another counted as that sheet's duplicate copy, and
    lines with a non-finite quantity or a line value beyond DECIMAL(18,3) accounted, not a crash."""
    repeated = uci_sheet(["536365"], [6]).rename(columns={"InvoiceNo": "Invoice", "UnitPrice": "Price",
                                                          "CustomerID": "Customer ID"})
    path = workbook(tmp_path / "shop's workbook.xlsx", {
        "2010": uci_sheet(["536365", "536366", "536367", "536368"], [6, 2, "inf", 1_000_000_000_000],
                          [2.55, 2.55, 2.55, 99_999_999]),
        "2011": pd.concat([online_retail_ii_sheet(["540001", "540002"]), repeated], ignore_index=True),
    })
    result = run_dbt(["build", "--select", "+line_accounting", "--indirect-selection", "cautious"],
                     tmp_path / "lines.duckdb", tmp_path,
                     {"transactions_path": str(path), "max_rejected_share": 0.5})
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    build = Build(tmp_path / "lines.duckdb", path, result.returncode, result.stdout)
    sheet_2010, sheet_2011 = f"{path} [2010]", f"{path} [2011]"
    accounted = build.query("select source_name, outcome, input_lines from line_accounting where input_lines > 0 order by all")
    assert accounted == [(sheet_2010, "purchase", 2), (sheet_2010, "unparseable", 2),
                         (sheet_2011, "duplicate_copy", 1), (sheet_2011, "purchase", 2)]
    # Every outcome is listed for every sheet, with zeros.
    assert build.scalar("select count(*) from line_accounting") == 2 * build.scalar(
        "select count(distinct outcome) from line_accounting")
    lines = build.query("select source_name, source_line_number, source_row_id, parse_error "
                        "from base_retail__invoice_lines order by source_row_id")
    assert [row[:3] for row in lines] == [(sheet_2010, 2, 1), (sheet_2010, 3, 2), (sheet_2010, 4, 3), (sheet_2010, 5, 4),
                                          (sheet_2011, 2, 5), (sheet_2011, 3, 6), (sheet_2011, 4, 7)]
    assert lines[2][3] == "Quantity 'inf' is not a whole number within the 64-bit integer range"
    assert lines[3][3].startswith("line value Quantity x UnitPrice = ")
    # The staged line keeps its first copy's row id (sheet 2010); the copy in sheet 2011 is the one counted.
    assert build.query("select line_id, source_line_count from stg_retail__invoice_lines order by line_id") == [
        (1, 2), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)]


def test_the_real_data_reads_the_same_from_its_uci_text_form(real_data, tmp_path):
    """The real file's lines written as the UCI original's CSV (`12/1/2010 8:26`, ids as 17850.0) read
    exactly as from the parquet: the day/month order found is month first, and no value changes."""
    con = duckdb.connect()
    text = tmp_path / "online_retail.csv"
    con.execute("copy (select * replace (strftime(InvoiceDate, '%-m/%-d/%Y %-H:%M') as InvoiceDate) "
                "from read_parquet($path)) to $text (header)", {"path": str(real_data), "text": str(text)})
    assert con.execute("select InvoiceDate from read_csv($text) limit 1", {"text": str(text)}).fetchone() == (
        "12/1/2010 8:26",)
    # Both relations are read by name in the query below (DuckDB's replacement scan).
    from_parquet = load_transactions(con, input_settings(real_data))  # noqa: F841
    from_text = load_transactions(con, input_settings(text))  # noqa: F841
    columns = "invoice_no, stock_code, description, quantity, invoiced_at, unit_price, customer_id, country, parse_error"
    differing = con.execute(
        f"select count(*) from (select source_line_number, {columns} from from_parquet) as p "
        f"full join (select source_line_number - 1 as source_line_number, {columns} from from_text) as t "
        f"using (source_line_number) where ({', '.join('p.' + c for c in columns.split(', '))}) "
        f"is distinct from ({', '.join('t.' + c for c in columns.split(', '))})").fetchone()[0]
    assert differing == 0
    assert con.execute("select count(*) from from_text").fetchone()[0] == 541_909


# ---------------------------------------------------------------- forms DuckDB's casts would read wrongly

def test_digit_group_underscores_are_not_numbers(tmp_path):
    """DuckDB casts `6_0` to 60 and `2_5` to 25; no export means that."""
    path = write_csv(tmp_path / "underscores.csv", line("1", quantity="6_0"), line("2", price="2_5"),
                     line("3", customer="178_50"), line("4", quantity="1e3"))
    # Not a number, so a text id beside numbers: var customer_id_kind auto would stop the read on the mix
    # (test_bad_inputs.py); as numbers, it is the line's parse error.
    loaded = read(path, customer_id_kind="number")
    assert [None if pd.isna(q) else int(q) for q in loaded["quantity"]] == [None, 2, 2, 1000]
    assert errors(loaded)[0].startswith("Quantity '6_0' is not a whole number")
    assert errors(loaded)[1].startswith("UnitPrice '2_5' is not a price")
    assert errors(loaded)[2].startswith("CustomerID '178_50' is not")
    assert errors(loaded)[3] is None


def test_iso_timestamps_with_fractional_seconds_are_read(tmp_path):
    path = write_csv(tmp_path / "fractions.csv", line("1", date="2011-01-05 10:00:00.5"),
                     line("2", date="2011-01-05T10:00:00.123456"))
    loaded = read(path)
    assert loaded["invoiced_at"].astype(str).tolist() == ["2011-01-05 10:00:00.500000", "2011-01-05 10:00:00.123456"]
    assert errors(loaded) == [None, None]


def test_two_columns_that_could_hold_one_canonical_column_stop_the_read(tmp_path):
    path = tmp_path / "two_customers.csv"
    path.write_text("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Customer ID,Country\n"
                    "1,85123A,HEART,2,2011-01-05 10:00,2.55,,99999,United Kingdom\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"columns \['CustomerID', 'Customer ID'\] could each be customer_id; "
                                         r"say which with column_map"):
        read(path)
    # Saying which settles it.
    assert read(path, column_map={"customer_id": "Customer ID"})["customer_id"].tolist() == [99999]


def test_a_file_with_columns_named_like_the_readers_own_is_read_as_itself(tmp_path):
    """source_name, source_row_id and file_row_number columns of the file do not replace the reader's."""
    csv_path = tmp_path / "marketplace.csv"
    csv_path.write_text(HEADER.rstrip("\n") + ",source_name,source_row_id\n"
                        + line("1").rstrip("\n") + ",shop,7\n" + line("2").rstrip("\n") + ",web,7\n", encoding="utf-8")
    loaded = read(csv_path)
    assert loaded["source_name"].tolist() == [str(csv_path)] * 2
    assert loaded["source_row_id"].tolist() == [1, 2] and loaded["source_line_number"].tolist() == [2, 3]
    parquet_path = tmp_path / "numbered.parquet"
    frame = pd.read_csv(csv_path, dtype=str).assign(file_row_number=["9", "9"])
    frame.to_parquet(parquet_path, index=False)
    assert read(parquet_path)["source_row_id"].tolist() == [1, 2]
    frame.rename(columns={"source_name": "__segments_source_name"}).to_parquet(parquet_path, index=False)
    with pytest.raises(InputError, match="start with '__segments_', which the reader keeps for its own"):
        read(parquet_path)


def test_the_ambiguous_date_example_reads_differently_both_ways(tmp_path):
    path = write_csv(tmp_path / "dates.csv", line("1", date="01/01/2011 10:00"), line("2", date="03/04/2011 10:00"))
    with pytest.raises(InputError, match=r"'03/04/2011 10:00' reads as 2011-03-04 10:00 \(month first\) or "
                                         r"2011-04-03 10:00 \(day first\)"):
        read(path)

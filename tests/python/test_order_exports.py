"""Order-level and shop-platform exports: line totals, derived invoice numbers and quantities, platform
headers, e-mail customers, gzipped and tab-separated files, and folders or globs of monthly files.

The loader is the code the base models call; the same files inside real `dbt build` runs are in
test_order_exports_build.py.
"""

from __future__ import annotations

import gzip
import hashlib
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_segments.ingest.columns import resolve_columns
from customer_segments.ingest.customer_ids import CustomerValues, decided_kind
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.read import input_facts, load_transactions, rejected_transactions
from input_settings import input_settings

#: Order exports lack stock codes, descriptions or countries: the loader's warning is expected here.
pytestmark = [pytest.mark.filterwarnings("ignore:.*optional columns.*absent"),
              pytest.mark.filterwarnings("ignore:.*columns derived")]
UCI_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def read(path: Path | str, **values) -> pd.DataFrame:
    con = duckdb.connect()
    settings = input_settings(path, **values)
    return load_transactions(con, settings, rejected_transactions(con, settings)).df().sort_values("source_row_id")


def errors(frame: pd.DataFrame) -> list[str | None]:
    return [None if pd.isna(error) else error for error in frame["parse_error"]]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- headers of shop platforms

#: Headers as the platforms export them (trimmed to the columns that matter and a few that must not).
CDNOW = ["customer_id", "date", "quantity", "amount"]
SHOPIFY = ["Name", "Email", "Financial Status", "Paid at", "Currency", "Subtotal", "Shipping", "Taxes", "Total",
           "Discount Code", "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price",
           "Lineitem compare at price", "Lineitem sku", "Billing Name", "Billing Country", "Shipping Country", "Id"]
WOOCOMMERCE = ["Order Number", "Order Status", "Order Date", "Customer Note", "Billing Email", "Billing Country",
               "Item Name", "SKU", "Quantity", "Item Cost", "Order Total Amount"]
MAGENTO = ["ID", "Purchase Point", "Purchase Date", "Bill-to Name", "Ship-to Name", "Grand Total (Base)",
           "Grand Total (Purchased)", "Status", "Customer Email", "Subtotal", "Shipping and Handling"]


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        (CDNOW, {"invoice_no": None, "customer_id": "customer_id", "invoiced_at": "date", "quantity": "quantity",
                 "unit_price": None, "line_total": "amount", "stock_code": None, "country": None}),
        # Beside a unit price, Shopify's Subtotal and Total are the order's, not the line's: not a line total.
        (SHOPIFY, {"invoice_no": "Name", "customer_id": "Email", "invoiced_at": "Created at",
                   "quantity": "Lineitem quantity", "unit_price": "Lineitem price", "line_total": None,
                   "stock_code": "Lineitem sku", "description": "Lineitem name", "country": "Billing Country"}),
        (WOOCOMMERCE, {"invoice_no": "Order Number", "customer_id": "Billing Email", "invoiced_at": "Order Date",
                       "quantity": "Quantity", "unit_price": "Item Cost", "line_total": None, "stock_code": "SKU",
                       "description": "Item Name", "country": "Billing Country"}),
        # The merchandise subtotal before the grand totals; the bare ID is not taken (the invoice is derived).
        (MAGENTO, {"invoice_no": None, "customer_id": "Customer Email", "invoiced_at": "Purchase Date",
                   "quantity": None, "unit_price": None, "line_total": "Subtotal", "country": None}),
    ],
    ids=["cdnow", "shopify", "woocommerce", "magento"],
)
def test_shop_platform_headers_map_without_a_column_map(present, expected):
    resolved = resolve_columns(present, "export.csv")
    assert {column: resolved[column] for column in expected} == expected


def test_an_order_reference_is_the_order_number():
    # Found by a stranger's export (order_ref, customer, order_date, qty, amount): its orders were derived.
    for name in ("order_ref", "Order Reference"):
        assert resolve_columns([name, "customer", "order_date", "qty", "amount"], "export.csv")["invoice_no"] == name


def test_a_name_is_an_order_number_only_beside_shopify_s_line_item_columns():
    # customer, name, date, amount: the name is a person's, and the invoice is derived.
    assert resolve_columns(["customer", "name", "date", "amount"], "export.csv")["invoice_no"] is None


@pytest.mark.parametrize(
    ("present", "candidates"),
    [
        (["Order Date", "Customer ID", "Total", "Amount"], "['Total', 'Amount'] could each be line_total"),
        (["Order Date", "Email", "Customer Email", "Price"], "['Email', 'Customer Email'] could each be customer_id"),
        (["Order Number", "Order ID", "Date", "Customer", "Price"], "['Order Number', 'Order ID'] could each be invoice_no"),
    ],
)
def test_two_candidates_in_one_tier_still_stop_the_read(present, candidates):
    with pytest.raises(InputError, match=candidates.replace("[", r"\[").replace("]", r"\]")):
        resolve_columns(present, "export.csv")


def test_a_file_with_neither_price_nor_total_names_both():
    with pytest.raises(InputError, match="required column 'unit_price' not found, nor 'line_total' to derive it from"):
        resolve_columns(["customer", "date", "quantity"], "export.csv")


# ---------------------------------------------------------------- line totals

def test_cdnow_amounts_are_the_line_values_and_unit_prices_are_derived(tmp_path):
    path = write(tmp_path / "cdnow.csv", "customer_id,date,quantity,amount\n"
                                         "1,19970101,1,11.77\n2,19970112,3,10.00\n3,19970102,0,5.00\n"
                                         "3,19970103,-2,-6.00\n4,19970104,0,0\n4,19970105,,7.00\n")
    lines = read(path)
    assert [Decimal(str(v)) for v in lines["line_total"]] == [Decimal(v) for v in
                                                               ("11.77", "10.00", "5.00", "-6.00", "0", "7.00")]
    # 10.00 / 3 shows as 3.333; the line's value stays 10.00 (staging sums line_total).
    assert [None if pd.isna(v) else float(v) for v in lines["unit_price"]] == [11.77, 3.333, None, 3.0, 0.0, None]
    assert lines["invoiced_at"].iloc[0] == pd.Timestamp("1997-01-01")
    assert errors(lines)[:5] == [None, None, "quantity 0 with amount 5.000: no unit price can be derived", None, None]
    # A missing quantity leaves the price missing: staging rejects the line as unparseable.
    assert pd.isna(lines["quantity"].iloc[5]) and pd.isna(lines["unit_price"].iloc[5])


def test_one_invoice_per_customer_and_timestamp_and_a_negative_quantity_is_a_refund(tmp_path):
    path = write(tmp_path / "orders.csv", "customer_id,date,quantity,amount\n"
                                          "7,1997-01-01 10:00,1,5.00\n7,1997-01-01 10:00,2,8.00\n"
                                          "7,1997-01-02,1,5.00\n8,1997-01-01 10:00,1,5.00\n7,1997-01-03,-1,-5.00\n")
    lines = read(path)
    assert lines["invoice_no"].tolist() == ["7 1997-01-01 10:00:00", "7 1997-01-01 10:00:00", "7 1997-01-02 00:00:00",
                                            "8 1997-01-01 10:00:00", "C7 1997-01-03 00:00:00"]
    # The refund's marker is var cancellation_marker's.
    assert read(path, cancellation_marker="R-")["invoice_no"].iloc[4] == "R-7 1997-01-03 00:00:00"


def test_without_quantities_each_line_is_one_order_and_a_negative_total_a_refund(tmp_path):
    path = write(tmp_path / "orders.csv", "customer,order date,total\n5,2024-03-01,19.99\n5,2024-03-09,-19.99\n")
    with pytest.warns(UserWarning, match="columns derived: invoice_no: one invoice per customer and timestamp; "
                                         "quantity: 1 per line .one order each.; unit_price: line_total / quantity "
                                         "from 'total'"):
        lines = read(path)
    assert lines["quantity"].tolist() == [1, -1]
    assert [float(v) for v in lines["unit_price"]] == [19.99, 19.99]
    assert lines["invoice_no"].tolist() == ["5 2024-03-01 00:00:00", "C5 2024-03-09 00:00:00"]


def test_a_line_total_beside_a_unit_price_is_checked_and_the_unit_price_used(tmp_path):
    path = write(tmp_path / "lines.csv", "InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID,line_total\n"
                                         "1,3,2011-01-05 10:00,3.33,5,10.00\n"  # 9.99 vs 10.00: rounding
                                         "2,2,2011-01-05 10:00,2.50,5,6.00\n")  # 5.00 vs 6.00: which is right?
    lines = read(path)
    assert lines["line_total"].isna().all()
    assert [float(v) for v in lines["unit_price"]] == [3.33, 2.5]
    assert errors(lines) == [
        None,
        "line_total 6.000 is not Quantity x UnitPrice = 5.000 (beyond rounding; which is right cannot be told)",
    ]


# ---------------------------------------------------------------- e-mail customers

def test_an_email_is_a_stable_customer_number(tmp_path):
    path = write(tmp_path / "shop.csv", "Name,Email,Created at,Lineitem quantity,Lineitem price\n"
                                        "#1001,Ann@Example.com,2025-10-07 09:50:26 +0200,1,5.00\n"
                                        "#1002, ann@example.com ,2025-10-08 09:50:26 +0200,1,5.00\n"
                                        "#1003,,2025-10-09 09:50:26 +0200,1,5.00\n")
    lines = read(path)
    # md5 of the trimmed, lower-cased address, its first 15 hex digits: the same in every build.
    expected = int(hashlib.md5(b"ann@example.com").hexdigest()[:15], 16)
    assert lines["customer_id"].tolist()[:2] == [expected, expected]
    assert pd.isna(lines["customer_id"].iloc[2])
    # Shopify's zone after a space is read, stored in UTC.
    assert lines["invoiced_at"].iloc[0] == pd.Timestamp("2025-10-07 07:50:26")
    assert lines["parse_error"].isna().all()


def key_number(key: str) -> int:
    """The customer number of a key, written out of the rule's own words: md5, its first 15 hex digits."""
    return int(hashlib.md5(key.encode()).hexdigest()[:15], 16)


def test_the_kind_of_a_customer_column_is_decided_by_its_setting_name_type_and_values():
    numbers, keys = CustomerValues(3, 3, "1026"), CustomerValues(3, 0, None, "c1025")
    assert decided_kind("auto", "customer", "VARCHAR", numbers, "f.csv") == "number"
    assert decided_kind("auto", "customer", "VARCHAR", keys, "f.csv") == "key"
    # No value at all: nothing says the ids are not numbers (today's reading).
    assert decided_kind("auto", "customer", "VARCHAR", CustomerValues(0, 0), "f.csv") == "number"
    # By the name, whatever the values; by the type of a typed column, without reading it.
    assert decided_kind("auto", "Billing Email", "VARCHAR", numbers, "f.csv") == "email"
    assert decided_kind("auto", "CustomerID", "DOUBLE", None, "f.csv") == "number"
    assert decided_kind("auto", "customer", "UUID", None, "f.csv") == "key"
    # A setting other than auto is taken as given, even against the name.
    for setting in ("number", "key", "email"):
        assert decided_kind(setting, "Email", "VARCHAR", keys, "f.csv") == setting
    with pytest.raises(InputError) as raised:
        decided_kind("auto", "customer", "VARCHAR", CustomerValues(5, 3, "1026", "c1025"), "f.csv")
    assert str(raised.value) == (
        "f.csv: customer column 'customer' holds 3 numbers (e.g. '1026') and 2 text ids (e.g. 'c1025') "
        "among its 5 values; set customer_id_kind: number (the text ids are rejected as unparseable) or "
        "customer_id_kind: key (every value is a customer key)")


def test_text_ids_are_stable_customer_numbers_and_the_lines_keep_the_key(tmp_path):
    ids = ["c1025", " c1025 ", "C1025", "gid://shopify/Customer/123", "0b8f3c1e-4d2a-4f6b-9c1d-2e3f4a5b6c7d", ""]
    path = write(tmp_path / "orders.csv", "order,customer,date,amount\n" + "".join(
        f"{n},{customer},2024-01-0{n + 1},10.00\n" for n, customer in enumerate(ids)))
    lines = read(path)
    keys = [key.strip() for key in ids[:-1]]
    # Trimmed, case kept: c1025 and C1025 are two customers of a shop whose ids are case-sensitive.
    assert lines["customer_id"].tolist()[:-1] == [key_number(key) for key in keys]
    assert lines["customer_key"].tolist()[:-1] == keys
    assert pd.isna(lines["customer_id"].iloc[-1]) and pd.isna(lines["customer_key"].iloc[-1])
    assert lines["parse_error"].isna().all()
    assert input_facts(duckdb.connect(), input_settings(path))["customer_id_kind"] == "key"
    # Digits are keys too under customer_id_kind key: the number is the key's hash, not the digits.
    digits = write(tmp_path / "digits.csv", "order,customer,date,amount\n1,17850,2024-01-02,10.00\n")
    assert read(digits, customer_id_kind="key")["customer_id"].tolist() == [key_number("17850")]
    assert read(digits)["customer_id"].tolist() == [17850]
    assert read(digits)["customer_key"].isna().all()


def test_email_ids_share_the_key_rule_after_lower_casing(tmp_path):
    path = write(tmp_path / "orders.csv", "order,client_id,date,amount\n1, Ann@Example.com ,2024-01-02,10.00\n"
                                          "2,ann@example.com,2024-01-03,10.00\n")
    lines = read(path, customer_id_kind="email")
    assert lines["customer_id"].tolist() == [key_number("ann@example.com")] * 2
    assert lines["customer_key"].tolist() == ["ann@example.com"] * 2
    # As keys, the two spellings are two customers.
    assert read(path, customer_id_kind="key")["customer_key"].tolist() == ["Ann@Example.com", "ann@example.com"]


# ---------------------------------------------------------------- gzip, TSV, folders and globs

LINES = [
    "1,A,HEART,2,2011-01-05 10:00,2.50,17850,United Kingdom\n",
    "2,B,LANTERN,1,2011-01-20 10:00,3.75,17851,France\n",
    "3,A,HEART,4,2011-02-05 10:00,2.50,17850,United Kingdom\n",
    "4,C,CANDLE,1,2011-02-16 10:00,1.25,17852,United Kingdom\n",
    "C5,A,HEART,-1,2011-03-01 10:00,2.50,17850,United Kingdom\n",
]


def test_gzipped_and_tab_separated_files_are_read_as_they_stand(tmp_path):
    gz = tmp_path / "lines.csv.gz"
    gz.write_bytes(gzip.compress((UCI_HEADER + "".join(LINES)).encode()))
    tsv = write(tmp_path / "lines.tsv", (UCI_HEADER + "".join(LINES)).replace(",", "\t"))
    tab_csv = write(tmp_path / "tabs.csv", (UCI_HEADER + "".join(LINES)).replace(",", "\t"))
    frames = [read(path) for path in (gz, tsv, tab_csv)]
    for frame in frames:
        assert frame["invoice_no"].tolist() == ["1", "2", "3", "4", "C5"]
        assert frame["parse_error"].isna().all()
    assert (frames[0]["source_name"] == str(gz)).all()


def monthly_folder(folder: Path) -> Path:
    """Three monthly exports, the second gzipped and holding a row that is not valid CSV."""
    folder.mkdir()
    write(folder / "2011-01.csv", UCI_HEADER + LINES[0] + LINES[1])
    (folder / "2011-02.csv.gz").write_bytes(gzip.compress((UCI_HEADER + LINES[2] + "broken,row\n" + LINES[3]).encode()))
    write(folder / "2011-03.csv", UCI_HEADER + LINES[4])
    return folder


def test_a_folder_of_monthly_files_is_one_input_with_each_line_s_file(tmp_path):
    folder = monthly_folder(tmp_path / "exports")
    lines = read(folder)
    files = [str(folder / name) for name in ("2011-01.csv", "2011-02.csv.gz", "2011-03.csv")]
    assert lines["source_name"].tolist() == [files[0], files[0], files[1], files[1], files[2]]
    assert lines["source_line_number"].tolist() == [2, 3, 2, 4, 2]  # line 3 of the gzipped file is rejected
    assert lines["source_row_id"].tolist() == [1, 2, 3, 4, 5]
    assert lines["invoice_no"].tolist() == ["1", "2", "3", "4", "C5"]
    rejected = rejected_transactions(duckdb.connect(), input_settings(folder)).df()
    assert rejected[["source_name", "line_number", "raw_text"]].values.tolist() == [[files[1], 3, "broken,row"]]
    # A glob names the same files.
    assert read(tmp_path / "exports" / "2011-0*.csv*")["source_name"].tolist() == lines["source_name"].tolist()


def test_files_of_different_shapes_in_a_folder_stop_the_read_naming_them(tmp_path):
    folder = monthly_folder(tmp_path / "exports")
    write(folder / "2011-04.csv", "InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID\n6,1,2011-04-01 10:00,2.5,17850\n")
    with pytest.raises(InputError, match=r"files of different shapes cannot be read as one input: \[.*2011-04\.csv'\]"):
        read(folder)


def test_a_folder_mixing_kinds_or_holding_other_files_stops_the_read(tmp_path):
    folder = monthly_folder(tmp_path / "exports")
    pd.DataFrame({"InvoiceNo": ["9"]}).to_parquet(folder / "2011-05.parquet")
    with pytest.raises(InputError, match="files of different types cannot be read as one input"):
        read(folder)
    (folder / "2011-05.parquet").unlink()
    write(folder / "notes.txt", "exported by hand\n")
    with pytest.raises(InputError, match=r"notes\.txt: unsupported file type '\.txt'"):
        read(folder)
    with pytest.raises(InputError, match="no file matches the pattern"):
        read(tmp_path / "exports" / "1999-*.csv")

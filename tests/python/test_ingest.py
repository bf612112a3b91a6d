"""The loader: canonical columns from parquet, CSV and xlsx, and clear errors for bad files."""

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_segments.ingest.columns import resolve_columns
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.read import load_transactions
from input_settings import input_settings

UCI_ROWS = [
    ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER ", 6, "2010-12-01 08:26:00", 2.55, 17850.0, "United Kingdom"),
    ("C536379", "D", "Discount", -1, "2010-12-01 09:41:00", 27.50, 14527.0, "United Kingdom"),
    ("536414", "22139", None, 56, "2010-12-01 11:52:00", 0.0, None, "United Kingdom"),
]
UCI_COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def uci_frame() -> pd.DataFrame:
    frame = pd.DataFrame(UCI_ROWS, columns=UCI_COLUMNS)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    return frame


def read(path: Path, **values) -> pd.DataFrame:
    con = duckdb.connect()
    return load_transactions(con, input_settings(path, **values)).df()


def test_parquet_is_read_into_canonical_typed_columns(tmp_path):
    path = tmp_path / "lines.parquet"
    uci_frame().to_parquet(path)
    lines = read(path)
    assert list(lines.columns) == [
        "source_name", "source_line_number", "source_row_id", "invoice_no", "stock_code", "description", "quantity",
        "invoiced_at", "unit_price", "line_total", "customer_id", "country", "customer_key", "parse_error",
    ]
    assert lines["source_line_number"].tolist() == [1, 2, 3] == lines["source_row_id"].tolist()
    assert (lines["source_name"] == str(path)).all()
    assert lines["customer_id"].tolist()[:2] == [17850, 14527]
    assert pd.isna(lines["customer_id"].iloc[2])
    assert float(lines["unit_price"].iloc[0]) == 2.55
    assert lines["parse_error"].isna().all()


def test_csv_with_uci_original_dates_and_pound_signs(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART,6,12/1/2010 8:26,£2.55,17850,United Kingdom\n"
        "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom\n"
        "536367,22633,HAND WARMER,6,12/13/2010 8:28,1.85,17850.0,United Kingdom\n",
        encoding="utf-8",
    )
    lines = read(path)
    # 12/13/2010 can only be month first, so 12/1/2010 is 1 December (as in the UCI original).
    assert lines["invoiced_at"].tolist() == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2010-12-01 08:28"),
                                             pd.Timestamp("2010-12-13 08:28")]
    assert [float(p) for p in lines["unit_price"]] == [2.55, 1.85, 1.85]
    assert lines["customer_id"].tolist() == [17850, 17850, 17850]
    assert lines["source_line_number"].tolist() == [2, 3, 4]  # line 1 is the header


def test_unparseable_values_are_kept_with_a_reason_naming_column_and_value(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART,six,yesterday,2.55,17850,United Kingdom\n",
        encoding="utf-8",
    )
    lines = read(path)
    assert len(lines) == 1
    assert pd.isna(lines["quantity"].iloc[0]) and pd.isna(lines["invoiced_at"].iloc[0])
    assert "Quantity 'six' is not a whole number" in lines["parse_error"].iloc[0]
    assert "InvoiceDate 'yesterday' is not a date" in lines["parse_error"].iloc[0]


def test_xlsx_is_read(tmp_path):
    path = tmp_path / "lines.xlsx"
    uci_frame().to_excel(path, index=False)
    lines = read(path)
    assert lines["invoice_no"].tolist() == ["536365", "C536379", "536414"]
    assert lines["quantity"].tolist() == [6, -1, 56]
    assert lines["source_line_number"].tolist() == [2, 3, 4]
    assert (lines["source_name"] == f"{path} [Sheet1]").all()
    assert lines["parse_error"].isna().all()


def test_online_retail_ii_and_snake_case_names_are_recognised():
    present = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
    resolved = resolve_columns(present, "x.csv")
    assert resolved["unit_price"] == "Price" and resolved["customer_id"] == "Customer ID"
    snake = ["order_id", "sku", "qty", "price", "ordered_at", "customer"]
    resolved = resolve_columns(snake, "x.csv")
    assert resolved["invoice_no"] == "order_id" and resolved["invoiced_at"] == "ordered_at"
    assert resolved["country"] is None and resolved["description"] is None


def test_missing_required_column_names_file_and_column(tmp_path):
    path = tmp_path / "lines.parquet"
    uci_frame().drop(columns=["CustomerID"]).to_parquet(path)
    with pytest.raises(InputError, match=r"lines\.parquet: required column 'customer_id' not found"):
        read(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.parquet", None, "transactions file not found"),
        ("empty.csv", "", "transactions file is empty"),
        ("header_only.csv", ",".join(UCI_COLUMNS) + "\n", "has a header but no lines"),
        ("broken.parquet", "this is not parquet", "cannot be read as parquet"),
        ("lines.json", "[]", "unsupported file type '.json'"),
    ],
)
def test_bad_files_fail_with_the_file_named(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as raised:
        read(path)
    assert name in str(raised.value)


def test_explicit_column_map_overrides_aliases(tmp_path):
    frame = uci_frame().rename(columns={"CustomerID": "client"})
    path = tmp_path / "lines.parquet"
    frame.to_parquet(path)
    lines = read(path, column_map={"customer_id": "client"})
    assert lines["customer_id"].iloc[0] == 17850
    with pytest.raises(InputError, match="column 'nope' \\(mapped to customer_id\\) not found"):
        read(path, column_map={"customer_id": "nope"})

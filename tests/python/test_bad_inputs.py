"""Bad inputs, each a small file made here: the expected message, reject rows or sensible result.

The loader and the checks are the code the dbt models call (models/staging/*.py and
models/marts/customer_segments.py are one-call wrappers); the end-to-end behaviour of the same
inputs inside a real `dbt build` is in test_redelivery_build.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_segments.ingest.errors import InputError
from customer_segments.ingest.options import input_options
from customer_segments.ingest.read import load_transactions, rejected_transactions
from customer_segments.segmentation.segments import build_customer_segments
from customer_segments.segmentation.validation import MAX_SEGMENTS, segments_to_fit
from customer_segments.settings import SettingsError
from input_settings import input_settings

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
PLAYBOOK = Path(__file__).resolve().parents[2] / "seeds" / "segment_playbook.csv"


def good_line(i: int) -> str:
    # Day 13 and later: the date reads month first only, as in the UCI original.
    return (f"{536365 + i},8512{i % 10}A,HEART NO {i},{i + 1},12/{13 + i % 15}/2010 8:{i % 60:02d},2.55,"
            f"{17850 + i % 3},United Kingdom\n")


def read(path: Path, **values) -> pd.DataFrame:
    return load_transactions(duckdb.connect(), input_settings(path, **values)).df().sort_values("source_line_number")


def rejects(path: Path, **values) -> pd.DataFrame:
    return rejected_transactions(duckdb.connect(), input_settings(path, **values)).df().sort_values("line_number")


# ---------------------------------------------------------------- malformed CSV rows

def test_malformed_csv_rows_are_rejected_with_line_text_and_reason_and_nothing_is_lost(tmp_path):
    lines = [good_line(i) for i in range(30)]
    lines[4] = "536369,85129A,HEART,5,12/13/2010 8:04,2.55,17851,United Kingdom,EXTRA\n"  # file line 6
    lines[10] = "536375,85125A,HEART,11\n"  # file line 12
    lines[11] = "536376,85126A,HEART,12,12/13/2010 8:11,2.55,17852,United Kingdom\n"  # kept
    lines[29] = '536394,85124A,"HEART,30,12/13/2010 8:29,2.55,17850,United Kingdom\n'  # file line 31
    path = tmp_path / "broken_rows.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")

    rejected = rejects(path)
    assert rejected["line_number"].tolist() == [6, 12, 31]
    assert rejected["reject_type"].tolist() == ["too many columns", "missing columns", "unquoted value"]
    assert rejected["raw_text"].iloc[1].strip() == "536375,85125A,HEART,11"
    assert (rejected["file_path"] == str(path)).all()
    assert rejected["reason"].iloc[0] == "Expected Number of Columns: 8 Found: 9"

    loaded = read(path)
    # Every data line is either loaded or rejected, and loaded lines keep their own line numbers.
    assert len(loaded) + len(rejected) == len(lines)
    assert sorted(loaded["source_line_number"].tolist() + rejected["line_number"].tolist()) == list(range(2, 32))
    line_13 = loaded.loc[loaded["source_line_number"] == 13].iloc[0]
    assert (line_13["invoice_no"], line_13["quantity"]) == ("536376", 12)
    assert loaded["parse_error"].isna().all()


def test_parquet_and_xlsx_have_no_rejects(tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(HEADER + good_line(1)))
    frame.to_parquet(tmp_path / "lines.parquet")
    frame.to_excel(tmp_path / "lines.xlsx", index=False)
    for name in ("lines.parquet", "lines.xlsx"):
        assert rejects(tmp_path / name).empty
        assert list(rejects(tmp_path / name).columns) == [
            "file_path", "source_name", "line_number", "raw_text", "reject_type", "reason"]


# ---------------------------------------------------------------- encodings, dialects, formats

def test_latin1_pound_signs_are_detected_and_parsed(tmp_path):
    path = tmp_path / "windows_export.csv"
    path.write_bytes((HEADER + "536365,85123A,CAFÉ MUG,6,12/13/2010 8:26,£2.55,17850,United Kingdom\n"
                      + good_line(1)).encode("latin-1"))
    loaded = read(path)
    assert [float(p) for p in loaded["unit_price"]] == [2.55, 2.55]
    assert loaded["description"].iloc[0] == "CAFÉ MUG"
    assert rejects(path).empty
    # Told it is utf-8, the same line is not text: rejected with the reason, not silently mangled.
    forced = rejects(path, csv_encoding="utf-8")
    assert forced[["line_number", "reject_type"]].values.tolist() == [[2, "invalid encoding"]]
    assert read(path, csv_encoding="utf-8")["source_line_number"].tolist() == [3]


def test_semicolon_delimiter_and_day_first_dates_via_vars(tmp_path):
    path = tmp_path / "european.csv"
    path.write_text("order_id;qty;price;ordered_at;customer\nA-1;2;1.50;31/12/2010 23:59;7\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"optional columns \['stock_code', 'description', 'country'\] absent"):
        loaded = read(path, csv_delimiter=";", date_formats='["%d/%m/%Y %H:%M"]')
    assert loaded["invoiced_at"].iloc[0] == pd.Timestamp("2010-12-31 23:59")
    assert (loaded["invoice_no"].iloc[0], loaded["customer_id"].iloc[0]) == ("A-1", 7)
    # Optional columns absent: placeholders the models can work with (one product; the country is
    # NULL here and '(unknown)' from staging on, like a blank one).
    assert loaded[["stock_code", "description", "country"]].iloc[0].tolist() == ["(no stock code)", None, None]


def test_tab_delimiter_var_as_dbt_renders_it_reads_a_tab_separated_file(tmp_path):
    # `\t` (two characters, as dbt renders the var) is parsed once, into a tab, which the reader then uses.
    path = tmp_path / "tabs.csv"
    path.write_text((HEADER + good_line(0)).replace(",", "\t"), encoding="utf-8")
    loaded = read(path, csv_delimiter="\\t")
    assert loaded[["invoice_no", "quantity", "customer_id"]].values.tolist() == [["536365", 1, 17850]]
    assert rejects(path, csv_delimiter="\\t").empty


def test_column_map_var_as_json_text_maps_user_names(tmp_path):
    path = tmp_path / "shop.parquet"
    pd.DataFrame({"ref": ["1"], "item": ["A"], "n": [3], "when": [pd.Timestamp("2011-01-01")],
                  "cost": [2.0], "buyer": [5]}).to_parquet(path)
    mapping = ('{"invoice_no": "ref", "stock_code": "item", "quantity": "n", "invoiced_at": "when", '
               '"unit_price": "cost", "customer_id": "buyer"}')
    with pytest.warns(UserWarning, match=r"optional columns \['description', 'country'\] absent"):
        loaded = read(path, column_map=mapping)
    assert loaded[["invoice_no", "stock_code", "quantity", "customer_id"]].iloc[0].tolist() == ["1", "A", 3, 5]


def test_excel_export_with_uci_text_dates(tmp_path):
    path = tmp_path / "export.xlsx"
    pd.DataFrame({"Invoice": ["536365", "C536366"], "StockCode": ["85123A", "85123A"], "Quantity": [6, -2],
                  "InvoiceDate": ["12/1/2010 8:26", "12/13/2010 9:01"], "Price": ["£2.55", "2.55"],
                  "Customer ID": [17850, 17850]}).to_excel(path, index=False)
    with pytest.warns(UserWarning, match=r"export\.xlsx: optional columns \['description', 'country'\] absent"):
        loaded = read(path)
    assert loaded["invoiced_at"].tolist() == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2010-12-13 09:01")]
    assert loaded["source_line_number"].tolist() == [2, 3]
    assert [float(p) for p in loaded["unit_price"]] == [2.55, 2.55]


def test_a_path_with_a_quote_is_read_as_a_path(tmp_path):
    folder = tmp_path / "o'brien's exports"
    folder.mkdir()
    path = folder / "it's.csv"
    path.write_text(HEADER + good_line(0), encoding="utf-8")
    assert len(read(path)) == 1 and rejects(path).empty


# ---------------------------------------------------------------- wrong types and bad files

def test_wrong_column_type_names_file_column_and_type(tmp_path):
    path = tmp_path / "typed.parquet"
    pd.DataFrame({"InvoiceNo": ["1"], "Quantity": [2], "InvoiceDate": [True], "UnitPrice": [1.0],
                  "CustomerID": [5]}).to_parquet(path)
    with pytest.raises(InputError, match=r"typed\.parquet: column 'InvoiceDate' \(invoiced_at\) has type BOOLEAN"), \
            pytest.warns(UserWarning, match="optional columns"):
        read(path)


def test_fractional_quantity_is_a_parse_error_not_a_silent_rounding(tmp_path):
    path = tmp_path / "fractions.parquet"
    pd.DataFrame({"InvoiceNo": ["1", "2"], "Quantity": [2.0, 2.5], "InvoiceDate": [pd.Timestamp("2011-01-01")] * 2,
                  "UnitPrice": [1.0, 1.0], "CustomerID": [5.0, 5.0]}).to_parquet(path)
    with pytest.warns(UserWarning, match="optional columns"):
        loaded = read(path)
    assert loaded["quantity"].iloc[0] == 2 and pd.isna(loaded["quantity"].iloc[1])
    assert "Quantity '2.5' is not a whole number" in loaded["parse_error"].iloc[1]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("blank_header.csv", "\n1,2,3\n", "the first line must be a header"),
        ("repeated.csv", "InvoiceNo,InvoiceNo\n1,2\n", "repeated column names ['InvoiceNo']"),
        ("not_a_workbook.xlsx", "plain text", "cannot be read as xlsx"),
        ("missing_price.csv", "InvoiceNo,Quantity,InvoiceDate,CustomerID\n1,2,2011-01-01 10:00:00,5\n",
         "required column 'unit_price' not found"),
    ],
)
def test_bad_files_fail_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")) as raised:
        read(path)
    assert str(path) in str(raised.value)


def test_a_customer_column_mixing_numbers_and_text_ids_stops_the_read_saying_what_to_set(tmp_path):
    lines = [good_line(i) for i in range(4)]
    lines[2] = lines[2].replace(",17852,", ",c1025,")
    path = tmp_path / "mixed_ids.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read(path)
    assert str(raised.value) == (
        f"{path}: customer column 'CustomerID' holds 3 numbers (e.g. '17850') and 1 text ids (e.g. "
        "'c1025') among its 4 values; set customer_id_kind: number (the text ids are rejected as unparseable) "
        "or customer_id_kind: key (every value is a customer key)")
    # Either setting reads it: number rejects the text id as today, key takes every value.
    as_numbers = read(path, customer_id_kind="number")
    assert as_numbers["customer_id"].isna().tolist() == [False, False, True, False]
    assert "CustomerID 'c1025' is not a customer number" in as_numbers["parse_error"].iloc[2]
    as_keys = read(path, customer_id_kind="key")
    assert as_keys["customer_key"].tolist() == ["17850", "17851", "c1025", "17850"]
    assert as_keys["parse_error"].isna().all()


def test_an_empty_folder_says_it_holds_no_files(tmp_path):
    with pytest.raises(InputError, match="the folder holds no files to read"):
        read(tmp_path)


# ---------------------------------------------------------------- vars

@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("transactions_path", None, "var transactions_path must be a file path"),
        ("date_formats", '["%Q"]', "is not a valid format"),
        ("date_formats", '["yesterday"]', "var date_formats must be a list of strptime formats"),
        ("date_formats", "[not json", "var date_formats must be a list of strptime formats"),
        ("column_map", '["customer"]', "var column_map must be a mapping of canonical column names"),
        ("csv_encoding", "ebcdic", "var csv_encoding must be one of"),
        ("csv_delimiter", '"', "var csv_delimiter must be one character"),
        ("customer_id_kind", "uuid", "var customer_id_kind must be one of 'auto', 'number', 'key', 'email'"),
    ],
)
def test_input_vars_are_checked(var, value, message):
    # SettingsError for a value refused by customer_segments.settings, InputError for a format DuckDB refuses.
    with pytest.raises((SettingsError, InputError), match=message):
        input_options(input_settings("lines.csv", **{var: value}))


def test_unknown_canonical_column_in_the_map_is_named(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(HEADER + good_line(0))
    with pytest.raises(InputError, match=r"unknown canonical columns \['client_id'\]"):
        read(path, column_map={"client_id": "CustomerID"})


@pytest.mark.parametrize("value", ["4", 2.5, 0, MAX_SEGMENTS + 1, True])
def test_segments_to_fit_needs_a_whole_number_in_range(value):
    with pytest.raises(InputError, match="n_segments must be a whole number from 1 to"):
        segments_to_fit(customers([(1, 3, 2, 100.0)]), value)


# ---------------------------------------------------------------- degenerate customer sets

def customers(rows: list[tuple[int, int, int, float]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["customer_id", "recency_days", "frequency", "monetary"])
    return table.assign(first_purchase_at=pd.Timestamp("2011-01-01"))


def test_fewer_customers_than_segments_caps_k_with_a_warning():
    few = customers([(1, 3, 2, 100.0), (2, 30, 1, 20.0), (3, 30, 1, 20.0)])  # two distinct points
    with pytest.warns(UserWarning, match="n_segments=4 but only 2 distinct customer"):
        k = segments_to_fit(few, 4)
    assert k == 2
    playbook = pd.read_csv(PLAYBOOK)
    table = build_customer_segments(few, playbook, n_segments=k, random_state=42)
    assert sorted(table["segment_id"].unique()) == [1, 2]
    assert table.loc[table["customer_id"] == 1, "segment_id"].item() == 1


def test_one_customer_on_a_single_day_gets_one_segment():
    one = customers([(17850, 1, 1, 15.3)])
    with pytest.warns(UserWarning):
        k = segments_to_fit(one, 4)
    table = build_customer_segments(one, pd.read_csv(PLAYBOOK), n_segments=k, random_state=42)
    assert table[["customer_id", "segment_id"]].values.tolist() == [[17850, 1]]
    assert table["distance_to_centroid"].item() == 0.0


@pytest.mark.parametrize(
    "rows",
    [[], [(1, 5, 1, 0.0), (2, 9, 2, -12.5)]],
    ids=["no customers (only non-merchandise or missing-customer lines)", "every purchase cancelled"],
)
def test_nothing_to_segment_is_a_clear_error(rows):
    with pytest.raises(InputError, match="no customer has a positive net spend .* see|line_accounting"):
        segments_to_fit(customers(rows), 4)


def test_enough_customers_keep_the_requested_k():
    many = customers([(i, i, 1 + i % 3, 10.0 * i) for i in range(1, 20)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert segments_to_fit(many, 4) == 4

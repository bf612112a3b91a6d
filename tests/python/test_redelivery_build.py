"""One real `dbt build` on the worst delivery of the generated data we can make, against the clean build.

The generated data set (the session's generated_build) is re-exported the way a shop's tooling might
send it: CSV in latin-1 with `£` prices, the UCI original's `12/1/2010 8:26` dates, the shop's own
column names (mapped by the column_map var), a handful of malformed rows, in a folder whose name holds
a quote, and delivered twice. The second copy differs only cosmetically, the way another export of the
same lines does: padded and lower-cased text (invoice marker, stock code, description, country), runs
of spaces, `2.550` for `2.55`, `6.0` for `6`, `17850.0` for `17850`, ISO dates, and its rows shuffled.
Every customer figure must come out exactly as from the clean parquet: nothing doubled, nothing lost,
the same countries, and every line accounted for.
"""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import background_build, built, dbt_build, generated_paths

pytestmark = pytest.mark.dbt

#: The shop's names for the canonical columns.
SHOP_COLUMNS = {
    "InvoiceNo": "order_id", "StockCode": "sku", "Description": "product", "Quantity": "qty",
    "InvoiceDate": "ordered_at", "UnitPrice": "price", "CustomerID": "client", "Country": "ship_to",
}
COLUMN_MAP = {"invoice_no": "order_id", "customer_id": "client", "country": "ship_to", "description": "product"}
#: Malformed rows inserted after these data rows of the first copy, and how DuckDB classes them.
MALFORMED = {
    10: ("536999,85123A,HEART,6,12/1/2010 8:26,£2.55,17850,United Kingdom,SURPLUS FIELD", "too many columns"),
    20_000: ("537000,85123A,HEART", "missing columns"),
    300_000: ("537001,22633,HAND WARMER,6", "missing columns"),
}


def padded(text: object, fold=str.lower) -> str:
    """Text as another export might write it: case changed, spaces doubled, padded ('' stays blank)."""
    return "" if pd.isna(text) else f"  {fold(text).replace(' ', '  ')} "


def cosmetic_copy(frame: pd.DataFrame) -> pd.DataFrame:
    """The same lines, each value written differently but meaning the same, in another row order."""
    def invoice(number: str) -> str:
        return f" {number[0].lower()}{number[1:]} " if number[:1] in ("C", "c") else f" {number} "

    copy = pd.DataFrame({
        "InvoiceNo": frame["InvoiceNo"].map(invoice),
        "StockCode": frame["StockCode"].map(lambda code: f"{code.lower()} "),
        "Description": frame["Description"].map(padded),
        "Quantity": frame["Quantity"].map(lambda q: f"{q}.0"),
        "InvoiceDate": frame["InvoiceDate"].map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}"),
        "UnitPrice": frame["UnitPrice"].map(lambda p: f"£{p}0"),
        "CustomerID": frame["CustomerID"].map(lambda c: "" if pd.isna(c) else f"{int(c)}.0"),
        "Country": frame["Country"].map(padded),
    })
    return copy.sample(frac=1, random_state=7)


@background_build("redelivered")
def build_redelivered(tmp_path_factory):
    generated_data = generated_paths(tmp_path_factory)
    folder = tmp_path_factory.mktemp("delivery") / "shop's export"
    folder.mkdir()
    path = folder / "invoice_lines.csv"
    original = pd.read_parquet(generated_data["invoice_lines"])
    frame = original.copy()
    frame["InvoiceDate"] = frame["InvoiceDate"].map(lambda t: f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}")
    frame["UnitPrice"] = frame["UnitPrice"].map(lambda p: f"£{p}")
    frame["CustomerID"] = frame["CustomerID"].astype("Int64")
    rows = frame.rename(columns=SHOP_COLUMNS).to_csv(index=False, lineterminator="\n").splitlines(keepends=True)
    header, lines = rows[0], rows[1:]
    first_copy = list(lines)
    for after, (text, _) in sorted(MALFORMED.items(), reverse=True):
        first_copy.insert(after, text + "\n")
    second_copy = cosmetic_copy(original).rename(columns=SHOP_COLUMNS).to_csv(index=False, header=False, lineterminator="\n")
    path.write_bytes((header + "".join(first_copy) + second_copy).encode("latin-1"))
    build = dbt_build(tmp_path_factory.mktemp("redelivered_build"), path, {"column_map": COLUMN_MAP})
    assert build.returncode == 0, build.output[-5000:]
    return build, len(lines)


@pytest.fixture(scope="module")
def redelivered(tmp_path_factory, generated_data):
    return built(build_redelivered, tmp_path_factory)


def test_customer_marts_are_identical_to_the_clean_build(redelivered, generated_build):
    build, _ = redelivered
    for mart, key in (("customer_rfm", "customer_id"), ("customer_segments", "customer_id"),
                      ("segment_profiles", "segment_id")):
        assert build.query(f"select * from {mart} order by {key}") == generated_build.query(
            f"select * from {mart} order by {key}"), mart
    assert build.query("select distinct country from stg_retail__invoice_lines order by 1") == generated_build.query(
        "select distinct country from stg_retail__invoice_lines order by 1")
    # Line numbers differ between the files (header, inserted rows); the netting does not.
    columns = "invoice_no, customer_id, stock_code, cancelled_at, requested_quantity, matched_quantity, cancelled_value"
    assert build.query(f"select {columns} from cancellations order by all") == generated_build.query(
        f"select {columns} from cancellations order by all")


def test_malformed_rows_are_rejected_with_their_lines_and_counted(redelivered):
    build, _ = redelivered
    rejected = build.query("select line_number, raw_text, reject_type from base_retail__rejected_lines order by 1")
    # Data row n of the first copy sits on line n + 1; each inserted row shifts the later ones by one.
    expected_lines = [after + 2 + i for i, after in enumerate(sorted(MALFORMED))]
    assert [r[0] for r in rejected] == expected_lines
    assert [(r[1].strip(), r[2]) for r in rejected] == [MALFORMED[after] for after in sorted(MALFORMED)]
    assert build.scalar("select input_lines from line_accounting where outcome = 'rejected'") == len(MALFORMED)


def test_every_line_of_the_delivery_is_accounted_for(redelivered, generated_build):
    build, lines_per_copy = redelivered
    accounted = dict(build.query("select outcome, input_lines from line_accounting"))
    assert sum(accounted.values()) == 2 * lines_per_copy + len(MALFORMED)
    clean = dict(generated_build.query("select outcome, input_lines from line_accounting"))
    # The second copy is all duplicate copies, however it is written; every other outcome is as in the
    # clean build, and so is the value of the copies (the second copy's value once more).
    assert accounted["duplicate_copy"] == clean["duplicate_copy"] + lines_per_copy
    assert {k: v for k, v in accounted.items() if k not in ("duplicate_copy", "rejected")} == {
        k: v for k, v in clean.items() if k not in ("duplicate_copy", "rejected")}
    values = dict(build.query("select outcome, line_value from line_accounting"))
    clean_values = dict(generated_build.query("select outcome, line_value from line_accounting"))
    assert values["duplicate_copy"] == clean_values["duplicate_copy"] + sum(clean_values.values())
    assert {k: v for k, v in values.items() if k != "duplicate_copy"} == {
        k: v for k, v in clean_values.items() if k != "duplicate_copy"}


def test_rejected_share_above_the_threshold_fails_the_build(redelivered, tmp_path):
    """The share test on the same delivery, re-run with a threshold below its rejected share."""
    build, _ = redelivered
    from conftest import run_dbt

    result = run_dbt(["test", "--select", "line_accounting"], build.db_path, tmp_path,
                     {"transactions_path": str(build.data_path), "column_map": COLUMN_MAP, "max_rejected_share": 0.000001})
    assert result.returncode != 0
    assert "FAIL 1 outcome_share_at_most_line_accounting" in result.stdout
    bad_var = run_dbt(["test", "--select", "line_accounting"], build.db_path, tmp_path,
                      {"transactions_path": str(build.data_path), "max_rejected_share": "0.1; drop table x"})
    assert bad_var.returncode != 0
    assert 'var max_rejected_share must be a number from 0 to 1, got "0.1; drop table x"' in bad_var.stdout

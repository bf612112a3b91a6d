"""Order-level and shop-platform exports inside real `dbt build` runs, with no var but transactions_path.

Four small builds (in the background, conftest.background_build), each selecting only the models its
case needs (the lines, the netting, the accounting and RFM; the whole project for CDNOW): a CDNOW-like
order file (customer, date, quantity, amount) whose customers are a shop's text ids (`c1001`,
`gid://shopify/Customer/2`) builds every model, keeps the ids in customer_identities, exports them
and scores a new customer's key; a Shopify-like line export, whose customers are e-mail addresses,
builds its segments and exports their hashes; a folder of three monthly CSVs (one gzipped, one holding
a row that is not valid CSV) gives the same lines, invoices and customers as the one file they
concatenate to, and accounts for each file's lines on its own.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import random
import threading
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from conftest import Build, background_build, built, run_dbt
from customer_segments.delivery.exports import write_exports
from customer_segments.prediction.scoring import first_invoice_features, score_first_invoice

pytestmark = pytest.mark.dbt

CUSTOMERS = 60
#: What these cases change: the line tables, the netting, the accounting and RFM.
LINES_AND_RFM = ["--select", "+customer_rfm", "+line_accounting", "--indirect-selection", "cautious"]
#: The whole project: an order file with no descriptions, countries or invoice numbers builds every model
#: and passes every data test (the product models fall back to one uncategorised category, with a note).
EVERYTHING: list[str] = []
#: What the Shopify case builds: the lines to RFM, the segments and the identities (what the exports read).
SEGMENTS_AND_IDENTITIES = ["--select", "+customer_rfm", "+line_accounting", "+customer_segments", "+customer_identities",
                           "--indirect-selection", "cautious"]
UCI_HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def build(work_dir: Path, data_path: Path, selection: list[str]) -> Build:
    work_dir.mkdir(parents=True, exist_ok=True)
    db_path = work_dir / "segments.duckdb"
    result = run_dbt(["build", *selection], db_path, work_dir, {"transactions_path": str(data_path)})
    return Build(db_path, data_path, result.returncode, result.stdout + result.stderr)


def shop_id(customer: int) -> str:
    """A shop's own customer id, as text: `c1001`, or Shopify's `gid://shopify/Customer/2`."""
    return f"gid://shopify/Customer/{customer}" if customer % 2 == 0 else f"c{1000 + customer}"


def key_number(key: str) -> int:
    """The customer number of a key: the first 15 hex digits of its md5, written out of the rule's words."""
    return int(hashlib.md5(key.encode()).hexdigest()[:15], 16)


def cdnow_orders(rng: random.Random) -> list[tuple[str, str, int, str]]:
    """customer (a text id), yyyymmdd date, quantity, amount: a few orders per customer over 1997, all different."""
    orders: dict[tuple[int, str], tuple[int, str]] = {}
    for customer in range(1, CUSTOMERS + 1):
        for _ in range(rng.randint(1, 3 + customer % 5)):
            day = f"1997{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            quantity = rng.randint(1, 6)
            orders[(customer, day)] = (quantity, f"{quantity * rng.randint(900, 1600) / 100:.2f}")
    return [(shop_id(customer), day, quantity, amount) for (customer, day), (quantity, amount) in sorted(orders.items())]


def shopify_rows(rng: random.Random) -> list[list[str]]:
    """A Shopify orders export: one row per line item, the order's totals on its first row only."""
    rows = []
    for order in range(1001, 1001 + 4 * CUSTOMERS):
        customer = rng.randint(1, CUSTOMERS)
        created = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(8, 20):02d}:15:00 +0100"
        items = [(f"SKU-{rng.randint(1, 40)}", rng.randint(1, 3), f"{rng.randint(300, 4000) / 100:.2f}")
                 for _ in range(rng.randint(1, 3))]
        subtotal = sum(quantity * Decimal(price) for _, quantity, price in items)
        for position, (sku, quantity, price) in enumerate(items):
            first = position == 0
            rows.append([f"#{order}", f"Shopper{customer}@Example.com", str(subtotal) if first else "",
                         str(subtotal + 4) if first else "", created, str(quantity), f"Product {sku}", price, sku,
                         "DE" if customer % 4 == 0 else "GB"])
    return rows


def monthly_lines(rng: random.Random) -> dict[str, list[list[str]]]:
    """UCI-shaped lines of 2011's first three months, by month."""
    months: dict[str, list[list[str]]] = {"2011-01": [], "2011-02": [], "2011-03": []}
    invoice = 536365
    for month in months:
        for _ in range(3 * CUSTOMERS):
            invoice += 1
            code = rng.randint(1, 30)
            months[month].append([str(invoice), f"2{code:04d}", f"PRODUCT {code}", str(rng.randint(1, 12)),
                                  f"{month}-{rng.randint(1, 28):02d} {rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:00",
                                  f"{rng.randint(50, 900) / 100:.2f}", str(17000 + rng.randint(1, CUSTOMERS)),
                                  "United Kingdom"])
    return months


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    return ",".join(header) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def write_inputs(tmp_path_factory) -> dict[str, Path]:
    """The four inputs, written once (one random sequence draws them all), by the first build that needs them."""
    rng = random.Random(20240101)
    work = tmp_path_factory.mktemp("order_exports")
    cdnow = work / "cdnow.csv"
    cdnow.write_text(csv_text(["customer_id", "date", "quantity", "amount"], cdnow_orders(rng)))
    shopify = work / "orders_export.csv"
    with shopify.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name", "Email", "Subtotal", "Total", "Created at", "Lineitem quantity", "Lineitem name",
                         "Lineitem price", "Lineitem sku", "Billing Country"])
        writer.writerows(shopify_rows(rng))
    months = monthly_lines(rng)
    folder = work / "monthly"
    folder.mkdir()
    (folder / "2011-01.csv").write_text(csv_text(UCI_HEADER, months["2011-01"]))
    february = (csv_text(UCI_HEADER, months["2011-02"][:5]) + "broken,row\n"
                + csv_text(UCI_HEADER, months["2011-02"][5:]).split("\n", 1)[1])
    (folder / "2011-02.csv.gz").write_bytes(gzip.compress(february.encode()))
    (folder / "2011-03.csv").write_text(csv_text(UCI_HEADER, months["2011-03"]))
    concatenated = work / "concatenated.csv"
    concatenated.write_text(csv_text(UCI_HEADER, months["2011-01"]) + february.split("\n", 1)[1]
                            + csv_text(UCI_HEADER, months["2011-03"]).split("\n", 1)[1])
    return {"cdnow": cdnow, "shopify": shopify, "folder": folder, "concatenated": concatenated}


_inputs_lock = threading.Lock()
_inputs: dict[str, Path] = {}


def inputs(tmp_path_factory) -> dict[str, Path]:
    with _inputs_lock:
        if not _inputs:
            _inputs.update(write_inputs(tmp_path_factory))
        return _inputs


def case_builder(case: str, selection: list[str]):
    """The background build of one case, in its own directory beside the inputs."""
    def build_case(tmp_path_factory) -> Build:
        data = inputs(tmp_path_factory)[case]
        return build(data.parent / case, data, selection)

    build_case.__qualname__ = build_case.__name__ = f"build_{case}"
    return background_build("builds")(build_case)


#: case -> its background build.
BUILDERS = {case: case_builder(case, selection) for case, selection in (
    ("cdnow", EVERYTHING), ("shopify", SEGMENTS_AND_IDENTITIES), ("folder", LINES_AND_RFM), ("concatenated", LINES_AND_RFM))}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Build]:
    return {case: built(builder, tmp_path_factory) for case, builder in BUILDERS.items()}


def test_cdnow_order_file_builds_and_net_revenue_is_the_sum_of_its_amounts(builds):
    cdnow = builds["cdnow"]
    assert cdnow.returncode == 0, cdnow.output[-5000:]
    amounts = [Decimal(row["amount"]) for row in csv.DictReader(cdnow.data_path.open())]
    assert cdnow.scalar("select sum(monetary) from customer_rfm") == sum(amounts)
    assert cdnow.scalar("select count(*) from customer_rfm") == CUSTOMERS
    assert cdnow.scalar("select count(*) from customer_segments") == CUSTOMERS
    assert cdnow.scalar("select count(distinct segment_id) from customer_segments") >= 2
    assert cdnow.query("select model, note from build_notes where model = 'product_categories'") == [
        ("product_categories", "uncategorised")]
    assert cdnow.scalar("select input_lines from build_info") == len(amounts)
    # One invoice per customer and day: frequency is the customer's number of order dates (by the shop's id).
    orders = {}
    for row in csv.DictReader(cdnow.data_path.open()):
        orders[row["customer_id"]] = orders.get(row["customer_id"], 0) + 1
    assert dict(cdnow.query("select identities.customer_key, rfm.frequency from customer_rfm as rfm "
                            "inner join customer_identities as identities on rfm.customer_id = identities.customer_id")) == orders
    assert cdnow.query("select outcome, input_lines from line_accounting where input_lines > 0") == [
        ("purchase", len(amounts))]


def test_shopify_export_builds_with_e_mail_customers(builds):
    shopify = builds["shopify"]
    assert shopify.returncode == 0, shopify.output[-5000:]
    rows = list(csv.DictReader(shopify.data_path.open()))
    net = sum(int(row["Lineitem quantity"]) * Decimal(row["Lineitem price"]) for row in rows)
    assert shopify.scalar("select sum(monetary) from customer_rfm") == net
    shoppers = {row["Email"].lower() for row in rows}
    assert shopify.scalar("select count(*) from customer_rfm") == len(shoppers)
    assert shopify.scalar("select count(distinct invoice_no) from int_customer_invoices") == len({r["Name"] for r in rows})
    assert {country for (country,) in shopify.query("select distinct country from customer_rfm")} <= {"DE", "GB"}


def test_a_folder_of_monthly_files_gives_the_tables_of_the_concatenated_file(builds):
    folder, single = builds["folder"], builds["concatenated"]
    assert folder.returncode == 0, folder.output[-5000:]
    assert single.returncode == 0, single.output[-5000:]
    for table, order in (("stg_retail__invoice_lines", "line_id"), ("int_customer_invoices", "invoice_no, customer_id"),
                         ("customer_rfm", "customer_id")):
        sql = f"select * from {table} order by {order}"
        assert folder.query(sql) == single.query(sql), table
    per_outcome = "select outcome, sum(input_lines), sum(line_value) from line_accounting group by outcome order by outcome"
    assert folder.query(per_outcome) == single.query(per_outcome)
    # Each file's lines are accounted for on their own: its data rows, the broken one rejected.
    per_file = dict(folder.query("select source_name, sum(input_lines) from line_accounting group by source_name"))
    assert {Path(name).name: lines for name, lines in per_file.items()} == {
        "2011-01.csv": 3 * CUSTOMERS, "2011-02.csv.gz": 3 * CUSTOMERS + 1, "2011-03.csv": 3 * CUSTOMERS}
    rejected = folder.query("select source_name, outcome, input_lines from line_accounting where outcome = 'rejected' "
                            "and input_lines > 0")
    assert [(Path(name).name, outcome, lines) for name, outcome, lines in rejected] == [("2011-02.csv.gz", "rejected", 1)]


def test_text_customer_ids_are_kept_beside_their_numbers_exported_and_scored(builds, tmp_path):
    cdnow = builds["cdnow"]
    assert cdnow.returncode == 0, cdnow.output[-5000:]
    ids = {shop_id(customer) for customer in range(1, CUSTOMERS + 1)}
    # auto read the column's values: none is a whole number, so every value is a key.
    assert cdnow.scalar("select customer_id_kind from build_input") == "key"
    assert cdnow.scalar("select customer_id_kind from build_info") == "key"
    identities = cdnow.query("select customer_id, customer_key, email from customer_identities")
    assert sorted(identities) == sorted((key_number(key), key, None) for key in ids)
    assert cdnow.scalar("select count(*) from customer_segments inner join customer_identities using (customer_id)") == CUSTOMERS

    write_exports(cdnow.db_path, tmp_path / "raw", key=None, all_in_one=True)
    rows = pd.read_parquet(tmp_path / "raw" / "all_segments.parquet")
    assert list(rows.columns[:2]) == ["customer_id_raw", "customer_key"]
    assert {int(n): key for n, key in zip(rows.customer_id_raw, rows.customer_key)} == {
        key_number(key): key for key in ids}
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["customer_id_kind"] == "key" and "customer_key" in manifest["columns"]
    assert "made from the shop's own text ids" in (tmp_path / "raw" / "README.txt").read_text()
    # Beside a pseudonym, the shop's id would undo it: left out.
    write_exports(cdnow.db_path, tmp_path / "pseudonymised", key=b"k" * 32, all_in_one=True)
    assert "customer_key" not in pd.read_parquet(tmp_path / "pseudonymised" / "all_segments.parquet").columns

    # New customers' lines are read as the build read its ids, as keys: auto on these lines alone would stop
    # on a column mixing a number and a text id.
    lines = pd.DataFrame({"customer_id": ["12345", "c7"], "stock_code": ["(no stock code)"] * 2, "quantity": ["2", "1"],
                          "unit_price": ["12.50", "30.00"], "invoiced_at": ["1998-01-15 00:00:00"] * 2})
    features = first_invoice_features(cdnow.db_path, lines)
    assert features["customer_id"].tolist() == sorted([key_number("12345"), key_number("c7")])
    scored = score_first_invoice(cdnow.db_path, lines.iloc[:1])
    assert scored["segment_name"] in {name for (name,) in cdnow.query("select segment_name from customer_segments")}
    assert abs(sum(scored["probabilities"].values()) - 1) < 1e-9


def test_e_mail_customers_are_exported_as_their_hashes_never_as_addresses(builds, tmp_path):
    shopify = builds["shopify"]
    assert shopify.returncode == 0, shopify.output[-5000:]
    assert shopify.scalar("select customer_id_kind from build_input") == "email"
    shoppers = {row["Email"].strip().lower() for row in csv.DictReader(shopify.data_path.open())}
    assert sorted(shopify.query("select customer_id, customer_key, email from customer_identities")) == sorted(
        (key_number(address), address, address) for address in shoppers)
    write_exports(shopify.db_path, tmp_path, key=None, all_in_one=True)
    rows = pd.read_parquet(tmp_path / "all_segments.parquet")
    assert list(rows.columns[:2]) == ["customer_id_raw", "email_sha256"] and "customer_key" not in rows.columns
    hashes = {key_number(address): hashlib.sha256(address.encode()).hexdigest() for address in shoppers}
    assert dict(zip(rows.customer_id_raw.astype(int), rows.email_sha256)) == {
        int(n): hashes[int(n)] for n in rows.customer_id_raw}
    assert len(rows) == shopify.scalar("select count(*) from customer_segments")
    for path in tmp_path.iterdir():
        assert "example.com" not in path.read_text(errors="replace").lower(), path
    assert json.loads((tmp_path / "manifest.json").read_text())["customer_id_kind"] == "email"

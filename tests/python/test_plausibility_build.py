"""Two small real `dbt build`s: lines that cannot be right are rejected with a reason, and copies that
differ only in how they are written are one line.

The reference input holds a few customers' clean lines (a cancellation, a postage line, a line
without a customer) and one line dated on the as-of date, built with as_of_date set to the day after
its last clean line. The messy input holds the same clean lines, cosmetic copies of some of them
(whitespace, case of country, description, stock code and invoice marker, `2.50` for `2.5`, `6.0` for
`6`, another date format; placed before the originals, so row order changes too), and one line for
each implausible case: dated before the floor, dated 2099, a quantity of 1e12, a huge price, a huge
line value and a quantity x price beyond DECIMAL(18,3) (rejected by the reader as unparseable). Built
without as_of_date, it must give every
customer exactly the reference's figures, recency included.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import Build, background_build, built, run_dbt

pytestmark = pytest.mark.dbt

HEADER = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
CLEAN = [
    ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "2010-12-01 08:26:00", "2.55", "17850", "United Kingdom"),
    ("536365", "71053", "WHITE METAL LANTERN", "6", "2010-12-01 08:26:00", "3.39", "17850", "United Kingdom"),
    ("536366", "22633", "HAND WARMER UNION JACK", "6", "2010-12-01 08:28:00", "1.85", "17850", "United Kingdom"),
    ("536367", "84879", "ASSORTED COLOUR BIRD ORNAMENT", "32", "2010-12-01 08:34:00", "1.69", "13047", "United Kingdom"),
    ("536370", "22728", "ALARM CLOCK BAKELIKE PINK", "24", "2010-12-01 08:45:00", "3.75", "12583", "France"),
    ("536370", "POST", "POSTAGE", "3", "2010-12-01 08:45:00", "18", "12583", "France"),
    ("C536379", "22728", "ALARM CLOCK BAKELIKE PINK", "-2", "2010-12-19 09:41:00", "3.75", "12583", "France"),
    ("536380", "21730", "GLASS STAR FROSTED T-LIGHT HOLDER", "6", "2011-01-05 10:00:00", "4.25", "12431", "Australia"),
    ("536381", "22745", "POPPYS PLAYHOUSE BEDROOM", "6", "2011-02-10 11:00:00", "2.1", "12431", "Australia"),
    ("536390", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "12", "2011-03-01 12:00:00", "2.5", "13047", "United Kingdom"),
    ("536391", "22086", "PAPER CHAIN KIT 50S CHRISTMAS", "6", "2011-03-02 12:00:00", "2.95", "", "United Kingdom"),
]
#: The day after the last clean line.
AS_OF = date(2011, 3, 3)
#: Purchases minus matched cancellations of the clean lines, by hand.
NET_REVENUE = Decimal("46.74") + Decimal("84.08") + Decimal("82.50") + Decimal("38.10")
COPIES = [
    ("  536365 ", "85123a ", " white hanging  heart t-light holder ", "6.0", "12/1/2010 8:26", "2.550", "17850.0",
     "UNITED KINGDOM"),
    ("c536379", " 22728", "Alarm Clock Bakelike Pink", "-2.0", "12/19/2010 9:41", "3.750", "12583", " france "),
    ("536390", "85123A", "WHITE HANGING HEART  T-LIGHT HOLDER", "12", "2011-03-01 12:00:00", "2.50", "13047", "united  kingdom"),
    ("536381", "22745", "POPPYS PLAYHOUSE BEDROOM", "6", "2011-02-10 11:00:00", "2.10", "12431", "AUSTRALIA"),
]
OVERFLOW_QUANTITY, OVERFLOW_PRICE = 9_000_000_000_000_000_000, Decimal("999999999999.999")
#: Invoice -> (line, the start of its status_reason); each line would be a purchase if it were plausible.
IMPLAUSIBLE = {
    "536400": (("536400", "22111", "SCOTTIE DOG HOT WATER BOTTLE", "1", "1989-12-31 10:00:00", "4.95", "17850", "United Kingdom"),
               "implausible_date", "invoiced_at 1989-12-31 10:00:00 is before min_invoice_date 1990-01-01"),
    "536401": (("536401", "22112", "CHOCOLATE HOT WATER BOTTLE", "1", "2099-06-01 10:00:00", "4.95", "13047", "United Kingdom"),
               "implausible_date", "invoiced_at 2099-06-01 10:00:00 is after max_invoice_date "),
    # Dated after every line used: a rejected line must not move the as-of date.
    "536402": (("536402", "22113", "GREY HEART HOT WATER BOTTLE", "1000000000000", "2011-03-06 10:00:00", "2.55", "12583",
                "France"),
               "implausible_value", "quantity 1000000000000 exceeds max_quantity 1000000; "
                                    "quantity x unit_price 2550000000000.000 exceeds max_line_value 10000000"),
    "536403": (("536403", "22114", "HOT WATER BOTTLE TEA AND SYMPATHY", "1", "2011-01-10 10:00:00", "2000000", "12583", "France"),
               "implausible_value", "unit_price 2000000.000 exceeds max_unit_price 1000000"),
    "536404": (("536404", "22115", "HOT WATER BOTTLE BABUSHKA", "10000", "2011-01-10 10:00:00", "5000", "12431", "Australia"),
               "implausible_value", "quantity x unit_price 50000000.000 exceeds max_line_value 10000000"),
    # Beyond DECIMAL(18,3), the type of every money sum: the reader rejects it before staging sees it.
    "536405": (("536405", "22116", "HOT WATER BOTTLE KEEP CALM", str(OVERFLOW_QUANTITY), "2011-01-10 10:00:00",
                str(OVERFLOW_PRICE), "17850", "United Kingdom"),
               "unparseable", f"line value Quantity x UnitPrice = {OVERFLOW_QUANTITY * OVERFLOW_PRICE:.3f} "
                              "is beyond DECIMAL(18,3)"),
}
ON_AS_OF_DAY = ("536410", "22117", "HOT WATER BOTTLE I AM SO POORLY", "1", "2011-03-03 09:00:00", "4.95", "17850",
                "United Kingdom")
SELECTION = ["--select", "+customer_rfm", "+line_accounting", "--indirect-selection", "cautious"]
LINE_COLUMNS = "invoice_no, stock_code, description, country, quantity, unit_price, invoiced_at, customer_id, line_status"


def write_csv(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([HEADER, *rows])
    return path


def build(work_dir: Path, rows: list[tuple], dbt_vars: dict | None = None) -> Build:
    work_dir.mkdir(parents=True, exist_ok=True)
    data_path = write_csv(work_dir / "invoice_lines.csv", rows)
    db_path = work_dir / "segments.duckdb"
    result = run_dbt(["build", *SELECTION], db_path, work_dir, {"transactions_path": str(data_path), **(dbt_vars or {})})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    return Build(db_path, data_path, result.returncode, output)


@background_build("reference")
def build_reference(tmp_path_factory) -> Build:
    return build(tmp_path_factory.mktemp("reference"), [*CLEAN, ON_AS_OF_DAY], {"as_of_date": AS_OF.isoformat()})


@background_build("messy")
def build_messy(tmp_path_factory) -> Build:
    return build(tmp_path_factory.mktemp("messy"), [*COPIES, *CLEAN, *(line for line, _, _ in IMPLAUSIBLE.values())])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Build:
    return built(build_reference, tmp_path_factory)


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Build:
    return built(build_messy, tmp_path_factory)


def test_every_customer_figure_is_the_reference_one(messy, reference):
    rfm = "select * from customer_rfm order by customer_id"
    assert messy.query(rfm) == reference.query(rfm)
    # Neither the 2099 line nor the 1e12 one of 2011-03-06 moves the as-of date: it is the day after the
    # last line neither unparseable nor implausible.
    assert messy.scalar("select distinct as_of_date from customer_rfm") == AS_OF
    assert messy.scalar("select sum(monetary) from customer_rfm") == NET_REVENUE


def test_copies_are_one_line_shown_in_the_usual_spelling(messy, reference):
    used = f"select {LINE_COLUMNS} from stg_retail__invoice_lines where line_status in ('purchase', 'cancellation') order by all"
    assert messy.query(used) == reference.query(used)
    countries = "select distinct country from stg_retail__invoice_lines order by 1"
    assert [c for (c,) in messy.query(countries)] == ["Australia", "France", "United Kingdom"]
    assert messy.query(countries) == reference.query(countries)
    # The copies came first in the file: the kept line is the copy (line_id = its position among the
    # data rows), counted twice.
    kept = messy.query("select line_id, invoice_no, source_line_count from stg_retail__invoice_lines "
                       "where has_duplicates order by line_id")
    assert kept == [(1, "536365", 2), (2, "C536379", 2), (3, "536390", 2), (4, "536381", 2)]


def test_line_accounting_counts_the_copies_and_the_implausible_lines(messy, reference):
    accounted = {outcome: (lines, value) for outcome, lines, value in
                 messy.query("select outcome, input_lines, line_value from line_accounting")}
    assert sum(lines for lines, _ in accounted.values()) == len(COPIES) + len(CLEAN) + len(IMPLAUSIBLE)
    copies_value = Decimal("6") * Decimal("2.55") - 2 * Decimal("3.75") + 12 * Decimal("2.5") + 6 * Decimal("2.1")
    assert accounted["duplicate_copy"] == (len(COPIES), copies_value)
    assert accounted["implausible_date"] == (2, Decimal("4.95") * 2)
    # Implausible values are not summed: some would overflow any total.
    assert accounted["implausible_value"] == (3, 0)
    assert accounted["unparseable"][0] == 1
    expected = dict(reference.query("select outcome, input_lines from line_accounting"))
    assert expected["implausible_date"] == 1  # the reference's line on the as-of date
    for outcome in ("purchase", "cancellation", "non_merchandise", "missing_customer"):
        assert accounted[outcome][0] == expected[outcome], outcome


def test_each_implausible_line_says_why(messy, reference):
    rows = messy.query("select invoice_no, line_status, status_reason from stg_retail__invoice_lines "
                       "where invoice_no in (" + ", ".join(f"'{i}'" for i in IMPLAUSIBLE) + ")")
    assert len(rows) == len(IMPLAUSIBLE)
    for invoice_no, status, reason in rows:
        _, expected_status, expected_reason = IMPLAUSIBLE[invoice_no]
        assert (status, reason[:len(expected_reason)]) == (expected_status, expected_reason), invoice_no
        if invoice_no == "536401":
            assert date.fromisoformat(reason[len(expected_reason):]) >= date(2026, 1, 1)  # the build day
        else:
            assert reason == expected_reason
    assert reference.query("select line_status, status_reason from stg_retail__invoice_lines where invoice_no = '536410'") == [
        ("implausible_date", "invoiced_at 2011-03-03 09:00:00 is not before as_of_date 2011-03-03")]
    # Every line that is not used says why; purchases and cancellations carry no reason.
    assert messy.scalar("select count(*) from stg_retail__invoice_lines "
                        "where (status_reason is null) <> (line_status in ('purchase', 'cancellation'))") == 0


@pytest.mark.parametrize(("var", "value", "message"), [
    ("max_quantity", "2.5", 'var max_quantity must be a whole number from 1 to 1000000000000000, got "2.5"'),
    ("max_line_value", "1e7) or (1=1", 'var max_line_value must be a number from 0 to 100000000000000, got "1e7) or (1=1"'),
])
def test_limit_vars_are_checked(tmp_path, var, value, message):
    result = run_dbt(["compile", "--select", "stg_retail__invoice_lines"], tmp_path / "compile.duckdb", tmp_path,
                     {"transactions_path": "unused.csv", var: value})
    assert result.returncode != 0
    assert message in result.stdout

"""Var identical_lines, in two small real `dbt build`s of one input: 'collapse' (the default) keeps one
copy of lines that are identical once normalised and counts the others as duplicate_copy; 'keep' makes
every copy a line of its own, a purchase in line_accounting and in the customer's spend.

The input holds one customer's order line twice as written (a repeat order in the same minute, or an
export artefact: the data cannot tell), a copy of another line written differently (padded, lower case,
`2.550`) and lines that no rule touches.
"""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from conftest import Build, background_build, built, run_dbt

pytestmark = pytest.mark.dbt

HEADER = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
REPEATED = ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "2010-12-01 08:26:00", "2.55", "17850",
            "United Kingdom")
WRITTEN_DIFFERENTLY = [
    ("536366", "22633", "HAND WARMER UNION JACK", "6", "2010-12-01 08:28:00", "1.85", "17850", "United Kingdom"),
    (" 536366", "22633 ", "hand warmer union jack", "6.0", "2010-12-01 08:28:00", "1.850", "17850", "united kingdom"),
]
OTHERS = [
    ("536367", "84879", "ASSORTED COLOUR BIRD ORNAMENT", "32", "2010-12-01 08:34:00", "1.69", "13047", "United Kingdom"),
    ("536370", "22728", "ALARM CLOCK BAKELIKE PINK", "24", "2010-12-02 08:45:00", "3.75", "12583", "France"),
]
LINES = [REPEATED, *WRITTEN_DIFFERENTLY, REPEATED, *OTHERS]
SELECTION = ["--select", "+line_accounting", "+customer_rfm", "--indirect-selection", "cautious"]


def rule_builder(rule: str):
    """The background build of the input under one rule, in its own directory."""
    def build_rule(tmp_path_factory) -> Build:
        work = tmp_path_factory.mktemp(f"identical_lines_{rule}")
        path = work / "orders.csv"
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerows([HEADER, *LINES])
        db = work / f"{rule}.duckdb"
        dbt_vars = {"transactions_path": str(path), "as_of_date": "2010-12-03"}
        if rule == "keep":
            dbt_vars["identical_lines"] = "keep"
        result = run_dbt(["build", *SELECTION], db, work / rule, dbt_vars)
        build = Build(db, path, result.returncode, result.stdout + result.stderr)
        assert result.returncode == 0, build.output[-4000:]
        return build

    build_rule.__qualname__ = build_rule.__name__ = f"build_{rule}"
    return background_build("builds")(build_rule)


#: rule -> its background build.
BUILDERS = {rule: rule_builder(rule) for rule in ("collapse", "keep")}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Build]:
    return {rule: built(builder, tmp_path_factory) for rule, builder in BUILDERS.items()}


def _accounting(build: Build) -> dict[str, int]:
    return dict(build.query("select outcome, input_lines from line_accounting where input_lines > 0"))


def test_collapse_is_the_default_and_keeps_one_copy(builds):
    build = builds["collapse"]
    assert build.query("select value, is_default from build_settings where name = 'identical_lines'") == [
        ("collapse", True)]
    assert _accounting(build) == {"purchase": 4, "duplicate_copy": 2}
    assert build.query("select line_id, source_line_count from stg_retail__invoice_lines order by line_id") == [
        (1, 2), (2, 2), (5, 1), (6, 1)]
    assert build.scalar("select monetary from customer_rfm where customer_id = 17850") == Decimal("26.400")


def test_keep_makes_every_copy_a_purchase(builds):
    build = builds["keep"]
    assert build.query("select value, is_default from build_settings where name = 'identical_lines'") == [
        ("keep", False)]
    assert _accounting(build) == {"purchase": 6}
    assert build.query("select line_id, source_line_count from stg_retail__invoice_lines order by line_id") == [
        (line_id, 1) for line_id in range(1, 7)]
    # Both orders of 6 x 2.55 and both hand warmer lines are spend: 2 x 15.30 + 2 x 11.10.
    assert build.scalar("select monetary from customer_rfm where customer_id = 17850") == Decimal("52.800")
    # Only the customer who repeated lines spends more.
    collapsed = dict(builds["collapse"].query("select customer_id, monetary from customer_rfm"))
    kept = dict(build.query("select customer_id, monetary from customer_rfm"))
    assert {k: v for k, v in kept.items() if k != 17850} == {k: v for k, v in collapsed.items() if k != 17850}

"""How the report shows money, counts, dates and box plots: the formats module and the page's table cells,
on values as DuckDB hands them over (DECIMAL sums, counts read as doubles)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from customer_segments.delivery import formats
from customer_segments.delivery.report.page import PALETTE, Report, table_html
from customer_segments.delivery.report.segment_sections import box_stats


def test_money_has_the_currency_and_two_decimals():
    assert formats.money(Decimal("8289324.253")) == "£8,289,324.25"
    assert formats.money(8737227.643) == "£8,737,227.64"
    assert formats.money(3871.917) == "£3,871.92"
    assert formats.money(-12.5) == "-£12.50"
    assert formats.money(0) == "£0.00"
    # Half to even on the decimal value, not on a float's binary approximation.
    assert formats.money(Decimal("0.125")) == "£0.12" and formats.money(Decimal("0.135")) == "£0.14"
    assert formats.money(None) == "" and formats.money(float("nan")) == "" and formats.money(pd.NA) == ""


def test_counts_are_whole_numbers_with_thousands_separators():
    assert formats.count(6388) == "6,388"
    assert formats.count(6388.0) == "6,388"
    assert formats.count(None) == ""
    with pytest.raises(ValueError, match="whole number"):
        formats.count(6388.5)


def test_table_cells_show_money_counts_and_dates_as_a_person_reads_them():
    frame = pd.DataFrame({
        "Segment": ["A", "B"],
        "Customers": [6388.0, 12.0],  # a count read as a double
        "Net spend (£)": [8737227.643, 3871.917],  # money by its title
        "spend_mae": [1.5, 2.25],  # money by name
        "silhouette": [0.51234, 0.4],
        "Last purchase": pd.to_datetime(["2011-12-09", "2011-11-30"]),
    })
    page = table_html(frame, money=("spend_mae",))
    assert ("<tr><td>A</td><td>6,388</td><td>£8,737,227.64</td><td>£1.50</td><td>0.512</td><td>2011-12-09</td></tr>"
            in page)
    assert "<td>12</td><td>£3,871.92</td><td>£2.25</td><td>0.400</td><td>2011-11-30</td>" in page
    # Wide tables scroll in their own frame instead of stretching the page.
    assert page.startswith("<div class='table-wrap'><table>")


def test_box_whiskers_are_tukeys_from_the_quartiles_not_the_extremes():
    values = pd.Series([*range(1, 101), 1000])
    stats = box_stats(values, log=False)
    assert (stats["q1"], stats["median"], stats["q3"]) == (26.0, 51.0, 76.0)
    # The furthest values within 1.5 interquartile ranges of the box: 1000 is an outlier, not the whisker.
    assert stats["lowerfence"] == 1 and stats["upperfence"] == 100
    # On a log axis the reach is measured in log units, as the reader sees the box: 10,000 is an outlier on
    # a linear axis and inside the whisker on a log one.
    spread = pd.Series([1, 10, 100, 1000, 10_000])
    assert box_stats(spread, log=False)["upperfence"] == 1000
    logged = box_stats(spread, log=True)
    assert logged["upperfence"] == pytest.approx(10_000) and logged["median"] == pytest.approx(100)


def test_segments_go_in_value_order_whatever_their_ids(tmp_path):
    """A first build numbers segments by value, so the rule shows only where ids were kept across builds:
    here segment 1 has the lowest net revenue per customer and comes last, keeping its colour."""
    path = tmp_path / "published.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("""create table segment_profiles as select * from (values
            (1, 'Kept id, now low value', 100, 1000.0), (2, 'Top', 10, 5000.0), (3, 'Middle', 50, 2500.0)
        ) as t(segment_id, segment_name, customers, net_revenue)""")
    with duckdb.connect(str(path), read_only=True) as con:
        report = Report(con)
        assert report.segment_names() == ["Top", "Middle", "Kept id, now low value"]
        rows = pd.DataFrame({"segment_id": [1, 1, 2, 3, None], "row": ["a", "b", "c", "d", "e"]})
        assert list(report.in_value_order(rows).row) == ["c", "d", "a", "b", "e"]  # stable, no segment last
        by_name = pd.DataFrame({"segment_name": ["Middle", "Kept id, now low value", "Top"]})
        assert list(report.in_value_order(by_name, "segment_name").segment_name) == report.segment_names()
        assert report.segment_colours() == {"Top": PALETTE[1], "Middle": PALETTE[2], "Kept id, now low value": PALETTE[0]}

"""Headline figures of a built DuckDB file, as printed in the README.

    python -m customer_segments.delivery.summary [path/to/customer_segments.duckdb]
"""

from __future__ import annotations

import argparse
import os
import sys

import duckdb

HEADLINE_SQL = """
select
    (select sum(input_lines) from line_accounting) as input_lines,
    (select count(*) from customer_rfm) as customers,
    (select sum(gross_spend) from customer_rfm) as gross_spend,
    (select sum(cancelled_value) from customer_rfm) as cancelled_value,
    (select sum(monetary) from customer_rfm) as net_revenue,
    (select sum(unmatched_value) from cancellations) as unmatched_cancellation_value,
    (select any_value(as_of_date) from customer_rfm) as as_of_date
"""


def headline_figures(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Input lines, customers, gross, cancelled (matched), net and unmatched value, as-of date."""
    cursor = con.execute(HEADLINE_SQL)
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0]))


def segment_table(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(segment_id, name, label, customers, % customers, net revenue, % revenue) per segment."""
    return con.execute(
        "select segment_id, segment_name, segment_label, customers, round(100 * share_of_customers, 1), "
        "net_revenue, round(100 * share_of_net_revenue, 1) from segment_profiles order by segment_id"
    ).fetchall()


def to_markdown(figures: dict[str, object], segments: list[tuple]) -> str:
    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value:,} |" if isinstance(value, (int, float)) or hasattr(value, "as_tuple")
              else f"| {name} | {value} |" for name, value in figures.items()]
    lines += ["", "| segment | name | label | customers | % customers | net revenue | % revenue |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {s[0]} | {s[1]} | {s[2]} | {s[3]:,} | {s[4]} | {s[5]:,} | {s[6]} |" for s in segments]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", nargs="?", default=os.environ.get("SEGMENTS_PUBLISHED", "customer_segments.duckdb"))
    args = parser.parse_args(argv)
    if not os.path.exists(args.database):
        print(f"error: {args.database} not found: run `make demo` (or dbt build) first", file=sys.stderr)
        return 2
    with duckdb.connect(args.database, read_only=True) as con:
        print(to_markdown(headline_figures(con), segment_table(con)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

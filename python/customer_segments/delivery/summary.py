"""Headline figures of a built DuckDB file, as printed in the README.

    python -m customer_segments.delivery.summary [path/to/customer_segments.duckdb]

The figures are the mart build_headline's (the report's headline cards read the same row); the
default file is the published one, ``SEGMENTS_PUBLISHED`` as customer_segments.settings declares it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from customer_segments.delivery.published import DEFAULT_PUBLISHED, connect_published, published_path
from customer_segments.settings import SettingsError

#: The figures printed, in order, by their column names in build_headline.
HEADLINE_FIGURES = ("input_lines", "customers", "gross_spend", "cancelled_value", "net_revenue",
                    "unmatched_cancellation_value", "as_of_date")


def headline_figures(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Input lines, customers, gross, cancelled (matched), net and unmatched value, as-of date."""
    row = con.execute(f"select {', '.join(HEADLINE_FIGURES)} from build_headline").fetchone()
    return dict(zip(HEADLINE_FIGURES, row))


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
    parser.add_argument("database", nargs="?", type=Path, default=None,
                        help=f"default: $SEGMENTS_PUBLISHED or {DEFAULT_PUBLISHED}")
    args = parser.parse_args(argv)
    try:
        with connect_published(args.database or published_path()) as con:
            print(to_markdown(headline_figures(con), segment_table(con)))
    except (FileNotFoundError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

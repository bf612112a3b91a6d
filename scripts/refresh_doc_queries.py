"""Re-run the SQL examples of a Markdown page against a DuckDB file and rewrite their output tables.

    python scripts/refresh_doc_queries.py docs/analysts.md customer_segments.duckdb

A ```sql block followed (after a blank line) by a Markdown table gets that table replaced by the
query's result, so the figures quoted in the docs are those of the build they were run on.
"""

from __future__ import annotations

import datetime
import decimal
import re
import sys
from pathlib import Path

import duckdb

BLOCK = re.compile(r"(```sql\n(?P<sql>.*?)```\n\n)(?P<table>(?:\|[^\n]*\|\n)+)", re.S)


def cell(value: object) -> str:
    """Money and other decimals with thousands separators and 2 places; the rest as DuckDB gives it."""
    if isinstance(value, decimal.Decimal):
        return f"{value:,.2f}"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def markdown_table(cursor: duckdb.DuckDBPyConnection) -> str:
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def refresh(page: str, con: duckdb.DuckDBPyConnection) -> str:
    return BLOCK.sub(lambda m: m.group(1) + markdown_table(con.execute(m.group("sql"))), page)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    page, database = Path(argv[0]), argv[1]
    with duckdb.connect(database, read_only=True) as con:
        page.write_text(refresh(page.read_text(), con))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

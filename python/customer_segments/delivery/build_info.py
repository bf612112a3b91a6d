"""What a build read, in a few lines of text: the one way the publish output and the report show the
facts of table build_info (input file, size and lines, dates, column mapping, vars not at their default,
project version, build start), so that no build's input goes unnamed.
"""

from __future__ import annotations

import json

import duckdb


def build_info_facts(con: duckdb.DuckDBPyConnection) -> dict[str, object] | None:
    """The row of build_info as a mapping by column; None for a file built before the table existed."""
    tables = {name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
    if "build_info" not in tables:
        return None
    cursor = con.execute("select * from build_info")
    row = cursor.fetchone()
    return None if row is None else dict(zip([column[0] for column in cursor.description], row))


def _pairs(json_text: object, separator: str) -> str:
    mapping = json.loads(str(json_text or "{}"))
    return ", ".join(f"{key}{separator}{value}" for key, value in mapping.items()) or "none"


def build_info_lines(facts: dict[str, object]) -> list[str]:
    """The facts as lines of text, in a fixed order (what publish prints first and the report opens with)."""
    derived = "derived from the data" if facts["as_of_date_is_derived"] else "var as_of_date"
    return [
        f"input: {facts['input_path']} ({facts['input_file_bytes']:,} bytes, {facts['input_lines']:,} lines)",
        f"invoice dates: {facts['first_invoice_date']} to {facts['last_invoice_date']}; "
        f"as-of date {facts['as_of_date']} ({derived})",
        f"column mapping: {_pairs(facts['column_mapping'], ' -> ')}"
        + (f"; customer ids: {facts['customer_id_kind']}" if facts.get("customer_id_kind") else ""),
        f"vars not at their default: {_pairs(facts['vars_not_default'], '=')}",
        f"project version {facts['project_version']}, build started {facts['build_started_at']} UTC",
    ]


def describe_build(path: str) -> list[str]:
    """The lines of :func:`build_info_lines` for the DuckDB file at ``path`` (read-only); [] without build_info."""
    with duckdb.connect(path, read_only=True) as con:
        facts = build_info_facts(con)
    return [] if facts is None else build_info_lines(facts)


def input_of(path: str) -> str | None:
    """The input file a published DuckDB file was built from (build_info.input_path); None without one."""
    with duckdb.connect(path, read_only=True) as con:
        facts = build_info_facts(con)
    return None if facts is None else str(facts["input_path"])

"""Read a shop's invoice-line export (parquet, CSV or xlsx) into canonical, typed columns.

The loader never drops a line: a value that cannot be parsed becomes NULL and the line carries a
``parse_error`` saying which column and which value, so the line accounting can reject it with a
reason. Problems with the file as a whole (missing, empty, unreadable, a required column absent)
raise :class:`InputError` naming the file and the column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import duckdb

#: Canonical column -> accepted source names, compared case-insensitively ignoring spaces,
#: underscores and dashes. Covers the UCI "Online Retail" (I and II) exports and snake_case.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "invoice_no": ("invoiceno", "invoice", "invoicenumber", "orderid", "orderno", "order"),
    "stock_code": ("stockcode", "sku", "productcode", "productid"),
    "description": ("description", "productname", "product"),
    "quantity": ("quantity", "qty"),
    "invoiced_at": ("invoicedate", "invoicedat", "orderdate", "orderedat", "date"),
    "unit_price": ("unitprice", "price"),
    "customer_id": ("customerid", "customer", "customerno"),
    "country": ("country",),
}
REQUIRED_COLUMNS = ("invoice_no", "quantity", "invoiced_at", "unit_price", "customer_id")
OPTIONAL_COLUMNS = ("stock_code", "description", "country")
#: Timestamp formats tried in order for text dates; the second is the UCI original's `12/1/2010 8:26`.
DEFAULT_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%m/%d/%Y %H:%M")
SUPPORTED_SUFFIXES = (".parquet", ".csv", ".xlsx")
#: Money is exact: DECIMAL sums do not change with the thread count, double sums do.
MONEY_TYPE = "DECIMAL(18,3)"


class InputError(ValueError):
    """The transactions file cannot be used; the message names the file and what is wrong."""


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def resolve_columns(
    present: list[str], path: str, column_map: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """Map each canonical column to the source column that holds it.

    Parameters
    ----------
    present : source column names, as read.
    path : the file, for error messages.
    column_map : optional explicit canonical -> source name overrides.

    Returns
    -------
    dict canonical name -> source name, or None for an absent optional column.
    """
    column_map = dict(column_map or {})
    unknown = sorted(set(column_map) - set(COLUMN_ALIASES))
    if unknown:
        raise InputError(f"column mapping names unknown canonical columns {unknown}; known: {sorted(COLUMN_ALIASES)}")
    by_normalised = {_normalise(c): c for c in present}
    resolved: dict[str, str | None] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        if canonical in column_map:
            wanted = column_map[canonical]
            if wanted not in present:
                raise InputError(
                    f"{path}: column '{wanted}' (mapped to {canonical}) not found; columns present: {present}"
                )
            resolved[canonical] = wanted
            continue
        match = next((by_normalised[a] for a in (_normalise(canonical), *aliases) if a in by_normalised), None)
        if match is None and canonical in REQUIRED_COLUMNS:
            raise InputError(
                f"{path}: required column '{canonical}' not found (looked for {', '.join(aliases)}); "
                f"columns present: {present}"
            )
        resolved[canonical] = match
    return resolved


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed_expression(canonical: str, source: str | None, source_type: str, date_formats: tuple[str, ...]) -> tuple[str, str | None]:
    """SQL for one canonical column, and SQL for its parse-error message (None when it cannot fail)."""
    if source is None:
        return f"cast(null as varchar) as {canonical}", None
    col = _quote(source)
    is_text = source_type.upper() == "VARCHAR"
    if canonical in ("invoice_no", "stock_code", "description", "country"):
        return f"cast({col} as varchar) as {canonical}", None
    if canonical == "invoiced_at":
        if not is_text:
            return f"cast({col} as timestamp) as {canonical}", None
        formats = "[" + ", ".join(_literal(f) for f in date_formats) + "]"
        parsed = f"try_strptime(trim({col}), {formats})"
        what = "is not a date in any of the formats " + ", ".join(date_formats)
    elif canonical == "quantity":
        if not is_text:
            return f"cast({col} as bigint) as {canonical}", None
        parsed = f"try_cast(trim({col}) as bigint)"
        what = "is not a whole number"
    elif canonical == "unit_price":
        if not is_text:
            return f"cast({col} as {MONEY_TYPE}) as {canonical}", None
        # A latin-1 export may carry the pound sign; thousands separators are common in spreadsheets.
        parsed = f"try_cast(replace(replace(trim({col}), '£', ''), ',', '') as {MONEY_TYPE})"
        what = "is not a price"
    elif canonical == "customer_id":
        if not is_text:
            return f"cast({col} as bigint) as {canonical}", None
        # Ids are exported as 17850 or 17850.0.
        parsed = f"try_cast(try_cast(trim({col}) as double) as bigint)"
        what = "is not a customer number"
    else:  # pragma: no cover - every canonical column is handled above
        raise AssertionError(canonical)
    error = (
        f"case when nullif(trim({col}), '') is not null and {parsed} is null "
        f"then {_literal(source + ' ' + chr(39))} || {col} || {_literal(chr(39) + ' ' + what)} end"
    )
    return f"{parsed} as {canonical}", error


def _read_source(con: duckdb.DuckDBPyConnection, path: str) -> tuple[str, dict]:
    """A SQL `from` clause reading the file with a `source_line_number` column, and its parameters."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        # file_row_number is 0-based; line numbers are 1-based like an editor's.
        return "(select *, file_row_number + 1 as source_line_number from read_parquet($path, file_row_number = true))", {"path": path}
    if suffix == ".csv":
        # All text, so that a bad value becomes a parse error on its line instead of failing the read.
        # Line 1 is the header; insertion order is preserved, so row_number follows the file.
        return (
            "(select *, row_number() over () + 1 as source_line_number "
            "from read_csv($path, all_varchar = true, header = true))",
            {"path": path},
        )
    if suffix == ".xlsx":
        import pandas as pd

        frame = pd.read_excel(path, dtype=str, engine="openpyxl")
        frame["source_line_number"] = range(2, len(frame) + 2)
        con.register("_xlsx_invoice_lines", frame)
        return "_xlsx_invoice_lines", {}
    raise InputError(f"{path}: unsupported file type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}")


def transactions_sql(
    con: duckdb.DuckDBPyConnection,
    path: str,
    column_map: Mapping[str, str] | None = None,
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS,
) -> tuple[str, dict]:
    """The SQL (and parameters) that reads ``path`` into canonical typed columns.

    Output columns: source_line_number, invoice_no, stock_code, description, quantity,
    invoiced_at, unit_price, customer_id, country, parse_error.
    """
    if not os.path.exists(path):
        raise InputError(f"{path}: transactions file not found (set the dbt var transactions_path or env SEGMENTS_DATA; `make data` writes the embedded default)")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: transactions file is empty")
    source, params = _read_source(con, path)
    try:
        described = con.execute(f"describe select * from {source}", params).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot be read as {Path(path).suffix.lstrip('.')}: {exc}") from exc
    types = {row[0]: row[1] for row in described}
    present = [c for c in types if c != "source_line_number" and c != "file_row_number"]
    resolved = resolve_columns(present, path, column_map)
    selects, errors = [], []
    for canonical, source_col in resolved.items():
        expr, error = _typed_expression(canonical, source_col, types.get(source_col or "", "VARCHAR"), date_formats)
        selects.append(expr)
        if error:
            errors.append(error)
    parse_error = f"nullif(concat_ws('; ', {', '.join(errors)}), '')" if errors else "cast(null as varchar)"
    sql = (
        "select cast(source_line_number as bigint) as source_line_number, "
        + ", ".join(selects)
        + f", {parse_error} as parse_error from {source}"
    )
    return sql, params


def load_transactions(
    con: duckdb.DuckDBPyConnection,
    path: str,
    column_map: Mapping[str, str] | None = None,
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS,
) -> duckdb.DuckDBPyRelation:
    """Relation over ``path`` with canonical typed columns; nothing is pulled into Python."""
    sql, params = transactions_sql(con, path, column_map, date_formats)
    relation = con.sql(sql, params=params or None)
    if not con.execute(f"select 1 from ({sql}) limit 1", params or None).fetchall():
        raise InputError(f"{path}: transactions file has a header but no lines")
    return relation

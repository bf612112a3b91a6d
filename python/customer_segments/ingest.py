"""Read a shop's invoice-line export (parquet, CSV or xlsx) into canonical, typed columns.

The loader never drops a line: a value that cannot be parsed becomes NULL and the line carries a
``parse_error`` saying which column and which value, so the line accounting can reject it with a
reason. Problems with the file as a whole (missing, empty, unreadable, a required column absent)
raise :class:`InputError` naming the file and the column.

CSV rows that are malformed as CSV (too many or too few fields, an unterminated quote, bytes that are
not text in the file's encoding) cannot be read into columns at all: they are skipped by the reader
and returned by :func:`rejected_lines` with their line number, raw text and reason, so the line
accounting still adds up to the file's lines. Options come from dbt vars and are checked by
:func:`input_options` before anything is read; no option is ever pasted into SQL.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from customer_segments.settings import CSV_ENCODINGS, parse_settings

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
#: What an absent optional column reads as, so the models degrade instead of failing: without stock
#: codes every line is one product (a cancellation nets against the customer's earlier purchases of
#: anything), without countries every customer's country is this text, without descriptions no names.
ABSENT_PLACEHOLDERS = {"stock_code": "(no stock code)", "description": None, "country": "(no country)"}
#: Timestamp formats tried in order for text dates; the second is the UCI original's `12/1/2010 8:26`.
DEFAULT_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%m/%d/%Y %H:%M")
SUPPORTED_SUFFIXES = (".parquet", ".csv", ".xlsx")
#: DuckDB type families accepted for the numeric and timestamp columns when the file is typed.
NUMERIC_TYPE = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|DECIMAL.*|DOUBLE|FLOAT|REAL)$")
INTEGER_TYPE = re.compile(r"^U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?$")
TEMPORAL_TYPE = re.compile(r"^(TIMESTAMP.*|DATE)$")
#: Money is exact: DECIMAL sums do not change with the thread count, double sums do.
MONEY_TYPE = "DECIMAL(18,3)"


class InputError(ValueError):
    """The transactions file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class InputOptions:
    """Validated input options: the dbt vars transactions_path, column_map, date_formats, csv_encoding
    and csv_delimiter (see docs/input_contract.md)."""

    path: str
    column_map: dict[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    csv_encoding: str = "auto"
    csv_delimiter: str = ","


def _check_date_formats(formats: object) -> tuple[str, ...]:
    if formats is None or formats == []:
        return DEFAULT_DATE_FORMATS
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) and "%" in f for f in formats):
        raise InputError(f"var date_formats must be a list of strptime formats such as '%d/%m/%Y %H:%M', got {formats!r}")
    with duckdb.connect() as con:
        for date_format in formats:
            try:
                con.execute("select try_strptime('', $format)", {"format": date_format}).fetchall()
            except duckdb.Error as exc:
                raise InputError(f"var date_formats: {date_format!r} is not a valid format: {exc}") from None
    return tuple(formats)


def input_options(
    path: object,
    column_map: object = None,
    date_formats: object = None,
    csv_encoding: object = None,
    csv_delimiter: object = None,
) -> InputOptions:
    """Check the input vars and return them typed; raise :class:`SettingsError` naming the bad var.

    Values may be Python objects or the text dbt passes to Python models (JSON for lists and
    mappings); customer_segments.settings declares and parses them. Empty means the default.
    """
    settings = parse_settings({"transactions_path": path, "column_map": column_map, "date_formats": date_formats,
                               "csv_encoding": csv_encoding, "csv_delimiter": csv_delimiter})
    return InputOptions(
        path=settings["transactions_path"],
        column_map=settings["column_map"],
        date_formats=_check_date_formats(settings["date_formats"]),
        csv_encoding=CSV_ENCODINGS[settings["csv_encoding"]],
        csv_delimiter=settings["csv_delimiter"],
    )


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


def _whole_number(value: str) -> str:
    """SQL: the text ``value`` as a bigint when it is a whole number (2, 2.0), else NULL.

    A plain cast would round 2.5 to 3 without a word.
    """
    number = f"try_cast({value} as double)"
    return f"case when {number} = trunc({number}) then cast({number} as bigint) end"


def _typed_expression(
    canonical: str, source: str | None, source_type: str, date_formats: tuple[str, ...], path: str
) -> tuple[str, str | None]:
    """SQL for one canonical column, and SQL for its parse-error message (None when it cannot fail)."""
    if source is None:
        placeholder = ABSENT_PLACEHOLDERS[canonical]
        return f"cast({'null' if placeholder is None else _literal(placeholder)} as varchar) as {canonical}", None
    col = _quote(source)
    source_type = source_type.upper()
    is_text = source_type == "VARCHAR"
    if canonical in ("invoice_no", "stock_code", "description", "country"):
        return f"cast({col} as varchar) as {canonical}", None
    wanted = TEMPORAL_TYPE if canonical == "invoiced_at" else NUMERIC_TYPE
    if not is_text and not wanted.match(source_type):
        kind = "a timestamp, a date or text" if canonical == "invoiced_at" else "a number or text"
        raise InputError(f"{path}: column '{source}' ({canonical}) has type {source_type}; expected {kind}")
    if canonical == "invoiced_at":
        if not is_text:
            return f"cast({col} as timestamp) as {canonical}", None
        formats = "[" + ", ".join(_literal(f) for f in date_formats) + "]"
        parsed = f"try_strptime(trim({col}), {formats})"
        what = "is not a date in any of the formats " + ", ".join(date_formats)
    elif canonical == "quantity":
        if INTEGER_TYPE.match(source_type):
            return f"cast({col} as bigint) as {canonical}", None
        # Text, or a float/decimal column: only whole numbers are quantities.
        value = f"trim({col})" if is_text else f"cast({col} as varchar)"
        parsed = _whole_number(value)
        what = "is not a whole number"
        col = value
    elif canonical == "unit_price":
        if not is_text:
            return f"cast({col} as {MONEY_TYPE}) as {canonical}", None
        # A latin-1 export may carry the pound sign; thousands separators are common in spreadsheets.
        parsed = f"try_cast(replace(replace(trim({col}), '£', ''), ',', '') as {MONEY_TYPE})"
        what = "is not a price"
    elif canonical == "customer_id":
        if INTEGER_TYPE.match(source_type):
            return f"cast({col} as bigint) as {canonical}", None
        # Ids are exported as 17850 or 17850.0.
        value = f"trim({col})" if is_text else f"cast({col} as varchar)"
        parsed = _whole_number(value)
        what = "is not a customer number"
        col = value
    else:  # pragma: no cover - every canonical column is handled above
        raise AssertionError(canonical)
    error = (
        f"case when nullif(trim({col}), '') is not null and {parsed} is null "
        f"then {_literal(source + ' ' + chr(39))} || {col} || {_literal(chr(39) + ' ' + what)} end"
    )
    return f"{parsed} as {canonical}", error


def detect_encoding(path: str, chunk_bytes: int = 1 << 24) -> str:
    """'utf-8' when every byte of the file decodes as utf-8, else 'latin-1' (which decodes anything).

    Exports from older Windows tools write the pound sign as the single latin-1 byte 0xA3.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_bytes):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def csv_dialect(options: InputOptions) -> tuple[list[str], str]:
    """The header's column names and the file's encoding.

    The header is read here rather than sniffed by DuckDB: the sniffer guesses the number of columns
    from the first rows, and a file whose early rows are broken would be read with the wrong columns.
    """
    encoding = detect_encoding(options.path) if options.csv_encoding == "auto" else options.csv_encoding
    python_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        # Only the first line: a forced encoding that does not fit later lines rejects those lines.
        with open(options.path, "rb") as handle:
            first_line = handle.readline().decode(python_encoding).rstrip("\r\n")
        header = next(csv.reader([first_line], delimiter=options.csv_delimiter), [])
    except (UnicodeError, csv.Error) as exc:
        raise InputError(f"{options.path}: cannot read the header line as {encoding} csv: {exc}") from None
    header = [name.strip() for name in header]
    if not any(header):
        raise InputError(f"{options.path}: the first line must be a header naming the columns; it is empty")
    blank = [i + 1 for i, name in enumerate(header) if not name]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if blank or repeated:
        raise InputError(
            f"{options.path}: header has {'unnamed columns at positions ' + str(blank) if blank else ''}"
            f"{' and ' if blank and repeated else ''}{'repeated column names ' + str(repeated) if repeated else ''}"
        )
    return header, encoding


def _csv_reader(options: InputOptions, header: list[str], encoding: str, rejects: str | None) -> tuple[str, dict]:
    """read_csv(...) over the file with the header's columns, all as text, and its parameters.

    Every row that is not valid CSV for this header is skipped; with ``rejects`` set, DuckDB also
    stores it (line, raw text, error) in the temporary tables ``rejects`` and ``rejects``_scans.
    """
    on_error = (
        f"store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{rejects}_scans'"
        if rejects
        else "ignore_errors = true"
    )
    reader = (
        "read_csv($path, auto_detect = false, header = true, columns = $columns, delim = $delimiter, "
        f"quote = '\"', escape = '\"', encoding = $encoding, {on_error})"
    )
    params = {
        "path": options.path,
        "columns": {name: "VARCHAR" for name in header},
        "delimiter": options.csv_delimiter,
        "encoding": encoding,
    }
    return reader, params


def _checked_file(options: InputOptions) -> str:
    path = options.path
    if not os.path.exists(path):
        raise InputError(f"{path}: transactions file not found (set the dbt var transactions_path or env SEGMENTS_DATA; `make data` writes the embedded default)")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory; transactions_path must name one parquet, csv or xlsx file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: transactions file is empty")
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(f"{path}: unsupported file type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    return suffix


def rejected_lines(con: duckdb.DuckDBPyConnection, options: InputOptions) -> duckdb.DuckDBPyRelation:
    """One row per CSV line that is not valid CSV: file_path, line_number (1 = header), raw_text,
    reject_type and reason. Empty for parquet and xlsx, whose rows are always well formed."""
    suffix = _checked_file(options)
    if suffix != ".csv":
        return con.sql(
            "select cast(null as varchar) as file_path, cast(null as bigint) as line_number, "
            "cast(null as varchar) as raw_text, cast(null as varchar) as reject_type, "
            "cast(null as varchar) as reason where false"
        )
    header, encoding = csv_dialect(options)
    # A name of our own making, unique per call: concurrent models never share a rejects table.
    rejects = f"_segments_rejects_{uuid.uuid4().hex}"
    reader, params = _csv_reader(options, header, encoding, rejects)
    try:
        # Every column is aggregated so that every value is read: count(*) alone would skip decoding
        # and miss lines whose bytes are not text in the encoding.
        con.execute(f"select max(columns(*)) from {reader}", params).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{options.path}: cannot be read as csv: {exc}") from None
    return con.sql(
        f"""
        select
            scans.file_path,
            errors.line as line_number,
            any_value(errors.csv_line) as raw_text,
            string_agg(distinct lower(errors.error_type), '; ' order by lower(errors.error_type)) as reject_type,
            string_agg(distinct errors.error_message, '; ' order by errors.error_message) as reason
        from {rejects} as errors
        inner join {rejects}_scans as scans
            on errors.scan_id = scans.scan_id and errors.file_id = scans.file_id
        group by scans.file_path, errors.line
        """
    )


def _read_source(con: duckdb.DuckDBPyConnection, options: InputOptions, suffix: str) -> tuple[str, dict]:
    """A SQL `from` clause reading the file with a `source_line_number` column, and its parameters."""
    path = options.path
    if suffix == ".parquet":
        # file_row_number is 0-based; line numbers are 1-based like an editor's.
        return "(select *, file_row_number + 1 as source_line_number from read_parquet($path, file_row_number = true))", {"path": path}
    if suffix == ".csv":
        header, encoding = csv_dialect(options)
        rejected_numbers = [int(r[0]) for r in rejected_lines(con, options).select("line_number").fetchall()]
        reader, params = _csv_reader(options, header, encoding, None)
        # All text, so that a bad value becomes a parse error on its line instead of failing the read.
        # Rows come in file order (insertion order is preserved). The k-th good row sits on line
        # k + 1 (the header) + the rejected lines before it: reject j (in line order, at line L_j) has
        # L_j - 1 - j good rows before it, and an as-of join finds the last reject before row k.
        if not rejected_numbers:
            return f"(select *, row_number() over () + 1 as source_line_number from {reader})", params
        source = f"""(
            with good_rows as (
                select *, row_number() over () as good_row from {reader}
            ),
            rejects as (
                select line_number, row_number() over (order by line_number) as rejects_so_far
                from (select distinct unnest($rejected::bigint[]) as line_number)
            ),
            reject_steps as (
                select line_number - 1 - rejects_so_far as good_rows_before, max(rejects_so_far) as rejects_so_far
                from rejects
                group by all
            )
            select
                good_rows.* exclude (good_row),
                good_rows.good_row + 1 + coalesce(reject_steps.rejects_so_far, 0) as source_line_number
            from good_rows
            asof left join reject_steps
                on good_rows.good_row > reject_steps.good_rows_before
            order by good_rows.good_row
        )"""
        return source, {**params, "rejected": rejected_numbers}
    import pandas as pd

    try:
        frame = pd.read_excel(path, dtype=str, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise InputError(f"{path}: cannot be read as xlsx: {exc}") from None
    frame["source_line_number"] = range(2, len(frame) + 2)
    name = f"_segments_xlsx_{uuid.uuid4().hex}"
    con.register(name, frame)
    return name, {}


def transactions_sql(con: duckdb.DuckDBPyConnection, options: InputOptions) -> tuple[str, dict]:
    """The SQL (and parameters) that reads the file into canonical typed columns.

    Output columns: source_line_number, invoice_no, stock_code, description, quantity,
    invoiced_at, unit_price, customer_id, country, parse_error.
    """
    suffix = _checked_file(options)
    path = options.path
    source, params = _read_source(con, options, suffix)
    try:
        described = con.execute(f"describe select * from {source}", params or None).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot be read as {suffix.lstrip('.')}: {exc}") from None
    types = {row[0]: row[1] for row in described}
    present = [c for c in types if c not in ("source_line_number", "file_row_number")]
    resolved = resolve_columns(present, path, options.column_map)
    absent = [canonical for canonical, source_col in resolved.items() if source_col is None]
    if absent:
        warnings.warn(f"{path}: optional columns {absent} absent; read as {[ABSENT_PLACEHOLDERS[c] for c in absent]}", stacklevel=2)
    selects, errors = [], []
    for canonical, source_col in resolved.items():
        expr, error = _typed_expression(
            canonical, source_col, types.get(source_col or "", "VARCHAR"), options.date_formats, path
        )
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
    path: object,
    column_map: object = None,
    date_formats: object = None,
    csv_encoding: object = None,
    csv_delimiter: object = None,
) -> duckdb.DuckDBPyRelation:
    """Relation over the file with canonical typed columns; nothing is pulled into Python.

    The arguments are the input vars, checked by :func:`input_options`. Rows of a CSV file that are
    not valid CSV are left out here and returned by :func:`rejected_lines`.
    """
    options = input_options(path, column_map, date_formats, csv_encoding, csv_delimiter)
    sql, params = transactions_sql(con, options)
    relation = con.sql(sql, params=params or None)
    # select *: every value of the first line is read (select 1 would not read, nor reject, anything).
    if not con.execute(f"select * from ({sql}) limit 1", params or None).fetchall():
        raise InputError(f"{options.path}: transactions file has a header but no lines (rejected lines, if any, are listed by base_retail__rejected_lines)")
    return relation


def rejected_transactions(con: duckdb.DuckDBPyConnection, path: object, **options: object) -> duckdb.DuckDBPyRelation:
    """:func:`rejected_lines` for the same input vars as :func:`load_transactions`."""
    return rejected_lines(con, input_options(path, **options))


def without_traceback(function, *args, **kwargs):
    """Call ``function``; an :class:`InputError` is raised again without its chain of frames, so
    dbt's log shows the message naming the file and column rather than a deep stack trace."""
    try:
        return function(*args, **kwargs)
    except InputError as error:
        raise InputError(str(error)) from None

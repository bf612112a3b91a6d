"""Read a shop's invoice-line export (parquet, CSV or xlsx) into canonical, typed columns: the entry
points the base models call.

The loader never drops a line: a value that cannot be parsed becomes NULL and the line carries a
``parse_error`` saying which column and which value (:mod:`customer_segments.ingest.values`), so the
line accounting can reject it with a reason. Problems with the file as a whole (missing, empty,
unreadable, a required column absent) raise :class:`InputError` naming the file and the column. CSV
rows that are not valid CSV are returned by :func:`rejected_transactions` instead
(:mod:`customer_segments.ingest.csv_files`). Both take a model's parsed settings: every var is parsed
once, by customer_segments.settings, before anything is read.

Every line records where it came from: ``source_name`` (the file, or ``path [Sheet]`` for a workbook
sheet), ``source_line_number`` (its line within that file or sheet, the header being line 1) and
``source_row_id`` (1..n in reading order over the whole input, unique).
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from customer_segments import __version__
from customer_segments.ingest.columns import ABSENT_PLACEHOLDERS, READER_PREFIX, SOURCE_COLUMNS, resolve_columns
from customer_segments.ingest.csv_files import csv_dialect, csv_rejects, csv_source
from customer_segments.ingest.dates import default_date_formats
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.options import InputOptions, input_options
from customer_segments.ingest.parquet_files import parquet_source
from customer_segments.ingest.values import typed_column, with_line_values_checked
from customer_segments.ingest.workbook import workbook_frame
from customer_segments.settings import Settings

SUPPORTED_SUFFIXES = (".parquet", ".csv", ".xlsx")


def _checked_file(options: InputOptions) -> str:
    path = options.path
    if not os.path.exists(path):
        raise InputError(f"{path}: transactions file not found (set the dbt var transactions_path or env SEGMENTS_DATA; "
                         "`make data` writes the embedded default)")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory; transactions_path must name one parquet, csv or xlsx file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: transactions file is empty")
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(f"{path}: unsupported file type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    return suffix


def _read_source(
    con: duckdb.DuckDBPyConnection, options: InputOptions, suffix: str, rejected_numbers: Sequence[int] | None
) -> tuple[str, dict, Mapping[str, str]]:
    """A SQL `from` clause reading the file with the SOURCE_COLUMNS, its parameters, and the column
    map to find the canonical columns in it."""
    if suffix == ".parquet":
        source, params = parquet_source(con, options.path)
        return source, params, options.column_map
    if suffix == ".csv":
        return csv_source(con, options, rejected_numbers)
    frame, column_map = workbook_frame(options)
    name = f"_segments_xlsx_{uuid.uuid4().hex}"
    con.register(name, frame)
    return name, {}, column_map


def _resolved_source(
    con: duckdb.DuckDBPyConnection, options: InputOptions, rejected_numbers: Sequence[int] | None
) -> tuple[str, dict, dict[str, str], dict[str, str | None]]:
    """The file's `from` clause and parameters, its column types, and the source column of each canonical
    column (None: an absent optional one)."""
    suffix = _checked_file(options)
    path = options.path
    source, params, column_map = _read_source(con, options, suffix, rejected_numbers)
    try:
        described = con.execute(f"describe select * from {source}", params or None).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot be read as {suffix.lstrip('.')}: {exc}") from None
    types = {row[0]: row[1].upper() for row in described}
    present = [c for c in types if c not in {READER_PREFIX + name for name in SOURCE_COLUMNS}]
    ours = [c for c in present if c.lower().startswith(READER_PREFIX)]
    if ours:
        raise InputError(f"{path}: columns {ours} start with {READER_PREFIX!r}, which the reader keeps for its own; rename them")
    return source, params, types, resolve_columns(present, path, column_map)


def column_mapping(con: duckdb.DuckDBPyConnection, settings: Settings,
                   rejected: duckdb.DuckDBPyRelation | None = None) -> dict[str, str]:
    """The file's column -> the canonical column it is read as, for the columns the loader uses (what table
    build_info shows); found exactly as :func:`load_transactions` finds them. ``settings`` and ``rejected``
    as there."""
    rejected_numbers = None if rejected is None else [int(r[0]) for r in rejected.select("line_number").fetchall()]
    _, _, _, resolved = _resolved_source(con, input_options(settings), rejected_numbers)
    return {source_col: canonical for canonical, source_col in resolved.items() if source_col is not None}


def input_facts(con: duckdb.DuckDBPyConnection, settings: Settings,
                rejected: duckdb.DuckDBPyRelation | None = None) -> dict[str, object]:
    """What a build read, as table build_input holds it: the file's absolute path and size in bytes, the
    column mapping used (file column -> canonical column, JSON text with sorted keys) and the version of
    this package, which read it. ``settings`` and ``rejected`` as for :func:`load_transactions`."""
    path = input_options(settings).path
    mapping = column_mapping(con, settings, rejected)
    return {"input_path": os.path.abspath(path), "input_file_bytes": os.path.getsize(path),
            "column_mapping": json.dumps(mapping, ensure_ascii=False, sort_keys=True), "project_version": __version__}


def transactions_sql(
    con: duckdb.DuckDBPyConnection, options: InputOptions, rejected_numbers: Sequence[int] | None = None
) -> tuple[str, dict]:
    """The SQL (and parameters) that reads the file into canonical typed columns.

    Output columns: source_name, source_line_number, source_row_id, invoice_no, stock_code,
    description, quantity, invoiced_at, unit_price, customer_id, country, parse_error.
    ``rejected_numbers``: the CSV's rejected line numbers when already known (else read here).
    """
    path = options.path
    source, params, types, resolved = _resolved_source(con, options, rejected_numbers)
    absent = [canonical for canonical, source_col in resolved.items() if source_col is None]
    if absent:
        warnings.warn(f"{path}: optional columns {absent} absent; read as {[ABSENT_PLACEHOLDERS[c] for c in absent]}",
                      stacklevel=3)
    date_column = resolved["invoiced_at"]
    date_formats = options.date_formats or default_date_formats(con, source, params, date_column, types[date_column], path)
    selects, errors = [], []
    for canonical, source_col in resolved.items():
        expr, error = typed_column(
            canonical, source_col, types.get(source_col or "", "VARCHAR"), options, date_formats, path
        )
        selects.append(expr)
        if error:
            errors.append(error)
    parse_error = f"nullif(concat_ws('; ', {', '.join(errors)}), '')" if errors else "cast(null as varchar)"
    values = (
        f"select {READER_PREFIX}source_name as source_name, "
        f"cast({READER_PREFIX}source_line_number as bigint) as source_line_number, "
        f"cast({READER_PREFIX}source_row_id as bigint) as source_row_id, "
        + ", ".join(selects)
        + f", {parse_error} as parse_error from {source}"
    )
    return with_line_values_checked(values, resolved["quantity"], resolved["unit_price"]), params


def load_transactions(
    con: duckdb.DuckDBPyConnection, settings: Settings, rejected: duckdb.DuckDBPyRelation | None = None
) -> duckdb.DuckDBPyRelation:
    """Relation over the file with canonical typed columns; nothing is pulled into Python.

    ``settings``: the model's parsed settings, holding the input vars (see :func:`input_options`).
    Rows of a CSV file that are not valid CSV are left out here and returned by
    :func:`rejected_transactions`; pass that relation as ``rejected`` (the model
    base_retail__rejected_lines) and the file is not scanned for them again.
    """
    options = input_options(settings)
    rejected_numbers = None if rejected is None else [int(r[0]) for r in rejected.select("line_number").fetchall()]
    sql, params = transactions_sql(con, options, rejected_numbers)
    relation = con.sql(sql, params=params or None)
    # select *: every value of the first line is read (select 1 would not read, nor reject, anything).
    if not con.execute(f"select * from ({sql}) limit 1", params or None).fetchall():
        raise InputError(f"{options.path}: transactions file has a header but no lines "
                         "(rejected lines, if any, are listed by base_retail__rejected_lines)")
    return relation


def rejected_transactions(con: duckdb.DuckDBPyConnection, settings: Settings) -> duckdb.DuckDBPyRelation:
    """One row per CSV line that is not valid CSV: file_path, source_name (the same path),
    line_number (1 = header), raw_text, reject_type and reason. Empty for parquet and xlsx, whose
    rows are always well formed. ``settings`` as for :func:`load_transactions`."""
    options = input_options(settings)
    if _checked_file(options) != ".csv":
        return con.sql(
            "select cast(null as varchar) as file_path, cast(null as varchar) as source_name, "
            "cast(null as bigint) as line_number, cast(null as varchar) as raw_text, "
            "cast(null as varchar) as reject_type, cast(null as varchar) as reason where false"
        )
    return csv_rejects(con, options, csv_dialect(options))


def without_traceback(function, *args, **kwargs):
    """Call ``function``; an :class:`InputError` is raised again without its chain of frames, so
    dbt's log shows the message naming the file and column rather than a deep stack trace."""
    try:
        return function(*args, **kwargs)
    except InputError as error:
        raise InputError(str(error)) from None

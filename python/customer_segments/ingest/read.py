"""Read a shop's invoice-line or order export (parquet, CSV or TSV, gzipped or not, or xlsx; one file,
or a folder or glob pattern of same-shaped files) into canonical, typed columns: the entry points the
base models call.

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

import glob
import json
import os
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb

from customer_segments import __version__
from customer_segments.ingest.columns import ABSENT_PLACEHOLDERS, READER_PREFIX, SOURCE_COLUMNS, resolve_columns
from customer_segments.ingest.csv_files import csv_dialect, csv_rejects, csv_source
from customer_segments.ingest.customer_ids import resolved_kind
from customer_segments.ingest.dates import default_date_formats
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.options import InputOptions, input_options
from customer_segments.ingest.parquet_files import parquet_source
from customer_segments.ingest.values import customer_key_column, derived_values, typed_column, with_line_values_checked
from customer_segments.ingest.workbook import workbook_frame
from customer_segments.settings import Settings

#: The file types read, by how a name ends (gzip-compressed text is read as it stands).
SUPPORTED_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".tsv", ".tsv.gz", ".xlsx")
#: Characters that make transactions_path a glob pattern rather than a file name.
GLOB_CHARACTERS = frozenset("*?[")


def file_suffix(path: str) -> str:
    """The one of SUPPORTED_SUFFIXES the name ends with, in lower case; InputError for any other."""
    name = path.lower()
    suffix = next((s for s in SUPPORTED_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise InputError(f"{path}: unsupported file type '{Path(path).suffix.lower()}'; use one of "
                         f"{', '.join(SUPPORTED_SUFFIXES)}")
    return suffix


def file_kind(path: str) -> str:
    """'parquet', 'text' (csv or tsv, gzipped or not) or 'xlsx', by the end of the name; InputError
    for any other."""
    return {".parquet": "parquet", ".xlsx": "xlsx"}.get(file_suffix(path), "text")


def checked_file(path: str) -> str:
    """The file's kind, once it is known to exist, hold bytes and be of a type read."""
    if not os.path.exists(path):
        raise InputError(f"{path}: transactions file not found (set the dbt var transactions_path or env SEGMENTS_DATA; "
                         "`make data` writes the embedded default)")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: transactions file is empty")
    return file_kind(path)


def input_files(options: InputOptions) -> tuple[list[str], str]:
    """The files transactions_path names, in name order, and their one kind.

    A file; a folder (every file in it that is not hidden, not those of its sub-folders; monthly
    exports); or a glob pattern
    (`exports/2024-*.csv.gz`). Every file named is read: one of a type not read, or of another kind
    than the first, stops the build naming it rather than leave its lines out of the accounting.
    """
    path = options.path
    if os.path.isdir(path):
        files = sorted(str(Path(path) / name) for name in os.listdir(path)
                       if not name.startswith(".") and os.path.isfile(Path(path) / name))
        if not files:
            raise InputError(f"{path}: the folder holds no files to read")
    elif not os.path.exists(path) and GLOB_CHARACTERS & set(path):
        files = sorted(name for name in glob.glob(path) if os.path.isfile(name))
        if not files:
            raise InputError(f"{path}: no file matches the pattern (set the dbt var transactions_path)")
    else:
        files = [path]
    kinds = {file: checked_file(file) for file in files}
    if len(files) > 1 and (len(set(kinds.values())) > 1 or "xlsx" in kinds.values()):
        raise InputError(f"{path}: files of different types cannot be read as one input ({kinds}); "
                         "a folder or pattern may hold parquet files or csv/tsv files, and a workbook is read alone")
    return files, kinds[files[0]]


def _file_source(
    con: duckdb.DuckDBPyConnection, options: InputOptions, kind: str, rejected_numbers: Sequence[int] | None
) -> tuple[str, dict, Mapping[str, str]]:
    """A SQL `from` clause reading the one file ``options.path`` with the SOURCE_COLUMNS, its
    parameters, and the column map to find the canonical columns in it."""
    if kind == "parquet":
        source, params = parquet_source(con, options.path)
        return source, params, options.column_map
    if kind == "text":
        return csv_source(con, options, rejected_numbers)
    frame, column_map = workbook_frame(options)
    name = f"_segments_xlsx_{uuid.uuid4().hex}"
    con.register(name, frame)
    return name, {}, column_map


def _with_suffixed_parameters(sql: str, params: dict, suffix: str) -> tuple[str, dict]:
    """``sql`` and ``params`` with every parameter renamed ``$name`` -> ``$name<suffix>``, so that the
    sources of several files can be one query. The SQL is the readers' own (no file's text is in it)."""
    renamed = re.sub(r"\$([A-Za-z_]\w*)", lambda m: f"${m.group(1)}{suffix}" if m.group(1) in params else m.group(0), sql)
    return renamed, {f"{name}{suffix}": value for name, value in params.items()}


def _columns(con: duckdb.DuckDBPyConnection, source: str, params: dict, path: str, kind: str) -> dict[str, str]:
    """The source's columns and their DuckDB types."""
    try:
        described = con.execute(f"describe select * from {source}", params or None).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot be read as {kind}: {exc}") from None
    return {row[0]: row[1].upper() for row in described}


def read_source(
    con: duckdb.DuckDBPyConnection, options: InputOptions, rejected: Mapping[str, Sequence[int]] | None
) -> tuple[str, dict, Mapping[str, str], str]:
    """The `from` clause over every file transactions_path names, its parameters, the column map and
    the files' kind.

    Several files are read as one input when they have the same columns (by name, in any order): each
    line keeps its file as ``source_name`` and its line number there, and the row ids run on from one
    file to the next, in name order, so that line_accounting finds each file's lines as a range.
    """
    files, kind = input_files(options)
    if len(files) == 1:
        single = replace(options, path=files[0])
        source, params, column_map = _file_source(con, single, kind, None if rejected is None else rejected.get(files[0], []))
        return source, params, column_map, kind
    parts, all_params, shapes = [], {}, {}
    for index, file in enumerate(files):
        source, params, _ = _file_source(con, replace(options, path=file), kind,
                                         None if rejected is None else rejected.get(file, []))
        source, params = _with_suffixed_parameters(source, params, f"_{index}")
        shapes[file] = sorted(_columns(con, source, params, file, kind))
        parts.append(f"select *, {index} as {READER_PREFIX}file from {source}")
        all_params.update(params)
    first = files[0]
    differing = [file for file in files if shapes[file] != shapes[first]]
    if differing:
        raise InputError(
            f"{options.path}: files of different shapes cannot be read as one input: {differing} do not have the "
            f"columns of {first} ({[c for c in shapes[first] if not c.startswith(READER_PREFIX)]}); "
            "move them to a folder of their own or make their columns the same"
        )
    row_id, line = f"{READER_PREFIX}source_row_id", f"{READER_PREFIX}source_line_number"
    union = " union all by name ".join(f"({part})" for part in parts)
    source = (f"(select * exclude ({READER_PREFIX}file, {row_id}), "
              f"row_number() over (order by {READER_PREFIX}file, {line}) as {row_id} from ({union}))")
    return source, all_params, options.column_map, kind


def _resolved_source(
    con: duckdb.DuckDBPyConnection, options: InputOptions, rejected: Mapping[str, Sequence[int]] | None
) -> tuple[str, dict, dict[str, str], dict[str, str | None]]:
    """The input's `from` clause and parameters, its column types, and the source column of each canonical
    column (None: absent)."""
    source, params, column_map, kind = read_source(con, options, rejected)
    types = _columns(con, source, params, options.path, kind)
    present = [c for c in types if c not in {READER_PREFIX + name for name in SOURCE_COLUMNS}]
    ours = [c for c in present if c.lower().startswith(READER_PREFIX)]
    if ours:
        raise InputError(f"{options.path}: columns {ours} start with {READER_PREFIX!r}, which the reader keeps for its "
                         "own; rename them")
    return source, params, types, resolve_columns(present, options.path, column_map)


def _rejected_numbers(rejected: duckdb.DuckDBPyRelation | None) -> dict[str, list[int]] | None:
    """Each CSV file's rejected line numbers, from base_retail__rejected_lines (None: not known)."""
    if rejected is None:
        return None
    numbers: dict[str, list[int]] = {}
    for source_name, line_number in rejected.select("source_name, line_number").fetchall():
        numbers.setdefault(source_name, []).append(int(line_number))
    return numbers


def _kind_of(con: duckdb.DuckDBPyConnection, options: InputOptions, source: str, params: dict, types: Mapping[str, str],
             resolved: Mapping[str, str | None]) -> str:
    """What the customer column of the resolved source holds (customer_segments.ingest.customer_ids)."""
    column = resolved["customer_id"]
    return resolved_kind(con, source, params, column, types[column], options.customer_id_kind, options.path)


def customer_id_kind(con: duckdb.DuckDBPyConnection, options: InputOptions) -> str:
    """What the input's customer column holds ('number', 'key' or 'email'), as :func:`transactions_sql`
    decides it; InputError for a column 'auto' cannot settle."""
    source, params, types, resolved = _resolved_source(con, options, {})
    return _kind_of(con, options, source, params, types, resolved)


def input_facts(con: duckdb.DuckDBPyConnection, settings: Settings,
                rejected: duckdb.DuckDBPyRelation | None = None) -> dict[str, object]:
    """What a build read, as table build_input holds it: the input's absolute path and size in bytes (every
    file of a folder or pattern together), the column mapping used (file column -> canonical column, JSON
    text with sorted keys; found exactly as :func:`load_transactions` finds it), what the customer column
    holds (customer_id_kind, as the loader decided it) and the version of this package, which read it.
    ``settings`` and ``rejected`` as for :func:`load_transactions`."""
    options = input_options(settings)
    files, _ = input_files(options)
    source, params, types, resolved = _resolved_source(con, options, _rejected_numbers(rejected))
    mapping = {source_col: canonical for canonical, source_col in resolved.items() if source_col is not None}
    return {"input_path": os.path.abspath(options.path), "input_file_bytes": sum(os.path.getsize(f) for f in files),
            "column_mapping": json.dumps(mapping, ensure_ascii=False, sort_keys=True),
            "customer_id_kind": _kind_of(con, options, source, params, types, resolved), "project_version": __version__}


def derived_columns(resolved: Mapping[str, str | None]) -> dict[str, str]:
    """The canonical columns the file lacks that the reader derives from the others (see
    customer_segments.ingest.values.derived_values), each with how, in words."""
    how = {"invoice_no": "one invoice per customer and timestamp", "quantity": "1 per line (one order each)",
           "unit_price": f"line_total / quantity from {resolved['line_total']!r}"}
    # resolve_columns has made sure of a unit price or a line total: no unit price means a line total.
    return {canonical: said for canonical, said in how.items() if resolved[canonical] is None}


def transactions_sql(
    con: duckdb.DuckDBPyConnection, options: InputOptions, rejected: Mapping[str, Sequence[int]] | None = None
) -> tuple[str, dict]:
    """The SQL (and parameters) that reads the input into canonical typed columns.

    Output columns: source_name, source_line_number, source_row_id, invoice_no, stock_code,
    description, quantity, invoiced_at, unit_price, line_total, customer_id, country, customer_key (the
    text a key or e-mail customer number is made from; NULL for numbers), parse_error.
    ``rejected``: each CSV file's rejected line numbers when already known (else read here).
    """
    path = options.path
    source, params, types, resolved = _resolved_source(con, options, rejected)
    absent = [canonical for canonical, source_col in resolved.items()
              if source_col is None and canonical in ABSENT_PLACEHOLDERS]
    if absent:
        warnings.warn(f"{path}: optional columns {absent} absent; read as {[ABSENT_PLACEHOLDERS[c] for c in absent]}",
                      stacklevel=3)
    said = [f"{canonical}: {how}" for canonical, how in derived_columns(resolved).items()]
    if said:
        # Derived values change what is counted: the build output says so, as docs/input_contract.md does.
        warnings.warn(f"{path}: columns derived: {'; '.join(said)}", stacklevel=3)
    date_column = resolved["invoiced_at"]
    date_formats = options.date_formats or default_date_formats(con, source, params, date_column, types[date_column], path)
    kind = _kind_of(con, options, source, params, types, resolved)
    selects, errors = [], []
    for canonical, source_col in resolved.items():
        expr, error = typed_column(
            canonical, source_col, types.get(source_col or "", "VARCHAR"), options, date_formats, path, kind
        )
        selects.append(expr)
        if error:
            errors.append(error)
    selects.append(customer_key_column(resolved["customer_id"], kind))
    parse_error = f"nullif(concat_ws('; ', {', '.join(errors)}), '')" if errors else "cast(null as varchar)"
    values = (
        f"select {READER_PREFIX}source_name as source_name, "
        f"cast({READER_PREFIX}source_line_number as bigint) as source_line_number, "
        f"cast({READER_PREFIX}source_row_id as bigint) as source_row_id, "
        + ", ".join(selects)
        + f", {parse_error} as parse_error from {source}"
    )
    derived = derived_values(values, resolved, options.cancellation_marker)
    return with_line_values_checked(derived, resolved["quantity"], resolved["unit_price"] or resolved["line_total"]), params


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
    sql, params = transactions_sql(con, options, _rejected_numbers(rejected))
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
    files, kind = input_files(options)
    if kind != "text":
        return con.sql(
            "select cast(null as varchar) as file_path, cast(null as varchar) as source_name, "
            "cast(null as bigint) as line_number, cast(null as varchar) as raw_text, "
            "cast(null as varchar) as reject_type, cast(null as varchar) as reason where false"
        )
    queries, params = [], {}
    for index, file_options in enumerate(replace(options, path=file) for file in files):
        query, query_params = _with_suffixed_parameters(*csv_rejects(con, file_options, csv_dialect(file_options)),
                                                        f"_{index}")
        queries.append(f"({query})")
        params.update(query_params)
    return con.sql(" union all ".join(queries), params=params)


def without_traceback(function, *args, **kwargs):
    """Call ``function``; an :class:`InputError` is raised again without its chain of frames, so
    dbt's log shows the message naming the file and column rather than a deep stack trace."""
    try:
        return function(*args, **kwargs)
    except InputError as error:
        raise InputError(str(error)) from None

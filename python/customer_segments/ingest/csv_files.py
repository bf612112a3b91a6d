"""CSV files: the header and encoding, the rows that are not valid CSV, and the valid rows with their
line numbers.

CSV rows that are malformed as CSV (too many or too few fields, an unterminated quote, bytes that are
not text in the file's encoding) cannot be read into columns at all: the reader skips them and
:func:`csv_rejects` returns them with their line number, raw text and reason, so the line accounting
still adds up to the file's lines. Every other value is read as text, so that a bad value becomes a
parse error on its line instead of failing the read.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from customer_segments.ingest.columns import READER_PREFIX
from customer_segments.ingest.encoding import detect_encoding, open_bytes, utf8_copy
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.options import InputOptions


@dataclass(frozen=True)
class CsvDialect:
    """What read_csv needs: the header's column names, the delimiter, and the file to read in which
    encoding (a utf-8 copy for utf-16 input)."""

    header: list[str]
    encoding: str
    read_path: str
    delimiter: str


def csv_dialect(options: InputOptions) -> CsvDialect:
    """The header's column names, the delimiter and the file's encoding.

    The header is read here rather than sniffed by DuckDB: the sniffer guesses the number of columns
    from the first rows, and a file whose early rows are broken would be read with the wrong columns.
    The delimiter is var csv_delimiter, unless the header holds none of it but holds tabs: a TSV
    export (`.tsv`, or a `.csv` that is tab-separated) is read as one, with no var to set.
    """
    encoding = detect_encoding(options.path) if options.csv_encoding == "auto" else options.csv_encoding
    read_path, read_encoding = options.path, encoding
    if encoding == "utf-16":
        read_path, read_encoding = utf8_copy(options.path), "utf-8"
    python_encoding = "utf-8-sig" if read_encoding == "utf-8" else read_encoding
    try:
        # Only the first line: a forced encoding that does not fit later lines rejects those lines.
        with open_bytes(read_path) as handle:
            first_line = handle.readline().decode(python_encoding).rstrip("\r\n")
        delimiter = "\t" if options.csv_delimiter not in first_line and "\t" in first_line else options.csv_delimiter
        header = next(csv.reader([first_line], delimiter=delimiter), [])
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
    return CsvDialect(header=header, encoding=read_encoding, read_path=read_path, delimiter=delimiter)


def _csv_reader(options: InputOptions, dialect: CsvDialect, rejects: str | None) -> tuple[str, dict]:
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
        "read_csv($read_path, auto_detect = false, header = true, columns = $columns, delim = $delimiter, "
        f"quote = '\"', escape = '\"', encoding = $encoding, {on_error})"
    )
    params = {
        "read_path": dialect.read_path,
        "columns": {name: "VARCHAR" for name in dialect.header},
        "delimiter": dialect.delimiter,
        "encoding": dialect.encoding,
    }
    return reader, params


def csv_rejects(con: duckdb.DuckDBPyConnection, options: InputOptions, dialect: CsvDialect) -> tuple[str, dict]:
    """A query (and its parameters) with one row per line of the CSV file that is not valid CSV:
    file_path, source_name (the same path), line_number (1 = header), raw_text, reject_type and reason."""
    # A name of our own making, unique per call: concurrent models never share a rejects table.
    rejects = f"_segments_rejects_{uuid.uuid4().hex}"
    reader, params = _csv_reader(options, dialect, rejects)
    try:
        # Every column is aggregated so that every value is read: count(*) alone would skip decoding
        # and miss lines whose bytes are not text in the encoding.
        con.execute(f"select max(columns(*)) from {reader}", params).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{options.path}: cannot be read as csv: {exc}") from None
    # The path given, not the one read (a utf-16 file is read from a utf-8 copy).
    query = f"""
        select
            $path as file_path,
            $path as source_name,
            errors.line as line_number,
            any_value(errors.csv_line) as raw_text,
            string_agg(distinct lower(errors.error_type), '; ' order by lower(errors.error_type)) as reject_type,
            string_agg(distinct errors.error_message, '; ' order by errors.error_message) as reason
        from {rejects} as errors
        group by errors.line
        """
    return query, {"path": options.path}


def csv_source(
    con: duckdb.DuckDBPyConnection, options: InputOptions, rejected_numbers: Sequence[int] | None
) -> tuple[str, dict, Mapping[str, str]]:
    """A SQL `from` clause reading the CSV file's valid rows, all as text, with the reader's source
    columns; its parameters; and the column map to find the canonical columns in it.

    ``rejected_numbers``: the file's rejected line numbers when already known (else found here).
    """
    path = options.path
    dialect = csv_dialect(options)
    if rejected_numbers is None:
        query, query_params = csv_rejects(con, options, dialect)
        rejected_numbers = [int(r[0]) for r in con.execute(f"select line_number from ({query})", query_params).fetchall()]
    reader, params = _csv_reader(options, dialect, None)
    params = {**params, "path": path}
    # Rows come in file order (insertion order is preserved). The k-th good row sits on line
    # k + 1 (the header) + the rejected lines before it: reject j (in line order, at line L_j) has
    # L_j - 1 - j good rows before it, and an as-of join finds the last reject before row k.
    if not rejected_numbers:
        source = (f"(select *, $path as {READER_PREFIX}source_name, "
                  f"row_number() over () + 1 as {READER_PREFIX}source_line_number, "
                  f"row_number() over () as {READER_PREFIX}source_row_id from {reader})")
        return source, params, options.column_map
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
            $path as {READER_PREFIX}source_name,
            good_rows.good_row + 1 + coalesce(reject_steps.rejects_so_far, 0) as {READER_PREFIX}source_line_number,
            good_rows.good_row as {READER_PREFIX}source_row_id
        from good_rows
        asof left join reject_steps
            on good_rows.good_row > reject_steps.good_rows_before
        order by good_rows.good_row
    )"""
    return source, {**params, "rejected": list(rejected_numbers)}, options.column_map

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

Every line records where it came from: ``source_name`` (the file, or ``path [Sheet]`` for a workbook
sheet), ``source_line_number`` (its line within that file or sheet, the header being line 1) and
``source_row_id`` (1..n in reading order over the whole input, unique).
"""

from __future__ import annotations

import atexit
import codecs
import csv
import os
import re
import tempfile
import threading
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from customer_segments.settings import CSV_ENCODINGS, parse_settings, sql_identifier, sql_literal

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
#: ISO 8601 timestamps without a zone, tried in order for text dates (zoned ones: ZONED_ISO_PATTERN).
ISO_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
                    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f")
#: Slash dates, month first (the UCI original's `12/1/2010 8:26`) or day first. By default the reader
#: picks one of the two for the whole column from the data (see :func:`day_month_order`).
MONTH_FIRST_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
DAY_FIRST_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y")
#: An ISO timestamp with a zone (`Z`, `+01`, `+0100`, `+01:00`): read as an instant and stored in UTC.
ZONED_ISO_PATTERN = r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)"
SUPPORTED_SUFFIXES = (".parquet", ".csv", ".xlsx")
#: DuckDB type families accepted for the numeric and timestamp columns when the file is typed.
NUMERIC_TYPE = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|DECIMAL.*|DOUBLE|FLOAT|REAL)$")
INTEGER_TYPE = re.compile(r"^U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?$")
#: Integer types whose every value fits a BIGINT (the others may overflow it).
BIGINT_SAFE_TYPE = re.compile(r"^((TINY|SMALL|BIG)?INT(EGER)?|U(TINY|SMALL)INT|UINTEGER)$")
FLOAT_TYPE = re.compile(r"^(DOUBLE|FLOAT|REAL)$")
TEMPORAL_TYPE = re.compile(r"^(TIMESTAMP.*|DATE)$")
#: A number written plainly: sign, digits, a decimal point, an exponent. DuckDB's own casts also read
#: `6_0` as 60 and `2_5` as 25, which no export means: text is checked against this before a cast.
NUMBER_TEXT = r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?"
#: Money is exact: DECIMAL sums do not change with the thread count, double sums do.
MONEY_TYPE = "DECIMAL(18,3)"
#: The largest magnitude a DECIMAL(18,3) holds (a line value beyond it cannot be summed as money).
MONEY_LIMIT = "999999999999999.999"
#: A double holds every whole number up to 2**53 exactly; beyond, its text may not be the value.
EXACT_DOUBLE_LIMIT = 2**53


class InputError(ValueError):
    """The transactions file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class InputOptions:
    """Validated input options: the dbt vars transactions_path, column_map, date_formats, csv_encoding,
    csv_delimiter and decimal_separator (see docs/input_contract.md).

    ``date_formats`` is None for the defaults (ISO forms, and slash dates whose day/month order the
    reader settles from the data); a tuple given by the user is used as given.
    """

    path: str
    column_map: dict[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] | None = None
    csv_encoding: str = "auto"
    csv_delimiter: str = ","
    decimal_separator: str = "."


def _check_date_formats(formats: object) -> tuple[str, ...] | None:
    """None (the defaults, with day/month detection) or the user's formats (a list of texts holding `%`,
    as customer_segments.settings parsed them), each checked by DuckDB."""
    if not formats:
        return None
    zoned = ["%z" in f for f in formats]
    if any(zoned) and not all(zoned):
        # Mixed, DuckDB would read the formats without a zone in the session's time zone.
        raise InputError(f"var date_formats: either every format has a zone (%z) or none has, got {formats!r}")
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
    decimal_separator: object = None,
) -> InputOptions:
    """Check the input vars and return them typed; raise :class:`SettingsError` naming the bad var.

    Values may be Python objects or the text dbt passes to Python models (JSON for lists and
    mappings); customer_segments.settings declares and parses them. Empty means the default.
    """
    settings = parse_settings({"transactions_path": path, "column_map": column_map, "date_formats": date_formats,
                               "csv_encoding": csv_encoding, "csv_delimiter": csv_delimiter,
                               "decimal_separator": decimal_separator})
    return InputOptions(
        path=settings["transactions_path"],
        column_map=settings["column_map"],
        date_formats=_check_date_formats(settings["date_formats"]),
        csv_encoding=CSV_ENCODINGS[settings["csv_encoding"]],
        csv_delimiter=settings["csv_delimiter"],
        decimal_separator=settings["decimal_separator"],
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
        names = (_normalise(canonical), *aliases)
        candidates = [c for c in present if _normalise(c) in names]
        if len(candidates) > 1:
            # Two columns that could each hold it (`CustomerID` and `Customer ID`, `Price` and `UnitPrice`):
            # taking either would be a guess.
            raise InputError(
                f"{path}: columns {candidates} could each be {canonical}; say which with column_map, "
                f"e.g. --vars '{{column_map: {{{canonical}: \"{candidates[0]}\"}}}}'"
            )
        match = candidates[0] if candidates else None
        if match is None and canonical in REQUIRED_COLUMNS:
            raise InputError(
                f"{path}: required column '{canonical}' not found (looked for {', '.join(aliases)}); "
                f"columns present: {present}"
            )
        resolved[canonical] = match
    return resolved


def _list_literal(texts: Sequence[str]) -> str:
    return "[" + ", ".join(sql_literal(t) for t in texts) + "]"


def _whole_number(value: str) -> str:
    """SQL: the text ``value`` as a bigint when it is a whole number (2, 2.0, 1e3) that a bigint holds,
    else NULL (inf, NaN, 2.5, 1e20).

    A plain cast would round 2.5 to 3 without a word, and fail the whole read on 1e20. Digits (and a
    zero fraction) are cast to bigint exactly; other forms (1e3) go through a double only while the
    double is exact.
    """
    number = f"try_cast({value} as double)"
    return (
        f"case when regexp_full_match({value}, '[-+]?[0-9]+(\\.0*)?') then try_cast({value} as bigint) "
        f"when regexp_full_match({value}, {sql_literal(NUMBER_TEXT)}) and isfinite({number}) "
        f"and {number} = trunc({number}) and abs({number}) < {EXACT_DOUBLE_LIMIT} "
        f"then cast({number} as bigint) end"
    )


def _typed_whole_number(col: str, source_type: str) -> str:
    """SQL: a typed numeric column that a bigint may not hold (hugeint, ubigint, decimal, double) as a
    bigint when its value is whole and fits, else NULL."""
    if INTEGER_TYPE.match(source_type):
        return f"try_cast({col} as bigint)"
    finite = f"isfinite({col}) and " if FLOAT_TYPE.match(source_type) else ""
    return f"case when {finite}{col} = trunc({col}) then try_cast({col} as bigint) end"


def _text_price(value: str, decimal_separator: str) -> str:
    """SQL: a text price as DECIMAL(18,3), NULL when it is not one under the decimal separator.

    A latin-1 export may carry the pound sign. The other mark is accepted only as a thousands
    separator in groups of three (1,234.50 or 1.234,50), so `1,25` under '.' is rejected rather
    than read as 125.
    """
    text = f"replace(trim({value}), '£', '')"
    if decimal_separator == ".":
        grouped, plain = r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?", f"replace({text}, ',', '')"
        number = f"case when regexp_full_match({text}, '{grouped}') then {plain} when not contains({text}, ',') then {text} end"
    else:
        grouped, plain = r"[-+]?\d{1,3}(\.\d{3})+(,\d*)?", f"replace(replace({text}, '.', ''), ',', '.')"
        number = f"case when regexp_full_match({text}, '{grouped}') or not contains({text}, '.') then {plain} end"
    return f"case when regexp_full_match({number}, {sql_literal(NUMBER_TEXT)}) then try_cast({number} as {MONEY_TYPE}) end"


def _text_timestamp(value: str, date_formats: tuple[str, ...], zoned_iso: bool) -> str:
    """SQL: a text timestamp parsed by the formats; with ``zoned_iso`` an ISO value with a zone is read
    as that instant and stored in UTC (without a zone, a value is stored as written)."""
    parsed = f"try_strptime({value}, {_list_literal(date_formats)})"
    if any("%z" in f for f in date_formats):
        # strptime with %z gives a TIMESTAMPTZ (an instant): its UTC wall time, whatever the session's zone.
        parsed = f"timezone('UTC', {parsed})"
    if not zoned_iso:
        return parsed
    return (
        f"case when regexp_full_match({value}, {sql_literal(ZONED_ISO_PATTERN)}) "
        f"then timezone('UTC', try_cast({value} as timestamptz)) else {parsed} end"
    )


def _typed_expression(
    canonical: str, source: str | None, source_type: str, options: InputOptions, date_formats: tuple[str, ...], path: str
) -> tuple[str, str | None]:
    """SQL for one canonical column, and SQL for its parse-error message (None when it cannot fail)."""
    if source is None:
        placeholder = ABSENT_PLACEHOLDERS[canonical]
        return f"cast({'null' if placeholder is None else sql_literal(placeholder)} as varchar) as {canonical}", None
    col = sql_identifier(source)
    source_type = source_type.upper()
    is_text = source_type == "VARCHAR"
    if canonical in ("invoice_no", "stock_code", "description", "country"):
        return f"cast({col} as varchar) as {canonical}", None
    wanted = TEMPORAL_TYPE if canonical == "invoiced_at" else NUMERIC_TYPE
    if not is_text and not wanted.match(source_type):
        kind = "a timestamp, a date or text" if canonical == "invoiced_at" else "a number or text"
        raise InputError(f"{path}: column '{source}' ({canonical}) has type {source_type}; expected {kind}")
    shown = f"trim({col})" if is_text else f"cast({col} as varchar)"
    if canonical == "invoiced_at":
        if source_type == "TIMESTAMP WITH TIME ZONE":
            return f"timezone('UTC', {col}) as {canonical}", None
        if not is_text:
            return f"cast({col} as timestamp) as {canonical}", None
        zoned_iso = options.date_formats is None
        parsed = _text_timestamp(f"trim({col})", date_formats, zoned_iso)
        what = "is not a date in any of the formats " + ", ".join(date_formats) + (
            " (nor an ISO timestamp with a zone)" if zoned_iso else "")
    elif canonical in ("quantity", "customer_id"):
        if BIGINT_SAFE_TYPE.match(source_type):
            return f"cast({col} as bigint) as {canonical}", None
        # Text, or a float/decimal column: only whole numbers that a bigint holds are quantities and ids
        # (customer ids are exported as 17850 or 17850.0).
        parsed = _whole_number(shown) if is_text else _typed_whole_number(col, source_type)
        what = ("is not a whole number within the 64-bit integer range" if canonical == "quantity"
                else "is not a customer number (a whole number within the 64-bit integer range)")
    elif canonical == "unit_price":
        if is_text:
            parsed = _text_price(col, options.decimal_separator)
            what = (f"is not a price with the decimal separator '{options.decimal_separator}' "
                    f"(var decimal_separator) and at most 15 digits before it")
        else:
            finite = f"isfinite({col})" if FLOAT_TYPE.match(source_type) else "true"
            parsed = f"case when {finite} then try_cast({col} as {MONEY_TYPE}) end"
            what = "is not a finite price within DECIMAL(18,3)"
    else:  # pragma: no cover - every canonical column is handled above
        raise AssertionError(canonical)
    error = (
        f"case when nullif({shown}, '') is not null and {parsed} is null "
        f"then {sql_literal(source + ' ' + chr(39))} || {shown} || {sql_literal(chr(39) + ' ' + what)} end"
    )
    return f"{parsed} as {canonical}", error


def day_month_order(con: duckdb.DuckDBPyConnection, source: str, params: dict, column: str, where: str) -> tuple[str, ...]:
    """The slash-date formats for a text date column: month first or day first, settled by its values.

    One aggregate over the column counts the values that read only month first, only day first, and
    either way. When some value reads only one way and none only the other, that order is the
    column's; when every slash date reads both ways (every day <= 12), or values contradict each
    other, :class:`InputError` says so with an example and the date_formats var that settles it.
    Without slash dates, the answer does not matter (month first).
    """
    values = f"trim({sql_identifier(column)})"
    month_first = f"try_strptime({values}, {_list_literal(MONTH_FIRST_FORMATS)})"
    day_first = f"try_strptime({values}, {_list_literal(DAY_FIRST_FORMATS)})"
    counts = con.execute(
        f"""
        select
            min(value) filter (where month_first is not null and day_first is null) as month_first_only,
            min(value) filter (where day_first is not null and month_first is null) as day_first_only,
            -- An example whose two readings differ (03/04, not 01/01), when there is one.
            first(value order by day_first = month_first, value)
                filter (where day_first is not null and month_first is not null) as either_way
        from (select {values} as value, {month_first} as month_first, {day_first} as day_first from {source})
        """,
        params or None,
    ).fetchone()
    month_first_only, day_first_only, either_way = counts
    if month_first_only is not None and day_first_only is None:
        return MONTH_FIRST_FORMATS
    if day_first_only is not None and month_first_only is None:
        return DAY_FIRST_FORMATS
    if month_first_only is None and either_way is None:
        return MONTH_FIRST_FORMATS

    def settle(example: str) -> str:
        """The var that settles it, in the form (with or without a time) of the example."""
        fits = [con.execute(f"select try_strptime($v, {sql_literal(f)}) is not null", {"v": example}).fetchone()[0]
                for f in DAY_FIRST_FORMATS]
        form = fits.index(True) if True in fits else 0
        return f"set date_formats: ['{DAY_FIRST_FORMATS[form]}'] (day first) or ['{MONTH_FIRST_FORMATS[form]}'] (month first)"

    if month_first_only is not None:
        raise InputError(
            f"{where}: column '{column}' mixes dates that read only month first ('{month_first_only}') and only "
            f"day first ('{day_first_only}'); {settle(month_first_only)} and fix the lines of the other order"
        )
    readings = con.execute(
        f"select strftime({month_first}, '%Y-%m-%d %H:%M'), strftime({day_first}, '%Y-%m-%d %H:%M') "
        f"from (select $v as {sql_identifier(column)})",
        {"v": either_way},
    ).fetchone()
    raise InputError(
        f"{where}: column '{column}' has dates whose day and month cannot be told apart (every day is 12 or less): "
        f"'{either_way}' reads as {readings[0]} (month first) or {readings[1]} (day first); {settle(either_way)}"
    )


def _bom_encoding(path: str) -> str | None:
    """The encoding a byte-order mark at the start of the file announces, if any."""
    with open(path, "rb") as handle:
        start = handle.read(3)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8"
    return None


def detect_encoding(path: str, chunk_bytes: int = 1 << 24) -> str:
    """'utf-16' or 'utf-8' after a byte-order mark; else 'utf-8' when every byte of the file decodes
    as utf-8, else 'latin-1' (which decodes anything).

    Exports from older Windows tools write the pound sign as the single latin-1 byte 0xA3; Excel's
    "Unicode text" export writes utf-16 with a mark.
    """
    marked = _bom_encoding(path)
    if marked:
        return marked
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_bytes):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


#: utf-16 files transcoded to utf-8 in this process: (path, size, mtime) -> temporary file.
_TRANSCODED: dict[tuple[str, int, int], str] = {}
#: The two base models may read the same file at once, in two threads: one transcodes.
_TRANSCODING = threading.Lock()


def _remove_transcoded() -> None:
    for temporary in _TRANSCODED.values():
        if os.path.exists(temporary):
            os.remove(temporary)


atexit.register(_remove_transcoded)


def utf8_copy(path: str, chunk_chars: int = 1 << 20) -> str:
    """A temporary utf-8 copy of a utf-16 file (either byte order, mark or not: little-endian then).

    DuckDB's read_csv reads utf-16 little-endian but returns no rows, without an error, for
    big-endian; so every utf-16 file is transcoded, once per process, streamed in chunks rather than
    held in memory, and the copy is removed when the process exits. Bytes that are not utf-16 stop
    the build (a transcoder cannot keep them for the rejects table).
    """
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    with _TRANSCODING:
        if key not in _TRANSCODED or not os.path.exists(_TRANSCODED[key]):
            _TRANSCODED[key] = _transcoded(path, chunk_chars)
        return _TRANSCODED[key]


def _transcoded(path: str, chunk_chars: int) -> str:
    # Python's utf-16 decoder wants a mark; without one the file is read as little-endian (Windows).
    encoding = "utf-16" if _bom_encoding(path) == "utf-16" else "utf-16-le"
    handle, temporary = tempfile.mkstemp(prefix="segments_utf8_", suffix=".csv")
    try:
        with open(path, encoding=encoding, newline="") as source, os.fdopen(handle, "w", encoding="utf-8", newline="") as copy:
            while chunk := source.read(chunk_chars):
                copy.write(chunk)
    except UnicodeError as exc:
        os.remove(temporary)
        raise InputError(f"{path}: cannot be read as utf-16 text: {exc}") from None
    return temporary


@dataclass(frozen=True)
class CsvDialect:
    """What read_csv needs: the header's column names, and the file to read in which encoding (a
    utf-8 copy for utf-16 input)."""

    header: list[str]
    encoding: str
    read_path: str


def csv_dialect(options: InputOptions) -> CsvDialect:
    """The header's column names and the file's encoding.

    The header is read here rather than sniffed by DuckDB: the sniffer guesses the number of columns
    from the first rows, and a file whose early rows are broken would be read with the wrong columns.
    """
    encoding = detect_encoding(options.path) if options.csv_encoding == "auto" else options.csv_encoding
    read_path, read_encoding = options.path, encoding
    if encoding == "utf-16":
        read_path, read_encoding = utf8_copy(options.path), "utf-8"
    python_encoding = "utf-8-sig" if read_encoding == "utf-8" else read_encoding
    try:
        # Only the first line: a forced encoding that does not fit later lines rejects those lines.
        with open(read_path, "rb") as handle:
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
    return CsvDialect(header=header, encoding=read_encoding, read_path=read_path)


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
        "delimiter": options.csv_delimiter,
        "encoding": dialect.encoding,
    }
    return reader, params


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


def rejected_lines(con: duckdb.DuckDBPyConnection, options: InputOptions) -> duckdb.DuckDBPyRelation:
    """One row per CSV line that is not valid CSV: file_path, source_name (the same path),
    line_number (1 = header), raw_text, reject_type and reason. Empty for parquet and xlsx, whose
    rows are always well formed."""
    suffix = _checked_file(options)
    if suffix != ".csv":
        return con.sql(
            "select cast(null as varchar) as file_path, cast(null as varchar) as source_name, "
            "cast(null as bigint) as line_number, cast(null as varchar) as raw_text, "
            "cast(null as varchar) as reject_type, cast(null as varchar) as reason where false"
        )
    dialect = csv_dialect(options)
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
    return con.sql(
        f"""
        select
            $path as file_path,
            $path as source_name,
            errors.line as line_number,
            any_value(errors.csv_line) as raw_text,
            string_agg(distinct lower(errors.error_type), '; ' order by lower(errors.error_type)) as reject_type,
            string_agg(distinct errors.error_message, '; ' order by errors.error_message) as reason
        from {rejects} as errors
        group by errors.line
        """,
        params={"path": options.path},
    )


#: Columns the readers add to the file's own (where each line came from), by their output names. The
#: readers name them with a prefix of ours, so that a file with its own `source_name` column (a
#: marketplace export may have one) is not mistaken for them; a file column with that prefix is refused.
SOURCE_COLUMNS = ("source_name", "source_line_number", "source_row_id")
READER_PREFIX = "__segments_"


def _workbook_frame(options: InputOptions):
    """Every usable sheet of a workbook as one frame of text columns, with the column map to read it.

    A sheet's columns are mapped to the canonical ones by its own header, then renamed to the first
    usable sheet's names; an optional column absent from a sheet reads as its placeholder there.
    Empty sheets (no data rows) are skipped with a warning. A sheet whose header lacks a required
    column while other sheets are usable stops the build naming the sheets: reading only some of
    them would leave lines out of the accounting without a word.
    """
    import pandas as pd

    path = options.path
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=str, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise InputError(f"{path}: cannot be read as xlsx: {exc}") from None
    usable, unusable, empty = {}, {}, [name for name, frame in sheets.items() if frame.empty]
    for name, frame in sheets.items():
        if frame.empty:
            continue
        frame.columns = [str(column).strip() for column in frame.columns]
        try:
            usable[name] = (frame, resolve_columns(list(frame.columns), f"{path} [{name}]", options.column_map))
        except InputError as exc:
            unusable[name] = str(exc)
    if not usable:
        if unusable:
            raise InputError(next(iter(unusable.values())))
        raise InputError(f"{path}: transactions file has a header but no lines (every sheet is empty)")
    if unusable:
        raise InputError(
            f"{path}: sheets {list(unusable)} have no usable header while sheets {list(usable)} do "
            f"({'; '.join(unusable.values())}); delete or fix those sheets so that every sheet holds invoice lines"
        )
    if empty:
        warnings.warn(f"{path}: empty sheets {empty} skipped", stacklevel=4)
    first = next(iter(usable.values()))[1]
    present = [c for c in COLUMN_ALIASES if any(resolved[c] for _, resolved in usable.values())]
    names = {c: first[c] or c for c in present}
    parts = []
    for sheet, (frame, resolved) in usable.items():
        part = pd.DataFrame({names[c]: frame[resolved[c]] if resolved[c] else ABSENT_PLACEHOLDERS[c] for c in present},
                            index=frame.index)
        part.insert(0, READER_PREFIX + "source_name", f"{path} [{sheet}]")
        part.insert(1, READER_PREFIX + "source_line_number", range(2, len(part) + 2))  # the header is line 1
        parts.append(part.reset_index(drop=True))
    combined = pd.concat(parts, ignore_index=True)
    combined.insert(2, READER_PREFIX + "source_row_id", range(1, len(combined) + 1))
    return combined, names


def _read_source(
    con: duckdb.DuckDBPyConnection, options: InputOptions, suffix: str, rejected_numbers: Sequence[int] | None
) -> tuple[str, dict, Mapping[str, str]]:
    """A SQL `from` clause reading the file with the SOURCE_COLUMNS, its parameters, and the column
    map to find the canonical columns in it."""
    path = options.path
    if suffix == ".parquet":
        # file_row_number is 0-based; line numbers are 1-based like an editor's.
        try:
            columns = [row[0].lower() for row in
                       con.execute("describe select * from read_parquet($path)", {"path": path}).fetchall()]
        except duckdb.Error as exc:
            raise InputError(f"{path}: cannot be read as parquet: {exc}") from None
        if "file_row_number" in columns:
            # DuckDB cannot add its own file_row_number beside the file's: number the rows in reading order.
            numbered = "(select *, row_number() over () - 1 as __segments_row from read_parquet($path))"
        else:
            numbered = ("(select * exclude (file_row_number), file_row_number as __segments_row "
                        "from read_parquet($path, file_row_number = true))")
        # file_row_number is 0-based; line numbers are 1-based like an editor's.
        source = (
            "(select * exclude (__segments_row), $path as __segments_source_name, "
            "__segments_row + 1 as __segments_source_line_number, __segments_row + 1 as __segments_source_row_id "
            f"from {numbered})"
        )
        return source, {"path": path}, options.column_map
    if suffix == ".csv":
        dialect = csv_dialect(options)
        if rejected_numbers is None:
            rejected_numbers = [int(r[0]) for r in rejected_lines(con, options).select("line_number").fetchall()]
        reader, params = _csv_reader(options, dialect, None)
        params = {**params, "path": path}
        # All text, so that a bad value becomes a parse error on its line instead of failing the read.
        # Rows come in file order (insertion order is preserved). The k-th good row sits on line
        # k + 1 (the header) + the rejected lines before it: reject j (in line order, at line L_j) has
        # L_j - 1 - j good rows before it, and an as-of join finds the last reject before row k.
        if not rejected_numbers:
            source = (f"(select *, $path as __segments_source_name, row_number() over () + 1 as __segments_source_line_number, "
                      f"row_number() over () as __segments_source_row_id from {reader})")
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
                $path as __segments_source_name,
                good_rows.good_row + 1 + coalesce(reject_steps.rejects_so_far, 0) as __segments_source_line_number,
                good_rows.good_row as __segments_source_row_id
            from good_rows
            asof left join reject_steps
                on good_rows.good_row > reject_steps.good_rows_before
            order by good_rows.good_row
        )"""
        return source, {**params, "rejected": list(rejected_numbers)}, options.column_map
    frame, column_map = _workbook_frame(options)
    name = f"_segments_xlsx_{uuid.uuid4().hex}"
    con.register(name, frame)
    return name, {}, column_map


def transactions_sql(
    con: duckdb.DuckDBPyConnection, options: InputOptions, rejected_numbers: Sequence[int] | None = None
) -> tuple[str, dict]:
    """The SQL (and parameters) that reads the file into canonical typed columns.

    Output columns: source_name, source_line_number, source_row_id, invoice_no, stock_code,
    description, quantity, invoiced_at, unit_price, customer_id, country, parse_error.
    ``rejected_numbers``: the CSV's rejected line numbers when already known (else read here).
    """
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
    resolved = resolve_columns(present, path, column_map)
    absent = [canonical for canonical, source_col in resolved.items() if source_col is None]
    if absent:
        warnings.warn(f"{path}: optional columns {absent} absent; read as {[ABSENT_PLACEHOLDERS[c] for c in absent]}",
                      stacklevel=3)
    date_formats = options.date_formats
    if date_formats is None:
        date_column = resolved["invoiced_at"]
        slash_formats = day_month_order(con, source, params, date_column, path) if types[date_column] == "VARCHAR" else ()
        date_formats = ISO_DATE_FORMATS + slash_formats
    selects, errors = [], []
    for canonical, source_col in resolved.items():
        expr, error = _typed_expression(
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
    # Each value fits its type, but their product may not fit the money type every sum uses: the line
    # is rejected, and its price left NULL so that no sum of line values (the accounting's) overflows.
    beyond = f"abs(quantity * unit_price) > {MONEY_LIMIT}"
    line_value_error = (
        f"case when {beyond} then "
        f"{sql_literal('line value ' + (resolved['quantity'] or '') + ' x ' + (resolved['unit_price'] or '') + ' = ')} "
        f"|| cast(quantity * unit_price as varchar) || ' is beyond DECIMAL(18,3)' end"
    )
    sql = (
        f"select * replace (case when {beyond} then null else unit_price end as unit_price, "
        f"nullif(concat_ws('; ', parse_error, {line_value_error}), '') as parse_error) from ({values})"
    )
    return sql, params


def load_transactions(
    con: duckdb.DuckDBPyConnection,
    path: object,
    column_map: object = None,
    date_formats: object = None,
    csv_encoding: object = None,
    csv_delimiter: object = None,
    decimal_separator: object = None,
    rejected: duckdb.DuckDBPyRelation | None = None,
) -> duckdb.DuckDBPyRelation:
    """Relation over the file with canonical typed columns; nothing is pulled into Python.

    The arguments are the input vars, checked by :func:`input_options`. Rows of a CSV file that are
    not valid CSV are left out here and returned by :func:`rejected_lines`; pass that relation as
    ``rejected`` (the model base_retail__rejected_lines) and the file is not scanned for them again.
    """
    options = input_options(path, column_map, date_formats, csv_encoding, csv_delimiter, decimal_separator)
    rejected_numbers = None if rejected is None else [int(r[0]) for r in rejected.select("line_number").fetchall()]
    sql, params = transactions_sql(con, options, rejected_numbers)
    relation = con.sql(sql, params=params or None)
    # select *: every value of the first line is read (select 1 would not read, nor reject, anything).
    if not con.execute(f"select * from ({sql}) limit 1", params or None).fetchall():
        raise InputError(f"{options.path}: transactions file has a header but no lines "
                         "(rejected lines, if any, are listed by base_retail__rejected_lines)")
    return relation


#: The loader's arguments that are input vars, by the var's name when it differs.
INPUT_VARS = {"path": "transactions_path", "column_map": "column_map", "date_formats": "date_formats",
              "csv_encoding": "csv_encoding", "csv_delimiter": "csv_delimiter", "decimal_separator": "decimal_separator"}


def input_arguments(settings: Mapping[str, object]) -> dict[str, object]:
    """The arguments of :func:`load_transactions` and :func:`rejected_transactions` from a model's
    parsed settings."""
    return {argument: settings[var] for argument, var in INPUT_VARS.items()}


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

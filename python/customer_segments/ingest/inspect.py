"""A guide for a file nobody has seen: what the build would read in it, and the vars to pass.

    python -m customer_segments.ingest.inspect FILE [--vars '{...}'] [--max-lines N] [--no-staging]

Reads the head of the file (at most ``--max-lines`` lines and ``HEAD_BYTES`` bytes, so a 500 MB
export takes as long as a small one), copies it to a temporary file of the same format
(:mod:`customer_segments.ingest.head`) and reads that copy with the build's own code: the ingest
modules for the format, encoding, header, column mapping (and the columns an order-level file has
derived), day/month order, values and malformed CSV rows; and the project's models themselves, run by dbt on the
copy (``build_settings`` to ``line_accounting``, no data tests), for what staging makes of each line.
No rule is written here a second time: only the delimiter and the decimal separator, which the build
does not guess but takes from vars, are guessed here, by trying each and reading with the reader.

Exit code 0 when the file would build with the vars printed, 1 when something needs your decision
(which column is which, day or month first, too many lines rejected), 2 with one line when the file
cannot be read. What holds for the head may not hold for the rest of the file: the report says how much
it read. A folder or glob pattern of files is inspected by the head of its first file, once the loader
has found every file it names of one type and of the same columns.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from customer_segments.ingest.columns import ABSENT_PLACEHOLDERS, READER_PREFIX, SOURCE_COLUMNS, resolve_columns
from customer_segments.ingest.csv_files import csv_dialect, csv_rejects
from customer_segments.ingest.dates import DAY_FIRST_FORMATS, default_date_formats
from customer_segments.ingest.encoding import detect_encoding
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.head import HEAD_LINES, file_lines, write_head
from customer_segments.ingest.options import INPUT_VARS, InputOptions, input_options
from customer_segments.ingest.read import (
    customer_id_kind,
    derived_columns,
    file_suffix,
    input_files,
    read_source,
    transactions_sql,
)
from customer_segments.settings import BY_NAME, SettingsError, parse_settings

#: Delimiters tried on a CSV file, the build's default first.
DELIMITERS = (",", ";", "\t", "|")
#: The models that read the file and say what becomes of each line; seeds load, data tests do not run
#: (the inspector reports the rejected share itself rather than stopping at the test).
STAGING_SELECTION = ("--select", "+line_accounting", "--exclude-resource-type", "test",
                     "--exclude-resource-type", "unit_test")
#: The dbt project this package belongs to (python/customer_segments/ingest/ -> the project root).
PROJECT_DIR = Path(__file__).resolve().parents[3]


@dataclass
class Report:
    """What the inspector found; ``problems`` are what needs a decision before the build."""

    path: str
    format: str
    #: The files the input names (a folder or pattern may name several), and the first, whose head is read.
    files: int = 1
    first_file: str | None = None
    head_lines: int = 0
    whole_file: bool = True
    #: Lines of the whole (first) file: exact for parquet, estimated from the size for plain text.
    file_lines: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header: dict[str, list[str]] = field(default_factory=dict)
    mapping: dict[str, dict[str, str | None]] = field(default_factory=dict)
    #: Per source, the canonical columns the reader derives from the others (order-level files), and how.
    derived: dict[str, dict[str, str]] = field(default_factory=dict)
    unmapped: dict[str, list[str]] = field(default_factory=dict)
    dates: str = ""
    #: What the customer column holds as the loader decides it (var customer_id_kind), and how it was decided.
    customer_ids: str = ""
    date_range: tuple[str, str] | None = None
    reader_rejects: dict[str, int] = field(default_factory=dict)
    outcomes: list[tuple[str, int, str | None]] = field(default_factory=list)
    vars: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _options(settings: dict[str, object], path: str) -> InputOptions:
    return input_options(parse_settings({**{name: BY_NAME[name].default for name in INPUT_VARS}, **settings,
                                         "transactions_path": path}))


def guess_delimiter(options: InputOptions) -> str:
    """The delimiter that splits the header into the most columns, the same number on every line read
    (the build's default when none splits it)."""
    encoding = detect_encoding(options.path)
    with open(options.path, encoding="utf-16" if encoding == "utf-16" else encoding, errors="replace") as handle:
        lines = [line for _, line in zip(range(200), handle)]
    best, best_fields = DELIMITERS[0], 1
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if counts and counts[0] > best_fields and counts.count(counts[0]) >= 0.9 * len(counts):
            best, best_fields = delimiter, counts[0]
    return best


def _file_columns(con: duckdb.DuckDBPyConnection, options: InputOptions, kind: str) -> dict[str, list[str]]:
    """Each source's (file's or sheet's) column names as the reader sees them."""
    if kind == "xlsx":
        import openpyxl

        book = openpyxl.load_workbook(options.path, read_only=True)
        headers = {sheet.title: next(sheet.iter_rows(max_row=1, values_only=True), ()) for sheet in book.worksheets}
        book.close()
        # An empty sheet is skipped by the reader (with a warning), so here too.
        return {f"{options.path} [{title}]": [str(v).strip() for v in header if v is not None]
                for title, header in headers.items() if any(v is not None for v in header)}
    # No rejected lines: the columns do not depend on them, and the file is not scanned for them.
    source, params, _, _ = read_source(con, options, {})
    names = [row[0] for row in con.execute(f"describe select * from {source}", params or None).fetchall()]
    return {options.path: [n for n in names if n not in {READER_PREFIX + s for s in SOURCE_COLUMNS}]}


def _date_order(con: duckdb.DuckDBPyConnection, options: InputOptions) -> str:
    """Which date formats the reader would use (the build's own detection, on the head)."""
    if options.date_formats:
        return "as var date_formats gives: " + ", ".join(options.date_formats)
    source, params, column_map, _ = read_source(con, options, {})
    types = {row[0]: row[1].upper() for row in con.execute(f"describe select * from {source}", params or None).fetchall()}
    column = resolve_columns(list(types), options.path, column_map)["invoiced_at"]
    if types[column] != "VARCHAR":
        return f"typed {types[column].lower()} column '{column}': read as it is"
    formats = default_date_formats(con, source, params, column, types[column], options.path)
    return f"text column '{column}': ISO forms, and slash dates " + (
        "day first (%d/%m/%Y)" if formats[-len(DAY_FIRST_FORMATS):] == DAY_FIRST_FORMATS else "month first (%m/%d/%Y)")


def _reader_view(con: duckdb.DuckDBPyConnection, options: InputOptions, kind: str) -> tuple[dict[str, int], tuple | None]:
    """Malformed CSV rows by kind and the parse errors by column; the first and last date read."""
    rejects: dict[str, int] = {}
    if kind == "text":
        query, query_params = csv_rejects(con, options, csv_dialect(options))
        for reject_type, count in con.execute(f"select reject_type, count(*) from ({query}) group by 1 order by 1",
                                              query_params).fetchall():
            rejects[f"not valid csv ({reject_type})"] = count
    sql, params = transactions_sql(con, options)
    for column, count in con.execute(f"select split_part(parse_error, ' ', 1), count(*) from ({sql}) "
                                     "where parse_error is not null group by 1 order by 1", params or None).fetchall():
        rejects[f"unparseable {column}"] = count
    first, last = con.execute(f"select min(invoiced_at), max(invoiced_at) from ({sql})", params or None).fetchall()[0]
    return rejects, (str(first), str(last)) if first is not None else None


def _errors_of(con: duckdb.DuckDBPyConnection, options: InputOptions) -> int:
    sql, params = transactions_sql(con, options)
    return con.execute(f"select count(*) from ({sql}) where parse_error is not null", params or None).fetchall()[0][0]


def read_head(path: str, source: str, head: str, kind: str, settings: dict[str, object], report: Report) -> InputOptions:
    """Fill ``report`` from the head copy of ``source`` (the input ``path``, or its first file) with the
    build's readers; the options that read it best."""
    given = {name: settings[name] for name in INPUT_VARS if name in settings}
    try:
        return _read_head(source, head, kind, given, report)
    finally:
        # The vars you gave and those guessed, the input vars first; a default is not repeated.
        chosen = {**given, **{name: value for name, value in settings.items() if name not in INPUT_VARS}}
        report.vars = {"transactions_path": path, **{name: value for name, value in chosen.items()
                                                     if name != "transactions_path" and value != BY_NAME[name].default}}


def _read_head(path: str, head: str, kind: str, given: dict[str, object], report: Report) -> InputOptions:
    # The reader warns of absent optional columns; the report's mapping shows them as placeholders.
    with duckdb.connect() as con, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if kind == "text":
            report.encoding = detect_encoding(head)
            if "csv_delimiter" not in given:
                given["csv_delimiter"] = guess_delimiter(_options(given, head))
            report.delimiter = str(given["csv_delimiter"])
        options = _options(given, head)
        report.header = {path if name == head else name.replace(head, path): columns
                         for name, columns in _file_columns(con, options, kind).items()}
        for source, columns in report.header.items():
            try:
                report.mapping[source] = resolve_columns(columns, source, options.column_map)
            except InputError as error:
                report.problems.append(str(error).replace(head, path))
                continue
            report.derived[source] = derived_columns(report.mapping[source])
            report.unmapped[source] = [c for c in columns if c not in report.mapping[source].values()]
        if report.problems:
            return options
        try:
            # Its own connection: the detection leaves a result open, on which DuckDB refuses other work.
            with duckdb.connect() as dates_con:
                report.dates = _date_order(dates_con, options)
            kind = customer_id_kind(con, options)
        except InputError as error:
            # Both are decided on the head: the build, reading every line, may decide otherwise.
            whole = "" if report.whole_file else f" (in the first {report.head_lines:,} lines; the build reads them all)"
            report.problems.append(str(error).replace(head, path) + whole)
            return options
        report.customer_ids = kind + (" (var customer_id_kind)" if options.customer_id_kind != "auto" else
                                      " (customer_id_kind auto: by the column's name, type or values"
                                      + ("" if report.whole_file else " in the head") + ")")
        if "decimal_separator" not in given and _errors_of(con, options):
            comma = _options({**given, "decimal_separator": ","}, head)
            if _errors_of(con, comma) < _errors_of(con, options):
                given["decimal_separator"], options = ",", comma
        report.reader_rejects, report.date_range = _reader_view(con, options, kind)
    return options


def staging_outcomes(head: str, dbt_vars: dict[str, object], work: str) -> list[tuple[str, int, str | None]]:
    """What the build's models make of the head's lines: line_accounting's outcomes with an example
    reason each, from a real dbt run of build_settings to line_accounting on the copy."""
    database = os.path.join(work, "head.duckdb")
    env = {name: value for name, value in os.environ.items() if not name.startswith("DBT_")}
    package_root = str(Path(__file__).resolve().parents[2])
    env.update(SEGMENTS_DB=database, DO_NOT_TRACK="1",
               PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "dbt.cli.main", "build", *STAGING_SELECTION,
               "--vars", json.dumps({**dbt_vars, "transactions_path": head}),
               "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
               "--target-path", os.path.join(work, "target"), "--log-path", os.path.join(work, "logs"), "--no-use-colors"]
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = [line for line in result.stdout.splitlines() if line.strip()][-6:]
        raise InputError("the build's models refused the head of the file: " + " | ".join(tail))
    with duckdb.connect(database, read_only=True) as con:
        return con.execute(
            "with reasons as (select line_status, min(status_reason) as reason from stg_retail__invoice_lines "
            "group by line_status), outcomes as (select outcome, bool_or(is_kept) as is_kept, "
            "sum(input_lines)::bigint as input_lines from line_accounting group by outcome) "
            "select outcomes.outcome, outcomes.input_lines, reasons.reason from outcomes left join reasons "
            "on reasons.line_status = outcomes.outcome where outcomes.input_lines > 0 "
            "order by outcomes.is_kept desc, outcomes.input_lines desc, outcomes.outcome").fetchall()


def inspect_file(path: str, settings: dict[str, object] | None = None, max_lines: int = HEAD_LINES,
                 staging: bool = True) -> Report:
    """Inspect the head of ``path`` with the input vars ``settings`` (as for dbt's --vars); InputError
    or SettingsError when the file cannot be read at all."""
    settings = dict(settings or {})
    parse_settings(settings)  # every var you gave checked first, with the build's one-line message
    options = _options(settings, path)
    files, kind = input_files(options)
    if len(files) > 1:
        # The loader's own check that every file has the first's columns (no file's lines are read).
        with duckdb.connect() as con:
            read_source(con, options, {})
    first, suffix = files[0], file_suffix(files[0])
    report = Report(path=_shown(path), format=suffix.lstrip("."), files=len(files), first_file=_shown(first))
    with tempfile.TemporaryDirectory(prefix="segments_inspect_") as work:
        head, report.head_lines, report.whole_file = write_head(first, suffix, work, max_lines)
        if not report.whole_file:
            report.file_lines = file_lines(first, head, suffix, report.head_lines)
        read_head(report.path, report.first_file, head, kind, settings, report)
        if staging and not report.problems:
            report.outcomes = staging_outcomes(head, {**settings, **report.vars}, work)
            limit = float(settings.get("max_rejected_share", BY_NAME["max_rejected_share"].default))
            refused = sum(n for outcome, n, _ in report.outcomes if outcome in ("rejected", "unparseable"))
            if report.head_lines and refused / report.head_lines > limit:
                report.problems.append(f"{refused:,} of {report.head_lines:,} lines are rejected or unparseable, over "
                                       f"max_rejected_share {limit:g}: the build would stop (see the reasons above)")
    return report


def _shown(path: str) -> str:
    """The path as the report prints it: dbt reads transactions_path from the project root, so a relative
    path given elsewhere is printed whole."""
    return path if os.path.isabs(path) or Path.cwd().resolve() == PROJECT_DIR else os.path.abspath(path)


def _mapped(canonical: str, column: str | None, derived: dict[str, str]) -> str:
    """Where the reader finds a canonical column, as the report says it."""
    if column:
        return column
    if canonical in derived:
        return f"(derived: {derived[canonical]})"
    return "(absent: placeholder)" if canonical in ABSENT_PLACEHOLDERS else "(absent: the unit price is used)"


def build_command(dbt_vars: dict[str, object]) -> str:
    """The dbt build command line with these vars, quoted for a POSIX shell."""
    return "dbt build --vars " + shlex.quote(json.dumps(dbt_vars, ensure_ascii=False))


def format_report(report: Report) -> str:
    """The report as the command prints it."""
    read = "the whole file" if report.whole_file else (
        f"the first {report.head_lines:,}" + (f" of {report.file_lines}" if report.file_lines else "") + " lines (the head)")
    if report.files == 1:
        out = [f"{report.path}: {report.format}, read {read}"]
    else:
        out = [f"{report.path}: {report.files} files of the same columns, read {read} of the first, "
               f"{report.first_file} ({report.format}); the build reads them all"]
    if report.encoding:
        out.append(f"encoding: {report.encoding}; delimiter: {report.delimiter!r}")
    for source, columns in report.header.items():
        out.append(f"header of {source}: {columns}")
        for canonical, column in report.mapping.get(source, {}).items():
            out.append(f"  {canonical:<12} <- {_mapped(canonical, column, report.derived.get(source, {}))}")
        if report.unmapped.get(source):
            out.append(f"  not used: {report.unmapped[source]}")
    if report.dates:
        out.append(f"dates: {report.dates}")
    if report.customer_ids:
        out.append(f"customer ids: {report.customer_ids}")
    if report.date_range:
        out.append(f"date range read: {report.date_range[0]} to {report.date_range[1]}")
    for reason, count in report.reader_rejects.items():
        out.append(f"reader: {count:,} lines {reason}")
    for outcome, count, reason in report.outcomes:
        out.append(f"staging: {count:,} {outcome}" + (f" (e.g. {reason})" if reason else ""))
    if any(outcome == "duplicate_copy" for outcome, _, _ in report.outcomes):
        out.append("identical lines are kept once (var identical_lines: collapse); "
                   "if they are real repeat orders, add identical_lines: keep")
    for problem in report.problems:
        out.append(f"to decide: {problem}")
    if report.vars:
        only_path = set(report.vars) == {"transactions_path"}
        out += ["build with" + (" (once the above is decided):" if report.problems else ":"),
                f"  {build_command(report.vars)}",
                "publish with (what `make publish` runs):",
                f"  python -m customer_segments.delivery.publish --vars {shlex.quote(json.dumps(report.vars))}"]
        if only_path:
            out.append(f"  or: SEGMENTS_DATA={shlex.quote(report.path)} make publish")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the shop's export: parquet, csv, tsv (or .gz), xlsx, a folder or a glob pattern")
    parser.add_argument("--vars", default="{}", help="input vars to try, as for dbt build, e.g. '{column_map: {...}}'")
    parser.add_argument("--max-lines", type=int, default=HEAD_LINES, help="lines of the head to read")
    parser.add_argument("--no-staging", action="store_true", help="skip the dbt run of the staging models")
    args = parser.parse_args(argv)
    try:
        settings = yaml.safe_load(args.vars) or {}
        if not isinstance(settings, dict):
            raise SettingsError(f"--vars must be a mapping, got {args.vars!r}")
        report = inspect_file(args.file, settings, max(args.max_lines, 1), staging=not args.no_staging)
    except (InputError, SettingsError, yaml.YAMLError, duckdb.Error, OSError) as error:
        print(f"{error}".splitlines()[0] if str(error) else type(error).__name__, file=sys.stderr)
        return 2
    print(format_report(report))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())

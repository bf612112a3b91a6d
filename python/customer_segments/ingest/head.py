"""The head of a shop's file, copied in its format, for the inspector to read with the build's readers.

A copy holds the header and at most ``max_lines`` lines within :data:`HEAD_BYTES` bytes, so that a
500 MB export takes as long as a small one. Text is cut at a whole line; gzipped text is decompressed
as far as the head goes and copied as plain text (the readers read both alike).
"""

from __future__ import annotations

import codecs
import io
import os

import duckdb

from customer_segments.ingest.encoding import open_bytes
from customer_segments.ingest.errors import InputError
from customer_segments.settings import sql_literal

#: Lines of the head read by default (the header besides), and the bytes it may span at most.
HEAD_LINES = 20_000
HEAD_BYTES = 16 << 20


def write_head(path: str, suffix: str, directory: str, max_lines: int = HEAD_LINES) -> tuple[str, int, bool]:
    """A copy of the first ``max_lines`` lines of the file in ``directory``, in its format (``suffix``,
    one of the loader's SUPPORTED_SUFFIXES; gzipped text is copied plain): its path, the lines copied
    and whether that is the whole file."""
    head = os.path.join(directory, "head" + suffix.removesuffix(".gz"))
    if suffix == ".parquet":
        with duckdb.connect() as con:
            # Insertion order is kept, so a limit reads the first row groups only, in file order.
            lines = con.execute("select count(*) from (select 1 from read_parquet($path) limit $n)",
                                {"path": path, "n": max_lines + 1}).fetchall()[0][0]
            con.execute(f"copy (select * from read_parquet($path) limit {int(max_lines)}) to {sql_literal(head)} "
                        "(format parquet)", {"path": path})
        return head, min(lines, max_lines), lines <= max_lines
    if suffix == ".xlsx":
        return _workbook_head(path, head, max_lines)
    return _text_head(path, head, max_lines)


def _whole_lines(lines: list, max_lines: int, read_all: bool) -> tuple[list, bool]:
    """The header and at most ``max_lines`` lines; the last line read is dropped when the read stopped
    before the end of the file (it may be cut in the middle)."""
    if read_all and len(lines) <= max_lines + 1:
        return lines, True
    return lines[: min(max_lines + 1, max(len(lines) - (0 if read_all else 1), 1))], False


def _text_head(path: str, head: str, max_lines: int) -> tuple[str, int, bool]:
    """The header and first lines, cut at a line end; a utf-16 file is cut as text (a byte may be half
    a character) and written back as utf-16, so the build's encoding rules see what they would see."""
    with open_bytes(path) as handle:
        start = handle.read(2)
    if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        with io.TextIOWrapper(open_bytes(path), encoding="utf-16", newline="") as source:
            text, read_all = source.read(HEAD_BYTES // 2), not source.read(1)
        kept, whole = _whole_lines(io.StringIO(text, newline="").readlines(), max_lines, read_all)
        with open(head, "w", encoding="utf-16", newline="") as copy:
            copy.write("".join(kept))
        return head, len(kept) - 1, whole
    with open_bytes(path) as handle:
        data, read_all = handle.read(HEAD_BYTES), not handle.read(1)
    kept, whole = _whole_lines(data.splitlines(keepends=True), max_lines, read_all)
    with open(head, "wb") as copy:
        copy.write(b"".join(kept))
    return head, len(kept) - 1, whole


def _workbook_head(path: str, head: str, max_lines: int) -> tuple[str, int, bool]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise InputError(f"{path}: cannot be read as xlsx: {exc}") from None
    copy, lines, whole = openpyxl.Workbook(write_only=True), 0, True
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(max_row=max_lines + 2, values_only=True))
        whole = whole and len(rows) <= max_lines + 1
        target = copy.create_sheet(sheet.title)
        for row in rows[: max_lines + 1]:
            target.append(row)
        lines += max(min(len(rows), max_lines + 1) - 1, 0)
    book.close()
    copy.save(head)
    return head, lines, whole


def file_lines(path: str, head: str, suffix: str, head_lines: int) -> str | None:
    """How many lines the whole file holds, as the report says it: exact for parquet (its metadata),
    estimated from the sizes for plain text, unknown for gzipped text and workbooks."""
    if suffix == ".parquet":
        with duckdb.connect() as con:
            rows = con.execute("select sum(num_rows) from parquet_file_metadata($path)", {"path": path}).fetchall()[0][0]
        return f"{rows:,}"
    if suffix in (".csv", ".tsv") and head_lines:
        # The header and the lines read in the head's bytes, scaled to the file's, less the header.
        return f"about {round((head_lines + 1) * os.path.getsize(path) / os.path.getsize(head)) - 1:,}"
    return None

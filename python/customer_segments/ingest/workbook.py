"""xlsx workbooks: every sheet that holds invoice lines, read as one frame of text columns.

Each line's source is ``path [Sheet]`` and its line number is its row within that sheet, the header
being line 1.
"""

from __future__ import annotations

import warnings

from customer_segments.ingest.columns import ABSENT_PLACEHOLDERS, COLUMN_ALIASES, READER_PREFIX, resolve_columns
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.options import InputOptions


def workbook_frame(options: InputOptions):
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
        part = pd.DataFrame({names[c]: frame[resolved[c]] if resolved[c] else ABSENT_PLACEHOLDERS.get(c) for c in present},
                            index=frame.index)
        part.insert(0, READER_PREFIX + "source_name", f"{path} [{sheet}]")
        part.insert(1, READER_PREFIX + "source_line_number", range(2, len(part) + 2))  # the header is line 1
        parts.append(part.reset_index(drop=True))
    combined = pd.concat(parts, ignore_index=True)
    combined.insert(2, READER_PREFIX + "source_row_id", range(1, len(combined) + 1))
    return combined, names

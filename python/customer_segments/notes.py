"""Build notes: what a model skipped or reduced because the data could not support it, with why and
what it would need.

A model that cannot do its job on the data it got (three customers cannot be cut into ten segments,
one day holds no repeat purchase to fit a forecast on) still writes its table, possibly empty, and the
reason is a :class:`Note`. A dbt Python model returns one table, so the notes are not written by the
models themselves: each rule that decides to skip or reduce is one function of its module returning a
``Note`` or None (e.g. ``selection.k_selection_note``, ``backtest.backtest_note``), the model calls it to
decide, and the model ``build_notes`` calls the same functions on the same refs to write the notes
down; where that would mean fitting a model again (the forecast's backtest and its BG/NBD fit), the
note's function reads what the model wrote instead (the methods present at each origin, the published
parameters). One rule, one home, and the notes are a pure function of the build's tables (same input, same
bytes). On a normal build ``build_notes`` is empty.

This module imports nothing of the project, so every layer can use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

#: The columns of table build_notes, in order.
NOTE_COLUMNS = ("model", "note", "detail")


@dataclass(frozen=True)
class Note:
    """One thing a model skipped or reduced.

    model : the dbt model whose table is reduced or empty.
    note : what was done, in a few words ('skipped', 'one segment', 'uncategorised').
    detail : why, and what the data would need for the full result.
    """

    model: str
    note: str
    detail: str


def notes_table(notes: Iterable[Note | None]) -> pd.DataFrame:
    """The build_notes table: one row per note (None entries are dropped), sorted by model and note."""
    rows = [(n.model, n.note, n.detail) for n in notes if n is not None]
    table = pd.DataFrame(rows, columns=list(NOTE_COLUMNS)).astype("string")
    return table.sort_values(list(NOTE_COLUMNS), kind="stable").reset_index(drop=True)


def empty_table(columns: dict[str, str]) -> pd.DataFrame:
    """A table with no rows and the given columns (name -> pandas dtype, or 'bytes' for a BLOB), for a
    model that was skipped: its table still exists, with its columns and their types ('string', not
    'object', so that DuckDB makes a VARCHAR of a column without values)."""
    return pd.DataFrame({name: pd.Series(dtype=pd.ArrowDtype(pa.binary()) if dtype == "bytes" else dtype)
                         for name, dtype in columns.items()})

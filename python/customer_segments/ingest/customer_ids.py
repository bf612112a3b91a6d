"""What a file's customer column holds (var customer_id_kind), decided once, before the lines are typed.

- ``number``: whole numbers (17850, 17850.0), read as they are; any other value is unparseable.
- ``key``: any text id (`c1025`, a UUID, `gid://shopify/Customer/123`): each value, trimmed, is a
  customer key, mapped to a stable customer number (customer_segments.ingest.values.KEY_CUSTOMER_NUMBER).
- ``email``: e-mail addresses, trimmed and lower-cased, then mapped as keys are.
- ``auto`` (the default): ``email`` when the column's name says so (`Email`, `Customer Email`); a typed
  numeric column is ``number``, another typed column (a UUID) ``key``; a text column is read once for
  two counts, of its non-empty values and of those that are whole numbers: all -> ``number``, none ->
  ``key``, a mix stops the build (which to reject cannot be guessed).

The kind decided is shown in table build_input and by the inspector, and a scoring run reads a new
customer's lines with the kind the build decided.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from customer_segments.ingest.columns import is_email_column
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.values import NUMERIC_TYPE, whole_number
from customer_segments.settings import sql_identifier

#: What var customer_id_kind may resolve to (besides 'auto', which resolves to one of them).
CUSTOMER_ID_KINDS = ("number", "key", "email")


@dataclass(frozen=True)
class CustomerValues:
    """The counts ``auto`` decides on: non-empty values, how many are whole numbers, and the smallest of
    each sort (for the message; None when there is none)."""

    values: int
    whole_numbers: int
    whole_example: str | None = None
    other_example: str | None = None


def decided_kind(setting: str, column: str, source_type: str, values: CustomerValues | None, path: str) -> str:
    """The kind of the customer ``column`` (of DuckDB type ``source_type``) under var customer_id_kind
    ``setting``; ``values`` are its counts (needed only for 'auto' over a text column not named e-mail).

    Raises
    ------
    InputError
        Under 'auto', a text column holding both whole numbers and other ids: one line naming the file,
        the column, the counts and an example of each, and the two settings that would read it.
    """
    if setting != "auto":
        return setting
    if is_email_column(column):
        return "email"
    if source_type != "VARCHAR":
        return "number" if NUMERIC_TYPE.match(source_type) else "key"
    if values is None:
        raise ValueError("a text column's kind is decided on its values: pass them")
    if values.whole_numbers == values.values:
        return "number"
    if values.whole_numbers == 0:
        return "key"
    others = values.values - values.whole_numbers
    raise InputError(
        f"{path}: customer column '{column}' holds {values.whole_numbers:,} whole numbers (e.g. "
        f"{values.whole_example!r}) and {others:,} other ids (e.g. {values.other_example!r}) among its "
        f"{values.values:,} values; set customer_id_kind: number (the {others:,} others are rejected as "
        f"unparseable) or customer_id_kind: key (every value is a customer key)"
    )


def customer_values(con: duckdb.DuckDBPyConnection, source: str, params: dict, column: str) -> CustomerValues:
    """The counts of the text ``column`` of ``source`` (a `from` clause and its parameters): one pass
    over that one column."""
    value = "customer_value"
    whole = whole_number(value)
    counted = con.execute(
        f"select count({value}), count({whole}), min({value}) filter (where {whole} is not null), "
        f"min({value}) filter (where {whole} is null and {value} is not null) "
        f"from (select nullif(trim({sql_identifier(column)}), '') as {value} from {source})",
        params or None,
    ).fetchall()[0]  # fetchall: a result left open would refuse the reader's next statement on the connection
    return CustomerValues(*counted)


def resolved_kind(con: duckdb.DuckDBPyConnection, source: str, params: dict, column: str, source_type: str,
                  setting: str, path: str) -> str:
    """The kind of the customer ``column`` of ``source``: ``setting`` unless it is 'auto', else decided
    (decided_kind), reading the column's values only when its name and type do not settle it."""
    needs_values = setting == "auto" and not is_email_column(column) and source_type == "VARCHAR"
    values = customer_values(con, source, params, column) if needs_values else None
    return decided_kind(setting, column, source_type, values, path)

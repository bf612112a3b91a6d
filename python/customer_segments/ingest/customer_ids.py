"""What a file's customer column holds (var customer_id_kind), decided once, before the lines are typed.

- ``number``: whole numbers (17850, 17850.0), read as they are; any other value is unparseable.
- ``key``: any text id (`c1025`, a UUID, `gid://shopify/Customer/123`): each value, trimmed, is a
  customer key, mapped to a stable customer number (customer_segments.ingest.values.KEY_CUSTOMER_NUMBER).
- ``email``: e-mail addresses, trimmed and lower-cased, then mapped as keys are.
- ``auto`` (the default): ``email`` when the column's name says so (`Email`, `Customer Email`); a typed
  numeric column is ``number``, another typed column (a UUID) ``key``; a text column is read once for
  two counts, of its non-empty values and of those written as numbers: all -> ``number``, none ->
  ``key``, a mix stops the build (which to reject cannot be guessed). A number that is not a customer
  number (`2.5`, `1e30`, `NaN`) counts as a number: a numeric export's bad value stays a per-line
  parse error, as it always was, and only a text id (`c1025`) beside numbers stops the build.

The kind decided is shown in table build_input and by the inspector, and a scoring run reads a new
customer's lines with the kind the build decided.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from customer_segments.ingest.columns import is_email_column
from customer_segments.ingest.errors import InputError
from customer_segments.ingest.values import NUMBER_TEXT, NUMERIC_TYPE
from customer_segments.settings import sql_identifier, sql_literal

#: What var customer_id_kind may resolve to (besides 'auto', which resolves to one of them).
CUSTOMER_ID_KINDS = ("number", "key", "email")
#: Text written as a number, whole or not, finite or not (what the loader's number reading considers).
NUMBER_WRITTEN = f"(?i)({NUMBER_TEXT}|[-+]?(inf|infinity|nan))"


@dataclass(frozen=True)
class CustomerValues:
    """The counts ``auto`` decides on: non-empty values, how many are written as numbers, and the smallest
    of each sort (for the message; None when there is none)."""

    values: int
    numbers: int
    number_example: str | None = None
    text_example: str | None = None


def decided_kind(setting: str, column: str, source_type: str, values: CustomerValues | None, path: str) -> str:
    """The kind of the customer ``column`` (of DuckDB type ``source_type``) under var customer_id_kind
    ``setting``; ``values`` are its counts (needed only for 'auto' over a text column not named e-mail).

    Raises
    ------
    InputError
        Under 'auto', a text column holding both numbers and text ids: one line naming the file,
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
    if values.numbers == values.values:
        return "number"
    if values.numbers == 0:
        return "key"
    texts = values.values - values.numbers
    raise InputError(
        f"{path}: customer column '{column}' holds {values.numbers:,} numbers (e.g. {values.number_example!r}) "
        f"and {texts:,} text ids (e.g. {values.text_example!r}) among its {values.values:,} values; set "
        f"customer_id_kind: number (the text ids are rejected as unparseable) or customer_id_kind: key "
        "(every value is a customer key)"
    )


def customer_values(con: duckdb.DuckDBPyConnection, source: str, params: dict, column: str) -> CustomerValues:
    """The counts of the text ``column`` of ``source`` (a `from` clause and its parameters): one pass
    over that one column."""
    value = "customer_value"
    number = f"regexp_full_match({value}, {sql_literal(NUMBER_WRITTEN)})"
    counted = con.execute(
        f"select count({value}), count(*) filter (where {number}), min({value}) filter (where {number}), "
        f"min({value}) filter (where not {number}) "
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

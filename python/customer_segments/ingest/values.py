"""The SQL that types each canonical column of a line, and explains every value it cannot type.

A value that cannot be parsed becomes NULL and its line carries a ``parse_error`` naming the column and
the value: the loader never drops a line. Quantities and customer ids are whole numbers a BIGINT holds (text
customer ids and e-mail addresses, var customer_id_kind, become numbers by KEY_CUSTOMER_NUMBER),
prices exact decimals (money), timestamps parsed as :mod:`customer_segments.ingest.dates` says; DuckDB's
own casts are only applied to text that is plainly a number, since they also accept forms no export
means.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from customer_segments.ingest.columns import ABSENT_PLACEHOLDERS
from customer_segments.ingest.dates import text_timestamp
from customer_segments.ingest.errors import InputError
from customer_segments.settings import sql_identifier, sql_literal

if TYPE_CHECKING:
    from customer_segments.ingest.options import InputOptions

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
#: The type of an absent column that is derived from the others (derived_values), before derivation.
DERIVED_TYPES = {"invoice_no": "varchar", "quantity": "bigint", "unit_price": MONEY_TYPE, "line_total": MONEY_TYPE}
#: A customer number for a customer key (a shop's own id as text, or an e-mail address: customer_key_text):
#: the first 15 hex digits (60 bits, so a positive BIGINT) of the md5 of the key. md5 is fixed by its
#: standard, unlike DuckDB's hash(), so the same key is the same customer in every build and DuckDB
#: version. Two keys share a number with odds of about n**2 / 2**61 among n customers (one in 2 million
#: for a million customers, one in 23,000 for ten million); table customer_identities' test of unique
#: customer_id stops the build if it ever happens.
KEY_CUSTOMER_NUMBER = "('0x' || left(md5({key}), 15))::bigint"


def customer_key_text(kind: str, value: str) -> str:
    """SQL: the customer key the text ``value`` stands for under customer_id_kind ``kind`` ('key': the value
    trimmed; 'email': trimmed and lower-cased, so `Ann@X.com ` is `ann@x.com`), NULL when it is empty."""
    return f"nullif({'lower(trim(' + value + '))' if kind == 'email' else 'trim(' + value + ')'}, '')"


def customer_key_column(source: str | None, kind: str) -> str:
    """SQL for the lines' ``customer_key``: the key their customer number is made from (KEY_CUSTOMER_NUMBER),
    NULL when the ids are numbers (no text per line: a NULL column costs nothing at 50 M lines)."""
    if source is None or kind == "number":
        return "cast(null as varchar) as customer_key"
    return f"{customer_key_text(kind, f'cast({sql_identifier(source)} as varchar)')} as customer_key"


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


def typed_column(
    canonical: str, source: str | None, source_type: str, options: InputOptions, date_formats: tuple[str, ...], path: str,
    customer_id_kind: str = "number",
) -> tuple[str, str | None]:
    """SQL for one canonical column, and SQL for its parse-error message (None when it cannot fail).
    ``customer_id_kind``: what the customer column holds, as resolved (customer_segments.ingest.customer_ids)."""
    if source is None:
        if canonical in DERIVED_TYPES:
            return f"cast(null as {DERIVED_TYPES[canonical]}) as {canonical}", None
        placeholder = ABSENT_PLACEHOLDERS[canonical]
        return f"cast({'null' if placeholder is None else sql_literal(placeholder)} as varchar) as {canonical}", None
    col = sql_identifier(source)
    source_type = source_type.upper()
    is_text = source_type == "VARCHAR"
    if canonical in ("invoice_no", "stock_code", "description", "country"):
        return f"cast({col} as varchar) as {canonical}", None
    if canonical == "customer_id" and customer_id_kind != "number":
        # Every value is a customer key, whatever its type: nothing to reject (an empty one is a line
        # without a customer).
        key = customer_key_text(customer_id_kind, f"cast({col} as varchar)")
        return f"{KEY_CUSTOMER_NUMBER.format(key=key)} as {canonical}", None
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
        parsed = text_timestamp(f"trim({col})", date_formats, zoned_iso)
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
    elif canonical in ("unit_price", "line_total"):
        noun = "price" if canonical == "unit_price" else "amount"
        if is_text:
            parsed = _text_price(col, options.decimal_separator)
            what = (f"is not {'a' if noun == 'price' else 'an'} {noun} with the decimal separator '{options.decimal_separator}' "
                    f"(var decimal_separator) and at most 15 digits before it")
        else:
            finite = f"isfinite({col})" if FLOAT_TYPE.match(source_type) else "true"
            parsed = f"case when {finite} then try_cast({col} as {MONEY_TYPE}) end"
            what = f"is not a finite {noun} within {MONEY_TYPE}"
    else:  # pragma: no cover - every canonical column is handled above
        raise AssertionError(canonical)
    error = (
        f"case when nullif({shown}, '') is not null and {parsed} is null "
        f"then {sql_literal(source + ' ' + chr(39))} || {shown} || {sql_literal(chr(39) + ' ' + what)} end"
    )
    return f"{parsed} as {canonical}", error


def with_line_values_checked(lines: str, quantity_source: str | None, price_source: str | None) -> str:
    """SQL over the typed ``lines`` (a query with quantity, unit_price and parse_error) that rejects each
    line whose value does not fit money.

    Each value fits its type, but their product may not fit the money type every sum uses: the line
    is rejected, and its price left NULL so that no sum of line values (the accounting's) overflows.
    ``quantity_source`` and ``price_source`` are the file's columns, which the message names.
    """
    beyond = f"abs(quantity * unit_price) > {MONEY_LIMIT}"
    line_value_error = (
        f"case when {beyond} then "
        f"{sql_literal('line value ' + (quantity_source or '') + ' x ' + (price_source or '') + ' = ')} "
        f"|| cast(quantity * unit_price as varchar) || {sql_literal(' is beyond ' + MONEY_TYPE)} end"
    )
    return (
        f"select * replace (case when {beyond} then null else unit_price end as unit_price, "
        f"nullif(concat_ws('; ', parse_error, {line_value_error}), '') as parse_error) from ({lines})"
    )


def derived_values(lines: str, resolved: dict[str, str | None], cancellation_marker: str) -> str:
    """SQL over the typed ``lines`` that fills the columns an order-level export lacks, from the others.

    - No quantity column: each line is one order, quantity 1 (-1 when its total is negative: a refund).
    - No unit price: ``unit_price`` is line_total / quantity, rounded to the money type for display;
      the line's value stays the file's total exactly (``line_total``, which staging sums), so net
      revenue is the sum of the totals. A quantity of 0 with a total other than 0 has no unit price:
      the line is rejected saying so. A missing quantity leaves the price missing (unparseable).
    - Both: the unit price is used, ``line_total`` is left NULL, and a line whose total differs from
      quantity x unit price by more than rounding (half a cent per unit, plus half a cent for the
      total) is rejected saying both figures: which one is right cannot be told.
    - No invoice number: one invoice per customer and timestamp, ``<customer> <yyyy-mm-dd hh:mm:ss>``,
      the cancellation marker in front when the quantity is negative (the marker cannot be in a number
      nobody wrote, so a negative quantity, or a negative total without quantities, marks a refund).

    ``resolved``: canonical -> the file's column (None when absent), which the messages name.
    """
    total, quantity_column, price_column = resolved["line_total"], resolved["quantity"], resolved["unit_price"]
    replaced, errors = [], []
    if quantity_column is None:
        replaced.append("case when line_total < 0 then -1 else 1 end as quantity" if total else "1 as quantity")
    quantity = "quantity" if quantity_column else ("case when line_total < 0 then -1 else 1 end" if total else "1")
    if total and price_column is None:
        replaced.append(f"case when {quantity} <> 0 then cast(line_total / {quantity} as {MONEY_TYPE}) "
                        f"when line_total = 0 then line_total end as unit_price")
        errors.append(f"case when {quantity} = 0 and line_total <> 0 then "
                      f"{sql_literal(f'{quantity_column} 0 with {total} ')} || cast(line_total as varchar) "
                      f"|| ': no unit price can be derived' end")
    elif total:
        difference = f"abs({quantity} * unit_price - line_total)"
        errors.append(
            f"case when {difference} > 0.005 * (abs({quantity}) + 1) then "
            f"{sql_literal(f'{total} ')} || cast(line_total as varchar) || "
            f"{sql_literal(f' is not {quantity_column or 1} x {price_column} = ')} || cast({quantity} * unit_price as varchar) "
            f"|| ' (beyond rounding; which is right cannot be told)' end"
        )
        replaced.append(f"cast(null as {MONEY_TYPE}) as line_total")
    if errors:
        replaced.append(f"nullif(concat_ws('; ', parse_error, {', '.join(errors)}), '') as parse_error")
    derived = f"select * replace ({', '.join(replaced)}) from ({lines})" if replaced else lines
    if resolved["invoice_no"] is not None:
        return derived
    marker = sql_literal(cancellation_marker.upper())
    invoice = (f"case when quantity < 0 then {marker} else '' end || coalesce(cast(customer_id as varchar), '') "
               "|| ' ' || coalesce(strftime(invoiced_at, '%Y-%m-%d %H:%M:%S'), '')")
    return f"select * replace ({invoice} as invoice_no) from ({derived})"

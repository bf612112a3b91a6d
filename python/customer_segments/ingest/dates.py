"""Text dates: the formats tried, the day/month order of slash dates settled from the data, and zones.

Without var date_formats a text date is tried in the ISO forms, then in the slash-date order that the
column's own values settle (:func:`day_month_order`); an ISO value with a zone is read as that instant
and stored in UTC. Formats the user gives are used as given, once DuckDB has accepted each.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from customer_segments.ingest.errors import InputError
from customer_segments.settings import sql_identifier, sql_literal

#: ISO 8601 timestamps without a zone, tried in order for text dates (zoned ones: ZONED_ISO_PATTERN).
ISO_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
                    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
                    # ISO 8601's basic form, as the classic CDNOW data writes its dates (19970101).
                    "%Y%m%d")
#: Slash dates, month first (the UCI original's `12/1/2010 8:26`) or day first. By default the reader
#: picks one of the two for the whole column from the data (see :func:`day_month_order`).
MONTH_FIRST_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
DAY_FIRST_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y")
#: An ISO timestamp with a zone (`Z`, `+01`, `+0100`, `+01:00`): read as an instant and stored in UTC.
#: Shopify's exports write a space before the zone (`2025-10-07 09:50:26 +0200`), which DuckDB's cast
#: does not take: it is removed first (ZONE_SPACE).
ZONED_ISO_PATTERN = r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)? ?(Z|[+-]\d{2}(:?\d{2})?)"
ZONE_SPACE = r" ([+-]\d{2}(:?\d{2})?|Z)$"


def _zoned(date_format: str) -> bool:
    """Whether the format reads a zone: its values are instants."""
    return "%z" in date_format


def checked_date_formats(formats: object) -> tuple[str, ...] | None:
    """None (the defaults, with day/month detection) or the user's formats (a list of texts holding `%`,
    as customer_segments.settings parsed them), each checked by DuckDB."""
    if not formats:
        return None
    zoned = [_zoned(f) for f in formats]
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


def _list_literal(texts: Sequence[str]) -> str:
    return "[" + ", ".join(sql_literal(t) for t in texts) + "]"


def text_timestamp(value: str, date_formats: tuple[str, ...], zoned_iso: bool) -> str:
    """SQL: a text timestamp parsed by the formats; with ``zoned_iso`` an ISO value with a zone is read
    as that instant and stored in UTC (without a zone, a value is stored as written)."""
    parsed = f"try_strptime({value}, {_list_literal(date_formats)})"
    if any(_zoned(f) for f in date_formats):
        # strptime with %z gives a TIMESTAMPTZ (an instant): its UTC wall time, whatever the session's zone.
        parsed = f"timezone('UTC', {parsed})"
    if not zoned_iso:
        return parsed
    return (
        f"case when regexp_full_match({value}, {sql_literal(ZONED_ISO_PATTERN)}) "
        f"then timezone('UTC', try_cast(regexp_replace({value}, {sql_literal(ZONE_SPACE)}, '\\1') as timestamptz)) "
        f"else {parsed} end"
    )


def default_date_formats(
    con: duckdb.DuckDBPyConnection, source: str, params: dict, column: str, column_type: str, where: str
) -> tuple[str, ...]:
    """The formats a date column is read with when var date_formats is not set: the ISO forms, then for
    a text column the slash dates in the order its values settle (:func:`day_month_order`)."""
    slash_formats = day_month_order(con, source, params, column, where) if column_type == "VARCHAR" else ()
    return ISO_DATE_FORMATS + slash_formats


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

"""The input vars as the readers use them: transactions_path, column_map, date_formats, csv_encoding,
csv_delimiter and decimal_separator (see docs/input_contract.md), checked before anything is read.

No option is ever pasted into SQL: the readers pass them to DuckDB as bound parameters, quoted
literals or quoted identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from customer_segments.ingest.dates import checked_date_formats
from customer_segments.settings import CSV_ENCODINGS, parse_settings


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
        date_formats=checked_date_formats(settings["date_formats"]),
        csv_encoding=CSV_ENCODINGS[settings["csv_encoding"]],
        csv_delimiter=settings["csv_delimiter"],
        decimal_separator=settings["decimal_separator"],
    )

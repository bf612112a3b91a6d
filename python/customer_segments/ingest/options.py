"""The input vars as the readers use them: transactions_path, column_map, date_formats, csv_encoding,
csv_delimiter, decimal_separator, cancellation_marker and customer_id_kind (see docs/input_contract.md), checked before
anything is read.

customer_segments.settings parses and checks every var, once, in the model that reads the file; what is
left here is what only DuckDB can check. No option is ever pasted into SQL: the readers pass them to
DuckDB as bound parameters, quoted literals or quoted identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from customer_segments.ingest.dates import checked_date_formats
from customer_segments.settings import CSV_ENCODINGS, Settings

#: The vars the readers use, in one place: the base models' config passes them, the inspector fills them in.
INPUT_VARS = ("transactions_path", "column_map", "date_formats", "csv_encoding", "csv_delimiter", "decimal_separator",
              "cancellation_marker", "customer_id_kind")


@dataclass(frozen=True)
class InputOptions:
    """The input vars of a build, as the readers use them (see docs/input_contract.md).

    ``date_formats`` is None for the defaults (ISO forms, and slash dates whose day/month order the
    reader settles from the data); a tuple given by the user is used as given. ``csv_encoding`` is
    'auto' or the encoding's one name. ``cancellation_marker`` starts the invoice numbers the reader
    derives for refunds when the file has none. ``customer_id_kind`` is 'auto' or what the customer
    column holds (customer_segments.ingest.customer_ids).
    """

    path: str
    column_map: dict[str, str]
    date_formats: tuple[str, ...] | None
    csv_encoding: str
    csv_delimiter: str
    decimal_separator: str
    cancellation_marker: str = "C"
    customer_id_kind: str = "auto"


def input_options(settings: Settings) -> InputOptions:
    """The input vars of a model's parsed ``settings`` (customer_segments.settings.parse_settings has
    checked each one), with the date formats checked by DuckDB; InputError for a format it refuses."""
    return InputOptions(
        path=settings["transactions_path"],
        column_map=settings["column_map"],
        date_formats=checked_date_formats(settings["date_formats"]),
        csv_encoding=CSV_ENCODINGS[settings["csv_encoding"]],
        csv_delimiter=settings["csv_delimiter"],
        decimal_separator=settings["decimal_separator"],
        cancellation_marker=settings["cancellation_marker"],
        customer_id_kind=settings["customer_id_kind"],
    )

"""The canonical columns of an invoice line, and which column of the shop's file holds each.

A file's column names are matched to the canonical ones case-insensitively, ignoring spaces, underscores
and dashes, through the aliases below or the user's ``column_map``. The readers also add columns of their
own (where each line came from), under a prefix no file may use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from customer_segments.ingest.errors import InputError

#: Canonical column -> accepted source names, compared case-insensitively ignoring spaces,
#: underscores and dashes. Covers the UCI "Online Retail" (I and II) exports and snake_case.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "invoice_no": ("invoiceno", "invoice", "invoicenumber", "orderid", "orderno", "order"),
    "stock_code": ("stockcode", "sku", "productcode", "productid"),
    "description": ("description", "productname", "product"),
    "quantity": ("quantity", "qty"),
    "invoiced_at": ("invoicedate", "invoicedat", "orderdate", "orderedat", "date"),
    "unit_price": ("unitprice", "price"),
    "customer_id": ("customerid", "customer", "customerno"),
    "country": ("country",),
}
REQUIRED_COLUMNS = ("invoice_no", "quantity", "invoiced_at", "unit_price", "customer_id")
#: What an absent optional column reads as, so the models degrade instead of failing: without stock
#: codes every line is one product (a cancellation nets against the customer's earlier purchases of
#: anything); without descriptions no names, and without countries NULL, which staging spells
#: '(unknown)' like a blank country (one spelling for both, in stg_retail__invoice_lines).
ABSENT_PLACEHOLDERS = {"stock_code": "(no stock code)", "description": None, "country": None}
#: Columns the readers add to the file's own (where each line came from), by their output names. The
#: readers name them with a prefix of ours, so that a file with its own `source_name` column (a
#: marketplace export may have one) is not mistaken for them; a file column with that prefix is refused.
SOURCE_COLUMNS = ("source_name", "source_line_number", "source_row_id")
READER_PREFIX = "__segments_"


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def resolve_columns(
    present: list[str], path: str, column_map: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """Map each canonical column to the source column that holds it.

    Parameters
    ----------
    present : source column names, as read.
    path : the file, for error messages.
    column_map : optional explicit canonical -> source name overrides.

    Returns
    -------
    dict canonical name -> source name, or None for an absent optional column.
    """
    column_map = dict(column_map or {})
    unknown = sorted(set(column_map) - set(COLUMN_ALIASES))
    if unknown:
        raise InputError(f"column mapping names unknown canonical columns {unknown}; known: {sorted(COLUMN_ALIASES)}")
    resolved: dict[str, str | None] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        if canonical in column_map:
            wanted = column_map[canonical]
            if wanted not in present:
                raise InputError(
                    f"{path}: column '{wanted}' (mapped to {canonical}) not found; columns present: {present}"
                )
            resolved[canonical] = wanted
            continue
        names = (_normalise(canonical), *aliases)
        candidates = [c for c in present if _normalise(c) in names]
        if len(candidates) > 1:
            # Two columns that could each hold it (`CustomerID` and `Customer ID`, `Price` and `UnitPrice`):
            # taking either would be a guess.
            raise InputError(
                f"{path}: columns {candidates} could each be {canonical}; say which with column_map, "
                f"e.g. --vars '{{column_map: {{{canonical}: \"{candidates[0]}\"}}}}'"
            )
        match = candidates[0] if candidates else None
        if match is None and canonical in REQUIRED_COLUMNS:
            raise InputError(
                f"{path}: required column '{canonical}' not found (looked for {', '.join(aliases)}); "
                f"columns present: {present}"
            )
        resolved[canonical] = match
    return resolved

"""The canonical columns of an invoice line, and which column of the shop's file holds each.

A file's column names are matched to the canonical ones case-insensitively, ignoring everything but
letters and digits (`Customer ID`, `customer_id` and `Grand Total (Base)`'s brackets), through the
aliases below or the user's ``column_map``. The readers also add columns of their own (where each line
came from), under a prefix no file may use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from customer_segments.ingest.errors import InputError

#: Canonical column -> accepted source names in tiers, compared case-insensitively on letters and
#: digits only. The first tier with a match decides; two matches in one tier stop the read (taking
#: either would be a guess). Covers the UCI "Online Retail" (I and II) exports, snake_case, the
#: classic CDNOW layout (customer, date, quantity, amount) and the order exports of Shopify (`Name`,
#: `Created at`, `Email`, `Lineitem quantity`, `Lineitem price`, `Lineitem sku`, `Billing Country`),
#: WooCommerce (`Order Number`, `Order Date`, `Billing Email`, `Order Total`, `Item Name`) and Magento's
#: order grid (`Purchase Date`, `Customer Email`, `Subtotal`; its bare `ID` is too vague to take, so the
#: invoice number is derived).
COLUMN_ALIASES: dict[str, tuple[tuple[str, ...], ...]] = {
    "invoice_no": (
        ("invoiceno", "invoice", "invoicenumber", "invoiceid"),
        ("ordernumber", "orderno", "orderid", "order", "orderref", "orderreference", "incrementid"),
        ("name",),  # Shopify names an order `#1001` in its `Name` column (see ALIAS_CONTEXT)
    ),
    "stock_code": (
        ("stockcode", "sku", "productcode", "productid", "lineitemsku", "itemsku", "variantsku"),
    ),
    "description": (
        ("description", "productname", "product", "lineitemname", "itemname", "productdescription"),
    ),
    "quantity": (
        ("quantity", "qty", "lineitemquantity", "itemquantity", "quantityordered", "qtyordered", "itemssold"),
    ),
    "invoiced_at": (
        ("invoicedate", "invoicedat", "orderdate", "orderedat", "date", "createdat", "purchasedate",
         "orderdatetime", "datecreated"),
    ),
    "unit_price": (
        ("unitprice", "price", "lineitemprice", "itemprice", "itemcost", "priceeach"),
    ),
    "line_total": (
        ("linetotal", "lineitemtotal", "lineamount", "linevalue", "itemtotal", "rowtotal"),
        # Order-level amounts: read as the line's amount only in a file without unit prices (see
        # ORDER_LEVEL_TIERS). The merchandise subtotal comes before the total, which adds shipping and
        # tax: postage is not merchandise here either (seed non_merchandise_codes).
        ("subtotal", "ordersubtotal", "ordersubtotalamount"),
        ("total", "amount", "totalprice", "ordertotal", "ordertotalamount", "grandtotal", "grandtotalpurchased",
         "sales", "netsales", "revenue"),
    ),
    "customer_id": (
        ("customerid", "customer", "customerno", "customernumber", "userid", "clientid"),
        ("customeremail", "email", "billingemail", "emailbilling"),
    ),
    "country": (
        ("country",),
        ("billingcountry", "countrybilling", "billingcountrycode", "countrycodebilling"),
        ("shippingcountry", "countryshipping", "shippingcountrycode", "countrycodeshipping"),
    ),
}
#: Aliases that count only beside a column whose normalised name starts with the given text: Shopify's
#: `Name` is its order number beside its `Lineitem ...` columns; in another file a name is a person's.
ALIAS_CONTEXT = {"name": "lineitem"}
#: Columns a file must have. The invoice number is derived when absent (customer and timestamp), the
#: quantity is 1 when absent (one order per line), and either price column will do (REQUIRED_ONE_OF).
REQUIRED_COLUMNS = ("invoiced_at", "customer_id")
REQUIRED_ONE_OF = (("unit_price", "line_total"),)
#: line_total tiers after the first hold order-level amounts (`Total`, `Subtotal`): beside a unit
#: price they are the order's total, repeated on (or only on the first of) its lines, not the line's.
ORDER_LEVEL_TIERS = {"line_total": 1}
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


def normalised_name(name: str) -> str:
    """A column name as the aliases are written: lower-case letters and digits only."""
    return re.sub(r"[\W_]", "", name).lower()


def _in_context(alias: str, present: list[str]) -> bool:
    """Whether ``alias`` counts in a file of these columns (ALIAS_CONTEXT)."""
    context = ALIAS_CONTEXT.get(alias)
    return context is None or any(normalised_name(c).startswith(context) for c in present)


def is_email_column(source: str | None) -> bool:
    """Whether the customer column ``source`` holds e-mail addresses rather than numbers, by its name
    (`Email`, `Customer Email`, a mapped `client_e_mail`): its values are then mapped to a stable
    customer number (customer_segments.ingest.values)."""
    return source is not None and "mail" in normalised_name(source)


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
    tiers_found: dict[str, int] = {}
    for canonical, tiers in COLUMN_ALIASES.items():
        if canonical in column_map:
            wanted = column_map[canonical]
            if wanted not in present:
                raise InputError(
                    f"{path}: column '{wanted}' (mapped to {canonical}) not found; columns present: {present}"
                )
            resolved[canonical], tiers_found[canonical] = wanted, 0
            continue
        resolved[canonical] = None
        for tier, aliases in enumerate(tiers):
            names = (normalised_name(canonical), *aliases) if tier == 0 else aliases
            candidates = [c for c in present if normalised_name(c) in names and _in_context(normalised_name(c), present)]
            if len(candidates) > 1:
                # Two columns that could each hold it (`CustomerID` and `Customer ID`, `Price` and `UnitPrice`):
                # taking either would be a guess.
                raise InputError(
                    f"{path}: columns {candidates} could each be {canonical}; say which with column_map, "
                    f"e.g. --vars '{{column_map: {{{canonical}: \"{candidates[0]}\"}}}}'"
                )
            if candidates:
                resolved[canonical], tiers_found[canonical] = candidates[0], tier
                break
    for canonical, first_order_tier in ORDER_LEVEL_TIERS.items():
        if resolved["unit_price"] is not None and tiers_found.get(canonical, 0) >= first_order_tier:
            resolved[canonical] = None
    looked_for = {c: ", ".join(alias for tier in COLUMN_ALIASES[c] for alias in tier) for c in COLUMN_ALIASES}
    for canonical in REQUIRED_COLUMNS:
        if resolved[canonical] is None:
            raise InputError(
                f"{path}: required column '{canonical}' not found (looked for {looked_for[canonical]}); "
                f"columns present: {present}"
            )
    for group in REQUIRED_ONE_OF:
        if all(resolved[c] is None for c in group):
            raise InputError(
                f"{path}: required column '{group[0]}' not found, nor '{group[1]}' to derive it from (looked "
                f"for {looked_for[group[0]]}; and {looked_for[group[1]]}); columns present: {present}"
            )
    return resolved

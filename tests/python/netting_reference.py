"""The netting rule written the slow way, one event at a time: the reference the SQL is checked against."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple


class Event(NamedTuple):
    """One purchase or cancellation line (cancellations have negative quantity)."""

    line_id: int
    customer_id: object
    stock_code: object
    invoiced_at: datetime
    quantity: int
    is_cancellation: bool
    invoice_no: str
    unit_price: Decimal
    description: str | None = None
    country: str | None = None


def event_order(event: Event) -> tuple:
    """Per customer and code, in time order; within a minute purchases before cancellations, then by
    content (invoice number, quantity, price, description and country, missing text last). Only lines
    equal in all of these fall back to the line id, and which of them comes first changes no output
    but the line id."""
    return (event.customer_id, event.stock_code, event.invoiced_at, event.is_cancellation, event.invoice_no,
            event.quantity, Decimal(event.unit_price), event.description is None, event.description or "",
            event.country is None, event.country or "", event.line_id)


def sequential_matches(events: Iterable[Event]) -> dict[int, int]:
    """Matched units per cancellation line: in :func:`event_order`, a cancellation takes what is still
    available of the purchases before it."""
    available: dict[tuple, int] = defaultdict(int)
    matched: dict[int, int] = {}
    for event in sorted(events, key=event_order):
        key = event.customer_id, event.stock_code
        if event.is_cancellation:
            matched[event.line_id] = min(-event.quantity, available[key])
            available[key] -= matched[event.line_id]
        else:
            available[key] += event.quantity
    return matched

"""The netting rule written the slow way, one event at a time: the reference the SQL is checked against."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def sequential_matches(events: Iterable[tuple[int, object, object, object, int, bool]]) -> dict[int, int]:
    """Matched units per cancellation line.

    events : (line_id, customer_id, stock_code, invoiced_at, quantity, is_cancellation) per purchase or
        cancellation line (cancellations have negative quantity). Per customer and code, in time order,
        purchases of a minute before its cancellations, then by line id, a cancellation takes what is
        still available of the purchases before it.
    """
    ordered = sorted(events, key=lambda e: (e[1], e[2], e[3], e[5], e[0]))
    available: dict[tuple, int] = defaultdict(int)
    matched: dict[int, int] = {}
    for line_id, customer, code, _, quantity, is_cancellation in ordered:
        if is_cancellation:
            matched[line_id] = min(-quantity, available[customer, code])
            available[customer, code] -= matched[line_id]
        else:
            available[customer, code] += quantity
    return matched

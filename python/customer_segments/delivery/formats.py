"""How a person reads money and counts: the one home of their formats (the report reads them here).

The project's money is in the shop's currency, and no var names it: the UCI data and the generated shop
are both in pounds sterling, so the symbol is £ (:data:`CURRENCY`). Money shows two decimals (the
marts hold DECIMAL(18,3) sums, whose third decimal is an artefact of unit prices, not pence), counts show
none; both group thousands with commas.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

#: The currency symbol money is shown with.
CURRENCY = "£"
#: Plotly's d3 formats for the same: hover and bar labels (money, counts) and axis ticks.
PLOTLY_MONEY = ",.2f"
PLOTLY_COUNT = ",d"


def missing(value: object) -> bool:
    """None, NaN, pandas' NA or NaT: shown as an empty cell."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in {"<NA>", "NaT"}


def money(value: object) -> str:
    """``8289324.25`` -> ``£8,289,324.25``; negative ``-£12.50``; empty text for a missing value.

    Rounds half to even on the decimal value (a DECIMAL from DuckDB is not passed through a float).
    """
    if missing(value):
        return ""
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    sign = "-" if amount < 0 else ""
    return f"{sign}{CURRENCY}{abs(amount):,.2f}"


def count(value: object) -> str:
    """``6388`` or ``6388.0`` -> ``6,388``; empty text for a missing value.

    Raises
    ------
    ValueError
        When ``value`` is not a whole number (a count with a fraction is a bug upstream, not a format).
    """
    if missing(value):
        return ""
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"a count must be a whole number, got {value!r}")
    return f"{int(number):,}"


def money_title(text: str) -> str:
    """An axis or column title for an amount of money: ``Net revenue (£)``."""
    return f"{text} ({CURRENCY})"

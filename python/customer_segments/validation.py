"""Checks at the boundary between the marts and the clustering: vars and degenerate data.

A shop's export can be degenerate (one customer, fewer customers than segments, everything cancelled,
one day of data, only postage lines). These checks turn each case into a clear message or a sensible,
announced adjustment before scikit-learn sees the data.
"""

from __future__ import annotations

import warnings

import pandas as pd

from customer_segments.clustering import RFM_FEATURES
from customer_segments.ingest import InputError
from customer_segments.settings import whole_number

#: Largest number of segments accepted: beyond this a segmentation stops being readable.
MAX_SEGMENTS = 20


def checked_integer(value: object, name: str, min_value: int, max_value: int) -> int:
    """``value`` (an int, or its text as dbt passes vars) as an int in [min_value, max_value]."""
    number = whole_number(value)
    if number is None:
        raise InputError(f"var {name} must be a whole number from {min_value} to {max_value}, got {value!r}")
    if not min_value <= number <= max_value:
        raise InputError(f"var {name} must be a whole number from {min_value} to {max_value}, got {number}")
    return number


def segments_to_fit(customers: pd.DataFrame, n_segments: object) -> int:
    """The number of K-means segments to fit: var n_segments, capped to what the data can hold.

    Parameters
    ----------
    customers : customer_rfm rows (customer_id, monetary and the RFM features).
    n_segments : the var, 1..MAX_SEGMENTS.

    Returns
    -------
    k <= the number of distinct feature points among customers with monetary > 0; a warning says
    when k was lowered. Raises InputError when no customer has a positive net spend.
    """
    requested = checked_integer(n_segments, "n_segments", 1, MAX_SEGMENTS)
    eligible = customers.loc[customers["monetary"].astype("float64") > 0, list(RFM_FEATURES)]
    if eligible.empty:
        raise InputError(
            f"no customer has a positive net spend ({len(customers)} customers in customer_rfm): there is "
            "nothing to segment. The input may hold only cancelled, non-merchandise or customer-less lines; "
            "table line_accounting says what became of every line."
        )
    # Customers with identical features are one point to K-means: it cannot split them.
    distinct_points = len(eligible.astype("float64").drop_duplicates())
    if requested > distinct_points:
        warnings.warn(
            f"n_segments={requested} but only {distinct_points} distinct customer(s) with a positive net "
            f"spend: fitting {distinct_points} segment(s)",
            stacklevel=2,
        )
        return distinct_points
    return requested

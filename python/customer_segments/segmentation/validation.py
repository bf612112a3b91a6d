"""Checks at the boundary between the marts and the clustering: degenerate data (vars are checked by
customer_segments.settings).

A shop's export can be degenerate (one customer, fewer customers than segments, everything cancelled,
one day of data, only postage lines). These checks turn each case into a clear message or a sensible,
announced adjustment before scikit-learn sees the data.
"""

from __future__ import annotations

import warnings

import pandas as pd

from customer_segments.ingest.errors import InputError
from customer_segments.segmentation.clustering import RFM_FEATURES
from customer_segments.settings import BY_NAME

#: Largest number of segments accepted (the bound of var k_max): beyond it a segmentation stops being readable.
MAX_SEGMENTS = int(BY_NAME["k_max"].high)


def segments_to_fit(customers: pd.DataFrame, n_segments: int) -> int:
    """The number of K-means segments to fit: var n_segments, capped to what the data can hold.

    Parameters
    ----------
    customers : customer_rfm rows (customer_id, monetary and the RFM features).
    n_segments : the k wanted (segment_k_selection's chosen k), 1..MAX_SEGMENTS.

    Returns
    -------
    k <= the number of distinct feature points among customers with monetary > 0; a warning says
    when k was lowered. Raises InputError when no customer has a positive net spend.
    """
    if isinstance(n_segments, bool) or not isinstance(n_segments, int) or not 1 <= n_segments <= MAX_SEGMENTS:
        raise InputError(f"n_segments must be a whole number from 1 to {MAX_SEGMENTS}, got {n_segments!r}")
    requested = n_segments
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

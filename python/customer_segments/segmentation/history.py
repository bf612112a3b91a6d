"""Segments over time: each customer-month's RFM features mapped to this build's K-means segments.

customer_segment_history gives every customer and month-end (model int_customer_months, whose
features are computed in SQL with window sums over a month spine) the segment this build's model
would give those features: the same fitted transform (log1p, standardized on this build's customers,
clipped) and the same centroids as customer_segments, so a customer who moves between segments moved
in behaviour, not because the model was refitted. Only customer-month feature rows cross into
Python, three features each; the rest of the table stays in DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import numpy as np
import pandas as pd

from customer_segments.segmentation.features import RFM_FEATURES, FeatureTransform, eligible_customers

#: A build's transform must give back customer_segments' own standardized values to this tolerance,
#: or the history would not use the model customer_segments used (it then refuses to be built).
Z_TOLERANCE = 1e-9
#: The states of a customer-month that are not a segment (segment_migration adds 'new').
INACTIVE = "inactive"
NO_NET_SPEND = "no net spend"
#: The columns of int_customer_months that the assignment reads.
MONTH_KEY = ("customer_id", "month_end")


def segment_centroids(segments: pd.DataFrame, features: tuple[str, ...] = RFM_FEATURES) -> tuple[np.ndarray, np.ndarray]:
    """The segment ids, shape (k,) increasing, and their centroids, shape (k, n_features): the mean
    standardized values (``z_<feature>`` columns of customer_segments) of each segment's customers."""
    columns = [f"z_{feature}" for feature in features]
    missing = [c for c in ("segment_id", *columns) if c not in segments.columns]
    if missing:
        raise ValueError(f"customer_segments needs columns {missing}; have {list(segments.columns)}")
    if segments.empty:
        raise ValueError("customer_segments is empty: there is no model to assign history to")
    # Sorted first: float sums in a fixed order give the same centroids whatever order the rows came in.
    ordered = segments.sort_values("customer_id", kind="stable") if "customer_id" in segments else segments
    means = ordered.groupby("segment_id", sort=True)[columns].mean()
    return means.index.to_numpy(dtype=np.int64), means.to_numpy(dtype=np.float64)


def fitted_transform(customers: pd.DataFrame, segments: pd.DataFrame,
                     features: tuple[str, ...] = RFM_FEATURES) -> FeatureTransform:
    """The transform customer_segments was fitted with: log1p, standardized on the build's customers
    with monetary > 0 (customer_rfm), clipped.

    Raises
    ------
    ValueError
        When it does not give back customer_segments' ``z_*`` values for its own customers (the
        segmentation's transform changed and this module was not changed with it).
    """
    transform = FeatureTransform(features, "log").fit(eligible_customers(customers))
    ordered = segments.sort_values("customer_id", kind="stable")
    expected = ordered.loc[:, [f"z_{feature}" for feature in features]].to_numpy(dtype=np.float64)
    gap = float(np.max(np.abs(transform.transform_frame(ordered) - expected), initial=0.0))
    if not gap <= Z_TOLERANCE:
        raise ValueError(f"the log1p-standardize-clip transform refitted on customer_rfm differs from "
                         f"customer_segments' z_* values by {gap:.3g} (> {Z_TOLERANCE}): the history would "
                         f"not use this build's segmentation model")
    return transform


def assign_segments(rows: pd.DataFrame, transform: FeatureTransform, segment_ids: np.ndarray,
                    centroids: np.ndarray) -> pd.DataFrame:
    """Each row's nearest centroid (Euclidean, in the transform's standardized units; a tie goes to the
    lower id) and the distance to it. Rows with monetary <= 0 get no segment (as customer_segments
    leaves such customers out): segment_id and distance NULL.

    Returns
    -------
    DataFrame of ``rows``' index and order: segment_id (Int64), distance_to_centroid (float64).
    """
    segmented = rows["monetary"].astype("float64").to_numpy() > 0
    scaled = transform.transform_frame(rows.loc[segmented] if not segmented.all() else rows)
    # (n, k) squared distances: no (n, k, features) array, so memory stays linear in the rows.
    squared = (np.sum(scaled**2, axis=1)[:, None] - 2 * scaled @ centroids.T + np.sum(centroids**2, axis=1)[None, :])
    nearest = np.argmin(squared, axis=1)
    ids = np.zeros(len(rows), dtype=np.int64)
    ids[segmented] = segment_ids[nearest]
    distances = np.full(len(rows), np.nan)
    distances[segmented] = np.linalg.norm(scaled - centroids[nearest], axis=1)
    return pd.DataFrame({"segment_id": pd.arrays.IntegerArray(ids, ~segmented), "distance_to_centroid": distances},
                        index=rows.index)


def history_segment_ids(months: pd.DataFrame, customers: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """One row per customer-month of ``months`` (customer_id, month_end and the RFM features):
    customer_id, month_end, segment_id and distance_to_centroid under this build's model
    (``customers``: customer_rfm, ``segments``: customer_segments). Without segments (no customer with
    net spend > 0) no row has one."""
    out = months.loc[:, list(MONTH_KEY)]
    if segments.empty:
        return out.assign(segment_id=pd.array([pd.NA] * len(out), dtype="Int64"),
                          distance_to_centroid=np.full(len(out), np.nan)).reset_index(drop=True)
    transform = fitted_transform(customers, segments)
    segment_ids, centroids = segment_centroids(segments)
    assigned = assign_segments(months, transform, segment_ids, centroids)
    return out.assign(segment_id=assigned["segment_id"].array,
                      distance_to_centroid=assigned["distance_to_centroid"].to_numpy()).reset_index(drop=True)


def state_expression(inactive_after_days: int) -> str:
    """SQL of a customer-month's state, the one home of the rule segment_migration, segment_history_summary
    and the report read: 'inactive' when the last purchase is more than ``inactive_after_days`` before the
    month-end's as-of day, else 'no net spend' when there is no segment (monetary <= 0), else the
    segment's name."""
    if isinstance(inactive_after_days, bool) or not isinstance(inactive_after_days, int) or inactive_after_days < 1:
        raise ValueError(f"inactive_after_days must be a whole number >= 1, got {inactive_after_days!r}")
    return (f"case when months.recency_days > {inactive_after_days} then '{INACTIVE}' "
            f"when assigned.segment_id is null then '{NO_NET_SPEND}' else names.segment_name end")


def customer_segment_history(session: duckdb.DuckDBPyConnection, months: duckdb.DuckDBPyRelation,
                             customers: pd.DataFrame, segments: pd.DataFrame,
                             settings: Mapping[str, object]) -> duckdb.DuckDBPyRelation:
    """The customer_segment_history model: int_customer_months (``months``) with each row's segment and
    state (var inactive_after_days in ``settings``). Only the key and the three features are read into
    Python; the join is DuckDB's."""
    narrow = months.project(", ".join((*MONTH_KEY, *RFM_FEATURES))).df()
    assigned = session.from_df(history_segment_ids(narrow, customers, segments)).set_alias("assigned")
    names = session.from_df(segments.drop_duplicates("segment_id").loc[:, ["segment_id", "segment_name"]])
    joined = months.set_alias("months").join(
        assigned, "months.customer_id = assigned.customer_id and months.month_end = assigned.month_end"
    ).join(names.set_alias("names"), "assigned.segment_id = names.segment_id", how="left")
    return joined.project(
        "months.customer_id, months.month_end, assigned.segment_id, names.segment_name, "
        f"{state_expression(settings['inactive_after_days'])} as state, "
        "assigned.distance_to_centroid, months.* exclude (customer_id, month_end)")

"""The customer_segments table: K-means fit plus names, one row per customer."""

from __future__ import annotations

import pandas as pd

from customer_segments.clustering import RFM_FEATURES, fit_kmeans_segments
from customer_segments.naming import name_segments


def build_customer_segments(
    customers: pd.DataFrame,
    playbook: pd.DataFrame,
    n_segments: int,
    random_state: int = 42,
) -> pd.DataFrame:
    """One row per customer with monetary > 0: customer_id, segment_id, segment_name, segment_label,
    suggested_actions, distance_to_centroid, the raw features and their standardized values (z_*)."""
    fit = fit_kmeans_segments(customers, n_segments=n_segments, random_state=random_state)
    names = name_segments(fit.centroids, fit.feature_names, playbook)
    raw = customers.loc[:, ["customer_id", *RFM_FEATURES]].astype({"customer_id": "int64"})
    table = fit.assignments.merge(names[["segment_id", "segment_name", "segment_label", "suggested_actions"]], on="segment_id")
    table = table.merge(raw, on="customer_id", how="left")
    columns = ["customer_id", "segment_id", "segment_name", "segment_label", "suggested_actions",
               "distance_to_centroid",
               *RFM_FEATURES, *(f"z_{f}" for f in RFM_FEATURES)]
    return table.loc[:, columns].sort_values("customer_id").reset_index(drop=True)
